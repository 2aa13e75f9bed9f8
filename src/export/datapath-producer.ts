// The datapath counters as an OTel MetricProducer: each collection builds the
// families from the last poll's rows, so a series the agent stops reporting
// (a deleted pod's, after its grace period) is gone from the next scrape —
// which observable instruments, remembering every label set, cannot do.
// Values are the kernel's cumulative totals (monotonic sums), so rate() works
// and a restart with pinned maps shows no reset.
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
import { ENDPOINT_UNATTRIBUTED } from '../bpf/contract.js';
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

interface Aggregate {
  attributes: Attributes;
  packets: bigint;
  bytes: bigint;
}

export class DatapathProducer implements MetricProducer {
  private rows: readonly DatapathRow[] = [];
  private readonly startTime: HrTime = hrTime();

  constructor(
    private readonly resource: Resource,
    private pods: PodLabelResolver,
  ) {}

  /** Called after each poll with every row to publish. */
  update(rows: readonly DatapathRow[], pods: PodLabelResolver = this.pods): void {
    this.rows = rows;
    this.pods = pods;
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
    const byKind = { drop: this.aggregate('drop', naming), forward: this.aggregate('forward', naming) };
    const metrics: SumMetricData[] = FAMILIES.map((f) => ({
      descriptor: { name: f.name, description: f.help, unit: naming.units[f.unit], valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints: byKind[f.kind].map(
        (a): DataPoint<number> => ({
          startTime: this.startTime,
          endTime: now,
          attributes: a.attributes,
          // Exact below 2^53 (9 PB of bytes); beyond, a double's precision.
          value: Number(f.unit === 'packets' ? a.packets : a.bytes),
        }),
      ),
    }));
    return {
      resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: { name: 'datapath-exporter' }, metrics }] },
      errors: [],
    };
  }

  /** Rows with the same labels are summed (e.g. two offsets in one function). */
  private aggregate(kind: RowKind, naming: Naming): Aggregate[] {
    const out = new Map<string, Aggregate>();
    for (const row of this.rows) {
      if (row.kind !== kind) continue;
      const pod = row.endpoint === undefined || row.endpoint === ENDPOINT_UNATTRIBUTED ? NO_POD : this.pods.labelsOf(row.endpoint);
      // A slot with no known pod (restored before the first sync): its
      // counts stay in the kernel and are published once the pod is known.
      if (pod === undefined) continue;
      const attributes: Record<string, string> = { source: row.source };
      if (kind === 'drop') attributes.reason = row.reason;
      attributes.direction = row.direction;
      attributes.location = row.location;
      if (!(naming.omitNoPod && pod === NO_POD)) {
        attributes[naming.namespace] = pod.namespace;
        attributes[naming.pod] = pod.pod;
      }
      const id = Object.values(attributes).join('\u0000');
      const agg = out.get(id);
      if (agg) {
        agg.packets += row.packets;
        agg.bytes += row.bytes;
      } else {
        out.set(id, { attributes, packets: row.packets, bytes: row.bytes });
      }
    }
    return [...out.values()];
  }
}
