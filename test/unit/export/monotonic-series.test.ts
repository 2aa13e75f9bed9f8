// A series stays monotonic when the slots under its labels change: a
// StatefulSet pod recreated under the same name gets a new endpoint slot while
// the old one is still published, then the old slot's rows vanish; a slot can
// also be zeroed and reused under the same labels. The sum of the slots drops
// in both cases, which Prometheus reads as a counter reset (increase() over-
// counts) and an OTLP delta reader re-sends. The producer carries what a slot
// had contributed, so the series keeps its total, and forgets it with the
// series. No BPF: the real DatapathProducer fed rows as the agent does.
import assert from 'node:assert/strict';
import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, type CollectionResult, type MetricProducer, type SumMetricData } from '@opentelemetry/sdk-metrics';
import { ENDPOINT_UNATTRIBUTED, type EndpointSlot } from '../../../src/bpf/contract.js';
import type { DatapathRow } from '../../../src/collect/rows.js';
import { forwardRow, Pods } from '../../support/producer-rows.js';
import { DatapathProducer } from '../../../src/export/datapath-producer.js';
import { OTLP_NAMING } from '../../../src/export/pod-naming.js';
import { NO_POD_LABELS, type PodLabels } from '../../../src/k8s/pod-labels.js';

const WEB_0: PodLabels = { namespace: 'default', pod: 'web-0', workload: 'web', workloadKind: 'StatefulSet', uid: 'uid-web-0' };

const forward = forwardRow;

function drop(endpoint: number | undefined, packets: number, bytes = packets * 60): DatapathRow {
  return {
    kind: 'drop',
    source: 'kernel',
    reason: 'NETFILTER_DROP',
    direction: 'ingress',
    site: { file: '', line: 0 },
    location: 'nf_hook_slow',
    ...(endpoint === undefined ? {} : { endpoint: endpoint as EndpointSlot }),
    packets: BigInt(packets),
    bytes: BigInt(bytes),
  };
}

function sums(result: CollectionResult): SumMetricData[] {
  return result.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics) as SumMetricData[];
}

/** The value of the one point of `name` whose attributes include `match`; undefined when there is none. */
async function value(door: MetricProducer, name: string, match: Attributes): Promise<number | undefined> {
  const metric = sums(await door.collect()).find((m) => m.descriptor.name === name);
  assert.ok(metric, name);
  const points = metric.dataPoints.filter((p) => Object.entries(match).every(([k, v]) => p.attributes[k] === v));
  assert.ok(points.length <= 1, `${name}: ${points.length} points match ${JSON.stringify(match)}`);
  return points[0]?.value;
}

const PROM_WEB_0 = { namespace: 'default', pod: 'web-0', direction: 'ingress' };
const OTLP_WEB_0 = { 'k8s.namespace.name': 'default', 'k8s.pod.name': 'web-0', direction: 'ingress' };

