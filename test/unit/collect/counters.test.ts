// Per-CPU summing: exact against a BigInt sum of the same cells, at the
// values where summing 64-bit cells as two 32-bit halves could go wrong.
import assert from 'node:assert/strict';
import { COUNTER_SIZE, LAYOUTS, SITE_COUNTER_SIZE } from '../../../src/bpf/contract.js';
import { perCpuStride } from '../../../src/bpf/map.js';
import { joinHalves, PerCpuCells, sumPerCpu } from '../../../src/collect/counters.js';

const U64_MAX = 2n ** 64n - 1n;

/** A per-CPU lookup result: entries x CPUs of `valueSize` bytes, cell (entry, cpu, member offset) = value. */
function perCpuBuffer(
  entries: number,
  cpus: number,
  valueSize: number,
  cell: (entry: number, cpu: number, offset: number) => bigint,
  offsets: number[],
): Buffer {
  const perCpu = perCpuStride(valueSize, 1);
  const buf = Buffer.alloc(entries * perCpuStride(valueSize, cpus));
  for (let e = 0; e < entries; e++) {
    for (let cpu = 0; cpu < cpus; cpu++) {
      for (const off of offsets) buf.writeBigUInt64LE(cell(e, cpu, off), (e * cpus + cpu) * perCpu + off);
    }
  }
  return buf;
}

/** The reference: what the agent summed before, one BigInt per CPU. */
function bigintSum(buf: Buffer, valueSize: number, cpus: number, entry: number, offset: number): bigint {
  const perCpu = perCpuStride(valueSize, 1);
  let sum = 0n;
  for (let cpu = 0; cpu < cpus; cpu++) sum += buf.readBigUInt64LE((entry * cpus + cpu) * perCpu + offset);
  return sum;
}

/** A deterministic pseudo-random u64 below 2^bits (xorshift). */
function rng(seed: number): (bits: number) => bigint {
  let x = BigInt(seed) | 1n;
  return (bits) => {
    x ^= (x << 13n) & U64_MAX;
    x ^= x >> 7n;
    x ^= (x << 17n) & U64_MAX;
    return x & ((1n << BigInt(bits)) - 1n);
  };
}

