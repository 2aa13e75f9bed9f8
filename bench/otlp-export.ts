// Benchmark 7 — OTLP push cost: one export of the agent's maximum series
// (24.6k, benchmark 5) through the agent's real push stage (DatapathProducer's
// OTLP door, the SDK's own exporter under OtlpPush's periodic reader) for
// each protocol, beside one Prometheus scrape of the same rows (the agent's
// PrometheusExporter + MetricsServer), in one run.
//
// Each (door) runs in a fresh child process, so heap, JIT state and RSS of
// one do not leak into the next. The collector is a minimal one in this
// (parent) process that answers at once without decoding, behind a TCP
// forwarder that counts the bytes the exporter sends (what a collector
// receives: HTTP or HTTP/2 framing included).
//
// Run: node dist/bench/otlp-export.js [--series 24580] [--exports 7]
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { createServer, get } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { DatapathProducer } from '../src/export/datapath-producer.js';
import { MetricsServer } from '../src/export/pull/http-server.js';
import type { OtlpConfig, OtlpProtocol } from '../src/export/push/otel-config.js';
import { OtlpPush } from '../src/export/push/otlp-push.js';
import { createLogger } from '../src/log/logger.js';
import { flag, fmt, header, int, median, spread, table } from './support/report.js';
import { syntheticRows } from './support/synthetic-rows.js';
import { METRICS_EXPORT_SERVICE } from '../test/support/otlp-receiver.js';

type Door = OtlpProtocol | 'prometheus';
const DOORS: Door[] = ['grpc', 'http/protobuf', 'http/json', 'prometheus'];

interface ChildResult {
  door: Door;
  series: number;
  ms: number[];
  /** Scrape: the body; OTLP: filled in by the parent from its byte count. */
  bytes: number;
  rssStartMb: number;
  rssHeldMb: number;
  rssAfterMb: number;
  failed: number;
}

// ---- child -----------------------------------------------------------------

async function child(door: Door, series: number, exports: number, url: string): Promise<ChildResult> {
  const rssStartMb = process.memoryUsage().rss / 1e6;
  const { rows, pods } = syntheticRows(series);
  const resource = resourceFromAttributes({ 'service.name': 'datapath-exporter', 'host.name': 'bench' });
  const producer = new DatapathProducer(resource, pods);
  producer.update(rows, pods);
  const ms: number[] = [];
  let bytes = 0;
  let failed = 0;
  let rssHeldMb: number;
  if (door === 'prometheus') {
    const exporter = new PrometheusExporter({
      preventServerStart: true,
      withoutScopeInfo: true,
      withoutTargetInfo: true,
      metricProducers: [producer],
    });
    const meterProvider = new MeterProvider({ resource, readers: [exporter] });
    const server = new MetricsServer(exporter, { live: () => true, ready: () => true });
    const port = (await server.listen({ host: '127.0.0.1', port: 0 })).port;
    (globalThis as { gc?: () => void }).gc?.();
    rssHeldMb = process.memoryUsage().rss / 1e6;
    bytes = (await scrape(port)).bytes; // warm-up
    for (let i = 0; i < exports; i++) ms.push((await scrape(port)).ms);
    await server.close();
    await meterProvider.shutdown();
  } else {
    const config: OtlpConfig = {
      protocol: door,
      url: door === 'grpc' ? url : `${url}/v1/metrics`,
      headers: {},
      timeoutMs: 60_000,
      compression: 'none',
      tls: {},
      temporality: 'cumulative',
      intervalMs: 3_600_000, // exports only when flushed below
      exportTimeoutMs: 60_000,
    };
    const push = await OtlpPush.create(config, producer, () => failed++, createLogger('warn'));
    const meterProvider = new MeterProvider({ resource, readers: [push.reader] });
    (globalThis as { gc?: () => void }).gc?.();
    rssHeldMb = process.memoryUsage().rss / 1e6;
    await push.reader.forceFlush(); // warm-up
    for (let i = 0; i < exports; i++) {
      const t0 = process.hrtime.bigint();
      await push.reader.forceFlush();
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    await meterProvider.shutdown();
  }
  const rssAfterMb = process.memoryUsage().rss / 1e6;
  return { door, series, ms, bytes, rssStartMb, rssHeldMb, rssAfterMb, failed };
}

function scrape(port: number): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ ms: Number(process.hrtime.bigint() - t0) / 1e6, bytes }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

