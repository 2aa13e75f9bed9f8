// Benchmark 11 — big nodes, in VMs: the real agent at its maximum series
// (bench 5's maximum: 4,096 pods from the test suite's Kubernetes API server,
// every forward_counts cell counting, the drop table full, the drop event
// buffer full) on a kernel booted with 2, 16 and 64 vCPUs, one VM after the
// other in one run (scripts/vm-run: Debian's kernel in qemu, this checkout
// over 9p). Per VM: the agent's poll cycle (its own
// datapath_exporter_poll_duration_seconds), the syscalls of one poll cycle
// (strace -c -f on the agent over a window of polls, divided by the polls
// the histogram counted in it), and the agent's RSS. Emulation (TCG) slows
// everything, so the figure is each run's ratio to the 2-vCPU run.
//
// Run (host, root): node dist/bench/big-node.js [--vcpus 2,16,64] [--kernel 6.1] [--memory 4096]
//                      [--timeout 1800] [--polls 10] [--runner scripts/vm-run]
//   --guest: the measurement itself, in this machine (what each VM runs;
//            also a native run on this machine's CPUs), JSON to --out FILE.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus as osCpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DROP_SLOTS, ENDPOINT_SLOTS } from '../src/bpf/contract.js';
import { libbpf } from '../src/bpf/libbpf.js';
import { KubeApiServer } from '../test/support/kube-api-server.js';
import { makeRealisticPod } from '../test/support/realistic-pod.js';
import { Agent, fillDropTable, fillEventBuffer, fillForwardCounts, launcherRuntime, sleep, waitFor } from './support/agent-process.js';
import { benchPinDir, repoPath } from './support/bpf.js';
import { onCleanup, runBenchmark } from './support/cleanup.js';
import { hostIp } from './support/netns.js';
import { flag, fmt, header, int, numberFlag, requireRoot, table } from './support/report.js';

const GUEST = process.argv.includes('--guest');
const OUT = flag('out', '');
const VCPUS = flag('vcpus', '2,16,64').split(',').map(Number);
const KERNEL = flag('kernel', '6.1');
const MEMORY_MB = numberFlag('memory', 4096);
const TIMEOUT_S = numberFlag('timeout', 1800);
const POLLS = numberFlag('polls', 10);
/** The VM runner (issue 18's scripts/vm-run). */
const RUNNER = flag('runner', repoPath('scripts/vm-run'));
const NODE = 'bench-node';
/** Waits inside the guest: generous, emulation runs Node ~20-50x slower. */
const SLOW_MS = 900_000;

interface GuestResult {
  kernel: string;
  possibleCpus: number;
  onlineCpus: number;
  /** Seconds from the guest command's start to the maximum reached. */
  setupS: number;
  series: number;
  scrapeMs: number;
  events: number;
  dropKeys: number;
  polls: number;
  pollMeanMs: number;
  stracePolls: number;
  syscallsPerPoll: number;
  bpfPerPoll: number;
  topSyscalls: string;
  rssMb: number;
  anonMb: number;
  fileMb: number;
  hwmMb: number;
}

