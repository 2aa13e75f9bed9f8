// bpf/drops.bpf.o: the tp_btf/kfree_skb program and the maps it counts into.
import { fileURLToPath } from 'node:url';
import { MAP_NAMES } from './contract.js';
import { BpfObject } from './object.js';
import { DropCacheGeneration } from './drop-cache.js';
import { kernelHasFunction } from './kernel-functions.js';
import type { BpfMap } from './map.js';

/** Compiled objects live in bpf/ at the package root (dist/src/bpf/ -> ../../../bpf). */
export function bpfObjectPath(name: string): string {
  return fileURLToPath(new URL(`../../../bpf/${name}`, import.meta.url));
}

/**
 * The object's two variants of one program: typed reads of the IP header
 * through the bpf_rdonly_cast kfunc (6.2+), or probe reads (any kernel).
 * Both count the same into the same maps; the typed one is cheaper.
 */
export const DROP_PROGRAMS = { typed: 'count_kernel_drop', probe: 'count_kernel_drop_probe' } as const;
export type DropProgramVariant = keyof typeof DROP_PROGRAMS;

/** The variant the running kernel can load. */
export function dropProgramVariant(): DropProgramVariant {
  return kernelHasFunction('bpf_rdonly_cast') ? 'typed' : 'probe';
}

export class KernelDropProgram {
  private constructor(
    private readonly obj: BpfObject,
    readonly variant: DropProgramVariant,
  ) {}

  /** Loads the object (the variant this kernel can run), reusing maps pinned in pinDir. Does not attach yet. */
  static load(pinDir: string, onLayoutChange?: (map: string) => void): KernelDropProgram {
    const variant = dropProgramVariant();
    const other = variant === 'typed' ? DROP_PROGRAMS.probe : DROP_PROGRAMS.typed;
    return new KernelDropProgram(BpfObject.load(bpfObjectPath('drops.bpf.o'), pinDir, onLayoutChange, [other]), variant);
  }

  get maps(): {
    slotOf: BpfMap;
    freeSlots: BpfMap;
    counts: BpfMap;
    endpoints: BpfMap;
    names: BpfMap;
    cacheGeneration: DropCacheGeneration;
    events: { events: BpfMap; tokens: BpfMap; spent: BpfMap; lost: BpfMap };
  } {
    return {
      events: {
        events: this.obj.map(MAP_NAMES.dropEvents),
        tokens: this.obj.map(MAP_NAMES.dropEventTokens),
        spent: this.obj.map(MAP_NAMES.dropEventSpent),
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
    this.obj.attach(DROP_PROGRAMS[this.variant]);
  }

  /** Detaches and frees the program; the pinned maps keep the counts. */
  close(): void {
    this.obj.close();
  }
}
