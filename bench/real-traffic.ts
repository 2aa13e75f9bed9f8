// Benchmark 9 — what a drop and a packet cost as users pay it: the product's
// programs attached where the agent attaches them, each beside an empty
// program on the same hook in the same run, while real packets from real
// sockets cross a lab of network namespaces; the kernel's own bpf_stats
// (run_time_ns / run_cnt of each program) give ns per run. Unlike
// BPF_PROG_TEST_RUN (benchmarks 1-2: one prepared skb again and again), the
// programs here meet cold memory and, for drops, keys that change from one
// drop to the next.
//
// Lab: "node" is this process's own network namespace (the benchmark
// re-executes itself under `unshare --net`, so its iptables rule and
// interfaces vanish with it); three pods p1-p3 (10.230.N.2) behind veths
// h1-h3, forwarding on, 110 pod IPs in the endpoints map (kubelet's default
// --max-pods) of which the three are real.
//
// Drops (count_kernel_drop vs empty, tp_btf/kfree_skb):
//   interleaved: one thread sends, in turn, 4 packets of 4 different keys:
//     p1 -> p2 UDP to a closed port         NO_SOCKET in p2 (p2 ingress)
//     p2 -> p3 UDP, node FORWARD DROP rule  NETFILTER_DROP (p3 ingress)
//     p3 -> p1 IP protocol 253 (none)       IP_NOPROTO in p1 (p1 ingress)
//     p1 -> node UDP to a closed port       NO_SOCKET on the node (p1 egress)
//   single key: a sendmmsg flood p1 -> p2 closed port (NO_SOCKET).
// Pods (count_host_ingress / count_host_egress vs an empty tc program on
// each hook, tcx, first in the chain as the agent puts them; the two swap
// places every run): a UDP flood p1 -> p2 at several packet sizes.
// Every count is checked: the product must count exactly what was sent.
//
// Run: node dist/bench/real-traffic.js [--runs 7] [--rounds 50000] [--datagrams 200000] [--objects DIR]
//        [--cases drops|all] [--events on|off] [--drop-events]
// --objects: load drops.bpf.o and forward.bpf.o from DIR instead of bpf/ (an
// older build, to compare before and after with the same lab and command; an
// object with a single drop program has no probe-read twin to measure).
// --cases drops: the drop programs only (the tc programs are not measured).
// --events on: drop events switched on in the product's maps with every
// CPU's event budget spent, the steady state of a drop flood (nearly every
// drop is refused an event between the agent's refills): the path that the
// event rate limit adds to a drop. The ring is never drained; nothing reaches it.
// --drop-events: every drop also writes its drop event (each CPU granted an
// unbounded budget and the ring drained before every run), so the drop rows
// measure the event path too. A run must fit the ring (256 KiB, ~2,970
// events): use it with --rounds 700 --datagrams 2800; ring-full losses are reported.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DROP_EVENT_LOST,
  DROP_EVENT_TOKENS_SIZE,
  dropEventTokens,
  encodeEndpointAddr,
  type EndpointSlot,
  forwardIndex,
  MAP_NAMES,
  SITE_COUNTER_SIZE,
} from '../src/bpf/contract.js';
import { RingBuffer } from '../src/bpf/ring-buffer.js';
import { DropCacheGeneration } from '../src/bpf/drop-cache.js';
import { DROP_PROGRAMS, type DropProgramVariant, dropProgramVariant } from '../src/bpf/kernel-drop-program.js';
import { DropReasonNames } from '../src/bpf/drop-reasons.js';
import { type Fd, libbpf } from '../src/bpf/libbpf.js';
import { ifNameToIndex } from '../src/os/libc.js';
import { perCpuStride } from '../src/bpf/map.js';
import { BpfObject } from '../src/bpf/object.js';
import { resolveTcMode } from '../src/bpf/datapath-programs.js';
import { TcAttacher } from '../src/bpf/tc-attach.js';
import { DropTable } from '../src/collect/drop-table.js';
import { benchPinDir, enableRunTimeStats, progStats, repoPath } from './support/bpf.js';
import { onCleanup, runBenchmark } from './support/cleanup.js';
import { flood, floodBinary, senderBinary } from './support/flood.js';
import { benchId, hostIp, inNs, namespace, sh, veth } from './support/netns.js';
import { flag, fmt, header, int, max, median, min, numberFlag, requireRoot, spread, table } from './support/report.js';

