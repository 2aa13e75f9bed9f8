// OTLP push end to end: the real agent (the built CLI), real kernel drops in
// the lab's pods, pod names from the suite's Kubernetes API server, the OTel
// SDK's own exporters pushing to the suite's OTLP receiver over loopback.
// Counts are a pod's own (NO_SOCKET drops to a closed port of pod "server"),
// so other tests' traffic on this machine never changes them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExporterProcess, removePinDir, testPinDir, waitFor } from '../support/exporter.js';
import { KubeApiServer, makePod } from '../support/kube-api-server.js';
import { LOCALHOST_SANS, makeCa, makeCert } from '../support/certs.js';
import { type Lab } from '../support/lab.js';
import { sumOf } from '../support/metrics-text.js';
import {
  AGGREGATION_TEMPORALITY_CUMULATIVE,
  AGGREGATION_TEMPORALITY_DELTA,
  OtlpReceiver,
  type Protocol,
} from '../support/otlp-receiver.js';
import { type LabPod, type PodNetwork, twoPodLab } from '../support/pod-network.js';
import { requireBpf } from '../support/privileges.js';
import { VERSION } from '../../src/version.js';

const NODE = 'otlp-node';
const SERVER_DROPS = { source: 'kernel', reason: 'NO_SOCKET', direction: 'ingress' };
const OTLP_SERVER = { ...SERVER_DROPS, 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'server' };
const PROM_SERVER = { ...SERVER_DROPS, namespace: 'shop', pod: 'server' };
const PROTOCOLS: Protocol[] = ['grpc', 'http/protobuf', 'http/json'];

const transportOf = (p: Protocol) => (p === 'grpc' ? 'grpc' : 'http');

