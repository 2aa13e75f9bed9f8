// Benchmark 6 — what securing /metrics costs a scrape: GET /metrics through
// the agent's export stage (DatapathProducer, OTel PrometheusExporter,
// MetricsServer) served three ways from ONE producer in one process, scraped
// in turn (round robin, so drift in the machine's load hits all alike):
//
//   plain         HTTP, no auth (the default)
//   tls+k8s       TLS (the secure overlay's web config: ECDSA P-256, TLS 1.2+)
//                 with --metrics-auth kubernetes: a bearer token reviewed by
//                 the suite's own API server (real @kubernetes/client-node;
//                 the decision is cached, as between Prometheus' scrapes)
//   tls+basic     TLS with basic_auth_users (bcrypt cost 10, cached after the
//                 first success)
//
// Each over a kept-alive connection (what Prometheus does between scrapes),
// and TLS+k8s also over a new connection per scrape (a full handshake each
// time: the worst case, e.g. a Prometheus that lost its connection).
// Sizes: 1k series and the agent's maximum (24,580: benchmark 5).
//
// Run: node dist/bench/scrape-secure.js [--scrapes auto|N] [--sizes 1000,24580]
import { spawnSync } from 'node:child_process';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import bcrypt from 'bcryptjs';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { stringify } from 'yaml';
import { DatapathProducer } from '../src/export/datapath-producer.js';
import { MetricsServer } from '../src/export/pull/http-server.js';
import { buildMetricsAccess } from '../src/export/access/metrics-auth.js';
import { loadKubeConfig } from '../src/k8s/kube-config.js';
import { makeCa, makeCert } from '../test/support/certs.js';
import { KubeApiServer } from '../test/support/kube-api-server.js';
import { flag, fmt, header, int, median, spread, table } from './support/report.js';
import { syntheticRows } from './support/synthetic-rows.js';

const MODES = ['plain', 'tls+k8s', 'tls+k8s, new connection', 'tls+basic'] as const;
type Mode = (typeof MODES)[number];

interface ChildResult {
  series: number;
  bytes: number;
  ms: Record<Mode, number[]>;
  tokenReviews: number;
}

