// Benchmark 5 — the real agent (dist/src/cli/main.js run, as an operator
// runs it): resident memory after start, and at the most series it can
// export with the compiled limits — 4,096 pods from a Kubernetes API (the
// test suite's own list/watch server), every endpoint slot counting in both
// directions and the drop table full (4,096 keys) — with its poll cycle
// (its own datapath_exporter_poll_duration_seconds histogram) and scrape
// latency at that size.
//
// Maximum series of the agent: forward 4,096 slots × 2 directions × 2
// families (packets, bytes) + drops 4,096 keys × 2 families ≈ 24.6k. 100k
// series cannot be reached by the agent with DROP_SLOTS = ENDPOINT_SLOTS =
// 4,096; bench/scrape.ts measures the export stage alone at 100k.
//
// Run: node dist/bench/agent.js [--scrapes 5] [--window 10]
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DROP_SLOTS, encodeDropKey, ENDPOINT_SLOTS, ENDPOINT_UNATTRIBUTED, type EndpointSlot, FORWARD_CELLS, MAP_NAMES, SITE_COUNTER_SIZE } from '../src/bpf/contract.js';
import { libbpf } from '../src/bpf/libbpf.js';
import { BpfMap, perCpuStride } from '../src/bpf/map.js';
import { KubeApiServer, makePod } from '../test/support/kube-api-server.js';
import { benchPinDir, repoPath } from './support/bpf.js';
import { onCleanup, runBenchmark } from './support/cleanup.js';
import { hostIp } from './support/netns.js';
import { fmt, header, int, numberFlag, requireRoot, spread, table } from './support/report.js';

const SCRAPES = numberFlag('scrapes', 5);
const WINDOW_S = numberFlag('window', 10);
const PODS = ENDPOINT_SLOTS;
const NODE = 'bench-node';
const POLL = '1s';

