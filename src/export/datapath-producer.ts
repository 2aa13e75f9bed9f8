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
import type { PodLabelResolver, PodLabels } from './pod-labels.js';

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

interface Counts {
  packets: bigint;
  bytes: bigint;
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

/** What a series remembers between polls: each slot's last total and what vanished slots had counted. */
interface SeriesState {
  slots: Map<number, Counts>;
  carried: Counts;
}

/** The slot key of rows of no pod (no endpoint, or unattributed). */
const NO_SLOT = -1;

export class DatapathProducer implements MetricProducer {
  private series: Record<RowKind, Series[]> = { drop: [], forward: [] };
  private state = new Map<string, SeriesState>();
  private readonly startTime: HrTime = hrTime();

  constructor(
    private readonly resource: Resource,
    private pods: PodLabelResolver,
  ) {}

  /**
   * Called after each poll with every row to publish. Series are built (and
   * compensated) here, once per poll under door-independent labels, so both
   * doors read the same numbers however often they collect.
   */
  update(rows: readonly DatapathRow[], pods: PodLabelResolver = this.pods): void {
    this.pods = pods;
    const current = this.aggregate(rows);
    const next = new Map<string, SeriesState>();
    const series: Record<RowKind, Series[]> = { drop: [], forward: [] };
    for (const [id, { kind, series: s, slots }] of current) {
      // A slot whose counts went away (released) or down (zeroed, reused)
      // would read as a reset: carry what it had counted. A series no longer
      // published is left out of `next`, forgotten with its carry.
      const prev = this.state.get(id);
      const carried: Counts = { ...(prev?.carried ?? { packets: 0n, bytes: 0n }) };
      for (const [slot, last] of prev?.slots ?? []) {
        const now = slots.get(slot);
        if (now === undefined || now.packets < last.packets || now.bytes < last.bytes) {
          carried.packets += last.packets;
          carried.bytes += last.bytes;
        }
      }
      next.set(id, { slots, carried });
      s.packets += carried.packets;
      s.bytes += carried.bytes;
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
          // Exact below 2^53 (9 PB of bytes); beyond, a double's precision.
          value: Number(f.unit === 'packets' ? s.packets : s.bytes),
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
   * keeping each slot's part apart for the compensation in update().
   */
  private aggregate(rows: readonly DatapathRow[]): Map<string, { kind: RowKind; series: Series; slots: Map<number, Counts> }> {
    const out = new Map<string, { kind: RowKind; series: Series; slots: Map<number, Counts> }>();
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
      const id = [row.kind, row.source, reason, row.direction, row.location, podKey].join('\u0000');
      let agg = out.get(id);
      if (!agg) {
        const series: Series = { source: row.source, reason, direction: row.direction, location: row.location, pod, packets: 0n, bytes: 0n };
        agg = { kind: row.kind, series, slots: new Map() };
        out.set(id, agg);
      }
      agg.series.packets += row.packets;
      agg.series.bytes += row.bytes;
      const slot = noSlot ? NO_SLOT : (row.endpoint as number);
      const part = agg.slots.get(slot);
      if (part) {
        part.packets += row.packets;
        part.bytes += row.bytes;
      } else {
        agg.slots.set(slot, { packets: row.packets, bytes: row.bytes });
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
