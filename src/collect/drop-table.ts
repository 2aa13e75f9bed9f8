// The kernel drop counters: interned drop keys (drop_slot_of) and their
// per-CPU counter slots (drop_counts), read with one batch lookup each.
//
// Slot lifecycle: the BPF program takes free slots from drop_free_slots.
// When an endpoint goes away its keys are retired: the key is deleted first
// (no new counts land in the slot), its last counts are read and kept by the
// caller, and only one poll later — when no program can still hold the old
// slot — the cells are zeroed and the slot returned to the free queue.
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
import { type BpfMap, perCpuStride, u32Key } from '../bpf/map.js';
import { sumPerCpu } from './counters.js';

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
  slotOf: BpfMap;
  freeSlots: BpfMap;
  counts: BpfMap;
  /** Invalidates the program's cached key -> slot after a slot changes hands. */
  cacheGeneration: DropCacheGeneration;
}

export class DropTable {
  private readonly slotBuf = Buffer.alloc(4);
  private readonly zeroCells: Buffer;
  private pendingRecycle: DropSlot[] = [];

  constructor(
    private readonly maps: DropMaps,
    private readonly cpus: number,
  ) {
    this.zeroCells = Buffer.alloc(perCpuStride(COUNTER_SIZE, cpus));
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
    this.recyclePending();
    const keys = this.readKeys();
    const counts = this.maps.counts.lookupAll(4, perCpuStride(COUNTER_SIZE, this.cpus), DROP_SLOTS + 1);
    const cells: DropCell[] = keys.map(([key, slot]) => ({ key, slot, counter: sumPerCpu(counts.values, slot, this.cpus) }));
    return { cells, overflow: sumPerCpu(counts.values, DROP_OVERFLOW_SLOT, this.cpus), used: keys.length };
  }

  /**
   * Retires every key of `endpoint`: deleted now, slot zeroed and freed at
   * the next read(). Returns the cells as last read, for final publication.
   */
  retireEndpoint(endpoint: EndpointSlot, current: readonly DropCell[]): DropCell[] {
    const retired = current.filter((c) => c.key.endpoint === endpoint);
    for (const cell of retired) {
      if (this.maps.slotOf.delete(encodeDropKey(cell.key))) this.pendingRecycle.push(cell.slot);
    }
    // After the deletes: no CPU keeps counting into a retired slot from its cache.
    if (retired.length > 0) this.maps.cacheGeneration.bump();
    return retired;
  }

  private recyclePending(): void {
    for (const slot of this.pendingRecycle.splice(0)) {
      const key = u32Key(slot);
      this.maps.counts.update(key, this.zeroCells);
      this.maps.freeSlots.push(key);
    }
  }

  private readKeys(): Array<[DropKey, DropSlot]> {
    const { count, keys, values } = this.maps.slotOf.lookupAll(DROP_KEY_SIZE, 4, DROP_SLOTS);
    const out: Array<[DropKey, DropSlot]> = [];
    for (let i = 0; i < count; i++) {
      out.push([decodeDropKey(keys, i * DROP_KEY_SIZE), values.readUInt32LE(i * 4) as DropSlot]);
    }
    return out;
  }
}