async function main(): Promise<void> {
  requireRoot();
  header('5. The real agent: RSS, poll cycle and scrape at its maximum series', 'node dist/bench/agent.js');

  const api = await KubeApiServer.start();
  onCleanup('kube api server', () => void api.stop());
  for (let i = 0; i < PODS; i++) {
    api.addPod(makePod({ name: `checkout-api-7d9f8c6b5-${i.toString(36).padStart(5, 'x')}`, namespace: `team-${i % 20}-prod`, nodeName: NODE, ips: [hostIp(230, i)] }));
  }
  const dir = mkdtempSync(join(tmpdir(), 'dpx-bench-agent-'));
  onCleanup(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = api.writeKubeconfig(dir);
  const pinDir = benchPinDir('agent');

  // Phase 0: the agent without Kubernetes (node-level counters only).
  const bare = await Agent.start(['--bpffs', benchPinDir('agent-bare'), '--poll-interval', POLL, '--interfaces', 'dpxbnomatch*', '--cilium-metrics-map', 'none']);
  onCleanup('agent without Kubernetes', () => bare.kill());
  await sleep(4000);
  const noK8s = await measure(bare, SCRAPES);
  await bare.stop();

  const agent = await Agent.start([
    '--bpffs', pinDir,
    '--poll-interval', POLL,
    '--interfaces', 'dpxbnomatch*', // the kfree_skb program only; no tc on this host's veths
    '--cilium-metrics-map', 'none',
    '--kubeconfig', kubeconfig,
    '--node-name', NODE,
    '--max-endpoints', String(PODS),
  ]);
  onCleanup('agent', () => agent.kill());

  // Phase 1: started, pods synced, little counted yet.
  await waitFor(async () => (await agent.metric('datapath_exporter_slots_used', 'table="endpoints"')) === PODS, 60_000, 'all pods placed in endpoint slots');
  await sleep(3000);
  const start = await measure(agent, SCRAPES);

  // Phase 2: the compiled maximum. Every forward cell counts, and the drop
  // table is filled with keys at distinct kernel functions, the way the
  // program interns them (slot from the free queue, key -> slot).
  fillForwardCounts(pinDir);
  const interned = fillDropTable(pinDir);
  await waitFor(async () => (await agent.metric('datapath_exporter_slots_used', 'table="drop_keys"')) >= DROP_SLOTS - 1, 30_000, 'drop table full');
  await sleep(2500);
  const sum0 = await agent.pollHistogram();
  await sleep(WINDOW_S * 1000);
  const sum1 = await agent.pollHistogram();
  const full = await measure(agent, SCRAPES);
  const stopped = await agent.stop();

  console.log(
    `Agent: \`node dist/src/cli/main.js run --poll-interval ${POLL} --max-endpoints ${PODS} --kubeconfig …\` against the test suite's ` +
      `Kubernetes API server with ${int(PODS)} pods on this node; RSS = VmRSS of the agent process (= its process.memoryUsage().rss), ` +
      `anon / file = RssAnon / RssFile (file pages are reclaimable under a cgroup limit, anonymous ones are not), peak = VmHWM. Scrape: GET /metrics, ${SCRAPES} times, median (min–max). Poll: the agent's own histogram over ${WINDOW_S} s.\n`,
  );
  console.log(
    table(
      ['state', 'series (datapath_*)', 'RSS MB', 'of which anon / file MB', 'peak RSS MB', 'scrape ms', 'body'],
      [
        ['after start, no Kubernetes', int(noK8s.series), fmt(noK8s.rssMb, 0), `${fmt(noK8s.anonMb, 0)} / ${fmt(noK8s.fileMb, 0)}`, fmt(noK8s.hwmMb, 0), spread(noK8s.ms, 1), `${fmt(noK8s.bytes / 1e3, 0)} kB`],
        ['after start, 4,096 pods synced', int(start.series), fmt(start.rssMb, 0), `${fmt(start.anonMb, 0)} / ${fmt(start.fileMb, 0)}`, fmt(start.hwmMb, 0), spread(start.ms, 1), `${fmt(start.bytes / 1e3, 0)} kB`],
        [
          `maximum: 4,096 pods counting, ${int(interned)} drop keys added`,
          int(full.series),
          fmt(full.rssMb, 0),
          `${fmt(full.anonMb, 0)} / ${fmt(full.fileMb, 0)}`,
          fmt(full.hwmMb, 0),
          spread(full.ms, 1),
          `${fmt(full.bytes / 1e6, 2)} MB`,
        ],
      ],
    ),
  );
  const polls = sum1.count - sum0.count;
  console.log(
    `\nPoll cycle at the maximum (datapath_exporter_poll_duration_seconds): ${int(polls)} polls, ` +
      `mean ${fmt(((sum1.sum - sum0.sum) / polls) * 1000, 2)} ms per poll. ` +
      `Agent stopped with SIGTERM: exit ${stopped.code} in ${int(stopped.ms)} ms.\n`,
  );

  // Where the start-up RSS goes (a fresh process importing step by step).
  const r = spawnSync(process.execPath, [repoPath('dist/bench/support/rss-steps.js')], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`rss-steps failed: ${r.stderr}`);
  const steps = JSON.parse(r.stdout) as Array<{ step: string; rssMb: number }>;
  console.log('Start-up RSS by step (fresh process, cumulative order):\n');
  console.log(
    table(
      ['step', 'RSS MB', 'added MB'],
      steps.map((s, i) => [s.step, fmt(s.rssMb, 0), i === 0 ? '—' : fmt(s.rssMb - (steps[i - 1]?.rssMb ?? 0), 0)]),
    ),
  );
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

/** Every forward_counts cell non-zero, as if every pod sent and received. */
function fillForwardCounts(pinDir: string): void {
  const counts = BpfMap.fromPin(join(pinDir, MAP_NAMES.forwardCounts));
  try {
    const cpus = libbpf.libbpf_num_possible_cpus();
    const value = Buffer.alloc(perCpuStride(SITE_COUNTER_SIZE, cpus));
    const key = Buffer.alloc(4);
    for (let index = 0; index < FORWARD_CELLS; index++) {
      for (let cpu = 0; cpu < cpus; cpu++) {
        const off = cpu * SITE_COUNTER_SIZE;
        value.writeBigUInt64LE(BigInt(1000 + index), off);
        value.writeBigUInt64LE(BigInt(1_500_000 + index), off + 8);
        value.writeUInt32LE(2, off + 16); // FILE_ID_FORWARD
        value.writeUInt32LE(index % 2 === 1 ? 69 : 76, off + 20);
      }
      key.writeUInt32LE(index);
      counts.update(key, value);
    }
  } finally {
    counts.close();
  }
}

/** Interns drop keys at distinct kernel functions until no slot is free; returns how many. */
function fillDropTable(pinDir: string): number {
  const free = BpfMap.fromPin(join(pinDir, MAP_NAMES.dropFreeSlots));
  const slotOf = BpfMap.fromPin(join(pinDir, MAP_NAMES.dropSlotOf));
  try {
    const names = new Set<string>();
    const slot = Buffer.alloc(4);
    let added = 0;
    for (const line of readFileSync('/proc/kallsyms', 'latin1').split('\n')) {
      const [addr, type, name] = line.split(/\s+/);
      // One key per function name, so each is its own series.
      if (!addr || !name || (type !== 't' && type !== 'T') || /^0+$/.test(addr) || names.has(name)) continue;
      names.add(name);
      const key = encodeDropKey({ location: BigInt(`0x${addr}`), reason: 2, endpoint: ENDPOINT_UNATTRIBUTED as EndpointSlot, direction: 'ingress' });
      if (slotOf.lookup(key, Buffer.alloc(4))) continue;
      if (!free.pop(slot)) break;
      slotOf.update(key, slot, 1 /* BPF_NOEXIST */);
      added++;
    }
    return added;
  } finally {
    free.close();
    slotOf.close();
  }
}

/** The agent as a child process, scraped over loopback. */
class Agent {
  private stderr = '';
  private exited: Promise<number | null>;
  port = 0;

  private constructor(private readonly child: ChildProcess) {
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr = (this.stderr + d).slice(-200_000)));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  static async start(args: string[]): Promise<Agent> {
    const child = spawn(process.execPath, [repoPath('dist/src/cli/main.js'), 'run', '--metrics-addr', '127.0.0.1:0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const a = new Agent(child);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && child.exitCode === null) {
      const m = /"addr":"127\.0\.0\.1:(\d+)".*serving \/metrics/.exec(a.stderr);
      if (m) {
        a.port = Number(m[1]);
        return a;
      }
      await sleep(50);
    }
    child.kill('SIGKILL');
    throw new Error(`agent did not start:\n${a.stderr}`);
  }

  async get(path: string): Promise<string> {
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`);
    return res.text();
  }

  /** Value of a metric sample whose labels contain `labels` (e.g. 'table="endpoints"'). */
  async metric(name: string, labels: string): Promise<number> {
    const body = await this.get('/metrics');
    for (const line of body.split('\n')) {
      if (line.startsWith(`${name}{`) && line.includes(labels)) return Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return NaN;
  }

  async pollHistogram(): Promise<{ sum: number; count: number }> {
    const body = await this.get('/metrics');
    const val = (suffix: string) => Number(new RegExp(`^datapath_exporter_poll_duration_seconds_${suffix}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(body)?.[1] ?? NaN);
    return { sum: val('sum'), count: val('count') };
  }

  async stop(): Promise<{ code: number | null; ms: number }> {
    const t0 = Date.now();
    this.child.kill('SIGTERM');
    const code = await this.exited;
    return { code, ms: Date.now() - t0 };
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`timed out waiting for: ${what}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

await runBenchmark(main);