/** A TCP forwarder to 127.0.0.1:port that counts the bytes the client sends. */
async function byteCountingProxy(port: number): Promise<{ port: number; bytesUp: () => number; close: () => void }> {
  let up = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((inbound) => {
    const outbound = connect(port, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    inbound.on('data', (d: Buffer) => (up += d.length));
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    bytesUp: () => up,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('OTLP push', function () {
  let lab: Lab;
  let net: PodNetwork;
  let api: KubeApiServer;
  let dir: string;
  let kubeconfig: string;
  let client: LabPod;
  let server: LabPod;
  let pinDir = '';
  const running: ExporterProcess[] = [];
  const receivers: OtlpReceiver[] = [];

  before(async function () {
    requireBpf(this);
    ({ lab, net, a: client, b: server } = await twoPodLab(['client', 'server'], 213));
    api = await KubeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), 'dpx-otlp-'));
    kubeconfig = api.writeKubeconfig(dir);
  });

  beforeEach(function () {
    pinDir = testPinDir();
    api.addPod(makePod({ name: 'client', namespace: 'shop', nodeName: NODE, ips: [client.ip] }));
    api.addPod(makePod({ name: 'server', namespace: 'shop', nodeName: NODE, ips: [server.ip] }));
  });

  afterEach(async function () {
    for (const p of running.splice(0)) await p.stop('SIGKILL');
    for (const r of receivers.splice(0)) await r.stop();
    if (pinDir) removePinDir(pinDir);
    for (const pod of api?.listPods() ?? []) api.deletePod(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
  });

  after(async function () {
    await api?.stop();
    lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function receiver(protocol: Protocol): Promise<OtlpReceiver> {
    const r = await OtlpReceiver.start(transportOf(protocol));
    receivers.push(r);
    return r;
  }

  /** The agent pushing to `r` every 300 ms, with /metrics on unless `extra` says none. */
  async function start(
    r: OtlpReceiver,
    protocol: Protocol,
    env: Record<string, string> = {},
    extra: string[] = [],
  ): Promise<ExporterProcess> {
    const p = await ExporterProcess.start(
      [
        '--bpffs',
        pinDir,
        '--poll-interval',
        '200ms',
        '--kubeconfig',
        kubeconfig,
        '--node-name',
        NODE,
        '--interfaces',
        net.interfaceGlob,
        '--deleted-pod-grace',
        '2s',
        '--cilium-metrics-map',
        'none',
        '--otlp-endpoint',
        r.url,
        ...extra,
      ],
      { ...process.env, OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_METRIC_EXPORT_INTERVAL: '300', ...env },
    );
    running.push(p);
    return p;
  }

  const scraped = async (p: ExporterProcess, name: string, labels: Record<string, string> = {}) => sumOf(await p.scrape(), name, labels);
  const failures = (p: ExporterProcess) => scraped(p, 'datapath_exporter_otlp_export_failures_total');
  const dropsOnMetrics = (p: ExporterProcess) => scraped(p, 'datapath_drop_packets_total', PROM_SERVER);
  const dropsPushed = (r: OtlpReceiver) => r.latest('datapath_drop_packets', OTLP_SERVER) ?? 0;
  const drop = (n: number) => lab.sendUdp(client.ns, server.ip, 9, n, 10);

  /** Waits until the pod watch is in sync (so drops are named by pod). */
  async function synced(p: ExporterProcess): Promise<void> {
    assert.equal(
      await waitFor(
        () => scraped(p, 'datapath_exporter_kubernetes_synced'),
        (v) => v === 1,
      ),
      1,
      'pod watch in sync',
    );
  }

  for (const protocol of PROTOCOLS) {
    it(`${protocol}: exactly N drops arrive as N, a cumulative monotonic sum equal to /metrics, with the resource and k8s.* attributes`, async function () {
      const r = await receiver(protocol);
      const p = await start(r, protocol);
      await synced(p);
      const N = 23;
      drop(N);
      assert.equal(
        await waitFor(
          () => dropsOnMetrics(p),
          (v) => v >= N,
        ),
        N,
        '/metrics',
      );
      assert.equal(
        await waitFor(
          () => dropsPushed(r),
          (v) => v >= N,
        ),
        N,
        'pushed',
      );
      assert.equal(dropsPushed(r), await dropsOnMetrics(p), 'the same value through both doors');

      const last = r.exports.at(-1);
      assert.equal(last?.protocol, protocol);
      assert.deepEqual(last?.resource, {
        'service.name': 'datapath-exporter',
        'service.version': VERSION,
        'service.instance.id': NODE,
        'host.name': hostname(),
        'k8s.node.name': NODE,
      });
      const packets = r.metric('datapath_drop_packets');
      assert.equal(packets?.kind, 'sum');
      assert.equal(packets?.isMonotonic, true);
      assert.equal(packets?.aggregationTemporality, AGGREGATION_TEMPORALITY_CUMULATIVE);
      assert.equal(packets?.unit, '{packet}');
      assert.equal(r.metric('datapath_drop_bytes')?.unit, 'By');
      const point = packets?.points.find((pt) => pt.attributes['k8s.pod.name'] === 'server');
      assert.deepEqual(Object.keys(point?.attributes ?? {}).sort(), [
        'direction',
        'k8s.namespace.name',
        'k8s.pod.name',
        'location',
        'reason',
        'source',
      ]);
      assert.ok(
        packets?.points.every((pt) => !('pod' in pt.attributes) && !('namespace' in pt.attributes)),
        'no Prometheus label names on the OTLP side',
      );
      assert.equal(
        sumOf(await p.scrape(), 'datapath_drop_bytes_total', PROM_SERVER),
        r.latest('datapath_drop_bytes', OTLP_SERVER),
        'bytes equal too',
      );
      assert.equal(r.latest('datapath_exporter_otlp_export_failures'), 0, 'the self-metric is pushed too');
      assert.equal(await failures(p), 0);
    });
  }

  it('sends OTEL_EXPORTER_OTLP_(METRICS_)HEADERS and gzips with OTEL_EXPORTER_OTLP_COMPRESSION (HTTP, chunked body)', async function () {
    const r = await receiver('http/protobuf');
    const p = await start(r, 'http/protobuf', {
      OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=team%20a,x-scope=general',
      OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'x-scope=metrics',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
    });
    await waitFor(
      () => r.exports.length,
      (n) => n > 0,
    );
    const e = r.exports[0];
    assert.equal(e?.headers['x-tenant'], 'team a');
    assert.equal(e?.headers['x-scope'], 'metrics', 'the metrics variable wins per key');
    assert.equal(e?.encoding, 'gzip');
    assert.ok(
      e?.metrics.some((m) => m.name === 'datapath_drop_packets'),
      'decoded after gunzip',
    );
    await p.stop();
  });

  for (const compression of ['gzip', 'none']) {
    it(`gRPC: sends the headers as metadata; OTEL_EXPORTER_OTLP_COMPRESSION=${compression} is what goes on the wire`, async function () {
      const r = await receiver('grpc');
      // grpc-js decompresses before the handler sees anything: count the bytes on the wire instead.
      const proxy = await byteCountingProxy(r.port);
      try {
        const p = await start(r, 'grpc', { OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=team%20a', OTEL_EXPORTER_OTLP_COMPRESSION: compression }, [
          '--otlp-endpoint',
          `http://127.0.0.1:${proxy.port}`,
        ]);
        await waitFor(
          () => r.exports.length,
          (n) => n >= 3,
        );
        await p.stop();
        assert.equal(r.exports[0]?.headers['x-tenant'], 'team a');
        const decoded = r.exports.reduce((s, e) => s + e.bytes, 0);
        if (compression === 'gzip')
          assert.ok(proxy.bytesUp() < decoded / 2, `gzip: ${proxy.bytesUp()} bytes on the wire for ${decoded} of messages`);
        else assert.ok(proxy.bytesUp() > decoded, `none: ${proxy.bytesUp()} bytes on the wire for ${decoded} of messages`);
      } finally {
        proxy.close();
      }
    });
  }

  for (const protocol of ['grpc', 'http/protobuf'] as const) {
    it(`${protocol} over TLS: OTEL_EXPORTER_OTLP_CERTIFICATE trusts the collector, the client certificate and key identify the agent`, async function () {
      const ca = makeCa(dir, `otlp-ca-${transportOf(protocol)}`);
      const serverCert = makeCert(dir, `otlp-server-${transportOf(protocol)}`, ca, { cn: 'collector', sans: LOCALHOST_SANS });
      const clientCert = makeCert(dir, `otlp-client-${transportOf(protocol)}`, ca, { cn: 'datapath-exporter', client: true });
      const r = await OtlpReceiver.start(transportOf(protocol), 0, { cert: serverCert.cert, key: serverCert.key, clientCa: ca.cert });
      receivers.push(r);
      assert.match(r.url, /^https:/);
      const p = await start(r, protocol, {
        OTEL_EXPORTER_OTLP_CERTIFICATE: ca.cert,
        OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE: clientCert.cert,
        OTEL_EXPORTER_OTLP_CLIENT_KEY: clientCert.key,
      });
      await synced(p);
      drop(5);
      assert.equal(
        await waitFor(
          () => dropsPushed(r),
          (v) => v >= 5,
        ),
        5,
      );
      assert.equal(r.exports.at(-1)?.clientCn, 'datapath-exporter');
      assert.equal(await failures(p), 0);
    });
  }

  it('delta temporality: the deltas add up to exactly the drops, across a refused export', async function () {
    const r = await receiver('http/protobuf');
    const p = await start(r, 'http/protobuf', {
      OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta',
      OTEL_EXPORTER_OTLP_TIMEOUT: '250',
    });
    await synced(p);
    const deltas = () => r.points('datapath_drop_packets', OTLP_SERVER).reduce((s, pt) => s + pt.value, 0);
    const N = 9;
    const M = 14;
    drop(N);
    assert.equal(await waitFor(deltas, (v) => v >= N), N);
    assert.equal(r.metric('datapath_drop_packets')?.aggregationTemporality, AGGREGATION_TEMPORALITY_DELTA);
    // Refused while M more drops happen: they arrive with the next accepted export.
    r.answer = { kind: 'error', http: 400 };
    const before = await failures(p);
    drop(M);
    assert.equal(
      await waitFor(
        () => dropsOnMetrics(p),
        (v) => v >= N + M,
      ),
      N + M,
    );
    await waitFor(
      () => failures(p),
      (v) => v >= before + 2,
    );
    r.answer = { kind: 'ok' };
    assert.equal(await waitFor(deltas, (v) => v >= N + M), N + M);
    const seen = r.exports.length;
    await waitFor(
      () => r.exports.length,
      (n) => n >= seen + 3,
    );
    assert.equal(deltas(), N + M, 'nothing counted twice');
    assert.ok(r.points('datapath_drop_packets', OTLP_SERVER).every((pt) => pt.value >= 0));
  });

  it('delta temporality: a restarted agent sends what grew since, not the totals it continues from its pins', async function () {
    const r = await receiver('http/protobuf');
    const env = { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'delta' };
    const deltas = () => r.points('datapath_drop_packets', OTLP_SERVER).reduce((s, pt) => s + pt.value, 0);
    const N = 7;
    const M = 5;
    const first = await start(r, 'http/protobuf', env);
    await synced(first);
    drop(N);
    assert.equal(await waitFor(deltas, (v) => v >= N), N);
    await first.stop('SIGTERM');
    running.splice(running.indexOf(first), 1);
    const second = await start(r, 'http/protobuf', env);
    await synced(second);
    assert.equal(
      await waitFor(
        () => dropsOnMetrics(second),
        (v) => v >= N,
      ),
      N,
      'the totals continue',
    );
    const seen = r.exports.length;
    await waitFor(
      () => r.exports.length,
      (n) => n >= seen + 3,
    );
    assert.equal(deltas(), N, 'the restart sent no delta of what was counted before it');
    drop(M);
    assert.equal(await waitFor(deltas, (v) => v >= N + M), N + M);
    const later = r.exports.length;
    await waitFor(
      () => r.exports.length,
      (n) => n >= later + 3,
    );
    assert.equal(deltas(), N + M, 'nothing counted twice');
  });

  for (const protocol of ['grpc', 'http/json'] as const) {
    it(`${protocol}: a collector down at start, killed mid-run and back: /metrics answers, failures counted, cumulative continues exactly`, async function () {
      const r = await receiver(protocol);
      await r.stop(); // down at start
      const p = await start(r, protocol, { OTEL_EXPORTER_OTLP_TIMEOUT: '250' });
      await synced(p);
      assert.ok(
        (await waitFor(
          () => failures(p),
          (v) => v >= 2,
        )) >= 2,
        'failed exports counted',
      );
      const N = 12;
      drop(N);
      assert.equal(
        await waitFor(
          () => dropsOnMetrics(p),
          (v) => v >= N,
        ),
        N,
        '/metrics keeps answering',
      );
      await r.listen();
      assert.equal(
        await waitFor(
          () => dropsPushed(r),
          (v) => v >= N,
        ),
        N,
        'after recovery: the exact total',
      );
      // The agent has the answer too (not only the receiver the request) before the next outage.
      await waitFor(
        () => p.logs.includes('OTLP export recovered'),
        (v) => v,
      );

      await r.stop(); // killed mid-run
      const failed = await failures(p);
      const M = 5;
      drop(M);
      await waitFor(
        () => failures(p),
        (v) => v >= failed + 2,
      );
      assert.equal(
        await waitFor(
          () => dropsOnMetrics(p),
          (v) => v >= N + M,
        ),
        N + M,
      );
      await r.listen();
      assert.equal(
        await waitFor(
          () => dropsPushed(r),
          (v) => v >= N + M,
        ),
        N + M,
        'no loss, no reset',
      );
      await waitFor(
        () => p.logs.match(/OTLP export recovered/g)?.length ?? 0,
        (n) => n >= 2,
      );

      const series = r.points('datapath_drop_packets', OTLP_SERVER);
      assert.ok(
        series.every((pt, i) => i === 0 || pt.value >= (series[i - 1]?.value ?? 0)),
        'never goes down',
      );
      assert.equal(new Set(series.map((pt) => pt.startTimeUnixNano)).size, 1, 'one start time: no reset');
      assert.equal(p.logs.match(/OTLP export failing/g)?.length, 2, `said once per outage:\n${p.logs}`);
      assert.equal(p.logs.match(/OTLP export recovered/g)?.length, 2);
    });
  }

  const refusals: Array<[Protocol, number]> = [
    ['http/protobuf', 503],
    ['http/json', 429],
    ['grpc', 503], // gRPC UNAVAILABLE
  ];
  for (const [protocol, status] of refusals) {
    it(`${protocol}: answered ${status} — failures counted once per export, logged once, then exact after recovery`, async function () {
      const r = await receiver(protocol);
      r.answer = { kind: 'error', http: status, retryAfterSeconds: 0 };
      const p = await start(r, protocol, { OTEL_EXPORTER_OTLP_TIMEOUT: '300' });
      await synced(p);
      const N = 7;
      drop(N);
      assert.ok(
        (await waitFor(
          () => failures(p),
          (v) => v >= 3,
        )) >= 3,
      );
      assert.equal(
        await waitFor(
          () => dropsOnMetrics(p),
          (v) => v >= N,
        ),
        N,
        '/metrics served meanwhile',
      );
      assert.ok(r.refused >= 3);
      r.answer = { kind: 'ok' };
      assert.equal(
        await waitFor(
          () => dropsPushed(r),
          (v) => v >= N,
        ),
        N,
      );
      // The receiver has the request; wait for the agent to have the answer too.
      await waitFor(
        () => p.logs.includes('OTLP export recovered'),
        (v) => v,
      );
      assert.equal(p.logs.match(/OTLP export failing/g)?.length, 1, `logged once, not per attempt:\n${p.logs}`);
      assert.equal(p.logs.match(/OTLP export recovered/g)?.length, 1);
      assert.ok((r.latest('datapath_exporter_otlp_export_failures') ?? 0) >= 3, 'the failure count reaches the collector once it is back');
    });
  }

  it('a collector slower than the timeout: exports fail, /metrics and the poll loop go on', async function () {
    const r = await receiver('http/protobuf');
    r.answer = { kind: 'late', ms: 3000 };
    const p = await start(r, 'http/protobuf', { OTEL_EXPORTER_OTLP_TIMEOUT: '200' });
    await synced(p);
    const N = 6;
    drop(N);
    assert.ok(
      (await waitFor(
        () => failures(p),
        (v) => v >= 2,
      )) >= 2,
    );
    assert.equal(
      await waitFor(
        () => dropsOnMetrics(p),
        (v) => v >= N,
      ),
      N,
      'polls go on',
    );
    assert.equal((await p.get('/healthz')).status, 200);
    r.answer = { kind: 'ok' };
    assert.equal(
      await waitFor(
        () => dropsPushed(r),
        (v) => v >= N,
      ),
      N,
    );
  });

  for (const protocol of ['grpc', 'http/protobuf'] as const) {
    it(`${protocol}: a collector that never answers in time holds at most two requests, however many exports come due`, async function () {
      const r = await receiver(protocol);
      r.answer = { kind: 'late', ms: 8000 };
      // The exporter would wait 10 s per request; exports come due every 300 ms.
      const p = await start(r, protocol, { OTEL_EXPORTER_OTLP_TIMEOUT: '10000' });
      assert.ok(
        (await waitFor(
          () => failures(p),
          (v) => v >= 5,
        )) >= 5,
        'exports past the limit fail at once',
      );
      assert.ok(r.maxInFlight >= 1 && r.maxInFlight <= 2, `requests held at once: ${r.maxInFlight}`);
      assert.equal((await p.get('/healthz')).status, 200);
    });
  }

  it("stops exporting a deleted pod's series when it leaves /metrics (after its grace period)", async function () {
    const r = await receiver('grpc');
    const p = await start(r, 'grpc');
    await synced(p);
    drop(3);
    assert.equal(
      await waitFor(
        () => dropsPushed(r),
        (v) => v >= 3,
      ),
      3,
    );
    api.deletePod('shop', 'server');
    const podSeries = async () => (await p.scrape()).filter((s) => s.labels.pod === 'server').length;
    assert.equal(await waitFor(podSeries, (n) => n === 0), 0, 'gone from /metrics');
    const seen = r.exports.length;
    await waitFor(
      () => r.exports.length,
      (n) => n >= seen + 2,
    );
    assert.equal(
      r.exports
        .at(-1)
        ?.metrics.flatMap((m) => m.points)
        .filter((pt) => pt.attributes['k8s.pod.name'] === 'server').length,
      0,
      'gone from OTLP',
    );
  });

  it('push only (--metrics-addr none): no listener, the metrics arrive', async function () {
    const r = await receiver('http/json');
    const p = await start(r, 'http/json', {}, ['--metrics-addr', 'none']);
    assert.equal(
      await waitFor(
        () => r.latest('datapath_exporter_kubernetes_synced') ?? 0,
        (v) => v === 1,
      ),
      1,
    );
    drop(4);
    assert.equal(
      await waitFor(
        () => dropsPushed(r),
        (v) => v >= 4,
      ),
      4,
    );
    assert.doesNotMatch(p.logs, /serving \/metrics/);
    assert.equal(p.port, 0);
    assert.equal((await p.stop()).code, 0);
  });
});
