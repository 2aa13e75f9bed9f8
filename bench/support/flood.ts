// The benchmarks' UDP flood: bench/udp-flood.c, compiled on first use with
// the system C compiler into dist/bench/ (a tight sendmmsg loop, so that the
// sender's own cost is small beside the kernel path being measured).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { repoPath } from './bpf.js';
import { sh } from './netns.js';

export function floodBinary(): string {
  return senderBinary('udp-flood');
}

const built = new Map<string, string>();

/** bench/NAME.c compiled (once, when newer than the binary) into dist/bench/NAME. */
export function senderBinary(name: string): string {
  const known = built.get(name);
  if (known) return known;
  const src = repoPath(`bench/${name}.c`);
  const out = repoPath(`dist/bench/${name}`);
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    const cc = process.env.CC ?? 'cc';
    try {
      sh(cc, ['-O2', '-Wall', '-o', out, src]);
    } catch (err) {
      throw new Error(`cannot compile ${src} with ${cc} (install gcc, or set CC): ${String(err)}`, { cause: err });
    }
  }
  built.set(name, out);
  return out;
}

export interface FloodResult {
  sent: number;
  errors: number;
  /** Wall-clock seconds of the send loop. */
  seconds: number;
  /** CPU seconds the sender process used (user + system, incl. softirq work done in its context). */
  cpu: number;
}

export interface FloodOptions {
  ns: string;
  host: string;
  port: number;
  count: number;
  /** Stop after this long even if count is not reached. */
  seconds: number;
  payload: number;
  /** Pin the sender to this CPU (taskset), for steadier figures. */
  cpu?: number;
}

/** Runs the flood in namespace ns and waits for it. */
export function flood(o: FloodOptions): FloodResult {
  const bin = floodBinary();
  const args = [`--net=/run/netns/${o.ns}`];
  const cmd = o.cpu === undefined ? [bin] : ['taskset', '-c', String(o.cpu), bin];
  const out = sh('nsenter', [...args, ...cmd, o.host, String(o.port), String(o.count), String(o.seconds), String(o.payload)]);
  return JSON.parse(out) as FloodResult;
}

/** CPU nanoseconds ksoftirqd/<cpu> has run (schedstat): network work deferred off the sender. */
export function ksoftirqdNs(cpu: number): number {
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== `ksoftirqd/${cpu}`) continue;
      return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      /* gone meanwhile */
    }
  }
  return 0;
}
