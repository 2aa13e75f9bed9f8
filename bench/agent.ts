// Benchmark 5 — the real agent (dist/src/cli/main.js run, as an operator
// runs it): resident memory after start, and at the most series it can
// export with the compiled limits — 4,096 pods from a Kubernetes API (the
// test suite's own list/watch server), every endpoint slot counting in both
// directions and the drop table full (4,096 keys) — with its poll cycle
// (its own datapath_exporter_poll_duration_seconds histogram: mean, and p50
// / p99 as histogram_quantile estimates them from the buckets) beside the
// same poll run in-process on the agent's pinned maps (benchmark 1's
// Poller.poll at the same table size), and scrape latency at that size.
// Also the interface listing of each poll alone: the rtnetlink dump the
// agent does now against the `ip -j -d link show` it spawned before, in a
// namespace of 1, ~200 and ~1,000 links.
//
// Maximum series of the agent: forward 4,096 slots × 2 directions × 2
// families (packets, bytes) + drops 4,096 keys × 2 families ≈ 24.6k. 100k
// series cannot be reached by the agent with DROP_SLOTS = ENDPOINT_SLOTS =
// 4,096; bench/scrape.ts measures the export stage alone at 100k.
//
// Memory, as operators run it: every state under the launcher's runtime
// settings (scripts/datapath-exporter: V8 flags and glibc's mmap threshold,
// the same as the image's) and under plain `node`, idle without Kubernetes
// and with 110 pods (kubelet's default --max-pods) besides 4,096. Pods are
// real-sized (test/support/realistic-pod.ts), as the pod watch carries them.
//
// Run: node dist/bench/agent.js [--scrapes 5] [--window 20] [--polls 30] [--list-runs 30]
//   [--runtimes launcher,plain[,NAME=FLAGS]] [--idle 8]
//   [--agent PATH]: another build's dist/src/cli/main.js as the agent (a
//   before/after comparison; its pinned maps must have this build's layout).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DROP_SLOTS, ENDPOINT_SLOTS, MAP_NAMES } from '../src/bpf/contract.js';
import { DropCacheGeneration } from '../src/bpf/drop-cache.js';
import { DropReasonNames } from '../src/bpf/drop-reasons.js';
import { libbpf } from '../src/bpf/libbpf.js';
import { BpfMap } from '../src/bpf/map.js';
import { DropTable } from '../src/collect/drop-table.js';
import { ForwardSource } from '../src/collect/forward-table.js';
import { Kallsyms } from '../src/collect/kallsyms.js';
import { KernelDropSource } from '../src/collect/kernel-drops.js';
import { Poller } from '../src/collect/poller.js';
import { createLogger } from '../src/log/logger.js';
import { KubeApiServer } from '../test/support/kube-api-server.js';
import { makeRealisticPod } from '../test/support/realistic-pod.js';
import {
  Agent,
  AGENT_MAIN,
  fillDropTable,
  fillEventBuffer,
  fillForwardCounts,
  quantile,
  type Runtime,
  runtimeOf,
  sleep,
  waitFor,
} from './support/agent-process.js';
import { benchPinDir, repoPath } from './support/bpf.js';
import { onCleanup, runBenchmark } from './support/cleanup.js';
import { hostIp, namespace } from './support/netns.js';
import { flag, fmt, header, int, median, numberFlag, requireRoot, spread, table } from './support/report.js';

const SCRAPES = numberFlag('scrapes', 5);
const WINDOW_S = numberFlag('window', 20);
const POLLS = numberFlag('polls', 30);
const LIST_RUNS = numberFlag('list-runs', 30);
const AGENT = flag('agent', AGENT_MAIN);
const RUNTIMES = flag('runtimes', 'launcher,plain').split(',');
const IDLE_S = numberFlag('idle', 8);
const PODS = ENDPOINT_SLOTS;
const NODE = 'bench-node';
/** kubelet's default --max-pods: what most nodes carry at most. */
const SMALL_PODS = 110;
const SMALL_NODE = 'bench-node-110';
const POLL = '1s';

interface StateRow {
  runtime: Runtime;
  state: string;
  m: Awaited<ReturnType<typeof measure>>;
}

interface PollRow {
  runtime: Runtime;
  state: string;
  agent: PollWindow;
  inProcess: InProcessPolls;
}

