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
    return argv.slice(
      1,
      argv.findIndex((a) => a.endsWith('main.js')),
    );
  }

  /**
   * A full garbage collection in the agent, from outside: SIGUSR1 opens
   * Node's inspector (127.0.0.1:9229), and HeapProfiler.collectGarbage runs
   * one. No endpoint of the agent's own is needed; the inspector stays open
   * (for a before/after comparison, collect at both ends).
   */
  async collectGarbage(): Promise<void> {
    let url = /Debugger listening on (ws:\/\/\S+)/.exec(this.stderrText)?.[1];
    if (url === undefined) {
      process.kill(this.pid, 'SIGUSR1');
      const deadline = Date.now() + 10_000;
      while ((url = /Debugger listening on (ws:\/\/\S+)/.exec(this.stderrText)?.[1]) === undefined) {
        if (Date.now() > deadline) throw new Error(`the agent's inspector did not open:\n${this.stderrText.slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
      ws.onmessage = (m) => {
        if ((JSON.parse(String(m.data)) as { id?: number }).id === 1) {
          ws.close();
          resolve();
        }
      };
      ws.onerror = () => reject(new Error(`inspector ${url} failed`));
    });
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
