// Benchmark 3 — the claim of the eBPF world: per-pod accounting as an
// iptables chain (one rule per pod IP, linear matching) against the tc
// program with the same number of endpoints in its hash map, measured as
// packets per second forwarded through a node, all in one run so that the
// ratios hold on a noisy machine.
//
// Topology (all namespaces of the benchmark's own):
//   src (10.210.0.2) --veth-- node --veth-- dst (10.220.255.254)
// "node" is this process's own network namespace (the benchmark re-executes
// itself under `unshare --net`): forwarding on, its FORWARD chain or tc hooks
// are where accounting happens, and everything in it vanishes with the process.
// A single-threaded UDP flood (sendmmsg, 100 B payload) from src to a closed
// port in dst, pinned to one CPU. On veth the whole path (src send -> node
// forward -> dst receive) runs as softirq in the sender's context, so the
// packets forwarded per CPU-second of the sender (+ ksoftirqd of its CPU, for
// work deferred there) is 1 / (per-packet cost of the whole path) — a figure
// that other load on a shared machine does not move, unlike wall-clock pps
// (also reported).
//
// Configurations: baseline (nothing), iptables chain ACCT of N rules
// `-d POD_IP -j RETURN` jumped to from FORWARD with the packet matching the
// LAST rule (worst case), tc count_host_egress (tcx egress of the node-side
// veth of dst, as the agent attaches it) with N endpoints, and both tc
// programs (ingress on src's veth too) with 4,096 endpoints.
//
// Run: node dist/bench/forward-pps.js [--runs 5] [--seconds 1]
import { spawnSync } from 'node:child_process';
import { existsSync, readlinkSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BpfObject } from '../src/bpf/object.js';
import { encodeEndpointAddr, ENDPOINT_SLOTS, type EndpointSlot, forwardIndex, MAP_NAMES, SITE_COUNTER_SIZE } from '../src/bpf/contract.js';
import { close, type Fd, lastErrno, libbpf } from '../src/bpf/libbpf.js';
import { ifNameToIndex } from '../src/os/libc.js';
import { BpfError } from '../src/bpf/errors.js';
import { perCpuStride } from '../src/bpf/map.js';
import { benchPinDir, repoPath } from './support/bpf.js';
import { onCleanup, runBenchmark } from './support/cleanup.js';
import { flood, floodBinary, ksoftirqdNs } from './support/flood.js';
import { benchId, hostIp, inNs, linkStats, namespace, sh, veth } from './support/netns.js';
import { fmt, header, int, median, numberFlag, requireRoot, spread, table } from './support/report.js';

const RUNS = numberFlag('runs', 5);
const SECONDS = numberFlag('seconds', 1);
const SIZES = [10, 100, 1000, ENDPOINT_SLOTS];
const SRC_IP = '10.210.0.2';
const DST_IP = '10.220.255.254';
const PAYLOAD = 100;
const CLOSED_PORT = 9;
const BPF_TCX_INGRESS = 46;
const BPF_TCX_EGRESS = 47;
const SENDER_CPU = 1;

if (process.env.DPX_BENCH_NODE_NETNS !== '1') {
  // Parent: re-run this file in a network namespace of its own (the node),
  // then make sure nothing of it is left, whatever happened to the child.
  requireRoot();
  const env = { ...process.env, DPX_BENCH_NODE_NETNS: '1', DPX_BENCH_ID: benchId, DPX_BENCH_HOST_NETNS: readlinkSync('/proc/self/ns/net') };
  const r = spawnSync('unshare', ['--net', process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env,
  });
  for (const name of ['src', 'dst']) {
    const ns = `dpxb-${benchId}-${name}`;
    if (existsSync(`/run/netns/${ns}`)) spawnSync('ip', ['netns', 'del', ns]);
  }
  rmSync(`/sys/fs/bpf/dpx-bench-${benchId}-pps`, { recursive: true, force: true });
  if (r.error) throw r.error;
  process.exit(r.status ?? 1);
}

interface Config {
  label: string;
  kind: 'baseline' | 'iptables' | 'tc' | 'tc-both';
  n: number;
}

const CONFIGS: Config[] = [
  { label: 'baseline (no accounting)', kind: 'baseline', n: 0 },
  ...SIZES.map((n): Config => ({ label: `iptables, ${int(n)} rules`, kind: 'iptables', n })),
  ...SIZES.map((n): Config => ({ label: `tc count_host_egress, ${int(n)} endpoints`, kind: 'tc', n })),
  { label: `tc both hooks (as the agent), ${int(ENDPOINT_SLOTS)} endpoints`, kind: 'tc-both', n: ENDPOINT_SLOTS },
];

