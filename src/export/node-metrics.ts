// The node's loss counters (interfaces, softnet, conntrack, qdiscs) as OTel
// metric data: the last poll's samples, the same for every door, so a series
// gone from the poll (a deleted pod's veth) is gone from the next scrape and
// export. Counters are the kernel's cumulative totals (monotonic sums);
// levels (conntrack entries) are gauges. A family with no samples (no
// conntrack on the node) is absent. A sample about a pod (its veth) is named
// by the pod watch from the addresses behind the interface, at the same
// granularity and under the same names as the datapath families; only the
// OTLP door adds units.
import { type HrTime, ValueType } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import type { NodeFamily, NodeSample } from '../collect/node/node-samples.js';
import { NO_POD_LABELS, type PodLabelResolver, type PodLabels } from '../k8s/pod-labels.js';
import { addPodAttributes, coarsen, type Naming } from './pod-naming.js';
import type { Granularity } from './series-options.js';

export interface NodeNaming {
  naming: Naming;
  granularity: Granularity;
  pods: PodLabelResolver;
}

export function nodeMetrics(samples: readonly NodeSample[], names: NodeNaming, startTime: HrTime, endTime: HrTime): MetricData[] {
  const byFamily = new Map<NodeFamily, NodeSample[]>();
  for (const s of samples) {
    const list = byFamily.get(s.family);
    if (list) list.push(s);
    else byFamily.set(s.family, [s]);
  }
  const { naming } = names;
  const withUnits = naming.units.packets !== '';
  return [...byFamily].map(([family, list]): MetricData => {
    const descriptor = { name: family.name, description: family.help, unit: withUnits ? family.unit : '', valueType: ValueType.DOUBLE };
    const dataPoints = list.map((s) => ({
      startTime,
      endTime,
      attributes: family.perPod ? addPodAttributes({ ...s.labels }, podOf(s, names), naming) : { ...s.labels },
      value: s.value,
    }));
    return family.type === 'counter'
      ? {
          descriptor,
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.SUM,
          isMonotonic: true,
          dataPoints,
        }
      : { descriptor, aggregationTemporality: AggregationTemporality.CUMULATIVE, dataPointType: DataPointType.GAUGE, dataPoints };
  });
}

/** The pod of the first of the sample's addresses that one holds (a dual-stack pod's are all its own). */
function podOf(sample: NodeSample, { pods, granularity }: NodeNaming): PodLabels {
  for (const address of sample.podAddresses ?? []) {
    const pod = pods.labelsOfAddress(address);
    if (pod) return coarsen(pod, granularity);
  }
  return NO_POD_LABELS;
}
