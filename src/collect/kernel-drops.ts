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
    const rows = this.last.cells.map((cell) => this.decode(cell));
    const { overflow } = this.last;
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

  decode(cell: DropCell): DatapathRow {
    const sym = this.kallsyms.resolve(cell.key.location);
    const file = sym?.name ?? `0x${cell.key.location.toString(16)}`;
    return {
      kind: 'drop',
      source: 'kernel',
      reason: this.reasons.name(cell.key.reason),
      direction: cell.key.direction,
      site: { file, line: sym?.offset ?? 0 },
      location: file,
      endpoint: cell.key.endpoint,
      packets: cell.counter.packets,
      bytes: cell.counter.bytes,
    };
  }
}
