// One cilium_metrics entry as a DatapathRow: labels in the exporter's style
// (UPPER_SNAKE reason, lower-case direction, location "file.c:LINE"), plus
// Cilium's own words, which `cilium bpf metrics list` prints.
import type { Counter, Direction } from '../../bpf/contract.js';
import type { DatapathRow } from '../rows.js';
import { ciliumReasonText, isCiliumDrop } from './drop-reasons.js';
import type { CiliumDirection, CiliumMetricsKey } from './metrics-key.js';
import { type CiliumRelease, ciliumFileName } from './source-files.js';
import { upperSnake } from './upper-snake.js';

/** A key as Cilium's CLI shows it. */
export interface CiliumDetail {
  reasonCode: number;
  /** Cilium's text: "Policy denied", "Success", or the code ("250"). */
  reasonText: string;
  direction: CiliumDirection;
  line: number;
  fileId: number;
  /** "bpf_lxc.c", or "unknown(ID)". */
  file: string;
}

export interface CiliumRow extends DatapathRow {
  source: 'cilium';
  cilium: CiliumDetail;
}

export function isCiliumRow(row: DatapathRow): row is CiliumRow {
  return row.source === 'cilium' && 'cilium' in row;
}

// SERVICE (a service's traffic, neither into nor out of a pod) has no
// place among the exporter's directions; the row keeps it in `cilium`.
const DIRECTIONS: Readonly<Record<CiliumDirection, Direction>> = {
  UNKNOWN: 'unknown',
  INGRESS: 'ingress',
  EGRESS: 'egress',
  SERVICE: 'unknown',
};

export function ciliumRow(key: CiliumMetricsKey, counter: Counter, release: CiliumRelease): CiliumRow {
  const reasonText = ciliumReasonText(key.reason);
  const file = ciliumFileName(release, key.file);
  const drop = isCiliumDrop(key.reason);
  // No line and no file: a release before 1.16, which recorded no location.
  const located = key.line !== 0 || key.file !== 0;
  return {
    kind: drop ? 'drop' : 'forward',
    source: 'cilium',
    reason: drop ? upperSnake(reasonText) : '',
    direction: DIRECTIONS[key.direction],
    site: { file, line: key.line },
    location: located ? `${file}:${key.line}` : '',
    packets: counter.packets,
    bytes: counter.bytes,
    cilium: { reasonCode: key.reason, reasonText, direction: key.direction, line: key.line, fileId: key.file, file },
  };
}
