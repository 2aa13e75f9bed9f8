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
import type { CounterSource, DatapathRow } from './rows.js';

const SC = LAYOUTS.site_counter.members;

export class ForwardSource implements CounterSource {
  readonly name = 'tc';
  private readonly stride: number;
  private readonly zero: Buffer;

  private readonly batch: BatchRead;

  constructor(
    private readonly counts: MapAccess,
    private readonly cpus: number,
  ) {
    this.stride = perCpuStride(SITE_COUNTER_SIZE, cpus);
    this.zero = Buffer.alloc(this.stride);
    this.batch = new BatchRead(counts, 4, this.stride, FORWARD_CELLS);
  }

  read(): DatapathRow[] {
    this.batch.read();
    const values = this.batch.values;
    const rows: DatapathRow[] = [];
    for (let index = 0; index < FORWARD_CELLS; index++) {
      const c = this.sum(values, index);
      if (c.packets === 0n) continue;
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

  /** Zeroes a slot's cells before the slot is given to another pod. */
  zeroSlot(slot: EndpointSlot): void {
    if (slot >= ENDPOINT_SLOTS) return;
    for (const index of [slot * 2, slot * 2 + 1]) this.counts.update(u32Key(index), this.zero);
  }

  private sum(values: Buffer, index: number): SiteCounter {
    let packets = 0n;
    let bytes = 0n;
    let file = 0;
    let line = 0;
    for (let cpu = 0, off = index * this.stride; cpu < this.cpus; cpu++, off += SITE_COUNTER_SIZE) {
      packets += values.readBigUInt64LE(off + SC.packets);
      bytes += values.readBigUInt64LE(off + SC.bytes);
      // Every CPU that counted wrote the same site; take any that did.
      file ||= values.readUInt32LE(off + SC.file);
      line ||= values.readUInt32LE(off + SC.line);
    }
    return { packets, bytes, file, line };
  }
}
