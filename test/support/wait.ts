// Waiting in tests: for a condition, polled, never for a fixed time that
// hopes the condition has come true by then.

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `read` until `done` holds for its value, or returns the last value after timeoutMs (the caller asserts on it). */
export async function waitFor<T>(read: () => Promise<T> | T, done: (v: T) => boolean, timeoutMs = 10_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await read();
  while (!done(last) && Date.now() < deadline) {
    await sleep(intervalMs);
    last = await read();
  }
  return last;
}

/** Polls until cond() holds; throws, naming what was awaited, after timeoutMs. */
export async function waitUntil(what: string, cond: () => boolean, timeoutMs = 15_000, intervalMs = 20): Promise<void> {
  const held = await waitFor(cond, (v) => v, timeoutMs, intervalMs);
  if (!held) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
