// Benchmark 4 — scrape cost: how long one GET /metrics takes at 1k, 10k and
// 100k series through the agent's real export stage (the project's
// DatapathProducer behind the OTel PrometheusExporter, collected by it and
// written by the agent's own text writer, served by the agent's
// MetricsServer, with the agent's exporter options), beside prom-client
// rendering the very same series; and the process RSS (process.memoryUsage())
// once the series are held and after the scrapes.
//
// Each (exporter, size) runs in a fresh child process, so heap sizes, JIT
// state and RSS of one do not leak into the next.
//
// prom-client (a devDependency) renders the same series as the baseline.
//
// Run: node dist/bench/scrape.js [--scrapes auto|N] [--sizes 1000,10000,100000]
import { spawnSync } from 'node:child_process';
import { get } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { EndpointSlot } from '../src/bpf/contract.js';
import { DatapathProducer } from '../src/export/datapath-producer.js';
import { MetricsServer } from '../src/export/pull/http-server.js';
import { flag, fmt, header, int, median, spread, table } from './support/report.js';
import { syntheticRows } from './support/synthetic-rows.js';

type Impl = 'otel' | 'prom-client';
const IMPLS: Impl[] = ['otel', 'prom-client'];

interface ChildResult {
  impl: Impl;
  series: number;
  samples: number;
  bytes: number;
  scrapeMs: number[];
  rssStartMb: number;
  rssHeldMb: number;
  rssAfterMb: number;
  error?: string;
}

// ---- child -----------------------------------------------------------------