const SILENT = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function child(series: number, scrapes: number): Promise<ChildResult> {
  const dir = mkdtempSync(join(tmpdir(), 'dpx-bench-secure-'));
  try {
    const { rows, pods } = syntheticRows(series);
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

    const ca = makeCa(dir, 'ca');
    const cert = makeCert(dir, 'server', ca, { cn: 'localhost', sans: ['DNS:localhost', 'IP:127.0.0.1'] });
    const tls = { cert_file: cert.cert, key_file: cert.key, min_version: 'TLS12' };
    const webTls = join(dir, 'web-tls.yaml');
    writeFileSync(webTls, stringify({ tls_server_config: tls }));
    const webBasic = join(dir, 'web-basic.yaml');
    writeFileSync(webBasic, stringify({ tls_server_config: tls, basic_auth_users: { prometheus: bcrypt.hashSync('scrape-me', 10) } }));

    const api = await KubeApiServer.start();
    api.addUser('prometheus-token', { username: 'system:serviceaccount:monitoring:prometheus-k8s', groups: ['system:authenticated'] });
    api.allowNonResource({ user: 'system:serviceaccount:monitoring:prometheus-k8s' }, '/metrics', 'get');
    const kubeConfig = loadKubeConfig({ kubeconfig: api.writeKubeconfig(dir) });
    const probe = { live: () => true, ready: () => true };
    const ttl = { allowedTtlMs: 120_000, deniedTtlMs: 30_000, log: SILENT };
    const servers = {
      plain: new MetricsServer(exporter, probe),
      k8s: new MetricsServer(exporter, probe, await buildMetricsAccess({ ...ttl, auth: 'kubernetes', kubeConfig, webConfigFile: webTls })),
      basic: new MetricsServer(exporter, probe, await buildMetricsAccess({ ...ttl, auth: 'none', webConfigFile: webBasic })),
    };
    const port = {
      plain: (await servers.plain.listen({ host: '127.0.0.1', port: 0 })).port,
      k8s: (await servers.k8s.listen({ host: '127.0.0.1', port: 0 })).port,
      basic: (await servers.basic.listen({ host: '127.0.0.1', port: 0 })).port,
    };
    const caPem = readFileSync(ca.cert);
    const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    const k8sAgent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: caPem });
    const basicAgent = new HttpsAgent({ keepAlive: true, maxSockets: 1, ca: caPem });
    const token = { authorization: 'Bearer prometheus-token' };
    const basic = { authorization: `Basic ${Buffer.from('prometheus:scrape-me').toString('base64')}` };
    const run: Record<Mode, () => Promise<{ ms: number; bytes: number }>> = {
      plain: () => scrape(false, port.plain, { agent: httpAgent }),
      'tls+k8s': () => scrape(true, port.k8s, { agent: k8sAgent, headers: token }),
      'tls+k8s, new connection': () => scrape(true, port.k8s, { agent: false, ca: caPem, headers: token }),
      'tls+basic': () => scrape(true, port.basic, { agent: basicAgent, headers: basic }),
    };
    // Warm-up: JIT, the connections, the token review and the bcrypt check.
    let bytes = 0;
    for (const mode of MODES) bytes = (await run[mode]()).bytes;
    const ms = Object.fromEntries(MODES.map((m) => [m, [] as number[]])) as Record<Mode, number[]>;
    for (let i = 0; i < scrapes; i++) for (const mode of MODES) ms[mode].push((await run[mode]()).ms);
    const tokenReviews = api.tokenReviews;
    httpAgent.destroy();
    k8sAgent.destroy();
    basicAgent.destroy();
    for (const s of Object.values(servers)) await s.close();
    await api.stop();
    await meterProvider.shutdown();
    return { series, bytes, ms, tokenReviews };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function scrape(
  tls: boolean,
  port: number,
  opts: { agent: HttpAgent | HttpsAgent | false; ca?: Buffer; headers?: Record<string, string> },
): Promise<{ ms: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const request = tls ? httpsRequest : httpRequest;
    const req = request({ host: '127.0.0.1', port, path: '/metrics', servername: 'localhost', ...opts }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (res.statusCode !== 200) reject(new Error(`HTTP ${res.statusCode} on port ${port}`));
        else resolve({ ms, bytes });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const scrapesFlag = flag('scrapes', 'auto');
  const scrapesFor = (series: number) => (scrapesFlag !== 'auto' ? Number(scrapesFlag) : series <= 1000 ? 40 : 15);
  const SIZES = flag('sizes', '1000,24580').split(',').map(Number);

  header('6. Scrape cost of securing /metrics: TLS + Kubernetes auth (and basic auth) vs plain HTTP', 'node dist/bench/scrape-secure.js');
  const results: ChildResult[] = [];
  for (const series of SIZES) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--child', String(series), String(scrapesFor(series))], {
      encoding: 'utf8',
      maxBuffer: 1 << 20,
      timeout: 600_000,
    });
    if (r.status !== 0) throw new Error(`child ${series} failed: ${r.stderr}`);
    results.push(JSON.parse(r.stdout) as ChildResult);
  }
  console.log(
    `GET /metrics over loopback, ${SIZES.map((n) => `${scrapesFor(n)} rounds at ${int(n)}`).join(', ')}; each round scrapes every mode once, in turn, ` +
      `from one producer in one process (after one warm-up scrape each). Median (min–max) ms, and the ratio of medians to plain HTTP.\n`,
  );
  console.log(
    table(
      ['series', 'mode', 'scrape ms', 'vs plain', 'body', 'token reviews'],
      results.flatMap((r) =>
        MODES.map((mode) => [
          int(r.series),
          mode,
          spread(r.ms[mode], 1),
          mode === 'plain' ? '—' : `${fmt(median(r.ms[mode]) / median(r.ms.plain), 2)}×`,
          `${fmt(r.bytes / 1e6, 2)} MB`,
          mode.startsWith('tls+k8s') ? String(r.tokenReviews) : '',
        ]),
      ),
    ),
  );
}

if (process.argv[2] === '--child') {
  const series = Number(process.argv[3]);
  const scrapes = Number(process.argv[4]);
  process.stdout.write(JSON.stringify(await child(series, scrapes)));
  process.exit(0);
} else {
  await main();
}
