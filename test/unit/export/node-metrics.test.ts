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
import { DatapathProducer } from '../../../src/export/datapath-producer.js';
import { OTLP_NAMING } from '../../../src/export/pod-naming.js';
import { NO_PODS, type PodLabelResolver, type PodLabels } from '../../../src/k8s/pod-labels.js';

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
    // Prometheus: one label set for every interface series, "" for no pod; OTLP: no pod attributes.
    const noPod = { namespace: '', pod: '', workload: '', workload_kind: '' };
    for (const [door, unit, pod] of [
      [producer, '', noPod],
      [otlp, '{packet}', {}],
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
          [{ interface: 'lxc1', counter: 'rx_dropped', ...pod }, 3],
          [{ interface: 'eth0', counter: 'rx_missed_errors', ...pod }, 9],
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

  it("names a pod's veth by the pod that holds an address behind it, at the granularity, under each door's names", async function () {
    const web: PodLabels = { namespace: 'shop', pod: 'web-5d8f-x2', workload: 'web', workloadKind: 'Deployment', uid: 'u1' };
    const pods: PodLabelResolver = { labelsOf: () => undefined, labelsOfAddress: (a) => (a === '10.0.1.2' ? web : undefined) };
    const samples: NodeSample[] = [
      {
        family: INTERFACE_DROPS,
        labels: { interface: 'lxc1', counter: 'rx_dropped' },
        value: 3,
        podAddresses: ['fd00:0:0:0:0:0:0:9', '10.0.1.2'],
      },
      { family: INTERFACE_DROPS, labels: { interface: 'lxc2', counter: 'rx_dropped' }, value: 4, podAddresses: ['10.0.1.3'] }, // no pod (yet)
      { family: INTERFACE_DROPS, labels: { interface: 'eth0', counter: 'rx_dropped' }, value: 5 },
      { family: CONNTRACK_ENTRIES, labels: {}, value: 120 },
    ];
    const attributes = async (door: MetricProducer, name: string) =>
      (await metrics(door)).find((m) => m.descriptor.name === name)?.dataPoints.map((p) => p.attributes);
    const none = { namespace: '', pod: '', workload: '', workload_kind: '' };
    const cases = [
      [
        'pod',
        { namespace: 'shop', pod: 'web-5d8f-x2', workload: 'web', workload_kind: 'Deployment' },
        { 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'web-5d8f-x2', 'k8s.deployment.name': 'web' },
      ],
      [
        'workload',
        { namespace: 'shop', pod: '', workload: 'web', workload_kind: 'Deployment' },
        { 'k8s.namespace.name': 'shop', 'k8s.deployment.name': 'web' },
      ],
      ['namespace', { namespace: 'shop', pod: '', workload: '', workload_kind: '' }, { 'k8s.namespace.name': 'shop' }],
      ['node', none, {}],
    ] as const;
    for (const [granularity, prometheus, otlp] of cases) {
      const producer = new DatapathProducer(resourceFromAttributes({}), pods, { granularity, maxSeries: 100 });
      producer.updateNode(samples);
      assert.deepEqual(
        await attributes(producer, 'datapath_interface_drop_packets'),
        [
          { interface: 'lxc1', counter: 'rx_dropped', ...prometheus },
          { interface: 'lxc2', counter: 'rx_dropped', ...none },
          { interface: 'eth0', counter: 'rx_dropped', ...none },
        ],
        granularity,
      );
      assert.deepEqual(
        await attributes(producer.as(OTLP_NAMING), 'datapath_interface_drop_packets'),
        [
          { interface: 'lxc1', counter: 'rx_dropped', ...otlp },
          { interface: 'lxc2', counter: 'rx_dropped' },
          { interface: 'eth0', counter: 'rx_dropped' },
        ],
        granularity,
      );
      assert.deepEqual(await attributes(producer, 'datapath_conntrack_entries'), [{}], 'a family of no pod has no pod labels');
    }
  });
});
