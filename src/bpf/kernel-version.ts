// The running kernel's major.minor: the tc mode (tcx from 6.6) and the minimum checked at start.
import { release } from 'node:os';

export function kernelVersion(text = release()): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(text);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}
