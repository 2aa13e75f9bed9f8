// Source "tcp": per-pod TCP retransmitted segments and resets (tcp_counts),
// read with one batch lookup, one row per (endpoint slot, event) cell that
// has counted.
import { type EndpointSlot, ENDPOINT_SLOTS, TCP_CELLS, TCP_EVENTS, type TcpEvent } from '../bpf/contract.js';
import { BatchRead, type MapAccess, perCpuStride, u32Key } from '../bpf/map.js';
import { PerCpuCells } from './counters.js';
import type { CounterSource, DatapathRow, RowKind } from './rows.js';

const KIND: Readonly<Record<TcpEvent, RowKind>> = {
  retransmit: 'tcp_retransmit',
  reset_sent: 'tcp_reset_sent',
  reset_received: 'tcp_reset_received',
};
const CELL_SIZE = 8;

export class TcpSource implements CounterSource {
  readonly name = 'tcp';
  private readonly zero: Buffer;
  private readonly batch: BatchRead;
  private readonly cells: PerCpuCells;

  constructor(
    private readonly counts: MapAccess,
    cpus: number,
  ) {
    const stride = perCpuStride(CELL_SIZE, cpus);
    this.zero = Buffer.alloc(stride);
    this.batch = new BatchRead(counts, 4, stride, TCP_CELLS);
    this.cells = new PerCpuCells(this.batch.values, CELL_SIZE, cpus);
  }

  read(): DatapathRow[] {
    this.batch.read();
    return tcpRows(this.cells);
  }

  /** Zeroes a slot's cells before the slot is given to another pod. */
  zeroSlot(slot: EndpointSlot): void {
    if (slot >= ENDPOINT_SLOTS) return;
    for (let event = 0; event < TCP_EVENTS.length; event++) this.counts.update(u32Key(slot * TCP_EVENTS.length + event), this.zero);
  }
}

/** tcp_counts' per-CPU cells as rows: the count in `packets` (segments or resets), no bytes. */
export function tcpRows(cells: PerCpuCells): DatapathRow[] {
  const rows: DatapathRow[] = [];
  for (let index = 0; index < TCP_CELLS; index++) {
    const count = cells.sumU64(index, 0);
    if (count === 0n) continue;
    const event = TCP_EVENTS[index % TCP_EVENTS.length] as TcpEvent;
    rows.push({
      kind: KIND[event],
      source: 'kernel',
      reason: '',
      direction: 'unknown',
      site: { file: 'tcp.bpf.c', line: 0 },
      location: '',
      endpoint: Math.floor(index / TCP_EVENTS.length) as EndpointSlot,
      packets: count,
      bytes: 0n,
    });
  }
  return rows;
}
