// The agent's one HTTP listener: /metrics (what the OTel Prometheus exporter
// collects, written by prometheus-text.ts), /healthz (liveness: the poll
// loop is alive) and /readyz (readiness: the first poll has succeeded).
// With a web config it speaks TLS (see tls-context.ts) and /metrics asks
// the access policy first (basic auth or Kubernetes, see metrics-auth.ts);
// the probe paths never need a password or a token. They cannot escape a client certificate requirement, though: with
// client_auth_type RequireAndVerifyClientCert or RequireAnyClientCert the TLS
// layer refuses any connection without one before a path is read, so the
// kubelet's probes (no client certificate) fail there too; use
// VerifyClientCertIfGiven, or exec / tcpSocket probes.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { DropEventBuffer } from '../../events/event-buffer.js';
import { DROPS_PATH, serveDrops } from './drops-api.js';
import { type MetricsAccess, OPEN_ACCESS, UNGUARDED_PATHS } from '../access/metrics-auth.js';
import { PrometheusText, serveMetrics } from './prometheus-text.js';

export interface HealthProbe {
  live(): boolean;
  ready(): boolean;
}

export interface ListenAddress {
  host: string;
  port: number;
}

function internalError(res: ServerResponse, err: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(500, { 'content-type': 'text/plain' }).end(`internal error: ${err instanceof Error ? err.message : String(err)}\n`);
}

export class MetricsServer {
  private readonly server: Server;
  private readonly text = new PrometheusText();

  constructor(
    private readonly exporter: PrometheusExporter,
    private readonly probe: HealthProbe,
    private readonly access: MetricsAccess = OPEN_ACCESS,
    /** Served at /api/v1/drops, behind the same access as /metrics. */
    private readonly drops?: DropEventBuffer,
  ) {
    const handler: RequestListener = (req, res) => this.handle(req, res);
    if (access.tls) {
      const server = createHttpsServer(access.tls.serverOptions(), handler);
      access.tls.attach(server);
      this.server = server;
    } else {
      this.server = createServer(handler);
    }
  }

  get scheme(): 'http' | 'https' {
    return this.access.tls ? 'https' : 'http';
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    for (const [name, value] of Object.entries(this.access.headers)) res.setHeader(name, value);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (UNGUARDED_PATHS.includes(path)) {
      const ok = path === '/healthz' ? this.probe.live() : this.probe.ready();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ok\n');
    } else if ((path === '/metrics' || (path === DROPS_PATH && this.drops)) && req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end(`${req.method ?? ''} is not served here: GET ${path}\n`);
    } else if (path === '/metrics' || (path === DROPS_PATH && this.drops)) {
      const drops = this.drops;
      const handler = path === DROPS_PATH && drops ? () => serveDrops(req, res, drops) : () => serveMetrics(this.exporter, this.text, res);
      // A request that fails is answered 500; it must never end the agent.
      const serve = () => {
        try {
          handler();
        } catch (err) {
          internalError(res, err);
        }
      };
      const authorize = this.access.authorize;
      if (authorize === undefined) {
        serve();
        return;
      }
      authorize(req)
        .then(
          (decision) => {
            if (decision.allowed) {
              serve();
              return;
            }
            const headers: Record<string, string> = { 'content-type': 'text/plain' };
            if (decision.status === 401 && this.access.challenge) headers['www-authenticate'] = this.access.challenge;
            res.writeHead(decision.status, headers).end(`${decision.message}\n`);
          },
          (err: unknown) => res.writeHead(503, { 'content-type': 'text/plain' }).end(`cannot decide: ${String(err)}\n`),
        )
        .catch((err: unknown) => internalError(res, err));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`try /metrics, ${DROPS_PATH}, /healthz or /readyz\n`);
    }
  }

  listen(addr: ListenAddress): Promise<ListenAddress> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(addr.port, addr.host, () => {
        this.server.off('error', reject);
        const a = this.server.address() as AddressInfo;
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
