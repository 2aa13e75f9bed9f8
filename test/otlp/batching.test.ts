// The push stage in process, at a size where one export is several requests:
// the real DatapathProducer, OtlpPush and the SDK's exporter against the
// suite's receiver over loopback. Requests stay under 4,096 points (a
// Collector's gRPC receiver takes 4 MiB by default), cumulative values are
// exact, deltas add up per series even when one request of an export is
// refused, and a series the producer forgets is not pushed again.
import assert from 'node:assert/strict';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { EndpointSlot } from '../../src/bpf/contract.js';
import type { DatapathRow } from '../../src/collect/rows.js';
import { DatapathProducer } from '../../src/export/datapath-producer.js';
import type { OtlpConfig, Temporality } from '../../src/export/push/otel-config.js';
import { OtlpPush } from '../../src/export/push/otlp-push.js';
import type { PodLabelResolver } from '../../src/k8s/pod-labels.js';
import { createLogger } from '../../src/log/logger.js';
import { AGGREGATION_TEMPORALITY_DELTA, OtlpReceiver } from '../support/otlp-receiver.js';

const PODS = 3000; // 2 rows each, 2 metrics per row: 12,000 points, 3 requests
const pods: PodLabelResolver = {
  labelsOf: (slot) => ({ namespace: 'shop', pod: `pod-${slot}`, workload: `pod-${slot}`, workloadKind: 'Pod', uid: `uid-${slot}` }),
  labelsOfAddress: () => undefined,
};

function rows(count: number, packetsOf: (pod: number) => number): DatapathRow[] {
  return Array.from({ length: count }, (_, pod) =>
    (['ingress', 'egress'] as const).map((direction): DatapathRow => ({
      kind: 'forward',
      source: 'tc',
      reason: '',
      direction,
      site: { file: 'forward.bpf.c', line: 1 },
      location: 'forward.bpf.c:1',
      endpoint: (pod + 1) as EndpointSlot,
      packets: BigInt(packetsOf(pod)),
      bytes: BigInt(packetsOf(pod) * 100),
    })),
  ).flat();
}

describe('OTLP push: exports of several requests', function () {
  let receiver: OtlpReceiver;
  let meterProvider: MeterProvider | undefined;

  beforeEach(async function () {
    receiver = await OtlpReceiver.start('http');
  });

  afterEach(async function () {
    await meterProvider?.shutdown().catch(() => undefined);
    meterProvider = undefined;
    await receiver.stop();
  });

  async function pushStage(producer: DatapathProducer, temporality: Temporality): Promise<OtlpPush> {
    const config: OtlpConfig = {
      protocol: 'http/protobuf',
      url: `${receiver.url}/v1/metrics`,
      headers: {},
      timeoutMs: 5000,
      compression: 'none',
      tls: {},
      temporality,
      intervalMs: 3_600_000, // only the flushes below export
      exportTimeoutMs: 10_000,
    };
    const push = await OtlpPush.create(config, producer, () => undefined, createLogger('silent'));
    meterProvider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'test' }), readers: [push.reader] });
    return push;
  }

  /** Packets per series key (pod/direction), over every accepted request. */
  function packetsBySeries(): Map<string, number[]> {
    const out = new Map<string, number[]>();
    for (const pt of receiver.points('datapath_forward_packets')) {
      const key = `${pt.attributes['k8s.pod.name']}/${pt.attributes.direction}`;
      out.set(key, [...(out.get(key) ?? []), pt.value]);
    }
    return out;
  }

  it('splits an export into requests of at most 4,096 points, cumulative values exact', async function () {
    const producer = new DatapathProducer(resourceFromAttributes({}), pods);
    producer.update(
      rows(PODS, (p) => 1000 + p),
      pods,
    );
    const push = await pushStage(producer, 'cumulative');
    await push.start();
    await push.reader.forceFlush();
    const sizes = receiver.exports.map((e) => e.metrics.reduce((n, m) => n + m.points.length, 0));
    assert.ok(sizes.length >= 3 && sizes.every((n) => n <= 4096), `points per request: ${sizes.join(', ')}`);
    const series = packetsBySeries();
    assert.equal(series.size, 2 * PODS);
    for (let p = 0; p < PODS; p++) assert.deepEqual(series.get(`pod-${p + 1}/ingress`), [1000 + p]);
  });

  it('delta: per series, the accepted deltas add up to the growth, though one request of an export was refused', async function () {
    const producer = new DatapathProducer(resourceFromAttributes({}), pods);
    const T0 = (p: number) => 50 + p;
    producer.update(rows(PODS, T0), pods);
    const push = await pushStage(producer, 'delta');
    await push.start(); // counting starts here: T0 is not pushed
    producer.update(
      rows(PODS, (p) => T0(p) + 5),
      pods,
    );
    receiver.answerFor = (i) => (i === 1 ? { kind: 'error', http: 400 } : { kind: 'ok' });
    await push.reader.forceFlush();
    assert.equal(receiver.refused, 1, 'the second request was refused');
    receiver.answerFor = undefined;
    producer.update(
      rows(PODS, (p) => T0(p) + 5 + (p % 7)),
      pods,
    );
    await push.reader.forceFlush();
    assert.equal(receiver.metric('datapath_forward_packets')?.aggregationTemporality, AGGREGATION_TEMPORALITY_DELTA);
    const series = packetsBySeries();
    assert.equal(series.size, 2 * PODS);
    for (const [key, deltas] of series) {
      const p = Number(/^pod-(\d+)\//.exec(key)?.[1]) - 1;
      assert.ok(
        deltas.every((d) => d >= 0),
        key,
      );
      assert.equal(
        deltas.reduce((s, d) => s + d, 0),
        5 + (p % 7),
        `${key}: ${deltas.join(' + ')}`,
      );
    }
  });

  it('pushes no series the producer forgot (a deleted pod, after its grace period)', async function () {
    const producer = new DatapathProducer(resourceFromAttributes({}), pods);
    producer.update(
      rows(10, () => 3),
      pods,
    );
    const push = await pushStage(producer, 'cumulative');
    await push.start();
    await push.reader.forceFlush();
    assert.ok(receiver.points('datapath_forward_packets').some((pt) => pt.attributes['k8s.pod.name'] === 'pod-10'));
    producer.update(
      rows(9, () => 3),
      pods,
    );
    const seen = receiver.exports.length;
    await push.reader.forceFlush();
    const last = receiver.exports.slice(seen).flatMap((e) => e.metrics.flatMap((m) => m.points));
    assert.ok(last.length > 0);
    assert.equal(last.filter((pt) => pt.attributes['k8s.pod.name'] === 'pod-10').length, 0);
  });
});