async function child(impl: Impl, series: number, scrapes: number): Promise<ChildResult> {
  const rssStartMb = process.memoryUsage().rss / 1e6;
  const { rows, pods } = syntheticRows(series);
  let port: number;
  let stop: () => Promise<void>;
  if (impl === 'otel') {
    // The agent's export stage, as src/agent.ts wires it.
    const resource = resourceFromAttributes({ 'service.name': 'datapath-exporter', 'host.name': 'bench' });
    const producer = new DatapathProducer(resource, pods);
    producer.update(rows, pods);
    const exporter = new PrometheusExporter({
      preventServerStart: true,
      withoutScopeInfo: true,
      withoutTargetInfo: true,
      metricProducers: [producer],
    });
    const meterProvider = new MeterProvider({ resource, readers: [exporter] });
    const server = new MetricsServer(exporter, { live: () => true, ready: () => true });
    port = (await server.listen({ host: '127.0.0.1', port: 0 })).port;
    stop = async () => {
      await server.close();
      await meterProvider.shutdown();
    };
  } else {
    let pc: PromClient;
    try {
      pc = await loadPromClient();
    } catch (err) {
      return { impl, series, samples: 0, bytes: 0, scrapeMs: [], rssStartMb, rssHeldMb: 0, rssAfterMb: 0, error: (err as Error).message };
    }
    const registry = new pc.Registry();
    const counters = {
      drop: {
        packets: new pc.Counter({
          name: 'datapath_drop_packets_total',
          help: 'Packets dropped.',
          labelNames: DROP_LABELS,
          registers: [registry],
        }),
        bytes: new pc.Counter({
          name: 'datapath_drop_bytes_total',
          help: 'Bytes dropped.',
          labelNames: DROP_LABELS,
          registers: [registry],
        }),
      },
      forward: {
        packets: new pc.Counter({
          name: 'datapath_forward_packets_total',
          help: 'Packets forwarded.',
          labelNames: FORWARD_LABELS,
          registers: [registry],
        }),
        bytes: new pc.Counter({
          name: 'datapath_forward_bytes_total',
          help: 'Bytes forwarded.',
          labelNames: FORWARD_LABELS,
          registers: [registry],
        }),
      },
    };
    for (const row of rows) {
      if (row.kind !== 'drop' && row.kind !== 'forward') continue; // the benchmark's rows are drops and forwards
      const pod = pods.labelsOf(row.endpoint as EndpointSlot) ?? { namespace: '', pod: '' };
      const labels: Record<string, string> = {
        source: row.source,
        direction: row.direction,
        location: row.location,
        namespace: pod.namespace,
        pod: pod.pod,
      };
      if (row.kind === 'drop') labels.reason = row.reason;
      counters[row.kind].packets.inc(labels, Number(row.packets));
      counters[row.kind].bytes.inc(labels, Number(row.bytes));
    }
    const server = createServer((_req, res) => {
      registry.metrics().then(
        (body: string) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    stop = () => new Promise((resolve) => server.close(() => resolve()));
  }
  (globalThis as { gc?: () => void }).gc?.();
  const rssHeldMb = process.memoryUsage().rss / 1e6;

  const first = await scrape(port);
  const samples = first.body.split('\n').filter((l) => l.startsWith('datapath_')).length;
  const scrapeMs: number[] = [];
  for (let i = 0; i < scrapes; i++) scrapeMs.push((await scrape(port)).ms);
  const rssAfterMb = process.memoryUsage().rss / 1e6;
  await stop();
  return { impl, series, samples, bytes: first.body.length, scrapeMs, rssStartMb, rssHeldMb, rssAfterMb };
}

const DROP_LABELS = ['source', 'reason', 'direction', 'location', 'namespace', 'pod'];
const FORWARD_LABELS = ['source', 'direction', 'location', 'namespace', 'pod'];

function scrape(port: number): Promise<{ ms: number; body: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode}`));
        else resolve({ ms, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    }).on('error', reject);
  });
}

// prom-client's API, the few members used here.
interface PromClient {
  Registry: new () => { metrics(): Promise<string>; contentType: string };
  Counter: new (o: { name: string; help: string; labelNames: string[]; registers: unknown[] }) => {
    inc(labels: Record<string, string>, value: number): void;
  };
}

async function loadPromClient(): Promise<PromClient> {
  const mod = (await import('prom-client')) as PromClient & { default?: PromClient };
  return mod.default ?? mod;
}

// ---- entry -----------------------------------------------------------------

async function main(): Promise<void> {
  // Scrapes per size: more where one is short and the noise relatively large.
  const scrapesFlag = flag('scrapes', 'auto');
  const scrapesFor = (series: number) => (scrapesFlag !== 'auto' ? Number(scrapesFlag) : series <= 1000 ? 30 : series <= 10_000 ? 15 : 7);
  const SIZES = flag('sizes', '1000,10000,100000').split(',').map(Number);

  header(
    '4. Scrape cost: OTel PrometheusExporter collect + DatapathProducer (agent text writer) vs prom-client',
    'node dist/bench/scrape.js',
  );
  const results: ChildResult[] = [];
  for (const series of SIZES) {
    for (const impl of IMPLS) {
      const r = spawnSync(
        process.execPath,
        ['--expose-gc', fileURLToPath(import.meta.url), '--child', impl, String(series), String(scrapesFor(series))],
        {
          encoding: 'utf8',
          maxBuffer: 1 << 20,
          timeout: 300_000,
        },
      );
      if (r.status !== 0) throw new Error(`child ${impl} ${series} failed: ${r.stderr}`);
      results.push(JSON.parse(r.stdout) as ChildResult);
    }
  }
  console.log(
    `GET /metrics over loopback (node:http client in the same process), ${SIZES.map((n) => `${scrapesFor(n)} at ${int(n)}`).join(', ')} timed scrapes after one warm-up, median (min–max); ` +
      `each series = one sample line; labels as the agent exports them (source, reason, direction, location, namespace, pod). ` +
      `RSS from process.memoryUsage().rss of the child: at start, once the rows/series are held, after the scrapes.\n`,
  );
  console.log(
    table(
      ['series', 'exporter', 'scrape ms', 'µs per series', 'vs prom-client', 'body', 'RSS start → held → after scrapes (MB)'],
      results.map((r) => {
        if (r.error) return [int(r.series), r.impl, `not measured: ${r.error}`, '', '', '', ''];
        const m = median(r.scrapeMs);
        const pc = results.find((x) => x.series === r.series && x.impl === 'prom-client' && !x.error);
        const ratio = r.impl === 'otel' && pc ? `${fmt(m / median(pc.scrapeMs), 2)}×` : '—';
        return [
          `${int(r.series)} (${int(r.samples)} samples)`,
          r.impl === 'otel' ? 'OTel 0.301 collect + DatapathProducer, agent text writer' : 'prom-client',
          spread(r.scrapeMs, 1),
          fmt((m * 1000) / r.series, 2),
          ratio,
          `${fmt(r.bytes / 1e6, 2)} MB`,
          `${fmt(r.rssStartMb, 0)} → ${fmt(r.rssHeldMb, 0)} → ${fmt(r.rssAfterMb, 0)}`,
        ];
      }),
    ),
  );
}

if (process.argv[2] === '--child') {
  const impl = process.argv[3] as Impl;
  const series = Number(process.argv[4]);
  const scrapes = Number(process.argv[5]);
  process.stdout.write(JSON.stringify(await child(impl, series, scrapes)));
  process.exit(0);
} else {
  await main();
}
