// The node's loss counters (interfaces, softnet, conntrack, qdiscs) as OTel
// metric data: the last poll's samples, the same for every door, so a series
// gone from the poll (a deleted pod's veth) is gone from the next scrape and
// export. Counters are the kernel's cumulative totals (monotonic sums);
// levels (conntrack entries) are gauges. A family with no samples (no
// conntrack on the node) is absent. Labels carry no pod names, so both doors
// publish them as they are; only the OTLP door adds units.
import { type HrTime, ValueType } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';
import type { NodeFamily, NodeSample } from '../collect/node/node-samples.js';

export function nodeMetrics(samples: readonly NodeSample[], withUnits: boolean, startTime: HrTime, endTime: HrTime): MetricData[] {
  const byFamily = new Map<NodeFamily, NodeSample[]>();
  for (const s of samples) {
    const list = byFamily.get(s.family);
    if (list) list.push(s);
    else byFamily.set(s.family, [s]);
  }
  return [...byFamily].map(([family, list]): MetricData => {
    const descriptor = { name: family.name, description: family.help, unit: withUnits ? family.unit : '', valueType: ValueType.DOUBLE };
    const dataPoints = list.map((s) => ({ startTime, endTime, attributes: { ...s.labels }, value: s.value }));
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
