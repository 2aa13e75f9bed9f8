// What per-pod series carry (--granularity) and how many there may be
// (--max-series), read through both doors of the real OTel producer. The
// rows are what a poll hands the producer; slots come and go as pods do.
import assert from 'node:assert/strict';
import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { MetricProducer, SumMetricData } from '@opentelemetry/sdk-metrics';
import { ENDPOINT_UNATTRIBUTED } from '../../../src/bpf/contract.js';
import { forwardRow, Pods } from '../../support/producer-rows.js';
import { DatapathProducer } from '../../../src/export/datapath-producer.js';
import { SERIES_OVERFLOW } from '../../../src/export/series-options.js';
import { OTLP_NAMING } from '../../../src/export/pod-naming.js';
import type { Granularity } from '../../../src/export/series-options.js';
import type { PodLabels } from '../../../src/k8s/pod-labels.js';

const forward = forwardRow;

const web = (i: number): PodLabels => ({
  namespace: 'shop',
  pod: `web-6d4cf56db6-${i}`,
  workload: 'web',
  workloadKind: 'Deployment',
  uid: `uid-web-${i}`,
});
const db: PodLabels = { namespace: 'shop', pod: 'db-0', workload: 'db', workloadKind: 'StatefulSet', uid: 'uid-db-0' };
const dns: PodLabels = {
  namespace: 'kube-system',
  pod: 'coredns-1',
  workload: 'coredns',
  workloadKind: 'Deployment',
  uid: 'uid-coredns-1',
};

async function points(door: MetricProducer, name: string): Promise<Array<{ attributes: Attributes; value: number }>> {
  const metrics = (await door.collect()).resourceMetrics.scopeMetrics.flatMap((s) => s.metrics) as SumMetricData[];
  const metric = metrics.find((m) => m.descriptor.name === name);
  assert.ok(metric, name);
  return metric.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value }));
}

function producerAt(granularity: Granularity, pods: Pods, maxSeries = 50_000): DatapathProducer {
  return new DatapathProducer(resourceFromAttributes({}), pods, { granularity, maxSeries });
}

