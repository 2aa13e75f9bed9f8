// The running kernel's major.minor: the tc mode (tcx from 6.6) and the minimum checked at start.
import { release } from 'node:os';

/** Per-CPU array batch lookups need 5.13; the reason field needs 5.17 (warned, not required). */
export const MIN_KERNEL: readonly [number, number] = [5, 13];

export function kernelVersion(text = release()): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** The refusal for a kernel older than MIN_KERNEL, or undefined. Cheap: the CLI asks before loading the agent. */
export function kernelTooOld(text = release()): string | undefined {
  const [major, minor] = kernelVersion(text);
  if (major > MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor >= MIN_KERNEL[1])) return undefined;
  return `kernel ${text} is too old: ${MIN_KERNEL.join('.')} or newer is needed (per-CPU map batch reads)`;
}
