// The generation of the programs' per-CPU caches (drop_cache_gen, see
// struct drop_cache_entry and struct forward_cache_entry in
// bpf/include/datapath.h: the drop program's recent keys, the tc programs'
// pod per interface). A cached entry counts only while its generation is the
// current one, so bumping it invalidates every CPU's entries at once. Bump after, never before,
// each change that could make a cached slot wrong: an endpoint IP added or
// removed, a drop key retired, the free-slot queue rebuilt. Then a program
// that read the old generation tags its entry stale, and one that reads the
// new one already sees the change.
import type { MapAccess } from './map.js';

export class DropCacheGeneration {
  private readonly zero = Buffer.alloc(4);
  private readonly value = Buffer.alloc(4);

  constructor(private readonly map: MapAccess) {}

  /** The current generation (for tests and `list`). */
  current(): number {
    this.map.lookup(this.zero, this.value);
    return this.value.readUInt32LE(0);
  }

  /** Invalidates every CPU's cached drop key. The agent is the only writer. */
  bump(): void {
    this.value.writeUInt32LE((this.current() + 1) >>> 0, 0);
    this.map.update(this.zero, this.value);
  }
}
