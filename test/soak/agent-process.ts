// The agent as an operator starts it: through scripts/datapath-exporter, the
// launcher that passes the V8 flags (so the soak measures the process that
// runs on nodes), scraped over loopback.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const LAUNCHER = fileURLToPath(new URL('../../../scripts/datapath-exporter', import.meta.url));

export class LaunchedAgent {
  private stderrText = '';
  private readonly exited: Promise<number | null>;
  port = 0;

  private constructor(private readonly child: ChildProcess) {
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderrText = (this.stderrText + d).slice(-500_000)));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** The launcher execs node: the child's pid is the agent's. */
  get pid(): number {
    return this.child.pid ?? 0;
  }

  get logs(): string {
    return this.stderrText;
  }

  static async start(args: string[]): Promise<LaunchedAgent> {
    const child = spawn(LAUNCHER, ['run', '--metrics-addr', '127.0.0.1:0', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    const a = new LaunchedAgent(child);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && child.exitCode === null) {
      const m = /"addr":"127\.0\.0\.1:(\d+)".*serving \/metrics/.exec(a.stderrText);
      if (m) {
        a.port = Number(m[1]);
        return a;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    throw new Error(`agent did not start:\n${a.stderrText}`);
  }

  /** The node flags the agent runs with, from its own command line. */
  nodeFlags(): string[] {
    const argv = readCmdline(this.pid);
    return argv.slice(1, argv.findIndex((a) => a.endsWith('main.js')));
  }

  async stop(): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    return this.exited;
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

function readCmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}
