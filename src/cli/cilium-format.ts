// The layout of `cilium bpf metrics list` (cilium-dbg/cmd/bpf_metrics_list.go
// in Cilium 1.16+): columns REASON, DIRECTION, PACKETS, BYTES, LINE, FILE
// through Go's text/tabwriter (minwidth 5, tabwidth 0, padding 3, padding
// with spaces, no flags), rows sorted by their cells as strings. Reproduced
// exactly so that output can be compared with Cilium's own.
//
// Cilium's rows print Cilium's words (reason "Policy denied", "Success";
// direction SERVICE; file "unknown(ID)"). The agent's own rows print in the
// same columns: REASON is the agent's reason (NO_SOCKET, SLOT_OVERFLOW) or
// FORWARDED for forwarded traffic, as `datapath-exporter list` prints it;
// FILE is the kernel function or BPF file (site.file), LINE the offset into
// it or the line (site.line), in decimal as Cilium prints lines.
//
// No rows: Cilium prints "No entries found." to stderr and nothing to
// stdout; this returns '' and leaves the stderr line to the caller.
import { isCiliumRow } from '../collect/cilium/cilium-row.js';
import type { DatapathRow } from '../collect/rows.js';

const HEADER = ['REASON', 'DIRECTION', 'PACKETS', 'BYTES', 'LINE', 'FILE'] as const;
const MIN_WIDTH = 5;
const PADDING = 3;

export function formatCiliumTable(rows: DatapathRow[]): string {
  if (rows.length === 0) return '';
  const body = rows.map(cells).sort(compareCells);
  return tabwrite([[...HEADER], ...body]);
}

function cells(row: DatapathRow): string[] {
  if (isCiliumRow(row)) {
    const c = row.cilium;
    return [c.reasonText, c.direction, String(row.packets), String(row.bytes), String(c.line), c.file];
  }
  return [
    row.kind === 'forward' ? 'FORWARDED' : row.reason,
    row.direction.toUpperCase(),
    String(row.packets),
    String(row.bytes),
    String(row.site.line),
    row.site.file,
  ];
}

/** Go's strings.Compare over the cells in order: byte-wise, so "10" < "9". */
function compareCells(a: string[], b: string[]): number {
  for (let i = 0; i < a.length; i++) {
    const c = Buffer.compare(Buffer.from(a[i] ?? ''), Buffer.from(b[i] ?? ''));
    if (c !== 0) return c;
  }
  return 0;
}

/**
 * text/tabwriter for lines that all have the same cells, each line written
 * as "c0\tc1\t...\tcN\n": every cell but the last is a column, as wide as
 * its widest cell (in runes) plus the padding, at least MIN_WIDTH; the last
 * cell is trailing text, not padded.
 */
function tabwrite(lines: string[][]): string {
  const runes = (s: string) => [...s].length;
  const columns = (lines[0]?.length ?? 1) - 1;
  const widths: number[] = [];
  for (let col = 0; col < columns; col++) {
    widths.push(Math.max(MIN_WIDTH, ...lines.map((l) => runes(l[col] ?? '') + PADDING)));
  }
  return lines
    .map((l) => l.map((cell, col) => (col < columns ? cell + ' '.repeat((widths[col] ?? 0) - runes(cell)) : cell)).join('') + '\n')
    .join('');
}