async function guest(): Promise<void> {
  requireRoot();
  const t0 = Date.now();
  const api = await KubeApiServer.start();
  onCleanup('kube api server', () => void api.stop());
  for (let i = 0; i < ENDPOINT_SLOTS; i++) {
    api.addPod(
      makeRealisticPod({
        name: `checkout-api-7d9f8c6b5-${i.toString(36).padStart(5, 'x')}`,
        namespace: `team-${i % 20}-prod`,
        nodeName: NODE,
        ips: [hostIp(230, i)],
      }),
    );
  }
  const dir = mkdtempSync(join(tmpdir(), 'dpx-bench-bignode-'));
  onCleanup(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = api.writeKubeconfig(dir);
  const pinDir = benchPinDir('bignode');
  const args = ['--poll-interval', '1s', '--interfaces', 'dpxbnomatch*', '--cilium-metrics-map', 'none', '--bpffs', pinDir];
  args.push('--kubeconfig', kubeconfig, '--node-name', NODE, '--max-endpoints', String(ENDPOINT_SLOTS));
  const agent = await Agent.start(args, launcherRuntime(), undefined, SLOW_MS);
  onCleanup('agent', () => agent.kill());
  log(`agent serving after ${s(t0)} s`);
  await waitFor(
    async () => (await agent.metric('datapath_exporter_slots_used', 'table="endpoints"')) === ENDPOINT_SLOTS,
    SLOW_MS,
    'all pods placed',
  );
  log(`pods placed after ${s(t0)} s`);
  fillForwardCounts(pinDir);
  const dropKeys = fillDropTable(pinDir);
  await waitFor(
    async () => (await agent.metric('datapath_exporter_slots_used', 'table="drop_keys"')) >= DROP_SLOTS - 1,
    SLOW_MS,
    'drop table full',
  );
  const events = await fillEventBuffer(agent);
  log(`maximum reached after ${s(t0)} s (${events} events)`);
  const setupS = (Date.now() - t0) / 1000;

  // Polls at the maximum. Every look at the histogram is a scrape of
  // ~3.8 MB (seconds under emulation, competing with the polls), so look
  // rarely: a first estimate of a poll's length, then one look per window.
  const hA = await agent.pollHistogram();
  await sleep(5000);
  const h0 = await agent.pollHistogram();
  const estimateMs = h0.count > hA.count ? Math.max(1000, ((h0.sum - hA.sum) / (h0.count - hA.count)) * 1000) : 5000;
  const h1 = await waitPolls(agent, POLLS, h0.count, estimateMs);
  const polls = h1.count - h0.count;
  log(`${polls} polls, mean ${fmt(((h1.sum - h0.sum) / polls) * 1000, 1)} ms`);

  // The syscalls of the agent (all its threads) over a window of polls.
  const sys = await straceWindow(agent, POLLS, estimateMs);
  log(`strace: ${sys.polls} polls, ${fmt(sys.total / sys.polls, 0)} syscalls per poll`);

  const ts = process.hrtime.bigint();
  const body = await agent.get('/metrics');
  const scrapeMs = Number(process.hrtime.bigint() - ts) / 1e6;
  const series = body.split('\n').filter((l) => l.startsWith('datapath_') && !l.startsWith('datapath_exporter_')).length;
  const status = readFileSync(`/proc/${agent.pid}/status`, 'utf8');
  const mb = (field: string) => (Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024) / 1e6;
  const stopped = await agent.stop();
  log(`agent stopped: exit ${stopped.code} in ${stopped.ms} ms`);

  const result: GuestResult = {
    kernel: release(),
    possibleCpus: libbpf.libbpf_num_possible_cpus(),
    onlineCpus: osCpus().length,
    setupS,
    series,
    scrapeMs,
    events,
    dropKeys,
    polls,
    pollMeanMs: ((h1.sum - h0.sum) / polls) * 1000,
    stracePolls: sys.polls,
    syscallsPerPoll: sys.total / sys.polls,
    bpfPerPoll: sys.bpf / sys.polls,
    topSyscalls: sys.top,
    rssMb: mb('VmRSS'),
    anonMb: mb('RssAnon'),
    fileMb: mb('RssFile'),
    hwmMb: mb('VmHWM'),
  };
  if (OUT) writeFileSync(OUT, JSON.stringify(result));
  console.log(table(HEAD, [row(result, result)]));
}

/** Waits until the agent's poll histogram counted `n` polls more than `from`, looking once per expected window. */
async function waitPolls(agent: Agent, n: number, from: number, pollMs: number) {
  const deadline = Date.now() + SLOW_MS;
  for (;;) {
    const h = await agent.pollHistogram();
    const left = n - (h.count - from);
    if (left <= 0 || Date.now() > deadline) return h;
    await sleep(left * pollMs);
  }
}

/**
 * strace -c -f on the agent until it has polled `n` times: syscalls per poll
 * (all, and bpf()). The window holds its two looks at the histogram (two
 * scrapes of /metrics) besides the polls.
 */
async function straceWindow(agent: Agent, n: number, pollMs: number): Promise<{ polls: number; total: number; bpf: number; top: string }> {
  const out = join(tmpdir(), `dpx-bench-strace-${process.pid}.txt`);
  onCleanup('strace output', () => rmSync(out, { force: true }));
  const strace = spawn('strace', ['-c', '-f', '-o', out, '-p', String(agent.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  strace.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((resolve) => strace.once('exit', () => resolve()));
  onCleanup('strace', () => strace.kill('SIGKILL'));
  // Attached to every thread before the window opens.
  await waitFor(async () => /Process \d+ attached/.test(err), SLOW_MS, 'strace attached');
  await sleep(1000);
  const h0 = await agent.pollHistogram();
  // strace slows every syscall: expect longer polls.
  const h1 = await waitPolls(agent, n, h0.count, 2 * pollMs);
  strace.kill('SIGINT');
  await exited;
  const text = readFileSync(out, 'utf8');
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    // % time  seconds  usecs/call  calls  [errors]  syscall
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
    if (m?.[2] && m[2] !== 'total') calls.set(m[2], Number(m[1]));
  }
  const polls = h1.count - h0.count;
  const total = [...calls.values()].reduce((a, b) => a + b, 0);
  const top = [...calls.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([name, c]) => `${name} ${fmt(c / polls, 1)}`)
    .join(', ');
  return { polls, total, bpf: calls.get('bpf') ?? 0, top };
}

const HEAD = [
  'vCPUs (possible)',
  'series',
  'poll mean ms',
  '× 2 vCPU',
  'syscalls per poll (bpf)',
  '× 2 vCPU',
  'RSS MB (anon / file)',
  'peak MB',
  '× 2 vCPU (RSS)',
  'busiest syscalls per poll',
];

function row(r: GuestResult, base: GuestResult): string[] {
  return [
    `${int(r.onlineCpus)} (${int(r.possibleCpus)})`,
    int(r.series),
    fmt(r.pollMeanMs, 1),
    `${fmt(r.pollMeanMs / base.pollMeanMs, 2)}×`,
    `${fmt(r.syscallsPerPoll, 0)} (${fmt(r.bpfPerPoll, 1)})`,
    `${fmt(r.syscallsPerPoll / base.syscallsPerPoll, 2)}×`,
    `${fmt(r.rssMb, 0)} (${fmt(r.anonMb, 0)} / ${fmt(r.fileMb, 0)})`,
    fmt(r.hwmMb, 0),
    `${fmt(r.rssMb / base.rssMb, 2)}×`,
    r.topSyscalls,
  ];
}

async function host(): Promise<void> {
  requireRoot();
  header(
    `11. Big nodes in VMs: the agent at its maximum on ${VCPUS.join(', ')} vCPUs`,
    `node dist/bench/big-node.js --vcpus ${VCPUS.join(',')} --kernel ${KERNEL}`,
  );
  const results: Array<{ vcpus: number; r?: GuestResult; status: number | null; wallS: number; note: string }> = [];
  for (const vcpus of VCPUS) {
    const dir = mkdtempSync(join(tmpdir(), 'dpx-bench-bignode-vm-'));
    onCleanup(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    const t0 = Date.now();
    log(`booting ${KERNEL} with ${vcpus} vCPUs, ${MEMORY_MB} MiB (time limit ${TIMEOUT_S} s)`);
    const run = spawnSync(
      RUNNER,
      [
        '--kernel',
        KERNEL,
        '--cpus',
        String(vcpus),
        '--memory',
        String(MEMORY_MB),
        '--timeout',
        String(TIMEOUT_S),
        '--result-dir',
        dir,
        '--',
        process.execPath,
        repoPath('dist/bench/big-node.js'),
        '--guest',
        '--polls',
        String(POLLS),
        '--out',
        '/run/vm-result/big-node.json',
      ],
      { stdio: ['ignore', 'inherit', 'inherit'], cwd: repoPath('.') },
    );
    const wallS = (Date.now() - t0) / 1000;
    let r: GuestResult | undefined;
    try {
      r = JSON.parse(readFileSync(join(dir, 'big-node.json'), 'utf8')) as GuestResult;
    } catch {
      r = undefined;
    }
    const note = run.status === 124 ? `killed at its time limit (${TIMEOUT_S} s)` : `exit ${run.status}`;
    results.push({ vcpus, r, status: run.status, wallS, note });
    log(`${vcpus} vCPUs: ${note} after ${fmt(wallS, 0)} s`);
  }
  const base = results.find((x) => x.r !== undefined)?.r;
  console.log(
    `\nThe agent under the launcher's runtime, kernel ${KERNEL} (Debian's package) in qemu (TCG), ${MEMORY_MB} MiB, one VM after the other. ` +
      `Poll: mean of the agent's own poll histogram over ${POLLS} polls at the maximum; syscalls: strace -c -f on the agent (all threads) over another ${POLLS} polls, ` +
      `per poll counted in that window (strace slows the agent, so the poll mean is taken without it); RSS: VmRSS (RssAnon / RssFile) and VmHWM after both windows. ` +
      `Ratios to the first run that finished.\n`,
  );
  console.log(
    table(
      HEAD,
      results.filter((x) => x.r !== undefined && base !== undefined).map((x) => row(x.r as GuestResult, base as GuestResult)),
    ),
  );
  console.log('');
  console.log(
    table(
      ['vCPUs', 'VM result', 'VM wall time s', 'guest: start to maximum s', 'scrape ms', 'events held', 'drop keys added', 'kernel'],
      results.map((x) => [
        int(x.vcpus),
        x.note,
        fmt(x.wallS, 0),
        x.r ? fmt(x.r.setupS, 0) : '—',
        x.r ? fmt(x.r.scrapeMs, 0) : '—',
        x.r ? int(x.r.events) : '—',
        x.r ? int(x.r.dropKeys) : '—',
        x.r?.kernel ?? '—',
      ]),
    ),
  );
  if (results.some((x) => x.r === undefined)) process.exitCode = 1;
}

function log(msg: string): void {
  console.error(`big-node: ${msg}`);
}

function s(t0: number): string {
  return fmt((Date.now() - t0) / 1000, 0);
}

await runBenchmark(GUEST ? guest : host);
