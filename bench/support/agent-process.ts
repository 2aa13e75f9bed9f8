// The agent as benchmarks run it: a child process under the launcher's
// runtime settings (or plain node), scraped over loopback, and its pinned
// maps filled to the compiled maximum the way the programs fill them.
// Shared by benchmark 5 (bench/agent.ts) and 9 (bench/big-node.ts).
import { type ChildProcess, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  encodeDropKey,
  ENDPOINT_UNATTRIBUTED,
  type EndpointSlot,
  FORWARD_CELLS,
  MAP_NAMES,
  SITE_COUNTER_SIZE,
} from '../../src/bpf/contract.js';
import { libbpf } from '../../src/bpf/libbpf.js';
import { BpfMap, perCpuStride } from '../../src/bpf/map.js';
import { DEFAULT_EVENT_BUFFER } from '../../src/events/event-buffer.js';
import { DROPS_PATH } from '../../src/export/pull/drops-api.js';
import { repoPath } from './bpf.js';

export const AGENT_MAIN = repoPath('dist/src/cli/main.js');

export interface Runtime {
  name: string;
  flags: string[];
  env: Record<string, string>;
}

/** The node flags and environment scripts/datapath-exporter runs the agent with, read from it. */
export function launcherRuntime(): Runtime {
  const text = readFileSync(repoPath('scripts/datapath-exporter'), 'utf8');
  const exec = /^exec node (.*?)\s*"\$here\/dist\/src\/cli\/main\.js"/m.exec(text);
  if (!exec?.[1]) throw new Error('scripts/datapath-exporter: no exec node line');
  const env = Object.fromEntries([...text.matchAll(/^export ([A-Z_]+)=(\S+)$/gm)].map((m) => [m[1] ?? '', m[2] ?? '']));
  return { name: 'launcher', flags: exec[1].split(/\s+/), env };
}

export const PLAIN: Runtime = { name: 'plain', flags: [], env: {} };

/** `launcher`, `plain`, or NAME=FLAGS (space-separated node flags, with the launcher's environment) to compare others. */
export function runtimeOf(spec: string): Runtime {
  if (spec === 'launcher') return launcherRuntime();
  if (spec === 'plain') return PLAIN;
  const at = spec.indexOf('=');
  if (at <= 0) throw new Error(`--runtimes: ${spec} is not launcher, plain or NAME=FLAGS`);
  return {
    name: spec.slice(0, at),
    flags: spec
      .slice(at + 1)
      .split(/\s+/)
      .filter((f) => f !== ''),
    env: launcherRuntime().env,
  };
}

/** histogram_quantile: linear within the bucket that holds the q-th observation (cumulative buckets, ascending le). */
export function quantile(q: number, buckets: Array<{ le: number; count: number }>): number {
  const total = buckets[buckets.length - 1]?.count ?? 0;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (!Number.isFinite(b.le)) return lower; // in +Inf: the highest finite bound, as Prometheus does
      return lower + ((b.le - lower) * (rank - below)) / Math.max(1, b.count - below);
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}

/** Drops real packets (UDP to a closed loopback port) until the agent's event buffer is full; returns the events it holds. */
export async function fillEventBuffer(agent: Agent): Promise<number> {
  const socket = createSocket('udp4');
  const payload = Buffer.alloc(16);
  const held = async () => (await agent.get(DROPS_PATH)).split('\n').filter((l) => l.startsWith('{"time"')).length;
  try {
    const deadline = Date.now() + 60_000;
    let n = await held();
    while (n < DEFAULT_EVENT_BUFFER && Date.now() < deadline) {
      for (let round = 0; round < 20; round++) {
        for (let i = 0; i < 150; i++) await new Promise<void>((resolve) => socket.send(payload, 9, '127.0.0.1', () => resolve()));
        await sleep(100);
      }
      n = await held();
    }
    return n;
  } finally {
    socket.close();
  }
}

/** Every forward_counts cell non-zero, as if every pod sent and received. */
export function fillForwardCounts(pinDir: string): void {
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
export function fillDropTable(pinDir: string): number {
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
      const key = encodeDropKey({
        location: BigInt(`0x${addr}`),
        reason: 2,
        endpoint: ENDPOINT_UNATTRIBUTED as EndpointSlot,
        direction: 'ingress',
      });
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
export class Agent {
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

  /** Starts the agent and waits (at most startTimeoutMs: emulated VMs need minutes) until it serves /metrics. */
  static async start(args: string[], runtime: Runtime, main = AGENT_MAIN, startTimeoutMs = 30_000): Promise<Agent> {
    const child = spawn(process.execPath, [...runtime.flags, main, 'run', '--metrics-addr', '127.0.0.1:0', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...runtime.env },
    });
    const a = new Agent(child);
    const deadline = Date.now() + startTimeoutMs;
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

  async pollHistogram(): Promise<{ sum: number; count: number; buckets: Array<{ le: number; count: number }> }> {
    const body = await this.get('/metrics');
    const val = (suffix: string) =>
      Number(new RegExp(`^datapath_exporter_poll_duration_seconds_${suffix}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(body)?.[1] ?? NaN);
    const buckets = [...body.matchAll(/^datapath_exporter_poll_duration_seconds_bucket\{(?:[^}]*,)?le="([^"]+)"[^}]*\} (\S+)/gm)]
      .map((m) => ({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: Number(m[2]) }))
      .sort((a, b) => a.le - b.le);
    return { sum: val('sum'), count: val('count'), buckets };
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

export async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`timed out waiting for: ${what}`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
