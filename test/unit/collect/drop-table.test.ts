// The drop table's bookkeeping on in-memory maps, the test playing the drop
// program: it takes a free slot for a new key and counts into per-CPU cells.
import assert from 'node:assert/strict';
import {
  COUNTER_SIZE,
  DROP_KEY_SIZE,
  DROP_OVERFLOW_SLOT,
  DROP_SLOTS,
  type DropKey,
  type EndpointSlot,
  encodeDropKey,
} from '../../../src/bpf/contract.js';
import { DropCacheGeneration } from '../../../src/bpf/drop-cache.js';
import { perCpuStride, u32Key } from '../../../src/bpf/map.js';
import { DropTable } from '../../../src/collect/drop-table.js';
import { MemoryMap, writeCounter } from '../../support/memory-map.js';

const CPUS = 2;
const STRIDE = perCpuStride(COUNTER_SIZE, CPUS);

function setup() {
  const slotOf = new MemoryMap({ name: 'drop_slot_of', kind: 'hash', keySize: DROP_KEY_SIZE, valueSize: 4, maxEntries: DROP_SLOTS });
  const freeSlots = new MemoryMap({ name: 'drop_free_slots', kind: 'queue', keySize: 0, valueSize: 4, maxEntries: DROP_SLOTS });
  const counts = new MemoryMap({ name: 'drop_counts', kind: 'array', keySize: 4, valueSize: STRIDE, maxEntries: DROP_SLOTS + 1 });
  const gen = new MemoryMap({ name: 'drop_cache_gen', kind: 'array', keySize: 4, valueSize: 4, maxEntries: 1 });
  const cacheGeneration = new DropCacheGeneration(gen);
  const table = new DropTable({ slotOf, freeSlots, counts, cacheGeneration }, CPUS);
  /** The program's part: the key's slot (a free one for a new key), then a count on `cpu`. */
  const drop = (key: DropKey, packets: bigint, bytes: bigint, cpu = 0): number => {
    const k = encodeDropKey(key);
    let slot = slotOf.get(k)?.readUInt32LE(0);
    if (slot === undefined) {
      const free = freeSlots.take();
      slot = free ? free.readUInt32LE(0) : DROP_OVERFLOW_SLOT;
      if (free) slotOf.set(k, free);
    }
    const cell = counts.get(slot) ?? Buffer.alloc(STRIDE);
    const off = cpu * COUNTER_SIZE;
    writeCounter(cell, cpu, COUNTER_SIZE, cell.readBigUInt64LE(off) + packets, cell.readBigUInt64LE(off + 8) + bytes);
    counts.set(slot, cell);
    return slot;
  };
  return { slotOf, freeSlots, counts, cacheGeneration, table, drop };
}

const key = (endpoint: number, location = 0xffffffff81000000n): DropKey => ({
  location,
  reason: 2,
  endpoint: endpoint as EndpointSlot,
  direction: 'ingress',
});

describe('drop table (unit)', function () {
  it('rebuilds the free queue with exactly the slots no key holds', function () {
    const t = setup();
    t.freeSlots.push(u32Key(7)); // a stale entry of an earlier run
    t.slotOf.set(encodeDropKey(key(1)), u32Key(3));
    assert.equal(t.table.rebuildFreeQueue(), DROP_SLOTS - 1);
    const queued = t.freeSlots.queued().map((b) => b.readUInt32LE(0));
    assert.equal(queued.length, DROP_SLOTS - 1);
    assert.ok(!queued.includes(3));
    assert.equal(new Set(queued).size, queued.length, 'no slot twice');
    assert.equal(t.cacheGeneration.current(), 1, 'the cache generation moved');
  });

  it('sums each key over CPUs and reports the overflow slot', function () {
    const t = setup();
    t.table.rebuildFreeQueue();
    t.drop(key(1), 2n, 200n, 0);
    t.drop(key(1), 3n, 300n, 1);
    t.drop(key(2), 1n, 60n, 1);
    const c = t.counts.get(DROP_OVERFLOW_SLOT) ?? Buffer.alloc(STRIDE);
    writeCounter(c, 1, COUNTER_SIZE, 4n, 400n);
    t.counts.set(DROP_OVERFLOW_SLOT, c);
    const read = t.table.read();
    assert.equal(read.used, 2);
    const byEndpoint = new Map(read.cells.map((cell) => [cell.key.endpoint as number, cell.counter]));
    assert.deepEqual(byEndpoint.get(1), { packets: 5n, bytes: 500n });
    assert.deepEqual(byEndpoint.get(2), { packets: 1n, bytes: 60n });
    assert.deepEqual(read.overflow, { packets: 4n, bytes: 400n });
  });

  it('recycles a retired slot only at the second read, zeroed, and never hands it out before', function () {
    const t = setup();
    t.table.rebuildFreeQueue();
    const slot = t.drop(key(5), 9n, 900n);
    t.table.read();
    const genBefore = t.cacheGeneration.current();
    assert.equal(t.table.retireEndpoints(new Set([5 as EndpointSlot])), 1);
    assert.equal(t.slotOf.get(encodeDropKey(key(5))), undefined, 'the key is deleted at once');
    assert.ok(t.cacheGeneration.current() > genBefore, 'the cache generation moved after the delete');
    const inQueue = () => t.freeSlots.queued().some((b) => b.readUInt32LE(0) === slot);
    assert.ok(!inQueue());
    t.table.read(); // first read after: a program may still hold the slot
    assert.ok(!inQueue());
    assert.equal(t.counts.get(slot)?.readBigUInt64LE(0), 9n, 'counts kept until recycled');
    t.table.read(); // second read: zeroed and free
    assert.ok(inQueue());
    assert.deepEqual(t.counts.get(slot), Buffer.alloc(STRIDE));
  });

  it('keeps the rest of the recycling for the next read when one update fails', function () {
    const t = setup();
    t.table.rebuildFreeQueue();
    const a = t.drop(key(1), 1n, 1n);
    const b = t.drop(key(2), 1n, 1n);
    t.table.retireEndpoints(new Set([1, 2] as EndpointSlot[]));
    t.table.read();
    const update = t.counts.update.bind(t.counts);
    let fail = true;
    t.counts.update = (k, v, f) => {
      if (fail && k?.readUInt32LE(0) === b) throw new Error('injected');
      update(k, v, f);
    };
    assert.throws(() => t.table.read(), /injected/);
    const queued = () => t.freeSlots.queued().map((x) => x.readUInt32LE(0));
    assert.ok(queued().includes(a) && !queued().includes(b));
    fail = false;
    t.table.read();
    assert.ok(queued().includes(b));
  });
});