describe('DatapathProducer: series stay monotonic when slots change under the same labels', function () {
  let pods: Pods;
  let producer: DatapathProducer;
  let otlp: MetricProducer;

  beforeEach(function () {
    pods = new Pods();
    producer = new DatapathProducer(resourceFromAttributes({}), pods);
    otlp = producer.as(OTLP_NAMING);
  });

  /** One poll: its rows handed over as the agent's poll does. */
  function poll(rows: DatapathRow[]): void {
    producer.update(rows, pods);
  }

  async function web0(): Promise<number | undefined> {
    const prom = await value(producer, 'datapath_forward_packets', PROM_WEB_0);
    const push = await value(otlp, 'datapath_forward_packets', OTLP_WEB_0);
    assert.equal(push, prom, 'both doors publish the same value');
    return prom;
  }

  it('a pod recreated under the same name: the old slot released keeps the series at its total, not a reset', async function () {
    pods.bySlot.set(1, WEB_0);
    poll([forward(1, 10)]);
    assert.equal(await web0(), 10);

    // Recreated within the grace period: a new slot, the old one still published.
    pods.bySlot.set(2, WEB_0);
    poll([forward(1, 10), forward(2, 3)]);
    assert.equal(await web0(), 13);

    // The old slot's grace period is over: zeroed, released, its rows gone.
    pods.bySlot.delete(1);
    poll([forward(2, 3)]);
    assert.equal(await web0(), 13, 'no drop when the old slot goes');
    assert.equal(await web0(), 13, 'collecting again carries nothing twice');
    assert.equal(await value(producer, 'datapath_forward_bytes', PROM_WEB_0), 1300);

    poll([forward(2, 5)]);
    assert.equal(await web0(), 15);
    poll([forward(2, 5)]);
    assert.equal(await web0(), 15, 'the same rows polled again carry nothing');

    // The new pod deleted too: the series disappears, as a deleted pod's does.
    pods.bySlot.delete(2);
    poll([]);
    assert.equal(await web0(), undefined);

    // Its carried total was forgotten with it: a later web-0 starts from its own counts.
    pods.bySlot.set(3, WEB_0);
    poll([forward(3, 4)]);
    assert.equal(await web0(), 4);
  });

  it('a slot zeroed and reused under the same labels keeps the series monotonic', async function () {
    pods.bySlot.set(1, WEB_0);
    poll([forward(1, 10), forward(1, 7, 'egress')]);
    assert.equal(await web0(), 10);
    poll([forward(1, 2), forward(1, 7, 'egress')]);
    assert.equal(await web0(), 12);
    assert.equal(
      await value(producer, 'datapath_forward_packets', { ...PROM_WEB_0, direction: 'egress' }),
      7,
      'the other series is untouched',
    );
    poll([forward(1, 5), forward(1, 7, 'egress')]);
    assert.equal(await web0(), 15);
    assert.equal(await value(producer, 'datapath_forward_bytes', PROM_WEB_0), 1500);
  });

  it('both doors see the same values through any sequence, collected in any order and any number of times', async function () {
    pods.bySlot.set(1, WEB_0);
    pods.bySlot.set(2, WEB_0);
    const polls: DatapathRow[][] = [[forward(1, 10), forward(2, 1)], [forward(2, 4)], [forward(2, 1)], [forward(1, 3), forward(2, 2)]];
    const expected = [11, 14, 15, 19]; // 19: the carried 10 + 4, and slot 1 back with new counts
    for (const [i, rows] of polls.entries()) {
      poll(rows);
      for (let n = 0; n < 3; n++) {
        assert.equal(await value(otlp, 'datapath_forward_packets', OTLP_WEB_0), expected[i], `poll ${i}, OTLP read ${n}`);
        assert.equal(await value(producer, 'datapath_forward_packets', PROM_WEB_0), expected[i], `poll ${i}, Prometheus read ${n}`);
      }
    }
  });

  it('rows of no pod (no slot, or unattributed) are compensated under one key, and OTLP still leaves their pod attributes out', async function () {
    const noPod = { source: 'kernel', reason: 'NETFILTER_DROP', location: 'nf_hook_slow' };
    poll([drop(undefined, 8), drop(ENDPOINT_UNATTRIBUTED, 2)]);
    assert.equal(await value(producer, 'datapath_drop_packets', { ...noPod, namespace: '', pod: '' }), 10);
    poll([drop(ENDPOINT_UNATTRIBUTED, 3)]);
    assert.equal(await value(producer, 'datapath_drop_packets', { ...noPod, namespace: '', pod: '' }), 13);
    const point = sums(await otlp.collect())
      .find((m) => m.descriptor.name === 'datapath_drop_packets')
      ?.dataPoints.find((p) => p.attributes.reason === 'NETFILTER_DROP');
    assert.ok(point);
    assert.equal(point.value, 13);
    assert.equal('k8s.pod.name' in point.attributes, false);
    assert.equal(await value(producer, 'datapath_drop_bytes', { ...noPod, namespace: '' }), 13 * 60);

    // A slot restored from the pinned map that no pod claimed is labelled "":
    // one no-pod series (not two with the same labels), its part carried when released.
    pods.bySlot.set(7, NO_POD_LABELS);
    poll([drop(ENDPOINT_UNATTRIBUTED, 3), drop(7, 5)]);
    assert.equal(await value(producer, 'datapath_drop_packets', { ...noPod, namespace: '', pod: '' }), 18);
    assert.equal(await value(otlp, 'datapath_drop_packets', noPod), 18);
    pods.bySlot.delete(7);
    poll([drop(ENDPOINT_UNATTRIBUTED, 3)]);
    assert.equal(await value(producer, 'datapath_drop_packets', { ...noPod, namespace: '', pod: '' }), 18);
  });

  it("a deleted pod's series is gone from the next collection after its rows stop, on both doors, with its carry", async function () {
    pods.bySlot.set(1, WEB_0);
    poll([forward(1, 10)]);
    assert.equal(await web0(), 10);
    pods.bySlot.delete(1); // released after its grace period: the slot's rows stop
    poll([]);
    assert.equal(await value(producer, 'datapath_forward_packets', PROM_WEB_0), undefined);
    assert.equal(await value(otlp, 'datapath_forward_packets', OTLP_WEB_0), undefined);
    pods.bySlot.set(1, WEB_0); // the same name again much later starts from its own counts, not the old carry
    poll([forward(1, 2)]);
    assert.equal(await web0(), 2);
  });

  it('publishes cumulative monotonic sums of the rows of the same labels, summed', async function () {
    pods.bySlot.set(1, WEB_0);
    poll([forward(1, 3), { ...forward(1, 4), site: { file: 'forward.bpf.c', line: 1 } }]);
    const metric = sums(await producer.collect()).find((m) => m.descriptor.name === 'datapath_forward_packets');
    assert.ok(metric);
    assert.equal(metric.isMonotonic, true);
    assert.equal(metric.aggregationTemporality, AggregationTemporality.CUMULATIVE);
    assert.equal(await web0(), 7);
  });
});
