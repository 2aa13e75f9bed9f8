// Per-CPU counter cells as the kernel writes them, summed over CPUs.
//
// A per-CPU lookup returns, per entry, one value per possible CPU, each
// round_up(size, 8) bytes. Reading every CPU's u64 as a BigInt costs an
// allocation per CPU and field, which at the maximum table and 192 CPUs is
// ~5 million BigInts per poll. Instead each u64 is summed as its two 32-bit
// halves in doubles over a Uint32Array view, and joined once per cell:
// - each half-sum is below cpus x 2^32, exact in a double for < 2^21 CPUs
//   (Linux allows at most 8,192), so no carry is ever lost while summing;
// - the join moves the low sum's carry into the high sum, then builds the
//   total as a double when it is below 2^53, else as a BigInt.
// So a sum is exact at any value, also above 2^53 and 2^64, as the BigInt
// sum was. (What the doors publish is a double: above 2^53 it rounds there,
// not here.)
import { endianness } from 'node:os';
import { COUNTER_SIZE, type Counter, LAYOUTS } from '../bpf/contract.js';
import { perCpuStride } from '../bpf/map.js';

const C = LAYOUTS.counter.members;

export const ZERO: Counter = Object.freeze({ packets: 0n, bytes: 0n });

// BPF maps hold values in the host's byte order.
const LO = endianness() === 'LE' ? 0 : 1;
const HI = 1 - LO;
const TWO_32 = 2 ** 32;
/** A high half-sum below this joins with the low one below 2^53: exact as a double. */
const HI_EXACT = 2 ** 21;

/** The exact total of a high and a low 32-bit half-sum (each < 2^53). */
export function joinHalves(hi: number, lo: number): bigint {
  // Most cells of a table have never counted: no BigInt made for them each poll.
  if (hi === 0 && lo === 0) return 0n;
  const carry = Math.floor(lo / TWO_32);
  hi += carry;
  lo -= carry * TWO_32;
  if (hi < HI_EXACT) return BigInt(hi * TWO_32 + lo);
  return (BigInt(hi) << 32n) + BigInt(lo);
}

/**
 * A per-CPU lookup result read as 32-bit words: entries of `valueSize`
 * bytes per CPU. Holds a view, not a copy, so one made over a BatchRead's
 * buffer sums whatever the last read put there.
 */
export class PerCpuCells {
  private readonly words: Uint32Array;
  /** 32-bit words per CPU value and per entry. */
  private readonly cpuWords: number;
  private readonly entryWords: number;

  constructor(
    values: Buffer,
    valueSize: number,
    readonly cpus: number,
  ) {
    // Buffer.alloc (BatchRead's) starts its own ArrayBuffer: offset 0.
    if (values.byteOffset % 4 !== 0) throw new RangeError('per-CPU values must start 4-byte aligned');
    this.words = new Uint32Array(values.buffer, values.byteOffset, values.length >>> 2);
    this.cpuWords = perCpuStride(valueSize, 1) / 4;
    this.entryWords = this.cpuWords * cpus;
  }

  /** The u64 member at byte `offset` of entry `index`, summed over CPUs, exact. */
  sumU64(index: number, offset: number): bigint {
    const { words, cpuWords, cpus } = this;
    let lo = 0;
    let hi = 0;
    for (let cpu = 0, w = index * this.entryWords + offset / 4; cpu < cpus; cpu++, w += cpuWords) {
      lo += words[w + LO] as number;
      hi += words[w + HI] as number;
    }
    return joinHalves(hi, lo);
  }

  /** The u32 member at byte `offset` of entry `index` on the first CPU where it is not 0 (0 when none). */
  firstU32(index: number, offset: number): number {
    const { words, cpuWords, cpus } = this;
    for (let cpu = 0, w = index * this.entryWords + offset / 4; cpu < cpus; cpu++, w += cpuWords) {
      const v = words[w] as number;
      if (v !== 0) return v;
    }
    return 0;
  }

  /** Entry `index` as a struct counter (packets, bytes at its head), summed over CPUs. */
  counter(index: number): Counter {
    return { packets: this.sumU64(index, C.packets), bytes: this.sumU64(index, C.bytes) };
  }
}

/** Entry `index` of a struct counter per-CPU lookup result, summed (a view per call: keep a PerCpuCells for whole tables). */
export function sumPerCpu(values: Buffer, index: number, cpus: number): Counter {
  return new PerCpuCells(values, COUNTER_SIZE, cpus).counter(index);
}

export function add(a: Counter, b: Counter): Counter {
  return { packets: a.packets + b.packets, bytes: a.bytes + b.bytes };
}

export function isZero(c: Counter): boolean {
  return c.packets === 0n && c.bytes === 0n;
}