await runBenchmark(async () => {
  // Never touch the host's firewall: this must be the private namespace.
  const own = readlinkSync('/proc/self/ns/net');
  if (!process.env.DPX_BENCH_HOST_NETNS || own === process.env.DPX_BENCH_HOST_NETNS) {
    throw new Error('refusing to run in the network namespace it was started in (run without DPX_BENCH_NODE_NETNS)');
  }
  header('3. Per-pod accounting: iptables chain vs tc program, packets per second', 'node dist/bench/forward-pps.js');
  floodBinary(); // compile before anything is timed

  sh('ip', ['link', 'set', 'lo', 'up']);
  sh('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  const src = namespace('src');
  const dst = namespace('dst');
  veth({ ns: src, dev: 's0', addr: `${SRC_IP}/24` }, { ns: undefined, dev: 'n-src', addr: '10.210.0.1/24' });
  veth({ ns: undefined, dev: 'n-dst', addr: '10.220.0.1/16' }, { ns: dst, dev: 'd0', addr: `${DST_IP}/16` });
  inNs(src, 'ip', ['route', 'add', 'default', 'via', '10.210.0.1']);
  inNs(dst, 'ip', ['route', 'add', 'default', 'via', '10.220.0.1']);

  // The tc programs, maps pinned in a bench directory.
  const pinDir = benchPinDir('pps');
  const forward = BpfObject.load(repoPath('bpf/forward.bpf.o'), pinDir);
  onCleanup('forward.bpf.o', () => forward.close());
  const endpoints = forward.map(MAP_NAMES.endpoints);
  const counts = forward.map(MAP_NAMES.forwardCounts);
  const links: Fd[] = [];
  const detachAll = () => {
    for (const fd of links.splice(0)) close(fd);
  };
  onCleanup('tcx links', detachAll);
  const attach = (prog: string, dev: string, type: number) => {
    const fd = libbpf.bpf_link_create(forward.programFd(prog), ifNameToIndex(dev), type, null);
    if (fd < 0) throw BpfError.fromErrno(`tcx attach ${prog} on ${dev}`, lastErrno());
    links.push(fd as Fd);
  };
  const inMap: Buffer[] = [];
  const fillEndpoints = (ips: string[]) => {
    for (const key of inMap.splice(0)) endpoints.delete(key);
    const slot = Buffer.alloc(4);
    ips.forEach((ip, i) => {
      const key = encodeEndpointAddr(ip);
      slot.writeUInt32LE(i);
      endpoints.update(key, slot);
      inMap.push(key);
    });
  };
  // N pod IPs, the flow's pod last (the worst place for a linear chain).
  const podIps = (n: number, last: string[]) => [...Array.from({ length: n - last.length }, (_, i) => hostIp(221, i)), ...last];

  const setup = (c: Config) => {
    detachAll();
    sh('nft', ['flush', 'ruleset']); // this namespace's only: no table, no hook
    if (c.kind === 'iptables') {
      const rules = podIps(c.n, [DST_IP]).map((ip) => `-A ACCT -d ${ip}/32 -j RETURN`);
      sh('iptables-restore', [], ['*filter', ':ACCT - [0:0]', '-A FORWARD -j ACCT', ...rules, 'COMMIT', ''].join('\n'));
    } else if (c.kind === 'tc') {
      fillEndpoints(podIps(c.n, [DST_IP]));
      attach('count_host_egress', 'n-dst', BPF_TCX_EGRESS);
    } else if (c.kind === 'tc-both') {
      fillEndpoints(podIps(c.n, [SRC_IP, DST_IP]));
      attach('count_host_egress', 'n-dst', BPF_TCX_EGRESS);
      attach('count_host_ingress', 'n-src', BPF_TCX_INGRESS);
    }
  };
  const lastRulePackets = (): number => {
    const lines = sh('iptables', ['-nvxL', 'ACCT']).trim().split('\n');
    return Number(lines[lines.length - 1]?.trim().split(/\s+/)[0] ?? NaN);
  };
  const dstSlotPackets = (slot: number): number => {
    const cpus = libbpf.libbpf_num_possible_cpus();
    const value = Buffer.alloc(perCpuStride(SITE_COUNTER_SIZE, cpus));
    const key = Buffer.alloc(4);
    key.writeUInt32LE(forwardIndex(slot as EndpointSlot, 'ingress'));
    counts.lookup(key, value);
    let p = 0n;
    for (let cpu = 0; cpu < cpus; cpu++) p += value.readBigUInt64LE(cpu * SITE_COUNTER_SIZE);
    return Number(p);
  };

  const send = (seconds: number) =>
    flood({ ns: src, host: DST_IP, port: CLOSED_PORT, count: 1e9, seconds, payload: PAYLOAD, cpu: SENDER_CPU });
  setup(CONFIGS[0] as Config);
  const probe = linkStats(undefined, 'n-dst').txPackets;
  send(0.3); // warm-up, and proof that the path forwards
  if (linkStats(undefined, 'n-dst').txPackets - probe < 1000) throw new Error('the node does not forward src -> dst');

  // Paired design: every run of a configuration is preceded by a baseline
  // run, and the ratio is taken within the pair, so that the machine's drift
  // (other load, the hypervisor) cancels out.
  interface Sample {
    pps: number; // per CPU-second
    wallPps: number;
    deferred: number; // share of the CPU time spent in ksoftirqd
    forwarded: number;
  }
  const run = (c: Config): Sample => {
    setup(c);
    const before = linkStats(undefined, 'n-dst').txPackets;
    const soft0 = ksoftirqdNs(SENDER_CPU);
    const res = send(SECONDS);
    const soft = (ksoftirqdNs(SENDER_CPU) - soft0) / 1e9;
    const forwarded = linkStats(undefined, 'n-dst').txPackets - before;
    return { pps: forwarded / (res.cpu + soft), wallPps: forwarded / res.seconds, deferred: soft / (res.cpu + soft), forwarded };
  };
  const baseline = CONFIGS[0] as Config;
  const measured = CONFIGS.slice(1);
  const samples = new Map<string, Sample[]>();
  const ratios = new Map<string, number[]>();
  const added = new Map<string, number[]>();
  const checks = new Map<string, string>();
  const push = <T>(m: Map<string, T[]>, key: string, v: T) => m.set(key, [...(m.get(key) ?? []), v]);
  for (let r = 0; r < RUNS; r++) {
    // Rotate the order each round so no configuration always runs first.
    const order = measured.map((_, i) => measured[(i + r) % measured.length] as Config);
    for (const c of order) {
      const b = run(baseline);
      push(samples, baseline.label, b);
      const slotBefore = c.kind.startsWith('tc') ? dstSlotPackets(c.n - 1) : 0;
      const m = run(c);
      push(samples, c.label, m);
      push(ratios, c.label, m.pps / b.pps);
      push(added, c.label, 1e9 / m.pps - 1e9 / b.pps);
      if (r === 0) {
        // The accounting really counted this flow.
        if (c.kind === 'iptables') checks.set(c.label, `last rule counted ${int(lastRulePackets())} of ${int(m.forwarded)}`);
        if (c.kind.startsWith('tc'))
          checks.set(c.label, `pod slot counted ${int(dstSlotPackets(c.n - 1) - slotBefore)} of ${int(m.forwarded)}`);
      }
    }
  }
  setup(baseline); // leave nothing attached

  console.log(
    `${RUNS} rounds; in each, every configuration runs ${SECONDS} s right after a ${SECONDS} s baseline run (order rotated each round). ` +
      `UDP ${PAYLOAD} B payload, one sender thread pinned to CPU ${SENDER_CPU}, ${sh('iptables', ['-V']).trim()}. ` +
      `pps = packets forwarded to dst per CPU-second of the sender (+ ksoftirqd/${SENDER_CPU}), median (min–max); ` +
      `ratio and added ns/packet (1e9/pps − 1e9/baseline pps) are medians over the pairs; wall-clock pps (median) for reference.\n`,
  );
  const col = (label: string, f: (x: Sample) => number) => (samples.get(label) ?? []).map(f);
  console.log(
    table(
      [
        'configuration',
        'pps per CPU-second',
        'ratio to baseline (paired)',
        'added ns/packet (paired)',
        'wall-clock pps',
        'in ksoftirqd',
        'check (round 1)',
      ],
      CONFIGS.map((c) => [
        c.label,
        spread(
          col(c.label, (x) => x.pps),
          0,
        ),
        c === baseline ? '1.00×' : `${fmt(median(ratios.get(c.label) ?? []), 2)}×`,
        c === baseline ? '—' : spread(added.get(c.label) ?? [], 0),
        int(median(col(c.label, (x) => x.wallPps))),
        `${fmt(100 * median(col(c.label, (x) => x.deferred)), 0)} %`,
        checks.get(c.label) ?? '—',
      ]),
    ),
  );
  // Linear fit of the added cost over the sizes: fixed part (for iptables
  // the netfilter hook and the jump) + per entry.
  const fit = (kind: Config['kind']) => {
    const pts = CONFIGS.filter((c) => c.kind === kind).map((c) => [c.n, median(added.get(c.label) ?? [])] as const);
    const mx = pts.reduce((a, [x]) => a + x, 0) / pts.length;
    const my = pts.reduce((a, [, y]) => a + y, 0) / pts.length;
    const slope = pts.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / pts.reduce((a, [x]) => a + (x - mx) ** 2, 0);
    return { fixed: my - slope * mx, perEntry: slope };
  };
  const ipt = fit('iptables');
  const tc = fit('tc');
  console.log(
    `\nLeast-squares fit of the median added ns/packet over N = ${SIZES.map(int).join(', ')}: ` +
      `iptables ${fmt(ipt.fixed, 0)} ns + ${fmt(ipt.perEntry, 2)} ns per rule; ` +
      `tc ${fmt(tc.fixed, 0)} ns + ${fmt(tc.perEntry, 3)} ns per endpoint.`,
  );
});
