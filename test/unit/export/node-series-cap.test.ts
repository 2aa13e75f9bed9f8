// --max-series on the node's loss families: published label sets keep their
// places, new ones fold into the family's overflow series past the cap, a
// folded one stays folded while it exists, and a counter's overflow never
// goes down (a folded interface deleted or reset is carried); a level's
// overflow is the sum of what is folded now. Through the producer: both
// doors publish the capped samples and datapath_exporter_folded_label_sets
// counts the folds by family.
import assert from 'node:assert/strict';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { CONNTRACK_ENTRIES } from '../../../src/collect/node/conntrack.js';
import { INTERFACE_DROPS } from '../../../src/collect/node/interface-loss.js';
import type { NodeFamily, NodeSample } from '../../../src/collect/node/node-samples.js';
import { DatapathProducer } from '../../../src/export/datapath-producer.js';
import { NodeSeriesCap } from '../../../src/export/node-series-cap.js';
import { NO_PODS } from '../../../src/k8s/pod-labels.js';

const veth = (name: string, value: number): NodeSample => ({
  family: INTERFACE_DROPS,
  labels: { interface: name, counter: 'rx_dropped' },
  value,
});
const level = (zone: string, value: number): NodeSample => ({ family: CONNTRACK_ENTRIES, labels: { zone }, value });
const OVERFLOW = { interface: 'overflow', counter: '' };
const view = (samples: NodeSample[], family: NodeFamily = INTERFACE_DROPS) =>
  samples.filter((s) => s.family === family).map((s) => [s.labels.interface ?? s.labels.zone, s.value]);

describe('node loss series under --max-series (unit)', function () {
  it('keeps published label sets, folds new ones past the cap, and keeps a counter overflow monotonic', function () {
    const cap = new NodeSeriesCap(2);
    assert.deepEqual(view(cap.apply([veth('a', 1), veth('b', 2)])), [
      ['a', 1],
      ['b', 2],
    ]);
    // c and d come: no room; they are summed into the overflow series.
    let out = cap.apply([veth('a', 1), veth('b', 2), veth('c', 3), veth('d', 4)]);
    assert.deepEqual(view(out), [
      ['a', 1],
      ['b', 2],
      ['overflow', 7],
    ]);
    assert.deepEqual(out.at(-1)?.labels, OVERFLOW);
    assert.deepEqual(cap.folded, { [INTERFACE_DROPS.name]: 2 });
    // b goes: its place is free, but c and d stay folded (no series jumps out); e takes the place.
    out = cap.apply([veth('a', 1), veth('c', 5), veth('d', 4), veth('e', 1)]);
    assert.deepEqual(view(out), [
      ['a', 1],
      ['e', 1],
      ['overflow', 9],
    ]);
    // c deleted, d re-created (its counter back at 0): the overflow keeps what they had counted.
    out = cap.apply([veth('a', 1), veth('d', 0), veth('e', 1)]);
    assert.deepEqual(view(out), [
      ['a', 1],
      ['e', 1],
      ['overflow', 9],
    ]);
    out = cap.apply([veth('a', 1), veth('d', 2), veth('e', 1)]);
    assert.deepEqual(view(out), [
      ['a', 1],
      ['e', 1],
      ['overflow', 11],
    ]);
  });

  it("sums a level's folded series as they are now (nothing carried), and forgets a family that is gone", function () {
    const cap = new NodeSeriesCap(1);
    assert.deepEqual(view(cap.apply([level('0', 10), level('1', 5), level('2', 7)]), CONNTRACK_ENTRIES), [
      ['0', 10],
      ['overflow', 12],
    ]);
    assert.deepEqual(view(cap.apply([level('0', 10), level('1', 1)]), CONNTRACK_ENTRIES), [
      ['0', 10],
      ['overflow', 1],
    ]);
    assert.deepEqual(cap.apply([veth('a', 1)]), [veth('a', 1)]);
    assert.deepEqual(cap.folded, { [INTERFACE_DROPS.name]: 0 });
  });

  it('caps what both doors publish and counts the folds by family', async function () {
    const producer = new DatapathProducer(resourceFromAttributes({}), NO_PODS, { granularity: 'pod', maxSeries: 1 });
    producer.updateNode([veth('a', 1), veth('b', 2), veth('c', 3)]);
    const { resourceMetrics } = await producer.collect();
    const drops = resourceMetrics.scopeMetrics[0]?.metrics.find((m) => m.descriptor.name === INTERFACE_DROPS.name);
    assert.deepEqual(
      drops?.dataPoints.map((p) => [p.attributes, p.value]),
      [
        [{ interface: 'a', counter: 'rx_dropped', namespace: '', pod: '', workload: '', workload_kind: '' }, 1],
        [{ ...OVERFLOW, namespace: '', pod: '', workload: '', workload_kind: '' }, 5],
      ],
    );
    assert.equal(producer.foldedLabelSets[INTERFACE_DROPS.name], 2);
  });
});
