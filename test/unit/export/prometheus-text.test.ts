// /metrics is written by src/export/prometheus-text.ts, not by the OTel
// exporter's PrometheusSerializer: the same ResourceMetrics (one collect of
// the real exporter over the real MeterProvider and DatapathProducer) must
// come out byte for byte as that serializer writes it for the agent's
// options, whatever the series hold — escapes, non-string attributes, names
// to sanitize, histograms, a TYPE conflict — and a series the producer stops
// returning must be gone from the next scrape. No BPF.
import assert from 'node:assert/strict';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { EndpointSlot } from '../../../src/bpf/contract.js';
import type { DatapathRow } from '../../../src/collect/rows.js';
import { DatapathProducer } from '../../../src/export/datapath-producer.js';
import type { PodLabelResolver, PodLabels } from '../../../src/k8s/pod-labels.js';
import { PrometheusText } from '../../../src/export/pull/prometheus-text.js';

/** The serializer the exporter uses, with the agent's options (outputs.ts). */
const otel = () => new PrometheusSerializer(undefined, false, undefined, true, true);

function row(kind: 'drop' | 'forward', endpoint: number, location: string, reason = 'NO_SOCKET'): DatapathRow {
  return {
    kind,
    source: kind === 'drop' ? 'kernel' : 'tc',
    reason: kind === 'drop' ? reason : '',
    direction: endpoint % 2 === 0 ? 'ingress' : 'egress',
    site: { file: location, line: 7 },
    location,
    endpoint: endpoint as EndpointSlot,
    packets: BigInt(1_000 + endpoint),
    bytes: BigInt(1_500_000 + endpoint),
  };
}

describe('/metrics text', function () {
  let provider: MeterProvider;
  let exporter: PrometheusExporter;
  let producer: DatapathProducer;
  const labels = new Map<number, PodLabels>();
  const pods: PodLabelResolver = { labelsOf: (slot) => labels.get(slot), labelsOfAddress: () => undefined };
  const resource = resourceFromAttributes({ 'service.name': 'datapath-exporter', 'host.name': 'test' });

  beforeEach(function () {
    labels.clear();
    producer = new DatapathProducer(resource, pods);
    exporter = new PrometheusExporter({
      preventServerStart: true,
      withoutScopeInfo: true,
      withoutTargetInfo: true,
      metricProducers: [producer],
    });
    provider = new MeterProvider({ resource, readers: [exporter] });
  });
  afterEach(async function () {
    await provider.shutdown();
  });

  async function collect(): Promise<ResourceMetrics> {
    const { resourceMetrics, errors } = await exporter.collect();
    assert.deepEqual(errors, []);
    return resourceMetrics;
  }

  it('is byte for byte what the exporter writes for the datapath series and the agent-style instruments', async function () {
    const rows: DatapathRow[] = [];
    for (let i = 0; i < 300; i++) {
      labels.set(i, { namespace: `team-${i % 7}`, pod: `web-${i}`, workload: `web-${i % 3}`, workloadKind: 'Deployment', uid: `uid-${i}` });
      rows.push(row('forward', i, 'forward.bpf.c:69'), row('drop', i, '__udp4_lib_rcv'), row('drop', i, 'nf_hook_slow', 'NETFILTER_DROP'));
    }
    // Values that need escaping (a backslash, a quote, a newline) and an empty one.
    labels.set(1000, { namespace: 'we"ird', pod: 'back\\slash\nnew', workload: 'w"l', workloadKind: 'Pod', uid: 'uid-1000' });
    rows.push(row('drop', 1000, 'odd "location"\\'), row('drop', 4096, ''));
    producer.update(rows, pods);

    const meter = provider.getMeter('datapath-exporter');
    const poll = meter.createHistogram('datapath_exporter_poll_duration_seconds', {
      description: 'Poll time.',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.001, 0.01, 0.1, 1] },
    });
    for (const v of [0.0005, 0.004, 0.02, 0.5, 3]) poll.record(v, { source: 'kernel' });
    meter
      .createObservableGauge('datapath_exporter_build_info', { description: 'Build.\nSecond line \\ with a backslash' })
      .addCallback((r) => r.observe(1, { version: '0.1.0', node: 'n1' }));
    const ups = meter.createUpDownCounter('datapath.exporter.slots-used', { description: 'Slots in use.' });
    ups.add(5, { table: 'endpoints' });
    ups.add(-2, { table: 'endpoints' });
    const typed = meter.createCounter('datapath_exporter_typed_values', { description: 'Non-string attribute values.' });
    typed.add(3, { count: 7, on: true, list: ['a', 'b'] });
    meter.createCounter('datapath_exporter_no_labels_total', { description: 'No attributes.' }).add(2);
    // The same name as two types in two meters: the exporter drops the name.
    provider.getMeter('other').createCounter('datapath_exporter_conflict', { description: 'x' }).add(1);
    provider
      .getMeter('third')
      .createObservableGauge('datapath_exporter_conflict', { description: 'x' })
      .addCallback((r) => r.observe(4));

    const rm = await collect();
    const expected = otel().serialize(rm);
    const actual = new PrometheusText().serialize(rm);
    assert.ok(expected.includes('datapath_drop_packets_total{'), 'the datapath series are there');
    assert.ok(expected.includes('poll_duration_seconds_bucket'), 'the histogram is there');
    assert.equal(actual, expected);
    // A second scrape with the same writer (its caches warm) is the same too.
    const text = new PrometheusText();
    text.serialize(rm);
    assert.equal(text.serialize(await collect()), otel().serialize(await collect()));
  });

  it("writes the exporter's placeholder when there is nothing, and forgets a series the producer no longer returns", async function () {
    assert.equal(new PrometheusText().serialize(await collect()), otel().serialize(await collect()));
    labels.set(1, { namespace: 'default', pod: 'gone-soon', workload: 'gone-soon', workloadKind: 'Pod', uid: 'uid-1' });
    labels.set(2, { namespace: 'default', pod: 'stays', workload: 'stays', workloadKind: 'Pod', uid: 'uid-2' });
    producer.update([row('forward', 1, 'forward.bpf.c:69'), row('forward', 2, 'forward.bpf.c:69')], pods);
    const text = new PrometheusText();
    assert.match(text.serialize(await collect()), /pod="gone-soon"/);
    labels.delete(1);
    producer.update([row('forward', 2, 'forward.bpf.c:69')], pods);
    const after = text.serialize(await collect());
    assert.doesNotMatch(after, /gone-soon/);
    assert.match(after, /pod="stays"/);
    assert.equal(after, otel().serialize(await collect()));
  });
});
