// Source "tc": the per-pod forward counters (forward_counts), read with one
// batch lookup, one row per (endpoint slot, direction) cell that has counted.
import {
  AGENT_FILES,
  type EndpointSlot,
  ENDPOINT_SLOTS,
  FORWARD_CELLS,
  LAYOUTS,
  SITE_COUNTER_SIZE,
  type SiteCounter,
} from '../bpf/contract.js';
import { BatchRead, type MapAccess, perCpuStride, u32Key } from '../bpf/map.js';
import { PerCpuCells } from './counters.js';
import type { CounterSource, DatapathRow } from './rows.js';

const SC = LAYOUTS.site_counter.members;

export class ForwardSource implements CounterSource {
  readonly name = 'tc';
  private readonly stride: number;
  private readonly zero: Buffer;

  private readonly batch: BatchRead;
  private readonly cells: PerCpuCells;

  constructor(
    private readonly counts: MapAccess,
    cpus: number,
  ) {
    this.stride = perCpuStride(SITE_COUNTER_SIZE, cpus);
    this.zero = Buffer.alloc(this.stride);
    this.batch = new BatchRead(counts, 4, this.stride, FORWARD_CELLS);
    this.cells = new PerCpuCells(this.batch.values, SITE_COUNTER_SIZE, cpus);
  }

  read(): DatapathRow[] {
    this.batch.read();
    return forwardRows(this.cells);
  }

  /** Zeroes a slot's cells before the slot is given to another pod. */
  zeroSlot(slot: EndpointSlot): void {
    if (slot >= ENDPOINT_SLOTS) return;
    for (const index of [slot * 2, slot * 2 + 1]) this.counts.update(u32Key(index), this.zero);
  }
}

/** forward_counts' per-CPU cells as rows, one per (endpoint slot, direction) cell that has counted. */
export function forwardRows(cells: PerCpuCells): DatapathRow[] {
  const rows: DatapathRow[] = [];
  for (let index = 0; index < FORWARD_CELLS; index++) {
    // Most cells of a node with few pods have never counted: skip them at the first sum.
    const packets = cells.sumU64(index, SC.packets);
    if (packets === 0n) continue;
    const c: SiteCounter = {
      packets,
      bytes: cells.sumU64(index, SC.bytes),
      file: cells.firstU32(index, SC.file),
      line: cells.firstU32(index, SC.line),
    };
    const file = AGENT_FILES[c.file] ?? `unknown(${c.file})`;
    rows.push({
      kind: 'forward',
      source: 'tc',
      reason: '',
      direction: index % 2 === 1 ? 'egress' : 'ingress',
      site: { file, line: c.line },
      location: `${file}:${c.line}`,
      endpoint: Math.floor(index / 2) as EndpointSlot,
      packets: c.packets,
      bytes: c.bytes,
    });
  }
  return rows;
}
