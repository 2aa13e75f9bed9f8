// `datapath-exporter list`: the live counters of a running (or stopped)
// agent, read from its pinned maps (and Cilium's, read only), in the spirit
// of `cilium bpf metrics list`.
import { join } from 'node:path';
import {
  decodeEndpointName,
  ENDPOINT_NAME_SIZE,
  ENDPOINT_SLOTS,
  ENDPOINT_UNATTRIBUTED,
  type EndpointSlot,
  MAP_NAMES,
} from '../bpf/contract.js';
import { DropCacheGeneration } from '../bpf/drop-cache.js';
import { DropReasonNames } from '../bpf/drop-reasons.js';
import { libbpf } from '../bpf/libbpf.js';
import { BpfMap } from '../bpf/map.js';
import { CiliumMetricsSource } from '../collect/cilium/cilium-source.js';
import type { CiliumRelease } from '../collect/cilium/source-files.js';
import { DropTable } from '../collect/drop-table.js';
import { ForwardSource } from '../collect/forward-table.js';
import { Kallsyms } from '../collect/kallsyms.js';
import { KernelDropSource } from '../collect/kernel-drops.js';
import type { DatapathRow } from '../collect/rows.js';
import type { PodLabels } from '../k8s/pod-labels.js';
import type { Logger } from '../log/logger.js';
import { formatCiliumTable } from './cilium-format.js';
import type { ListFormat } from './list-formats.js';

/** What the pinned names map keeps of a pod (no workload: `list` names pods). */
type PodName = Pick<PodLabels, 'namespace' | 'pod'>;

export interface ListedRow extends DatapathRow {
  pod?: PodName;
}

export function readPinnedRows(bpffs: string): ListedRow[] {
  const open = (name: string) => BpfMap.fromPin(join(bpffs, name), name);
  const maps = {
    slotOf: open(MAP_NAMES.dropSlotOf),
    freeSlots: open(MAP_NAMES.dropFreeSlots),
    counts: open(MAP_NAMES.dropCounts),
    forward: open(MAP_NAMES.forwardCounts),
    names: open(MAP_NAMES.endpointNames),
    cacheGen: open(MAP_NAMES.dropCacheGen),
  };
  try {
    const cpus = libbpf.libbpf_num_possible_cpus();
    const drops = new KernelDropSource(
      new DropTable({ ...maps, cacheGeneration: new DropCacheGeneration(maps.cacheGen) }, cpus),
      DropReasonNames.fromRunningKernel(),
      new Kallsyms(),
    ).read();
    const forward = new ForwardSource(maps.forward, cpus).read();
    const names = readNames(maps.names);
    return [...drops, ...forward].map((r) => ({ ...r, pod: r.endpoint === undefined ? undefined : names.get(r.endpoint) }));
  } finally {
    for (const m of Object.values(maps)) m.close();
  }
}

export function readCiliumRows(path: string, release: CiliumRelease, log: Logger): DatapathRow[] {
  const source = new CiliumMetricsSource({ path, release, cpus: libbpf.libbpf_num_possible_cpus(), log });
  try {
    return source.read();
  } finally {
    source.close();
  }
}

function readNames(map: BpfMap): Map<EndpointSlot, PodName> {
  const { count, values } = map.lookupAll(4, ENDPOINT_NAME_SIZE, ENDPOINT_SLOTS);
  const out = new Map<EndpointSlot, PodName>();
  for (let slot = 0; slot < count; slot++) {
    const name = decodeEndpointName(values, slot * ENDPOINT_NAME_SIZE);
    if (name.pod !== '') out.set(slot as EndpointSlot, name);
  }
  out.set(ENDPOINT_UNATTRIBUTED as EndpointSlot, { namespace: '', pod: '' });
  return out;
}

/**
 * The rows as text for stdout. No rows: '' for the tables (the caller says
 * "No entries found." on stderr, as `cilium bpf metrics list` does, rather
 * than a header over nothing); JSON stays a valid empty array.
 */
export function formatRows(rows: ListedRow[], format: ListFormat): string {
  if (rows.length === 0 && format !== 'json') return '';
  const sorted = [...rows].sort((a, b) => (b.packets > a.packets ? 1 : b.packets < a.packets ? -1 : 0));
  if (format === 'cilium') return formatCiliumTable(sorted);
  if (format === 'json') {
    return `${JSON.stringify(
      sorted.map((r) => ({
        source: r.source,
        kind: r.kind,
        reason: r.reason,
        direction: r.direction,
        namespace: r.pod?.namespace ?? '',
        pod: r.pod?.pod ?? '',
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
  const header = ['SOURCE', 'REASON', 'DIRECTION', 'NAMESPACE', 'POD', 'PACKETS', 'BYTES', 'LOCATION'];
  const body = sorted.map((r) => [
    r.source,
    r.kind === 'forward' ? 'FORWARDED' : r.reason,
    r.direction.toUpperCase(),
    r.pod?.namespace || '-',
    r.pod?.pod || '-',
    r.packets.toString(),
    r.bytes.toString(),
    r.source === 'kernel' && r.site.line > 0 ? `${r.site.file}+0x${r.site.line.toString(16)}` : r.location || '-',
  ]);
  return table([header, ...body]);
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => cell.padEnd((widths[i] ?? 0) + 3))
          .join('')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}
