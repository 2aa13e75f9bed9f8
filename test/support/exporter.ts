// Runs the real agent (the built CLI) as a child process, as an operator
// would, and scrapes its /metrics.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseExposition, type Sample, sumOf } from './metrics-text.js';
import { sleep, waitFor } from './wait.js';

export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** A bpffs directory of the test's own, removed by removePinDir(). */
export function testPinDir(): string {
  return `/sys/fs/bpf/dpx-test-${randomBytes(3).toString('hex')}`;
}

export function removePinDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (for list, --help and bad input). */
export function runCli(args: string[], opts: { user?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const argv = opts.user
    ? ['setpriv', `--reuid=${opts.user}`, `--regid=${opts.user}`, '--clear-groups', '--inh-caps=-all', process.execPath, CLI, ...args]
    : [process.execPath, CLI, ...args];
  const r = spawnSync(argv[0] ?? '', argv.slice(1), { encoding: 'utf8', env: opts.env ?? process.env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export class ExporterProcess {
  private stderrText = '';
  private exit: Promise<number | null>;
  port = 0;

  private constructor(private readonly child: ChildProcess) {
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderrText += d));
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** startTimeoutMs: long under emulation (the kernel matrix's VMs take a minute). */
  static async start(args: string[], env: NodeJS.ProcessEnv = process.env, startTimeoutMs = 20_000): Promise<ExporterProcess> {
    const child = spawn(process.execPath, [CLI, 'run', '--metrics-addr', '127.0.0.1:0', ...args], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const p = new ExporterProcess(child);
    // Push-only (the last --metrics-addr is none): no listener, ready once it says it pushes.
    const addrAt = args.lastIndexOf('--metrics-addr');
    const pullOff = addrAt >= 0 && args[addrAt + 1] === 'none';
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      const m = /"addr":"127\.0\.0\.1:(\d+)".*serving \/metrics/.exec(p.stderrText);
      if (m) {
        p.port = Number(m[1]);
        return p;
      }
      if (pullOff && p.stderrText.includes('pushing OTLP metrics')) return p;
      if (child.exitCode !== null) break;
      await sleep(50);
    }
    child.kill('SIGKILL');
    throw new Error(`exporter did not start:\n${p.stderrText}`);
  }

  /** The agent's process id (BPF objects it holds list it in `bpftool ... show`). */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  get logs(): string {
    return this.stderrText;
  }

  async get(path: string): Promise<{ status: number; body: string }> {
    const res = await fetch(`http://127.0.0.1:${this.port}${path}`);
    return { status: res.status, body: await res.text() };
  }

  async scrape(): Promise<Sample[]> {
    return parseExposition((await this.get('/metrics')).body);
  }

  /**
   * Waits until two more polls have finished (the first may have begun before
   * this call): everything counted before the call is then in the next scrape.
   * Reads the agent's poll counter, not the clock.
   */
  async nextPoll(timeoutMs = 10_000): Promise<void> {
    const polls = async () => sumOf(await this.scrape(), 'datapath_exporter_poll_duration_seconds_count');
    const start = await polls();
    const now = await waitFor(polls, (n) => n >= start + 2, timeoutMs, 50);
    if (now < start + 2) throw new Error(`the agent finished ${now - start} polls in ${timeoutMs} ms, not 2`);
  }

  /** Sends a signal and waits for exit; returns exit code and milliseconds taken. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; ms: number }> {
    const start = Date.now();
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    const code = await this.exit;
    return { code, ms: Date.now() - start };
  }
}

// The test waits live in wait.ts; most agent tests take them from here.
export { sleep, waitFor } from './wait.js';
