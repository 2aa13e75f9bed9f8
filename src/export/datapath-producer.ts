// The datapath counters as an OTel MetricProducer: each collection publishes
// the series of the last poll's rows, so a series the agent stops reporting
// (a deleted pod's, after its grace period) is gone from the next scrape —
// which observable instruments, remembering every label set, cannot do.
// Values are the kernel's cumulative totals (monotonic sums), so rate() works
// and a restart with pinned maps shows no reset; what a slot under a series'
// labels had counted before it was released or zeroed is carried, so a pod
// recreated under the same name does not read as a reset either.
import { type Attributes, type HrTime, ValueType } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  type CollectionResult,
  type DataPoint,
  DataPointType,
  type MetricProducer,
  type SumMetricData,
} from '@opentelemetry/sdk-metrics';
import type { DatapathRow, RowKind } from '../collect/rows.js';
import { ENDPOINT_UNATTRIBUTED, type EndpointSlot } from '../bpf/contract.js';
import type { PodLabelResolver, PodLabels } from '../k8s/pod-labels.js';

const NO_POD: PodLabels = { namespace: '', pod: '' };

const FAMILIES: ReadonlyArray<{ kind: RowKind; unit: 'packets' | 'bytes'; name: string; help: string }> = [
  { kind: 'drop', unit: 'packets', name: 'datapath_drop_packets', help: 'Packets dropped, by source, reason, direction, location and pod.' },
  { kind: 'drop', unit: 'bytes', name: 'datapath_drop_bytes', help: 'Bytes (IP packet size) dropped, by source, reason, direction, location and pod.' },
  { kind: 'forward', unit: 'packets', name: 'datapath_forward_packets', help: 'Packets forwarded to or from a pod, by source, direction, location and pod.' },
  { kind: 'forward', unit: 'bytes', name: 'datapath_forward_bytes', help: 'Bytes (IP packet size) forwarded to or from a pod, by source, direction, location and pod.' },
];

/**
 * What one door calls the same rows. Prometheus keeps `namespace`/`pod`
 * (joins with kube-state-metrics) and no unit (the name says it); OTLP uses
 * the semantic conventions' `k8s.namespace.name`/`k8s.pod.name`, leaves them
 * out for traffic of no pod, and carries UCUM units.
 */
export interface Naming {
  namespace: string;
  pod: string;
  /** Leave pod attributes out when no pod is known (instead of ""). */
  omitNoPod: boolean;
  units: Record<'packets' | 'bytes', string>;
}

export const PROMETHEUS_NAMING: Naming = { namespace: 'namespace', pod: 'pod', omitNoPod: false, units: { packets: '', bytes: '' } };
export const OTLP_NAMING: Naming = {
  namespace: 'k8s.namespace.name',
  pod: 'k8s.pod.name',
  omitNoPod: true,
  units: { packets: '{packet}', bytes: 'By' },
};

/**
 * Totals as doubles: exact below 2^53 (9 PB of bytes), which is what every
 * door publishes anyway, and no allocation per addition (a poll sums 24k
 * rows; BigInt sums were most of its garbage under --optimize-for-size).
 */
interface Counts {
  packets: number;
  bytes: number;
}

/** One output series of a kind, under labels before any door renames them. */
interface Series extends Counts {
  source: string;
  reason: string;
  direction: string;
  location: string;
  /** NO_POD itself for traffic of no pod (OTLP leaves its pod attributes out). */
  pod: PodLabels;
}

/** One slot's part of a series (rows of no pod share NO_SLOT). */
interface SlotPart extends Counts {
  slot: number;
}

/**
 * What a series remembers between polls: each slot's last part (almost
 * always one: a list, not a map, keeps a poll of 24k series cheap) and what
 * vanished slots had counted.
 */
interface SeriesState {
  parts: SlotPart[];
  carried: Counts;
}

const ZERO: Counts = { packets: 0, bytes: 0 };

/** The slot key of rows of no pod (no endpoint, or unattributed). */
const NO_SLOT = -1;

export class DatapathProducer implements MetricProducer {
  private series: Record<RowKind, Series[]> = { drop: [], forward: [] };
  private state = new Map<string, SeriesState>();
  /** The last poll's rows, built into series at the first collect after it (once for every door). */
  private rows: readonly DatapathRow[] = [];
  private built = true;
  private readonly startTime: HrTime = hrTime();

  constructor(
    private readonly resource: Resource,
    private pods: PodLabelResolver,
  ) {}

  /**
   * Called after each poll with every row to publish. The rows are built into
   * series (and compensated) at the first collect after it, once for every
   * door and under door-independent labels, so both doors read the same
   * numbers however often they collect; not here: a poll comes every few
   * seconds, a scrape or an export less often, and building 24k series costs
   * more than the poll itself. The carry sees the slots as of each build: a
   * released slot's last counts are carried exactly as long as some door
   * collects within the deleted-pod grace period (60 s by default; a scrape
   * every 30 s does).
   */
  update(rows: readonly DatapathRow[], pods: PodLabelResolver = this.pods): void {
    this.rows = rows;
    this.pods = pods;
    this.built = false;
  }

