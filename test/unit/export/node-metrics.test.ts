// The node's loss samples through both doors of the real producer: the same
// snapshot, counters as cumulative monotonic sums and levels as gauges, units
// only on the OTLP door, a series gone from the poll gone from the next
// collect, and a family with no samples absent.
import assert from 'node:assert/strict';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type MetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';
import { CONNTRACK_ENTRIES } from '../../../src/collect/node/conntrack.js';
import { INTERFACE_DROPS } from '../../../src/collect/node/interface-loss.js';
import type { NodeSample } from '../../../src/collect/node/node-samples.js';
import { DatapathProducer, OTLP_NAMING } from '../../../src/export/datapath-producer.js';
import { NO_PODS } from '../../../src/k8s/pod-labels.js';

async function metrics(door: MetricProducer): Promise<MetricData[]> {
  return (await door.collect()).resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
}

describe('node loss metrics on both doors (unit)', function () {
  it("publishes the last poll's samples: sums and gauges, the same values on both doors, forgotten with the poll", async function () {
    const producer = new DatapathProducer(resourceFromAttributes({}), NO_PODS);
    const otlp = producer.as(OTLP_NAMING);
    const veth = (value: number): NodeSample => ({ family: INTERFACE_DROPS, labels: { interface: 'lxc1', counter: 'rx_dropped' }, value });
    producer.updateNode([
      veth(3),
      { family: INTERFACE_DROPS, labels: { interface: 'eth0', counter: 'rx_missed_errors' }, value: 9 },
      { family: CONNTRACK_ENTRIES, labels: {}, value: 120 },
    ]);
    for (const [door, unit] of [
      [producer, ''],
      [otlp, '{packet}'],
    ] as const) {
      const all = await metrics(door);
      const drops = all.find((m) => m.descriptor.name === 'datapath_interface_drop_packets');
      assert.ok(drops && drops.dataPointType === DataPointType.SUM);
      assert.equal(drops.isMonotonic, true);
      assert.equal(drops.aggregationTemporality, AggregationTemporality.CUMULATIVE);
      assert.equal(drops.descriptor.unit, unit);
      assert.deepEqual(
        drops.dataPoints.map((p) => [p.attributes, p.value]),
        [
          [{ interface: 'lxc1', counter: 'rx_dropped' }, 3],
          [{ interface: 'eth0', counter: 'rx_missed_errors' }, 9],
        ],
      );
      const entries = all.find((m) => m.descriptor.name === 'datapath_conntrack_entries');
      assert.equal(entries?.dataPointType, DataPointType.GAUGE);
      assert.deepEqual(
        entries?.dataPoints.map((p) => p.value),
        [120],
      );
    }
    // The veth deleted, no conntrack any more: its series and the family are gone from both doors.
    producer.updateNode([{ family: INTERFACE_DROPS, labels: { interface: 'eth0', counter: 'rx_missed_errors' }, value: 10 }]);
    for (const door of [producer, otlp]) {
      const all = await metrics(door);
      assert.deepEqual(
        all.find((m) => m.descriptor.name === 'datapath_interface_drop_packets')?.dataPoints.map((p) => p.attributes.interface),
        ['eth0'],
      );
      assert.equal(
        all.find((m) => m.descriptor.name === 'datapath_conntrack_entries'),
        undefined,
      );
    }
  });
});