describe('granularity of per-pod series', function () {
  let pods: Pods;
  beforeEach(function () {
    pods = new Pods();
    pods.bySlot.set(0, web(0));
    pods.bySlot.set(1, web(1));
    pods.bySlot.set(2, db);
    pods.bySlot.set(3, dns);
  });
  const rows = () => [forward(0, 10), forward(1, 20), forward(2, 5), forward(3, 1), forward(ENDPOINT_UNATTRIBUTED, 7)];

  it('pod: namespace, pod, workload and workload_kind on Prometheus; k8s.<kind>.name on OTLP', async function () {
    const producer = producerAt('pod', pods);
    producer.update(rows());
    const prom = await points(producer, 'datapath_forward_packets');
    assert.equal(prom.length, 5);
    assert.deepEqual(
      prom.find((p) => p.attributes.pod === 'web-6d4cf56db6-1'),
      {
        attributes: {
          source: 'tc',
          direction: 'ingress',
          location: 'forward.bpf.c:1',
          namespace: 'shop',
          pod: 'web-6d4cf56db6-1',
          workload: 'web',
          workload_kind: 'Deployment',
        },
        value: 20,
      },
    );
    const otlp = await points(producer.as(OTLP_NAMING), 'datapath_forward_packets');
    assert.deepEqual(otlp.find((p) => p.attributes['k8s.pod.name'] === 'db-0')?.attributes, {
      source: 'tc',
      direction: 'ingress',
      location: 'forward.bpf.c:1',
      'k8s.namespace.name': 'shop',
      'k8s.pod.name': 'db-0',
      'k8s.statefulset.name': 'db',
    });
    // Traffic of no pod carries no pod attributes on OTLP, "" on Prometheus.
    assert.deepEqual(otlp.find((p) => !('k8s.pod.name' in p.attributes))?.attributes, {
      source: 'tc',
      direction: 'ingress',
      location: 'forward.bpf.c:1',
    });
    assert.equal(prom.find((p) => p.attributes.pod === '')?.attributes.workload, '');
  });

  it('workload: one series per workload, the sum of its pods, without pod names', async function () {
    const producer = producerAt('workload', pods);
    producer.update(rows());
    const prom = await points(producer, 'datapath_forward_packets');
    assert.deepEqual(
      prom.map((p) => [p.attributes.namespace, p.attributes.workload, p.attributes.workload_kind, p.attributes.pod, p.value]).sort(),
      [
        ['', '', '', '', 7],
        ['kube-system', 'coredns', 'Deployment', '', 1],
        ['shop', 'db', 'StatefulSet', '', 5],
        ['shop', 'web', 'Deployment', '', 30],
      ],
    );
    const otlp = await points(producer.as(OTLP_NAMING), 'datapath_forward_bytes');
    assert.deepEqual(
      otlp.find((p) => p.attributes['k8s.deployment.name'] === 'web'),
      {
        attributes: {
          source: 'tc',
          direction: 'ingress',
          location: 'forward.bpf.c:1',
          'k8s.namespace.name': 'shop',
          'k8s.deployment.name': 'web',
        },
        value: 3000,
      },
    );
  });

  it('namespace and node: sums per namespace, and one node series', async function () {
    const byNamespace = producerAt('namespace', pods);
    byNamespace.update(rows());
    assert.deepEqual(
      (await points(byNamespace, 'datapath_forward_packets')).map((p) => [p.attributes.namespace, p.attributes.workload, p.value]).sort(),
      [
        ['', '', 7],
        ['kube-system', '', 1],
        ['shop', '', 35],
      ],
    );
    const node = producerAt('node', pods);
    node.update(rows());
    assert.deepEqual(
      (await points(node, 'datapath_forward_packets')).map((p) => [p.attributes.namespace, p.attributes.pod, p.value]),
      [['', '', 43]],
    );
  });

  it("workload: a rollout replaces every pod and the workload's series keeps counting, never going back", async function () {
    const producer = producerAt('workload', pods);
    pods.bySlot.clear();
    let expected = 0;
    let last = 0;
    // 5 pods, rolled 20 times: each round a new pod (new name, new slot) takes
    // over from an old one, whose slot is released and reused later.
    const live = new Map<number, number>(); // slot -> packets so far
    let nextPod = 0;
    for (let i = 0; i < 5; i++) {
      pods.bySlot.set(i, web(nextPod++));
      live.set(i, 0);
    }
    const freeSlots: number[] = [5, 6, 7];
    for (let round = 0; round < 20; round++) {
      for (const [slot, n] of live) {
        live.set(slot, n + slot + 1);
        expected += slot + 1;
      }
      producer.update([...live].map(([slot, n]) => forward(slot, n)));
      const [point] = await points(producer, 'datapath_forward_packets');
      assert.equal(point?.value, expected, `round ${round}`);
      assert.ok(point.value >= last);
      last = point.value;
      assert.equal((await points(producer, 'datapath_forward_packets')).length, 1, 'one series whatever the pods');
      // Roll one pod: the oldest leaves (its slot zeroed and released), a new one comes.
      const [oldSlot] = live.keys();
      live.delete(oldSlot!);
      pods.bySlot.delete(oldSlot!);
      freeSlots.push(oldSlot!);
      const slot = freeSlots.shift()!;
      pods.bySlot.set(slot, web(nextPod++));
      live.set(slot, 0);
    }
  });
});

describe('workload series when a slot changes hands between two collects', function () {
  it("a pod's slot released and given to the workload's next pod, which counts past it before anyone collects: both pods' counts stay", async function () {
    const pods = new Pods();
    pods.bySlot.set(0, web(0));
    const producer = producerAt('workload', pods);
    producer.update([forward(0, 5)]);
    assert.equal((await points(producer, 'datapath_forward_packets'))[0]?.value, 5);
    // Between two scrapes: web-0 deleted, its slot zeroed and released, web-1
    // placed in it and counting 8 (more than web-0's 5).
    pods.bySlot.set(0, web(1));
    producer.update([forward(0, 8)]);
    assert.equal((await points(producer, 'datapath_forward_packets'))[0]?.value, 13);
  });
});