  private build(): void {
    if (this.built) return;
    this.built = true;
    const current = this.aggregate(this.rows);
    const next = new Map<string, SeriesState>();
    const series: Record<RowKind, Series[]> = { drop: [], forward: [] };
    for (const [id, { kind, series: s, parts }] of current) {
      // A slot whose counts went away (released) or down (zeroed, reused)
      // would read as a reset: carry what it had counted. A series no longer
      // published is left out of `next`, forgotten with its carry.
      const prev = this.state.get(id);
      let carried = prev?.carried ?? ZERO;
      for (const last of prev?.parts ?? []) {
        const now = parts.find((p) => p.slot === last.slot);
        if (now === undefined || now.packets < last.packets || now.bytes < last.bytes) {
          carried = { packets: carried.packets + last.packets, bytes: carried.bytes + last.bytes };
        }
      }
      next.set(id, { parts, carried });
      if (carried !== ZERO) {
        s.packets += carried.packets;
        s.bytes += carried.bytes;
      }
      series[kind].push(s);
    }
    this.state = next;
    this.series = series;
  }

  /** The Prometheus door (the PrometheusExporter's metricProducers). */
  async collect(): Promise<CollectionResult> {
    return this.collectAs(PROMETHEUS_NAMING);
  }

  /** Another door onto the same rows, under its own names (the OTLP reader's). */
  as(naming: Naming): MetricProducer {
    return { collect: async () => this.collectAs(naming) };
  }

  private collectAs(naming: Naming): CollectionResult {
    this.build();
    const now = hrTime();
    const metrics: SumMetricData[] = FAMILIES.map((f) => ({
      descriptor: { name: f.name, description: f.help, unit: naming.units[f.unit], valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints: this.series[f.kind].map(
        (s): DataPoint<number> => ({
          startTime: this.startTime,
          endTime: now,
          attributes: attributesOf(f.kind, s, naming),
          value: f.unit === 'packets' ? s.packets : s.bytes,
        }),
      ),
    }));
    return {
      resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: { name: 'datapath-exporter' }, metrics }] },
      errors: [],
    };
  }

  /**
   * Rows with the same labels are summed (e.g. two offsets in one function),
   * keeping each slot's part apart for the carry in build().
   */
  private aggregate(rows: readonly DatapathRow[]): Map<string, { kind: RowKind; series: Series; parts: SlotPart[] }> {
    const out = new Map<string, { kind: RowKind; series: Series; parts: SlotPart[] }>();
    for (const row of rows) {
      const noSlot = row.endpoint === undefined || row.endpoint === ENDPOINT_UNATTRIBUTED;
      let pod = noSlot ? NO_POD : this.pods.labelsOf(row.endpoint as EndpointSlot);
      // A slot with no known pod (restored before the first sync): its
      // counts stay in the kernel and are published once the pod is known.
      if (pod === undefined) continue;
      // A restored slot no pod claimed is labelled "": the no-pod series (one
      // id for both doors, which Prometheus's "" labels would merge anyway).
      if (pod.namespace === '' && pod.pod === '') pod = NO_POD;
      const reason = row.kind === 'drop' ? row.reason : '';
      const podKey = pod === NO_POD ? '\u0001' : `${pod.namespace}\u0000${pod.pod}`;
      const id = `${row.kind}\u0000${row.source}\u0000${reason}\u0000${row.direction}\u0000${row.location}\u0000${podKey}`;
      let agg = out.get(id);
      if (!agg) {
        const series: Series = { source: row.source, reason, direction: row.direction, location: row.location, pod, packets: 0, bytes: 0 };
        agg = { kind: row.kind, series, parts: [] };
        out.set(id, agg);
      }
      const packets = Number(row.packets);
      const bytes = Number(row.bytes);
      agg.series.packets += packets;
      agg.series.bytes += bytes;
      const slot = noSlot ? NO_SLOT : (row.endpoint as number);
      const part = agg.parts.find((p) => p.slot === slot);
      if (part) {
        part.packets += packets;
        part.bytes += bytes;
      } else {
        agg.parts.push({ slot, packets, bytes });
      }
    }
    return out;
  }
}

/** A series' attributes under one door's names. */
function attributesOf(kind: RowKind, s: Series, naming: Naming): Attributes {
  const attributes: Record<string, string> = { source: s.source };
  if (kind === 'drop') attributes.reason = s.reason;
  attributes.direction = s.direction;
  attributes.location = s.location;
  if (!(naming.omitNoPod && s.pod === NO_POD)) {
    attributes[naming.namespace] = s.pod.namespace;
    attributes[naming.pod] = s.pod.pod;
  }
  return attributes;
}