// ---- parent: a collector that answers at once, behind a byte counter --------

async function collector(door: OtlpProtocol): Promise<{ port: number; close: () => void }> {
  if (door === 'grpc') {
    const server = new grpc.Server();
    server.addService(METRICS_EXPORT_SERVICE, {
      Export: (_call: unknown, callback: grpc.sendUnaryData<Buffer>) => callback(null, Buffer.alloc(0)),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return { port, close: () => server.forceShutdown() };
  }
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      res
        .writeHead(200, { 'content-type': door === 'http/json' ? 'application/json' : 'application/x-protobuf' })
        .end(door === 'http/json' ? '{}' : ''),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => server.close() };
}

async function countingForwarder(port: number): Promise<{ port: number; bytes: () => number; close: () => void }> {
  let bytes = 0;
  const server = createNetServer((inbound) => {
    const outbound = connect(port, '127.0.0.1');
    // As the exporter's own socket: no Nagle delay added by the extra hop.
    inbound.setNoDelay(true);
    outbound.setNoDelay(true);
    inbound.on('data', (d: Buffer) => (bytes += d.length));
    inbound.on('error', () => undefined);
    outbound.on('error', () => undefined);
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, bytes: () => bytes, close: () => server.close() };
}

function runChild(args: string[]): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out) as ChildResult) : reject(new Error(`child ${args.join(' ')} failed: ${err}`)),
    );
  });
}

// ---- entry -----------------------------------------------------------------

async function main(): Promise<void> {
  const series = Number(flag('series', '24580'));
  const exports = Number(flag('exports', '7'));
  header('7. OTLP push: one export per protocol beside one scrape, at the maximum series', 'node dist/bench/otlp-export.js');
  const results: ChildResult[] = [];
  for (const door of DOORS) {
    if (door === 'prometheus') {
      results.push(await runChild([door, String(series), String(exports), '']));
      continue;
    }
    const c = await collector(door);
    const fwd = await countingForwarder(c.port);
    try {
      const r = await runChild([door, String(series), String(exports), `http://127.0.0.1:${fwd.port}`]);
      // Each flush sent one request; the first also opened the connection.
      r.bytes = fwd.bytes() / (exports + 1);
      results.push(r);
    } finally {
      fwd.close();
      c.close();
    }
  }
  console.log(
    `${int(series)} series (synthetic rows of benchmark 4: 8 per pod, pod labels), cumulative, no compression. ` +
      `OTLP: ${exports} timed exports after one warm-up, each a forceFlush() of the reader (collect + serialize + send + the collector's answer); ` +
      `bytes = what the exporter sent per export (framing included). Scrape: ${exports} timed GET /metrics after one warm-up; bytes = the body. ` +
      `Median (min–max). RSS of the child: at start, once the rows are held, after the exports.\n`,
  );
  const scrapeMs = median(results.find((r) => r.door === 'prometheus')?.ms ?? []);
  console.log(
    table(
      ['door', 'ms per export / scrape', 'vs scrape', 'bytes', 'RSS start → held → after (MB)', 'failed'],
      results.map((r) => [
        r.door === 'prometheus' ? 'Prometheus scrape' : `OTLP ${r.door}`,
        spread(r.ms, 1),
        r.door === 'prometheus' ? '—' : `${fmt(median(r.ms) / scrapeMs, 2)}×`,
        `${fmt(r.bytes / 1e6, 2)} MB`,
        `${fmt(r.rssStartMb, 0)} → ${fmt(r.rssHeldMb, 0)} → ${fmt(r.rssAfterMb, 0)}`,
        String(r.failed),
      ]),
    ),
  );
}

if (process.argv[2] === '--child') {
  const [door, series, exports, url] = process.argv.slice(3);
  process.stdout.write(JSON.stringify(await child(door as Door, Number(series), Number(exports), url ?? '')));
  process.exit(0);
} else {
  await main();
  process.exit(0);
}
