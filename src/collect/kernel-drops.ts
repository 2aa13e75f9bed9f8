// Source "kernel": the skb:kfree_skb program's counters, decoded into rows
// with reason names from BTF and locations from kallsyms.
import type { DropReasonNames } from '../bpf/drop-reasons.js';
import type { DropCell, DropTable, DropTableRead } from './drop-table.js';
import type { Kallsyms } from './kallsyms.js';
import { type CounterSource, type DatapathRow, SLOT_OVERFLOW_REASON } from './rows.js';

export class KernelDropSource implements CounterSource {
  readonly name = 'kernel';
  /** Cells of the last read, for retiring an endpoint's keys. */
  last: DropTableRead = { cells: [], overflow: { packets: 0n, bytes: 0n }, used: 0 };

  constructor(
    readonly table: DropTable,
    private readonly reasons: DropReasonNames,
    private readonly kallsyms: Kallsyms,
  ) {}

  read(): DatapathRow[] {
    this.last = this.table.read();
    return kernelDropRows(this.last, this.reasons, this.kallsyms);
  }
}

/** A read of the drop table as rows: reasons named, locations symbolized. */
export function kernelDropRows(read: DropTableRead, reasons: DropReasonNames, kallsyms: Kallsyms): DatapathRow[] {
  const rows = read.cells.map((cell) => kernelDropRow(cell, reasons, kallsyms));
  const { overflow } = read;
  if (overflow.packets > 0n) {
    rows.push({
      kind: 'drop',
      source: 'kernel',
      reason: SLOT_OVERFLOW_REASON,
      direction: 'unknown',
      site: { file: 'overflow', line: 0 },
      location: 'overflow',
      packets: overflow.packets,
      bytes: overflow.bytes,
    });
  }
  return rows;
}

function kernelDropRow(cell: DropCell, reasons: DropReasonNames, kallsyms: Kallsyms): DatapathRow {
  const sym = kallsyms.resolve(cell.key.location);
  const file = sym?.name ?? `0x${cell.key.location.toString(16)}`;
  return {
    kind: 'drop',
    source: 'kernel',
    reason: reasons.name(cell.key.reason),
    direction: cell.key.direction,
    site: { file, line: sym?.offset ?? 0 },
    location: file,
    endpoint: cell.key.endpoint,
    packets: cell.counter.packets,
    bytes: cell.counter.bytes,
  };
}
