// A real Prometheus server (the Debian package's /usr/bin/prometheus) for
// tests: scrapes one /metrics endpoint every second with the label
// node="lab-node" (what the ServiceMonitor's relabeling adds in a cluster),
// in a temp dir, on 127.0.0.1 and a free port.
//
//   const prom = await startPrometheus({ target: '127.0.0.1:9464' });
//   after(() => prom.stop());
//   await prom.waitForSeries('datapath_drop_packets_total');
//   const samples = await prom.query('sum(rate(datapath_drop_packets_total[10s]))');
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';

export interface PrometheusOptions {
  /** host:port serving /metrics; omitted, Prometheus scrapes itself. */
  target?: string;
  /** Job name of that target; the rules and dashboards expect this one. */
  jobName?: string;
  /** Value of the static node label on the target. */
  node?: string;
  /** Scrape and rule evaluation interval. */
  scrapeInterval?: string;
  /** Rule files to load (absolute paths), e.g. deploy/prometheus/rules.yaml. */
  ruleFiles?: readonly string[];
  /** Further scrape_configs entries, as they would appear in prometheus.yml. */
  extraScrapeConfigs?: readonly Record<string, unknown>[];
  /** How long to wait for /-/ready. */
  readyTimeoutMs?: number;
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export type QueryData =
  | { resultType: 'vector'; result: Sample[] }
  | { resultType: 'matrix'; result: { metric: Record<string, string>; values: [number, string][] }[] }
  | { resultType: 'scalar' | 'string'; result: [number, string] };

/** The HTTP API's envelope, as Prometheus sends it (also on HTTP 4xx/5xx). */
export type ApiResponse<T> = { status: 'success'; data: T; warnings?: string[] } | { status: 'error'; errorType: string; error: string };

export interface ActiveTarget {
  labels: Record<string, string>;
  discoveredLabels: Record<string, string>;
  scrapePool: string;
  health: 'up' | 'down' | 'unknown';
  lastError: string;
}

export interface PrometheusServer {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  readonly url: string;
  /** Its temp dir (config and TSDB), removed by stop(). */
  readonly dir: string;
  /** The server's process id. */
  readonly pid: number;
  /** Instant query; throws on an API error. Returns the vector's samples. */
  query(expr: string): Promise<Sample[]>;
  /** Polls expr until it returns at least one sample; throws after timeoutMs. */
  waitForSeries(expr: string, timeoutMs?: number): Promise<Sample[]>;
  /** The active scrape targets, after relabeling. */
  targets(): Promise<ActiveTarget[]>;
  /** Stops the server and removes its temp dir. Safe to call twice. */
  stop(): Promise<void>;
}

const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? 'prometheus';

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** GET an API path; the envelope whatever the HTTP status (400 = bad_data). */
export async function apiGet<T>(baseUrl: string, path: string, params: Record<string, string>): Promise<ApiResponse<T>> {
  const url = new URL(path, baseUrl);
  for (const [k, v] of Object.entries(params)) url.searchParams.append(k, v);
  const res = await fetch(url);
  const body: unknown = await res.json();
  if (!isRecord(body) || (body.status !== 'success' && body.status !== 'error')) {
    throw new Error(`${url.pathname}: not a Prometheus API response (HTTP ${res.status})`);
  }
  return body as ApiResponse<T>;
}

/** An instant query's raw envelope: parse errors come back as errorType "bad_data". */
export function instantQuery(baseUrl: string, expr: string, time?: Date): Promise<ApiResponse<QueryData>> {
  const params: Record<string, string> = { query: expr };
  if (time) params.time = (time.getTime() / 1000).toString();
  return apiGet<QueryData>(baseUrl, '/api/v1/query', params);
}

/** Series matching a selector (how Grafana runs label_values(selector, label)). */
export function seriesQuery(baseUrl: string, selector: string): Promise<ApiResponse<Record<string, string>[]>> {
  return apiGet<Record<string, string>[]>(baseUrl, '/api/v1/series', { 'match[]': selector });
}

/** A TCP port free on 127.0.0.1 at the time of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function configFor(opts: PrometheusOptions, listen: string): string {
  const interval = opts.scrapeInterval ?? '1s';
  return stringify({
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: [...(opts.ruleFiles ?? [])],
    scrape_configs: [
      {
        job_name: opts.jobName ?? 'datapath-exporter',
        static_configs: [{ targets: [opts.target ?? listen], labels: { node: opts.node ?? 'lab-node' } }],
        // As the shipped scrape setups do (deploy/prometheus/scrape-config.yaml):
        // build_info's own node label would otherwise stay as exported_node.
        metric_relabel_configs: [{ action: 'labeldrop', regex: 'exported_node' }],
      },
      ...(opts.extraScrapeConfigs ?? []),
    ],
  });
}

// Servers not stopped by their test (a crash between start and after()):
// killed when mocha exits, so none outlives the run.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

function exited(child: ChildProcess): Promise<void> {
  // No pid: the spawn itself failed (no binary), there is nothing to wait for.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function waitReady(url: string, child: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`prometheus exited (${child.exitCode ?? child.signalCode}):\n${log()}`);
    }
    try {
      const res = await fetch(new URL('/-/ready', url));
      await res.arrayBuffer();
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await sleep(100);
  }
  throw new Error(`prometheus not ready after ${timeoutMs} ms:\n${log()}`);
}

async function startOnce(opts: PrometheusOptions): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'prometheus-test-'));
  let child: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    if (child) {
      const c = child;
      child = undefined;
      c.kill('SIGTERM');
      const killer = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await exited(c);
      clearTimeout(killer);
      running.delete(c);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const listen = `127.0.0.1:${await freePort()}`;
    const url = `http://${listen}`;
    const configFile = join(dir, 'prometheus.yml');
    await writeFile(configFile, configFor(opts, listen));
    const c = spawn(
      PROMETHEUS_BIN,
      [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${listen}`, '--log.level=warn'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    child = c;
    running.add(c);
    let stderr = '';
    c.stderr?.setEncoding('utf8');
    c.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-8192);
    });
    const spawnFailed = new Promise<never>((_, reject) => c.once('error', reject));
    await Promise.race([waitReady(url, c, () => stderr, opts.readyTimeoutMs ?? 30_000), spawnFailed]);

    const query = async (expr: string): Promise<Sample[]> => {
      const res = await instantQuery(url, expr);
      if (res.status === 'error') throw new Error(`${expr}: ${res.errorType}: ${res.error}`);
      if (res.data.resultType !== 'vector') throw new Error(`${expr}: ${res.data.resultType}, not a vector`);
      return res.data.result;
    };
    return {
      url,
      dir,
      pid: c.pid ?? 0,
      query,
      async waitForSeries(expr: string, timeoutMs = 30_000): Promise<Sample[]> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const samples = await query(expr);
          if (samples.length > 0) return samples;
          if (Date.now() > deadline) throw new Error(`no series for ${expr} after ${timeoutMs} ms`);
          await sleep(250);
        }
      },
      async targets(): Promise<ActiveTarget[]> {
        const res = await apiGet<{ activeTargets: ActiveTarget[] }>(url, '/api/v1/targets', { state: 'active' });
        if (res.status === 'error') throw new Error(`targets: ${res.errorType}: ${res.error}`);
        return res.data.activeTargets;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Starts Prometheus; retries when another process took the free port first. */
export async function startPrometheus(opts: PrometheusOptions = {}): Promise<PrometheusServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      const portTaken = err instanceof Error && err.message.includes('address already in use');
      if (!portTaken || attempt >= 3) throw err;
    }
  }
}