async function main(): Promise<void> {
  requireRoot();
  header('5. The real agent: RSS, poll cycle and scrape at its maximum series', 'node dist/bench/agent.js');

  const api = await KubeApiServer.start();
  onCleanup('kube api server', () => void api.stop());
  for (let i = 0; i < PODS; i++) {
    api.addPod(
      makeRealisticPod({
        name: `checkout-api-7d9f8c6b5-${i.toString(36).padStart(5, 'x')}`,
        namespace: `team-${i % 20}-prod`,
        nodeName: NODE,
        ips: [hostIp(230, i)],
      }),
    );
  }
  for (let i = 0; i < SMALL_PODS; i++) {
    api.addPod(
      makeRealisticPod({
        name: `cart-api-7d9f8c6b5-${i.toString(36).padStart(5, 'x')}`,
        namespace: `team-${i % 20}-prod`,
        nodeName: SMALL_NODE,
        ips: [hostIp(231, i)],
      }),
    );
  }
  const podBytes = JSON.stringify(api.listPods()[0]).length;
  const dir = mkdtempSync(join(tmpdir(), 'dpx-bench-agent-'));
  onCleanup(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = api.writeKubeconfig(dir);

  const runtimes = RUNTIMES.map(runtimeOf);
  const states: StateRow[] = [];
  const polls: PollRow[] = [];
  let stopped = { code: null as number | null, ms: 0 };
  let events = 0;
  for (const runtime of runtimes) {
    const common = ['--poll-interval', POLL, '--interfaces', 'dpxbnomatch*', '--cilium-metrics-map', 'none'];
    // Idle without Kubernetes (node-level counters only).
    const bare = await Agent.start(['--bpffs', benchPinDir(`agent-bare-${runtime.name}`), ...common], runtime, AGENT);
    onCleanup('agent without Kubernetes', () => bare.kill());
    await sleep(IDLE_S * 1000);
    states.push({ runtime, state: 'idle, no Kubernetes', m: await measure(bare, SCRAPES) });
    await bare.stop();

    // Idle with Kubernetes and 110 pods.
    const small = await Agent.start(
      ['--bpffs', benchPinDir(`agent-110-${runtime.name}`), ...common, '--kubeconfig', kubeconfig, '--node-name', SMALL_NODE],
      runtime,
      AGENT,
    );
    onCleanup('agent with 110 pods', () => small.kill());
    await waitFor(
      async () => (await small.metric('datapath_exporter_slots_used', 'table="endpoints"')) === SMALL_PODS,
      60_000,
      '110 pods placed',
    );
    await sleep(IDLE_S * 1000);
    states.push({ runtime, state: `idle, ${SMALL_PODS} pods synced`, m: await measure(small, SCRAPES) });
    await small.stop();

    const pinDir = benchPinDir(`agent-${runtime.name}`);
    const agent = await Agent.start(
      [...common, '--bpffs', pinDir, '--kubeconfig', kubeconfig, '--node-name', NODE, '--max-endpoints', String(PODS)],
      runtime,
      AGENT,
    );
    onCleanup('agent', () => agent.kill());

    // Started, 4,096 pods synced, little counted yet.
    await waitFor(
      async () => (await agent.metric('datapath_exporter_slots_used', 'table="endpoints"')) === PODS,
      60_000,
      'all pods placed in endpoint slots',
    );
    await sleep(3000);
    states.push({ runtime, state: '4,096 pods synced', m: await measure(agent, SCRAPES) });
    const [startPoll, startInProcess] = await sideBySide(agent, pinDir);
    polls.push({ runtime, state: '4,096 pods synced', agent: startPoll, inProcess: startInProcess });

    // The compiled maximum. Every forward cell counts, and the drop table is
    // filled with keys at distinct kernel functions, the way the program
    // interns them (slot from the free queue, key -> slot).
    fillForwardCounts(pinDir);
    const interned = fillDropTable(pinDir);
    await waitFor(
      async () => (await agent.metric('datapath_exporter_slots_used', 'table="drop_keys"')) >= DROP_SLOTS - 1,
      30_000,
      'drop table full',
    );
    // And the drop event buffer full: real drops (UDP to a closed port on
    // loopback) at 1.5× the default event rate until it holds its 10,000.
    events = await fillEventBuffer(agent);
    await sleep(2500);
    const [fullPoll, fullInProcess] = await sideBySide(agent, pinDir);
    polls.push({ runtime, state: 'maximum', agent: fullPoll, inProcess: fullInProcess });
    states.push({ runtime, state: `maximum: 4,096 pods counting, ${int(interned)} drop keys added`, m: await measure(agent, SCRAPES) });
    stopped = await agent.stop();
  }

  if (AGENT !== AGENT_MAIN) console.log(`Agent of another build: ${AGENT}\n`);
  console.log(
    `Agent: \`node [flags] dist/src/cli/main.js run --poll-interval ${POLL} --kubeconfig …\` against the test suite's ` +
      `Kubernetes API server holding ${int(PODS)} pods on one node and ${SMALL_PODS} on another, each pod ~${fmt(podBytes / 1e3, 1)} kB of JSON as real pods are. ` +
      `Runtimes: ${runtimes.map((r) => `${r.name} = ${[...Object.entries(r.env).map(([k, v]) => `${k}=${v}`), 'node', ...r.flags].join(' ')}`).join('; ')}. ` +
      `Idle = ${IDLE_S} s after start (and after the pods were placed). RSS = VmRSS of the agent process (= its process.memoryUsage().rss), ` +
      `anon / file = RssAnon / RssFile (file pages are reclaimable under a cgroup limit, anonymous ones are not), peak = VmHWM. Scrape: GET /metrics, ${SCRAPES} times, median (min–max). Poll: the agent's own histogram over ${WINDOW_S} s.\n`,
  );
  console.log(
    table(
      ['runtime', 'state', 'series (datapath_*)', 'RSS MB', 'of which anon / file MB', 'peak RSS MB', 'scrape ms', 'body'],
      states.map(({ runtime, state, m }) => [
        runtime.name,
        state,
        int(m.series),
        fmt(m.rssMb, 0),
        `${fmt(m.anonMb, 0)} / ${fmt(m.fileMb, 0)}`,
        fmt(m.hwmMb, 0),
        spread(m.ms, 1),
        m.bytes > 1e6 ? `${fmt(m.bytes / 1e6, 2)} MB` : `${fmt(m.bytes / 1e3, 0)} kB`,
      ]),
    ),
  );
  console.log(
    `\nAt the maximum the drop event buffer (/api/v1/drops) held ${int(events)} events. Agent stopped with SIGTERM: exit ${stopped.code} in ${int(stopped.ms)} ms.\n`,
  );

  console.log(
    `Poll cycle: the agent's own datapath_exporter_poll_duration_seconds over ${WINDOW_S} s (poll interval ${POLL}; ` +
      `p50 / p99 interpolated in its buckets as histogram_quantile does) beside Poller.poll() with the same two sources ` +
      `on the agent's pinned maps in this process (benchmark 1's measurement, same table), ${POLLS} polls after 3 warm-up, spread over the ` +
      `same ${WINDOW_S} s so that both see the same load on the machine.\n`,
  );
  console.log(
    table(
      [
        'runtime',
        'state',
        'drop keys',
        'agent polls',
        'agent mean ms',
        'agent p50 / p99 ms',
        'in-process ms',
        'in-process mean ms',
        'agent mean / in-process mean',
      ],
      polls.map(({ runtime, state, agent: a, inProcess: b }) => [
        runtime.name,
        state,
        int(b.keys),
        int(a.polls),
        fmt(a.meanMs, 2),
        `${fmt(a.p50Ms, 2)} / ${fmt(a.p99Ms, 2)}`,
        spread(b.ms, 2),
        fmt(b.meanMs, 2),
        `${fmt(a.meanMs / b.meanMs, 2)}×`,
      ]),
    ),
  );

  // The interface listing of every poll, alone.
  const listing = [0, 100, 500].map(linkListing);
  console.log(
    `\nInterface listing per poll, in a namespace of the benchmark's own with N veth pairs (both ends in it), ${LIST_RUNS} runs ` +
      `alternated, median (min–max): listPodInterfaces() (one RTM_GETLINK dump on a reused netlink socket) vs the listing it replaced ` +
      `(execFileSync \`ip -j -d link show\`, JSON.parse, keep the veths), from a small process (bench/support/link-listing.ts).\n`,
  );
  console.log(
    table(
      ['links', 'veths', 'rtnetlink dump ms', '`ip` spawn ms', 'ip / dump'],
      listing.map((l) => [
        int(l.links),
        int(l.veths),
        spread(l.dumpMs, 3),
        spread(l.ipMs, 2),
        `${fmt(median(l.ipMs) / median(l.dumpMs), 0)}×`,
      ]),
    ),
  );
  console.log('');

  // Where the start-up RSS goes (a fresh process importing step by step), under each runtime.
  const stepsBy = runtimes.map((rt) => {
    const r = spawnSync(process.execPath, [...rt.flags, repoPath('dist/bench/support/rss-steps.js')], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, ...rt.env },
    });
    if (r.status !== 0) throw new Error(`rss-steps failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Array<{ step: string; rssMb: number }>;
  });
  console.log(`Start-up RSS by step (fresh process, cumulative order; RSS MB, and what the step added), per runtime:\n`);
  const first = stepsBy[0] ?? [];
  console.log(
    table(
      ['step', ...runtimes.flatMap((r) => [`${r.name} RSS MB`, 'added'])],
      first.map((s, i) => [
        s.step,
        ...stepsBy.flatMap((steps) => {
          const now = steps[i]?.rssMb ?? NaN;
          return [fmt(now, 0), i === 0 ? '—' : fmt(now - (steps[i - 1]?.rssMb ?? 0), 0)];
        }),
      ]),
    ),
  );
}

interface PollWindow {
  polls: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Over WINDOW_S seconds: the agent's poll histogram (the difference of two
 * scrapes) and, meanwhile, POLLS in-process polls of the same maps.
 */
async function sideBySide(agent: Agent, pinDir: string): Promise<[PollWindow, InProcessPolls]> {
  const inProcess = new InProcessPoller(pinDir);
  try {
    const h0 = await agent.pollHistogram();
    const ms: number[] = [];
    for (let i = 0; i < POLLS; i++) {
      ms.push(inProcess.pollMs());
      await sleep((WINDOW_S * 1000) / POLLS);
    }
    const h1 = await agent.pollHistogram();
    const polls = h1.count - h0.count;
    const buckets = h1.buckets.map((b, i) => ({ le: b.le, count: b.count - (h0.buckets[i]?.count ?? 0) }));
    return [
      { polls, meanMs: ((h1.sum - h0.sum) / polls) * 1000, p50Ms: quantile(0.5, buckets) * 1000, p99Ms: quantile(0.99, buckets) * 1000 },
      { keys: inProcess.keys, ms, meanMs: ms.reduce((a, b) => a + b, 0) / ms.length },
    ];
  } finally {
    inProcess.close();
  }
}

interface InProcessPolls {
  keys: number;
  ms: number[];
  meanMs: number;
}

/** Benchmark 1's poll (Poller.poll with the agent's two sources) on the agent's pinned maps, in this process. */
class InProcessPoller {
  private readonly maps;
  private readonly kernel: KernelDropSource;
  private readonly poller: Poller;

  constructor(pinDir: string) {
    const open = (name: string) => BpfMap.fromPin(join(pinDir, name), name);
    this.maps = {
      slotOf: open(MAP_NAMES.dropSlotOf),
      freeSlots: open(MAP_NAMES.dropFreeSlots),
      counts: open(MAP_NAMES.dropCounts),
      gen: open(MAP_NAMES.dropCacheGen),
      forward: open(MAP_NAMES.forwardCounts),
    };
    const cpus = libbpf.libbpf_num_possible_cpus();
    const m = this.maps;
    const table = new DropTable(
      { slotOf: m.slotOf, freeSlots: m.freeSlots, counts: m.counts, cacheGeneration: new DropCacheGeneration(m.gen) },
      cpus,
    );
    this.kernel = new KernelDropSource(table, DropReasonNames.fromRunningKernel(), new Kallsyms());
    this.poller = new Poller([this.kernel, new ForwardSource(m.forward, cpus)], createLogger('silent'));
    for (let i = 0; i < 3; i++) this.poller.poll(); // warm-up (kallsyms read, JIT)
  }

  get keys(): number {
    return this.kernel.last.used;
  }

  pollMs(): number {
    const t0 = process.hrtime.bigint();
    this.poller.poll();
    return Number(process.hrtime.bigint() - t0) / 1e6;
  }

  close(): void {
    for (const m of Object.values(this.maps)) m.close();
  }
}

/** One interface listing, both ways, in a namespace of the benchmark's own with `pairs` veth pairs (deleted at cleanup). */
function linkListing(pairs: number): { links: number; veths: number; dumpMs: number[]; ipMs: number[] } {
  const ns = namespace(`links${pairs}`);
  if (pairs > 0) {
    const batch = Array.from({ length: pairs }, (_, i) => `link add dxl${i} type veth peer name dxm${i}`);
    const r = spawnSync('ip', ['-n', ns, '-batch', '-'], { input: `${batch.join('\n')}\n`, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip -batch in ${ns}: ${r.stderr}`);
  }
  const r = spawnSync(
    'nsenter',
    [`--net=/run/netns/${ns}`, process.execPath, repoPath('dist/bench/support/link-listing.js'), '--runs', String(LIST_RUNS)],
    {
      encoding: 'utf8',
      timeout: 300_000,
      maxBuffer: 16 << 20,
    },
  );
  if (r.status !== 0) throw new Error(`link-listing in ${ns} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { links: number; veths: number; dumpMs: number[]; ipMs: number[] };
}

async function measure(agent: Agent, scrapes: number) {
  const ms: number[] = [];
  let body = '';
  for (let i = 0; i < scrapes; i++) {
    const t0 = process.hrtime.bigint();
    body = await agent.get('/metrics');
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const series = body.split('\n').filter((l) => l.startsWith('datapath_') && !l.startsWith('datapath_exporter_')).length;
  const status = readFileSync(`/proc/${agent.pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const mb = (field: string) => (kb(field) * 1024) / 1e6;
  return { ms, series, bytes: body.length, rssMb: mb('VmRSS'), anonMb: mb('RssAnon'), fileMb: mb('RssFile'), hwmMb: mb('VmHWM') };
}

await runBenchmark(main);
