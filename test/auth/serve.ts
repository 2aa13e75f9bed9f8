// The agent's real export stage (OTel PrometheusExporter + MetricsServer with
// the access policy that --web-config-file and --metrics-auth build), served
// in the test process, and a client that makes real TLS handshakes to it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { stringify } from 'yaml';
import { MetricsServer } from '../../src/export/pull/http-server.js';
import { buildMetricsAccess, type MetricsAccessOptions } from '../../src/export/access/metrics-auth.js';

/** Log lines the policy writes, kept for assertions. */
export class CapturedLog {
  readonly lines: Array<{ level: string; msg: string; obj: object }> = [];
  info(obj: object, msg: string): void {
    this.lines.push({ level: 'info', msg, obj });
  }
  warn(obj: object, msg: string): void {
    this.lines.push({ level: 'warn', msg, obj });
  }
  error(obj: object, msg: string): void {
    this.lines.push({ level: 'error', msg, obj });
  }
}

export interface Served {
  port: number;
  log: CapturedLog;
  stop(): Promise<void>;
}

/** Serves one counter (test_scrapes_total) behind the policy built from these options. */
export async function serve(opts: Partial<MetricsAccessOptions> = {}): Promise<Served> {
  const log = new CapturedLog();
  const access = await buildMetricsAccess({ auth: 'none', allowedTtlMs: 120_000, deniedTtlMs: 30_000, log, ...opts });
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, withoutTargetInfo: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  meterProvider.getMeter('test').createCounter('test_scrapes').add(1);
  const server = new MetricsServer(exporter, { live: () => true, ready: () => true }, access);
  const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    port,
    log,
    async stop() {
      await server.close();
      await meterProvider.shutdown();
    },
  };
}

export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes a web config (an object, as YAML) and returns its path. */
export function writeWebConfig(dir: string, config: unknown, name = 'web-config.yaml'): string {
  const path = join(dir, name);
  writeFileSync(path, typeof config === 'string' ? config : stringify(config));
  return path;
}

export interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
  /** The server certificate's SHA-256 fingerprint (TLS only). */
  serverFingerprint?: string;
  protocol?: string | null;
  cipher?: string;
}

/** GET over a new TLS connection (no keep-alive, so every call is a handshake). */
export function httpsGet(port: number, path: string, tls: RequestOptions = {}, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, agent: false, servername: 'localhost', headers, ...tls }, (res) => {
      const socket = res.socket as TLSSocket;
      const serverFingerprint = socket.getPeerCertificate().fingerprint256;
      const protocol = socket.getProtocol();
      const cipher = socket.getCipher().standardName;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          headers: res.headers,
          serverFingerprint,
          protocol,
          cipher,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** GET in plain HTTP. */
export function httpGet(port: number, path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves to the error a request fails with; rejects if it succeeds. */
export async function refused(p: Promise<Answer>): Promise<Error> {
  try {
    const a = await p;
    throw new Error(`expected the request to be refused, got HTTP ${a.status}`);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('expected the request to be refused')) throw err;
    return err as Error;
  }
}

export function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
