// Per-CPU counter cells as the kernel writes them, summed over CPUs.
import { COUNTER_SIZE, type Counter, LAYOUTS } from '../bpf/contract.js';
import { perCpuStride } from '../bpf/map.js';

const C = LAYOUTS.counter.members;

export const ZERO: Counter = Object.freeze({ packets: 0n, bytes: 0n });

/** Sums the CPUs of entry `index` in a per-CPU lookup result. */
export function sumPerCpu(values: Buffer, index: number, cpus: number): Counter {
  const stride = perCpuStride(COUNTER_SIZE, cpus);
  let packets = 0n;
  let bytes = 0n;
  for (let cpu = 0, off = index * stride; cpu < cpus; cpu++, off += COUNTER_SIZE) {
    packets += values.readBigUInt64LE(off + C.packets);
    bytes += values.readBigUInt64LE(off + C.bytes);
  }
  return { packets, bytes };
}

export function add(a: Counter, b: Counter): Counter {
  return { packets: a.packets + b.packets, bytes: a.bytes + b.bytes };
}

export function isZero(c: Counter): boolean {
  return c.packets === 0n && c.bytes === 0n;
}