const RUNS = numberFlag('runs', 7);
const ROUNDS = numberFlag('rounds', 50_000); // interleaved: 4 drops per round
const DATAGRAMS = numberFlag('datagrams', 200_000);
const OBJECTS = flag('objects', '');
const CASES = flag('cases', 'all');
const EVENTS = flag('events', 'off') === 'on';
const DROP_EVENTS = process.argv.includes('--drop-events');
const objectPath = (name: string) => (OBJECTS ? join(OBJECTS, name) : repoPath(`bpf/${name}`));
const PODS = 110;
const SENDER_CPU = 1;
const CLOSED_PORT = 9;
const FILTERED_PORT = 7;
const NO_SUCH_PROTO = 253; // "use for experimentation and testing" (RFC 3692): no handler
const TC_PAYLOADS = [18, 472, 1472]; // IP packets of 46, 500 and 1,500 bytes

if (process.env.DPX_BENCH_NODE_NETNS !== '1') {
  requireRoot();
  const env = { ...process.env, DPX_BENCH_NODE_NETNS: '1', DPX_BENCH_ID: benchId, DPX_BENCH_HOST_NETNS: readlinkSync('/proc/self/ns/net') };
  const r = spawnSync('unshare', ['--net', process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env,
  });
  for (const name of ['p1', 'p2', 'p3']) {
    const ns = `dpxb-${benchId}-${name}`;
    if (existsSync(`/run/netns/${ns}`)) spawnSync('ip', ['netns', 'del', ns]);
  }
  for (const dir of [
    'rt-drops',
    'rt-drops-probe',
    'rt-empty-tp',
    'rt-forward',
    'rt-empty-tc-in',
    'rt-empty-tc-out',
    'rt-links-product',
    'rt-links-empty',
  ]) {
    rmSync(`/sys/fs/bpf/dpx-bench-${benchId}-${dir}`, { recursive: true, force: true });
  }
  if (r.error) throw r.error;
  process.exit(r.status ?? 1);
}

interface Measured {
  label: string;
  fd: Fd;
}

/** ns per run of each program over one call of `traffic`, from bpf_stats deltas. */
function measure<T>(progs: Measured[], traffic: () => T): { ns: number[]; runs: number[]; result: T } {
  const before = progs.map((p) => progStats(p.fd));
  const result = traffic();
  const after = progs.map((p) => progStats(p.fd));
  const runs = progs.map((_, i) => Number((after[i]?.runCnt ?? 0n) - (before[i]?.runCnt ?? 0n)));
  const ns = progs.map((_, i) => Number((after[i]?.runTimeNs ?? 0n) - (before[i]?.runTimeNs ?? 0n)) / (runs[i] ?? 1));
  return { ns, runs, result };
}

/** One row per product program: ns per run, the floor's, and the ratio per run (min/median/max). */
function ratioRows(label: string, productNs: number[], floorNs: number[], runs: number[]): string[] {
  const ratios = productNs.map((ns, i) => ns / (floorNs[i] ?? NaN));
  return [
    label,
    int(median(runs)),
    spread(floorNs),
    spread(productNs),
    `**${fmt(median(ratios), 2)}×** (${fmt(min(ratios), 2)}–${fmt(max(ratios), 2)})`,
    fmt(median(productNs.map((ns, i) => ns - (floorNs[i] ?? NaN)))),
  ];
}

const HEAD = [
  'case',
  'program runs per run',
  'empty program, ns per run',
  'product, ns per run',
  'product / empty (min–max)',
  'above empty, ns',
];

