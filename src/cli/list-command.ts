// `datapath-exporter list`: the live counters of a running (or stopped)
// agent, read from its pinned maps, in the spirit of `cilium bpf metrics list`.
import { join } from 'node:path';
import { MAP_NAMES } from '../bpf/contract.js';
import { DropReasonNames } from '../bpf/drop-reasons.js';
import { libbpf } from '../bpf/libbpf.js';
import { BpfMap } from '../bpf/map.js';
import { DropTable } from '../collect/drop-table.js';
import { Kallsyms } from '../collect/kallsyms.js';
import { KernelDropSource } from '../collect/kernel-drops.js';
import type { DatapathRow } from '../collect/rows.js';

export type ListFormat = 'table' | 'json';
export const LIST_FORMATS: readonly ListFormat[] = ['table', 'json'];

export function readPinnedRows(bpffs: string): DatapathRow[] {
  const open = (name: string) => BpfMap.fromPin(join(bpffs, name), name);
  const maps = { slotOf: open(MAP_NAMES.dropSlotOf), freeSlots: open(MAP_NAMES.dropFreeSlots), counts: open(MAP_NAMES.dropCounts) };
  try {
    const table = new DropTable(maps, libbpf.libbpf_num_possible_cpus());
    return new KernelDropSource(table, DropReasonNames.fromRunningKernel(), new Kallsyms()).read();
  } finally {
    for (const m of Object.values(maps)) m.close();
  }
}

export function formatRows(rows: DatapathRow[], format: ListFormat): string {
  const sorted = [...rows].sort((a, b) => (b.packets > a.packets ? 1 : b.packets < a.packets ? -1 : 0));
  if (format === 'json') {
    return `${JSON.stringify(
      sorted.map((r) => ({
        source: r.source,
        kind: r.kind,
        reason: r.reason,
        direction: r.direction,
        packets: r.packets.toString(),
        bytes: r.bytes.toString(),
        location: r.location,
        file: r.site.file,
        line: r.site.line,
      })),
      null,
      2,
    )}\n`;
  }
  const header = ['REASON', 'DIRECTION', 'PACKETS', 'BYTES', 'LOCATION'];
  const body = sorted.map((r) => [
    r.kind === 'forward' ? 'FORWARDED' : r.reason,
    r.direction.toUpperCase(),
    r.packets.toString(),
    r.bytes.toString(),
    r.site.line > 0 ? `${r.site.file}+0x${r.site.line.toString(16)}` : r.site.file,
  ]);
  return table([header, ...body]);
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => cell.padEnd((widths[i] ?? 0) + 3)).join('').trimEnd()).join('\n') + '\n';
}
