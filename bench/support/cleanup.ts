// Everything a benchmark creates in the kernel (namespaces, links, pins,
// rules) registers its undo here; undo runs in reverse order at the end,
// on an exception, and on SIGINT/SIGTERM, so a failed or interrupted run
// leaves nothing behind.
const undos: Array<{ what: string; fn: () => void }> = [];
let installed = false;

export function onCleanup(what: string, fn: () => void): void {
  undos.push({ what, fn });
  if (!installed) {
    installed = true;
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        console.error(`\n${sig}: cleaning up`);
        runCleanups();
        process.exit(130);
      });
    }
    process.once('exit', () => runCleanups());
  }
}

export function runCleanups(): void {
  for (let u = undos.pop(); u !== undefined; u = undos.pop()) {
    try {
      u.fn();
    } catch (err) {
      console.error(`cleanup of ${u.what} failed: ${String(err)}`);
    }
  }
}

/** Runs main, always cleaning up; exits non-zero on failure. */
export async function runBenchmark(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (err) {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    process.exitCode = 1;
  } finally {
    runCleanups();
  }
}
