// The kernel drop counters: interned drop keys (drop_slot_of) and their
// per-CPU counter slots (drop_counts), read with one batch lookup each.
//
// Slot lifecycle: the BPF program takes free slots from drop_free_slots.
// When an endpoint goes away its keys are retired: the key is deleted first
// (no new counts land in the slot) and the program's cache invalidated; only
// at the second read after that, a poll interval later, when no program can
// still hold the old slot, are the cells zeroed and the slot returned to the
// free queue.
import {
  COUNTER_SIZE,
  type Counter,
  decodeDropKey,
  DROP_KEY_SIZE,
  DROP_OVERFLOW_SLOT,
  DROP_SLOTS,
  type DropKey,
  type DropSlot,
  type EndpointSlot,
  encodeDropKey,
} from '../bpf/contract.js';
import type { DropCacheGeneration } from '../bpf/drop-cache.js';
import { BatchRead, type MapAccess, perCpuStride, u32Key } from '../bpf/map.js';
import { PerCpuCells } from './counters.js';

export interface DropCell {
  key: DropKey;
  slot: DropSlot;
  counter: Counter;
}

export interface DropTableRead {
  cells: DropCell[];
  /** Drops whose key found no free slot, cumulative. */
  overflow: Counter;
  /** Slots holding a key. */
  used: number;
}

export interface DropMaps {
  slotOf: MapAccess;
  freeSlots: MapAccess;
  counts: MapAccess;
  /** Invalidates the program's cached key -> slot after a slot changes hands. */
  cacheGeneration: DropCacheGeneration;
}

export class DropTable {
  private readonly slotBuf = Buffer.alloc(4);
  private readonly zeroCells: Buffer;
  /** Retired since the last read. */
  private retiring: DropSlot[] = [];
  /** Retired before the last read: safe to zero and hand out again. */
  private recyclable: DropSlot[] = [];

  private readonly keyBatch: BatchRead;
  private readonly countBatch: BatchRead;
  private readonly countCells: PerCpuCells;

  constructor(
    private readonly maps: DropMaps,
    cpus: number,
  ) {
    this.zeroCells = Buffer.alloc(perCpuStride(COUNTER_SIZE, cpus));
    this.keyBatch = new BatchRead(maps.slotOf, DROP_KEY_SIZE, 4, DROP_SLOTS);
    this.countBatch = new BatchRead(maps.counts, 4, perCpuStride(COUNTER_SIZE, cpus), DROP_SLOTS + 1);
    this.countCells = new PerCpuCells(this.countBatch.values, COUNTER_SIZE, cpus);
  }

  /**
   * Makes the free queue hold exactly the slots no key holds. Run at start,
   * before any program is attached: it also returns slots that a crashed
   * agent left neither free nor in use.
   */
  rebuildFreeQueue(): number {
    while (this.maps.freeSlots.pop(this.slotBuf)) {
      /* drain */
    }
    const inUse = new Set(this.readKeys().map(([, slot]) => slot));
    let free = 0;
    for (let slot = 0; slot < DROP_SLOTS; slot++) {
      if (inUse.has(slot as DropSlot)) continue;
      this.maps.freeSlots.push(u32Key(slot));
      free++;
    }
    // A pinned cache entry from an earlier run may name a slot now free.
    this.maps.cacheGeneration.bump();
    return free;
  }

  read(): DropTableRead {
    this.recycle();
    const count = this.keyBatch.read();
    this.countBatch.read();
    return decodeDropTable(this.keyBatch.keys, this.keyBatch.values, count, this.countCells);
  }

  /**
   * Retires every key counted to one of `endpoints` (pods whose grace is over,
   * or slots an earlier run left behind): deleted now, zeroed and freed two
   * reads later. Reads the keys afresh: a key made since the last read goes too.
   */
  retireEndpoints(endpoints: ReadonlySet<EndpointSlot>): number {
    if (endpoints.size === 0) return 0;
    let retired = 0;
    for (const [key, slot] of this.readKeys()) {
      if (!endpoints.has(key.endpoint)) continue;
      if (this.maps.slotOf.delete(encodeDropKey(key))) this.retiring.push(slot);
      retired++;
    }
    // After the deletes: no CPU keeps counting into a retired slot from its cache.
    if (retired > 0) this.maps.cacheGeneration.bump();
    return retired;
  }

  private recycle(): void {
    let recycled = 0;
    try {
      // One at a time: a failed update leaves the rest for the next read.
      while (this.recyclable.length > 0) {
        const key = u32Key(this.recyclable[0] as DropSlot);
        this.maps.counts.update(key, this.zeroCells);
        this.maps.freeSlots.push(key);
        this.recyclable.shift();
        recycled++;
      }
    } finally {
      // A key cached as overflowing (the queue was empty) may get a slot now.
      if (recycled > 0) this.maps.cacheGeneration.bump();
    }
    this.recyclable = this.retiring;
    this.retiring = [];
  }

  private readKeys(): Array<[DropKey, DropSlot]> {
    const count = this.keyBatch.read();
    return decodeKeys(this.keyBatch.keys, this.keyBatch.values, count);
  }
}

/**
 * One read of the table, decoded: `count` keys and their slots (drop_slot_of's
 * batch) and the per-CPU counters of every slot (drop_counts'), summed.
 */
export function decodeDropTable(keys: Buffer, slots: Buffer, count: number, counts: PerCpuCells): DropTableRead {
  const cells: DropCell[] = decodeKeys(keys, slots, count).map(([key, slot]) => ({ key, slot, counter: counts.counter(slot) }));
  return { cells, overflow: counts.counter(DROP_OVERFLOW_SLOT), used: count };
}

function decodeKeys(keys: Buffer, slots: Buffer, count: number): Array<[DropKey, DropSlot]> {
  const out: Array<[DropKey, DropSlot]> = [];
  for (let i = 0; i < count; i++) {
    out.push([decodeDropKey(keys, i * DROP_KEY_SIZE), slots.readUInt32LE(i * 4) as DropSlot]);
  }
  return out;
}
