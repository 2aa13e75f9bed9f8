// Runs a command to completion and returns what it said; never throws on a
// non-zero exit, so that a test can show the tool's own output on failure.
import { execFile } from 'node:child_process';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: readonly string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err && typeof err.code === 'string') {
          // ENOENT and the like: the command itself is missing.
          reject(new Error(`${cmd}: ${err.message}`));
          return;
        }
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The command line and its output, for an assertion message. */
export function describeRun(cmd: string, args: readonly string[], r: RunResult): string {
  return `${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`;
}
