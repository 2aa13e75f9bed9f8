// bpf/drops.bpf.o: the tp_btf/kfree_skb program and the maps it counts into.
import { fileURLToPath } from 'node:url';
import { MAP_NAMES } from './contract.js';
import { BpfObject } from './object.js';
import { DropCacheGeneration } from './drop-cache.js';
import type { BpfMap } from './map.js';

/** Compiled objects live in bpf/ at the package root (dist/src/bpf/ -> ../../../bpf). */
export function bpfObjectPath(name: string): string {
  return fileURLToPath(new URL(`../../../bpf/${name}`, import.meta.url));
}

export class KernelDropProgram {
  private constructor(private readonly obj: BpfObject) {}

  /** Loads the object, reusing maps pinned in pinDir. Does not attach yet. */
  static load(pinDir: string, onLayoutChange?: (map: string) => void): KernelDropProgram {
    return new KernelDropProgram(BpfObject.load(bpfObjectPath('drops.bpf.o'), pinDir, onLayoutChange));
  }

  get maps(): {
    slotOf: BpfMap;
    freeSlots: BpfMap;
    counts: BpfMap;
    endpoints: BpfMap;
    names: BpfMap;
    cacheGeneration: DropCacheGeneration;
    events: { events: BpfMap; tokens: BpfMap; lost: BpfMap };
  } {
    return {
      events: {
        events: this.obj.map(MAP_NAMES.dropEvents),
        tokens: this.obj.map(MAP_NAMES.dropEventTokens),
        lost: this.obj.map(MAP_NAMES.dropEventLost),
      },
      cacheGeneration: new DropCacheGeneration(this.obj.map(MAP_NAMES.dropCacheGen)),
      slotOf: this.obj.map(MAP_NAMES.dropSlotOf),
      freeSlots: this.obj.map(MAP_NAMES.dropFreeSlots),
      counts: this.obj.map(MAP_NAMES.dropCounts),
      endpoints: this.obj.map(MAP_NAMES.endpoints),
      names: this.obj.map(MAP_NAMES.endpointNames),
    };
  }

  attach(): void {
    this.obj.attach('count_kernel_drop');
  }

  /** Detaches and frees the program; the pinned maps keep the counts. */
  close(): void {
    this.obj.close();
  }
}