describe('PerCpuCells: summing per-CPU u64 cells', function () {
  const { packets, bytes } = LAYOUTS.counter.members;

  it('sums small counts exactly, per entry and member', function () {
    const buf = perCpuBuffer(3, 4, COUNTER_SIZE, (e, cpu, off) => BigInt(e * 1000 + cpu * 10 + off), [packets, bytes]);
    const cells = new PerCpuCells(buf, COUNTER_SIZE, 4);
    assert.deepEqual(cells.counter(0), { packets: 60n, bytes: 92n });
    assert.deepEqual(cells.counter(2), { packets: 8060n, bytes: 8092n });
    assert.deepEqual(sumPerCpu(buf, 2, 4), { packets: 8060n, bytes: 8092n });
  });

  it('carries between the 32-bit halves: low halves near 2^32 summing past it', function () {
    const cpus = 16;
    const buf = perCpuBuffer(1, cpus, COUNTER_SIZE, (_e, cpu) => (cpu % 2 === 0 ? 2n ** 32n - 1n : (1n << 32n) + 0xfffffff0n), [
      packets,
      bytes,
    ]);
    const cells = new PerCpuCells(buf, COUNTER_SIZE, cpus);
    assert.equal(cells.sumU64(0, packets), bigintSum(buf, COUNTER_SIZE, cpus, 0, packets));
    assert.equal(cells.sumU64(0, packets), 8n * (2n ** 32n - 1n) + 8n * ((1n << 32n) + 0xfffffff0n));
  });

  it('is exact just below, at and above 2^53, where a double sum would round', function () {
    for (const total of [2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 53n + 3n, 3n * 2n ** 53n + 7n]) {
      // Split `total` over 3 CPUs unevenly, with odd low halves.
      const parts = [total / 3n + 1n, total / 3n - 1n];
      parts.push(total - parts[0]! - parts[1]!);
      const buf = perCpuBuffer(1, 3, COUNTER_SIZE, (_e, cpu) => parts[cpu]!, [packets, bytes]);
      assert.equal(new PerCpuCells(buf, COUNTER_SIZE, 3).sumU64(0, bytes), total, `total ${total}`);
    }
  });

  it('is exact for sums past 2^64: every CPU at the u64 maximum', function () {
    const cpus = 192;
    const buf = perCpuBuffer(2, cpus, COUNTER_SIZE, () => U64_MAX, [packets, bytes]);
    assert.equal(new PerCpuCells(buf, COUNTER_SIZE, cpus).sumU64(1, bytes), 192n * U64_MAX);
  });

  it('matches the BigInt sum on random cells of every magnitude, 2 to 192 CPUs', function () {
    const next = rng(18);
    for (const cpus of [1, 2, 3, 16, 64, 192]) {
      const entries = 50;
      const buf = perCpuBuffer(entries, cpus, COUNTER_SIZE, (e) => next(1 + ((e * 7) % 64)), [packets, bytes]);
      const cells = new PerCpuCells(buf, COUNTER_SIZE, cpus);
      for (let e = 0; e < entries; e++) {
        for (const off of [packets, bytes])
          assert.equal(cells.sumU64(e, off), bigintSum(buf, COUNTER_SIZE, cpus, e, off), `${cpus} CPUs entry ${e}+${off}`);
      }
    }
  });

  it('walks the value stride of a 24-byte struct (site_counter) and takes its site from a CPU that counted', function () {
    const cpus = 64;
    const sc = LAYOUTS.site_counter.members;
    const buf = perCpuBuffer(
      4,
      cpus,
      SITE_COUNTER_SIZE,
      (e, cpu, off) => (off === sc.packets ? BigInt(e + cpu) : (1n << 40n) + BigInt(cpu)),
      [sc.packets, sc.bytes],
    );
    // Only CPU 5 of entry 3 counted a site (file 2, line 77).
    const at = (3 * cpus + 5) * SITE_COUNTER_SIZE;
    buf.writeUInt32LE(2, at + sc.file);
    buf.writeUInt32LE(77, at + sc.line);
    const cells = new PerCpuCells(buf, SITE_COUNTER_SIZE, cpus);
    assert.equal(cells.sumU64(3, sc.packets), BigInt(cpus * 3 + (cpus * (cpus - 1)) / 2));
    assert.equal(cells.sumU64(2, sc.bytes), bigintSum(buf, SITE_COUNTER_SIZE, cpus, 2, sc.bytes));
    assert.equal(cells.firstU32(3, sc.file), 2);
    assert.equal(cells.firstU32(3, sc.line), 77);
    assert.equal(cells.firstU32(2, sc.line), 0);
  });

  it('sums what the buffer holds now: a view, not a copy', function () {
    const buf = Buffer.alloc(perCpuStride(COUNTER_SIZE, 2));
    const cells = new PerCpuCells(buf, COUNTER_SIZE, 2);
    assert.equal(cells.sumU64(0, packets), 0n);
    buf.writeBigUInt64LE(5n, 0);
    buf.writeBigUInt64LE(2n ** 63n, COUNTER_SIZE);
    assert.equal(cells.sumU64(0, packets), 2n ** 63n + 5n);
  });

  it('refuses a buffer that does not start 4-byte aligned', function () {
    const backing = Buffer.alloc(64);
    assert.throws(() => new PerCpuCells(backing.subarray(2, 34), COUNTER_SIZE, 2), /aligned/);
  });
});

describe('joinHalves', function () {
  it('moves the low sum past 2^32 into the high half', function () {
    assert.equal(joinHalves(0, 2 ** 32), 2n ** 32n);
    assert.equal(joinHalves(1, 3 * 2 ** 32 + 5), 4n * 2n ** 32n + 5n);
  });
  it('joins as BigInt from 2^53 up and as a double below', function () {
    assert.equal(joinHalves(2 ** 21 - 1, 2 ** 32 - 1), 2n ** 53n - 1n);
    assert.equal(joinHalves(2 ** 21, 1), 2n ** 53n + 1n);
    assert.equal(joinHalves(2 ** 32 - 1, 2 ** 32 - 1), U64_MAX);
    assert.equal(joinHalves(192 * (2 ** 32 - 1), 192 * (2 ** 32 - 1)), 192n * U64_MAX);
  });
});