await runBenchmark(async () => {
  const own = readlinkSync('/proc/self/ns/net');
  if (!process.env.DPX_BENCH_HOST_NETNS || own === process.env.DPX_BENCH_HOST_NETNS) {
    throw new Error('refusing to run in the network namespace it was started in (run without DPX_BENCH_NODE_NETNS)');
  }
  header('9. Real traffic: per-drop and per-packet cost under bpf_stats', 'node dist/bench/real-traffic.js');
  floodBinary();
  const mix = senderBinary('drop-mix');

  // ---- The lab ----
  sh('ip', ['link', 'set', 'lo', 'up']);
  sh('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  const pods = [1, 2, 3].map((n) => {
    const ns = namespace(`p${n}`);
    const ip = `10.230.${n}.2`;
    veth({ ns: undefined, dev: `h${n}`, addr: `10.230.${n}.1/24` }, { ns, dev: 'eth0', addr: `${ip}/24` });
    inNs(ns, 'ip', ['route', 'add', 'default', 'via', `10.230.${n}.1`]);
    return { ns, ip, host: `h${n}`, path: `/run/netns/${ns}` };
  });
  const [p1, p2, p3] = pods as [(typeof pods)[0], (typeof pods)[0], (typeof pods)[0]];
  sh('iptables', ['-A', 'FORWARD', '-d', p3.ip, '-p', 'udp', '--dport', String(FILTERED_PORT), '-j', 'DROP']);
  // The pods' endpoint slots as the agent would give them: 0-2 are the real pods.
  const endpointIps = [p1.ip, p2.ip, p3.ip, ...Array.from({ length: PODS - 3 }, (_, i) => hostIp(231, i))];
  const fillEndpoints = (obj: BpfObject) => {
    const slot = Buffer.alloc(4);
    const map = obj.map(MAP_NAMES.endpoints);
    endpointIps.forEach((ip, i) => {
      slot.writeUInt32LE(i);
      map.update(encodeEndpointAddr(ip), slot);
    });
  };

  enableRunTimeStats();
  const cpus = libbpf.libbpf_num_possible_cpus();
  const reasons = DropReasonNames.fromRunningKernel();
  console.log(
    `Lab: 3 pod namespaces behind veths on a node namespace (forwarding), ${PODS} pod IPs in the endpoints map; ` +
      `senders pinned to CPU ${SENDER_CPU}; ${RUNS} runs per case; bpf_stats on (bpf_enable_stats fd, closed at exit). ` +
      'The drop hook is node-wide: drops elsewhere on the machine during a run are counted in both programs alike.\n',
  );

  // ---- Drops ----
  // The product as the agent loads it on this kernel (the variant it picks),
  // and, with maps of its own, the probe-read variant that kernels before
  // 6.2 run, so both are measured on this one.
  const twins = readFileSync(objectPath('drops.bpf.o')).includes(DROP_PROGRAMS.probe);
  const variant: DropProgramVariant = twins ? dropProgramVariant() : 'typed';
  const loadDrops = (v: DropProgramVariant, dir: string) => {
    const notLoaded = twins ? [DROP_PROGRAMS[v === 'typed' ? 'probe' : 'typed']] : [];
    const obj = BpfObject.load(objectPath('drops.bpf.o'), benchPinDir(dir), undefined, notLoaded);
    onCleanup(`drops.bpf.o (${v})`, () => obj.close());
    const t = new DropTable(
      {
        slotOf: obj.map(MAP_NAMES.dropSlotOf),
        freeSlots: obj.map(MAP_NAMES.dropFreeSlots),
        counts: obj.map(MAP_NAMES.dropCounts),
        cacheGeneration: new DropCacheGeneration(obj.map(MAP_NAMES.dropCacheGen)),
      },
      cpus,
    );
    t.rebuildFreeQueue();
    fillEndpoints(obj);
    if (EVENTS) {
      // Events on, no event left to send on any CPU (the budget a flood leaves).
      const tokens = Buffer.alloc(perCpuStride(DROP_EVENT_TOKENS_SIZE, cpus));
      for (let cpu = 0; cpu < cpus; cpu++) dropEventTokens.write(tokens, cpu, 0, true);
      obj.map(MAP_NAMES.dropEventTokens).update(Buffer.alloc(4), tokens);
    }
    return { obj, table: t };
  };
  const { obj: drops, table: dropTable } = loadDrops(variant, 'rt-drops');
  const probeLoaded = twins && variant === 'typed' ? loadDrops('probe', 'rt-drops-probe') : undefined;
  const probe = probeLoaded?.obj;
  const emptyTp = BpfObject.load(repoPath('bench/bpf/empty_tp.bpf.o'), benchPinDir('rt-empty-tp'));
  onCleanup('empty_tp.bpf.o', () => emptyTp.close());
  emptyTp.attach('empty_kfree_skb');
  drops.attach(DROP_PROGRAMS[variant]);
  probe?.attach(DROP_PROGRAMS.probe);
  const dropProgs: Measured[] = [
    { label: 'empty', fd: emptyTp.programFd('empty_kfree_skb') },
    { label: DROP_PROGRAMS[variant], fd: drops.programFd(DROP_PROGRAMS[variant]) },
    ...(probe ? [{ label: DROP_PROGRAMS.probe, fd: probe.programFd(DROP_PROGRAMS.probe) }] : []),
  ];

  // --drop-events: each drop program's own ring, bucket and loss counter.
  const eventPaths = (DROP_EVENTS ? [drops, probe] : []).flatMap((obj) => {
    if (obj === undefined) return [];
    const ring = new RingBuffer(obj.map(MAP_NAMES.dropEvents));
    onCleanup('drop event ring', () => ring.close());
    return [{ ring, tokens: obj.map(MAP_NAMES.dropEventTokens), lost: obj.map(MAP_NAMES.dropEventLost), events: 0 }];
  });
  const key0 = Buffer.alloc(4);
  const fullBuckets = Buffer.alloc(perCpuStride(DROP_EVENT_TOKENS_SIZE, cpus));
  for (let cpu = 0; cpu < cpus; cpu++) dropEventTokens.write(fullBuckets, cpu, 0xffffffff, true);
  /** Before a run: every ring empty, every bucket full, so each drop of the run writes its event. */
  const armEvents = () => {
    for (const e of eventPaths) {
      while (e.ring.consume(() => e.events++, 100_000));
      e.tokens.update(key0, fullBuckets);
    }
  };
  const ringFullLosses = (e: (typeof eventPaths)[0]) => {
    const key = Buffer.alloc(4);
    key.writeUInt32LE(DROP_EVENT_LOST.ring_full);
    const values = Buffer.alloc(perCpuStride(8, cpus));
    e.lost.lookup(key, values);
    let n = 0n;
    for (let cpu = 0; cpu < cpus; cpu++) n += values.readBigUInt64LE(cpu * perCpuStride(8, 1));
    return n;
  };
  armEvents();

  // What each (reason, endpoint slot, direction) counted: the exactness check.
  const dropCount = (reason: string, endpoint: number, direction: string, t: DropTable = dropTable) =>
    t
      .read()
      .cells.filter((c) => reasons.name(c.key.reason) === reason && c.key.endpoint === endpoint && c.key.direction === direction)
      .reduce((n, c) => n + Number(c.counter.packets), 0);
  const KEYS = [
    {
      what: 'p1 → p2 UDP closed port',
      target: `${p1.path},udp,${p2.ip},${CLOSED_PORT}`,
      reason: 'NO_SOCKET',
      endpoint: 1,
      direction: 'ingress',
    },
    {
      what: 'p2 → p3 FORWARD DROP',
      target: `${p2.path},udp,${p3.ip},${FILTERED_PORT}`,
      reason: 'NETFILTER_DROP',
      endpoint: 2,
      direction: 'ingress',
    },
    {
      what: 'p3 → p1 IP protocol 253',
      target: `${p3.path},raw,${p1.ip},${NO_SUCH_PROTO}`,
      reason: 'IP_NOPROTO',
      endpoint: 0,
      direction: 'ingress',
    },
    {
      what: 'p1 → node UDP closed port',
      target: `${p1.path},udp,10.230.1.1,${CLOSED_PORT}`,
      reason: 'NO_SOCKET',
      endpoint: 0,
      direction: 'egress',
    },
  ];
  const sendMix = (rounds: number) => {
    const out = sh('taskset', ['-c', String(SENDER_CPU), mix, String(rounds), '60', '64', ...KEYS.map((k) => k.target)]);
    return JSON.parse(out) as { rounds: number; seconds: number; sent: number[]; errors: number[] };
  };
  const sendOne = (count: number) => flood({ ns: p1.ns, host: p2.ip, port: CLOSED_PORT, count, seconds: 60, payload: 64, cpu: SENDER_CPU });

  const before = KEYS.map((k) => dropCount(k.reason, k.endpoint, k.direction));
  const probeBefore = KEYS.map((k) => (probeLoaded ? dropCount(k.reason, k.endpoint, k.direction, probeLoaded.table) : 0));
  const sentPerKey = KEYS.map(() => 0);
  const noteMix = (r: { sent: number[] }) => r.sent.forEach((n, i) => (sentPerKey[i] = (sentPerKey[i] ?? 0) + n));
  noteMix(sendMix(Math.min(5_000, ROUNDS))); // warm-up: interns the keys
  armEvents();
  let singleSent = sendOne(Math.min(20_000, DATAGRAMS)).sent;

  const mixNs: number[][] = dropProgs.map(() => []);
  const mixRuns: number[] = [];
  const oneNs: number[][] = dropProgs.map(() => []);
  const oneRuns: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    armEvents();
    const m = measure(dropProgs, () => sendMix(ROUNDS));
    noteMix(m.result);
    m.ns.forEach((ns, i) => mixNs[i]?.push(ns));
    mixRuns.push(m.runs[1] ?? 0);
    armEvents();
    const o = measure(dropProgs, () => sendOne(DATAGRAMS));
    singleSent += o.result.sent;
    o.ns.forEach((ns, i) => oneNs[i]?.push(ns));
    oneRuns.push(o.runs[1] ?? 0);
  }
  const counted = KEYS.map((k, i) => dropCount(k.reason, k.endpoint, k.direction) - (before[i] ?? 0));
  const probeCounted = KEYS.map((k, i) =>
    probeLoaded ? dropCount(k.reason, k.endpoint, k.direction, probeLoaded.table) - (probeBefore[i] ?? 0) : undefined,
  );
  armEvents(); // drains the last run's events into the counts
  const eventReport = eventPaths.map((e) => `${int(e.events)} events written, ${int(Number(ringFullLosses(e)))} lost to a full ring`);
  for (const e of eventPaths) e.ring.close();
  drops.close();
  probe?.close();
  emptyTp.close();

  console.log(
    `### Drops (tp_btf/kfree_skb; ${OBJECTS ? `objects from ${OBJECTS}` : `the agent loads ${DROP_PROGRAMS[variant]} here`}; ` +
      `drop events ${EVENTS ? 'on, every event budget spent (a flood)' : 'off'})\n`,
  );
  const dropRows: string[][] = [];
  dropProgs.slice(1).forEach((p, j) => {
    const i = j + 1;
    dropRows.push(
      ratioRows(`${p.label}: ${KEYS.length} keys interleaved (${int(ROUNDS)} rounds)`, mixNs[i] ?? [], mixNs[0] ?? [], mixRuns),
    );
    dropRows.push(
      ratioRows(`${p.label}: one key, UDP flood to a closed port (${int(DATAGRAMS)} datagrams)`, oneNs[i] ?? [], oneNs[0] ?? [], oneRuns),
    );
  });
  console.log(table(HEAD, dropRows));
  if (DROP_EVENTS) {
    console.log(
      `\nDrop events on (every bucket full, rings drained before each run): ${dropProgs
        .slice(1)
        .map((p, i) => `${p.label}: ${eventReport[i] ?? '—'}`)
        .join('; ')} (warm-up and drops elsewhere on the node included).`,
    );
  }
  console.log('\nExact counts (warm-up included; the single-key flood adds to the first key):\n');
  console.log(
    table(
      ['key', 'reason', 'pod (slot), direction', 'sent', 'counted', 'counted by the probe-read twin', 'exact'],
      KEYS.map((k, i) => {
        const sent = (sentPerKey[i] ?? 0) + (i === 0 ? singleSent : 0);
        const twin = probeCounted[i];
        const exact = counted[i] === sent && (twin === undefined || twin === sent);
        return [
          k.what,
          k.reason,
          `p${k.endpoint + 1} (${k.endpoint}), ${k.direction}`,
          int(sent),
          int(counted[i] ?? 0),
          twin === undefined ? '—' : int(twin),
          exact ? 'yes' : '**NO**',
        ];
      }),
    ),
  );

  // ---- Pods: the tc programs on the pods' veths ----
  if (CASES === 'drops') return;
  if (resolveTcMode('auto') !== 'tcx') {
    // clsact filters of ours have one fixed handle: the product and the empty
    // program cannot share a hook that way.
    console.log('\n### Pods: not measured (tcx needs kernel 6.6+; the agent uses clsact here)');
    return;
  }
  const forward = BpfObject.load(objectPath('forward.bpf.o'), benchPinDir('rt-forward'));
  onCleanup('forward.bpf.o', () => forward.close());
  fillEndpoints(forward);
  // Two copies of the empty program: one per hook, so each floor is its hook's own.
  const emptyIn = BpfObject.load(repoPath('bench/bpf/empty_tc.bpf.o'), benchPinDir('rt-empty-tc-in'));
  onCleanup('empty_tc.bpf.o (ingress)', () => emptyIn.close());
  const emptyOut = BpfObject.load(repoPath('bench/bpf/empty_tc.bpf.o'), benchPinDir('rt-empty-tc-out'));
  onCleanup('empty_tc.bpf.o (egress)', () => emptyOut.close());
  const product = new TcAttacher('tcx', benchPinDir('rt-links-product'), {
    ingress: forward.programFd('count_host_ingress'),
    egress: forward.programFd('count_host_egress'),
  });
  const empty = new TcAttacher('tcx', benchPinDir('rt-links-empty'), {
    ingress: emptyIn.programFd('empty_tc'),
    egress: emptyOut.programFd('empty_tc'),
  });
  onCleanup('tcx links', () => {
    product.detachAll();
    empty.detachAll();
  });
  // Each attach goes first in the chain: whichever attaches last runs first.
  const attachAll = (first: TcAttacher, second: TcAttacher) => {
    product.detachAll();
    empty.detachAll();
    for (const p of pods) second.attach(p.host, ifNameToIndex(p.host));
    for (const p of pods) first.attach(p.host, ifNameToIndex(p.host));
  };
  const tcProgs: Measured[] = [
    { label: 'empty (host ingress)', fd: emptyIn.programFd('empty_tc') },
    { label: 'count_host_ingress', fd: forward.programFd('count_host_ingress') },
    { label: 'empty (host egress)', fd: emptyOut.programFd('empty_tc') },
    { label: 'count_host_egress', fd: forward.programFd('count_host_egress') },
  ];
  const counts = forward.map(MAP_NAMES.forwardCounts);
  const cell = Buffer.alloc(perCpuStride(SITE_COUNTER_SIZE, cpus));
  const stride = perCpuStride(SITE_COUNTER_SIZE, 1);
  const packets = (slot: number, dir: 'ingress' | 'egress') => {
    const idx = Buffer.alloc(4);
    idx.writeUInt32LE(forwardIndex(slot as EndpointSlot, dir));
    counts.lookup(idx, cell);
    let n = 0;
    for (let c = 0; c < cpus; c++) n += Number(cell.readBigUInt64LE(c * stride));
    return n;
  };

  const tcRows: string[][] = [];
  const tcChecks: string[][] = [];
  for (const payload of TC_PAYLOADS) {
    const ns: number[][] = tcProgs.map(() => []);
    const runs: number[][] = tcProgs.map(() => []);
    const p1Egress0 = packets(0, 'egress');
    const p2Ingress0 = packets(1, 'ingress');
    let sent = 0;
    for (let r = 0; r < RUNS; r++) {
      if (r % 2 === 0) attachAll(product, empty);
      else attachAll(empty, product);
      if (r === 0) sendOne(Math.min(20_000, DATAGRAMS)); // warm-up, not counted in the check
      const m = measure(tcProgs, () =>
        flood({ ns: p1.ns, host: p2.ip, port: CLOSED_PORT, count: DATAGRAMS, seconds: 60, payload, cpu: SENDER_CPU }),
      );
      sent += m.result.sent;
      m.ns.forEach((x, i) => ns[i]?.push(x));
      m.runs.forEach((x, i) => runs[i]?.push(x));
    }
    const warm = Math.min(20_000, DATAGRAMS);
    tcRows.push(ratioRows(`host ingress (leaving p1), IP packet ${payload + 28} B`, ns[1] ?? [], ns[0] ?? [], runs[1] ?? []));
    tcRows.push(ratioRows(`host egress (entering p2), IP packet ${payload + 28} B`, ns[3] ?? [], ns[2] ?? [], runs[3] ?? []));
    const outP1 = packets(0, 'egress') - p1Egress0;
    const inP2 = packets(1, 'ingress') - p2Ingress0;
    tcChecks.push([
      `${payload + 28} B`,
      int(sent + warm),
      int(outP1),
      int(inP2),
      outP1 === sent + warm && inP2 === sent + warm ? 'yes' : '**NO**',
    ]);
  }
  console.log(
    `\n### Pods (tcx on the pods' host-side veths, ${int(DATAGRAMS)} datagrams per run, product and empty swap places each run)\n`,
  );
  console.log(table(HEAD, tcRows));
  console.log('\nExact counts:\n');
  console.log(table(['IP packet', 'sent', 'p1 egress counted', 'p2 ingress counted', 'exact'], tcChecks));
});