describe('a workload whose pods all left, before its next pods count', function () {
  it('keeps its series with its total while it lingers, continues it when the next pods count, and forgets it after', async function () {
    const pods = new Pods();
    pods.bySlot.set(0, web(0));
    pods.bySlot.set(1, db);
    let producer = producerAt('workload', pods);
    producer.update([forward(0, 5), forward(1, 2)]);
    assert.equal((await points(producer, 'datapath_forward_packets')).length, 2);
    // Every web pod replaced; the old slot zeroed (no row), the new pod has counted nothing yet.
    pods.bySlot.delete(0);
    pods.bySlot.set(2, web(1));
    producer.update([forward(1, 2)]);
    const web5 = (await points(producer, 'datapath_forward_packets')).find((p) => p.attributes.workload === 'web');
    assert.equal(web5?.value, 5, 'the workload keeps its total');
    producer.update([forward(1, 2), forward(2, 3)]);
    const web8 = (await points(producer, 'datapath_forward_packets')).find((p) => p.attributes.workload === 'web');
    assert.equal(web8?.value, 8, 'and continues from it');

    // With no linger, a workload without rows is gone at once (as a pod's series is).
    producer = new DatapathProducer(resourceFromAttributes({}), pods, { granularity: 'workload', maxSeries: 10, lingerMs: 0 });
    producer.update([forward(1, 2), forward(2, 3)]);
    assert.equal((await points(producer, 'datapath_forward_packets')).length, 2);
    producer.update([forward(1, 2)]);
    assert.deepEqual(
      (await points(producer, 'datapath_forward_packets')).map((p) => p.attributes.workload),
      ['db'],
    );
  });
});

describe('the series cap (--max-series)', function () {
  const NONE = { drop: 0, forward: 0, tcp_retransmit: 0, tcp_reset_sent: 0, tcp_reset_received: 0 };
  it('label sets past the cap fold into one overflow series per metric, which stays monotonic as they come and go', async function () {
    const pods = new Pods();
    for (let i = 0; i < 5; i++) pods.bySlot.set(i, web(i));
    const producer = producerAt('pod', pods, 3);
    producer.update([forward(0, 1), forward(1, 2), forward(2, 3)]);
    assert.equal((await points(producer, 'datapath_forward_packets')).length, 3);
    assert.deepEqual(producer.foldedLabelSets, NONE);

    // Two more pods: no room, both into the overflow series.
    producer.update([forward(0, 1), forward(1, 2), forward(2, 3), forward(3, 4), forward(4, 5)]);
    let prom = await points(producer, 'datapath_forward_packets');
    assert.equal(prom.length, 4);
    const overflow = () => prom.find((p) => p.attributes.source === SERIES_OVERFLOW);
    assert.deepEqual(overflow(), {
      attributes: { source: SERIES_OVERFLOW, direction: '', location: '', namespace: '', pod: '', workload: '', workload_kind: '' },
      value: 9,
    });
    assert.deepEqual(producer.foldedLabelSets, { ...NONE, forward: 2 });

    // A published pod leaves: its room goes to no folded one (they stay folded), but to a new pod.
    pods.bySlot.delete(0);
    pods.bySlot.set(5, web(5));
    producer.update([forward(1, 2), forward(2, 3), forward(3, 6), forward(4, 5), forward(5, 1)]);
    prom = await points(producer, 'datapath_forward_packets');
    assert.equal(overflow()?.value, 11);
    assert.ok(prom.some((p) => p.attributes.pod === 'web-6d4cf56db6-5'));
    assert.ok(!prom.some((p) => p.attributes.pod === 'web-6d4cf56db6-3'));

    // A folded pod leaves: the overflow series keeps what it counted.
    pods.bySlot.delete(3);
    producer.update([forward(1, 2), forward(2, 3), forward(4, 6), forward(5, 1)]);
    prom = await points(producer, 'datapath_forward_packets');
    assert.equal(overflow()?.value, 12);
    assert.deepEqual(producer.foldedLabelSets, { ...NONE, forward: 1 });
  });
});
