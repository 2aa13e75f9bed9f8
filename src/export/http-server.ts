// The agent's one HTTP listener: /metrics from the OTel Prometheus exporter,
// /healthz (liveness: the poll loop is alive) and /readyz (readiness: the
// first poll has succeeded).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PrometheusExporter } from '@opentelemetry/exporter-prometheus';

export interface HealthProbe {
  live(): boolean;
  ready(): boolean;
}

export interface ListenAddress {
  host: string;
  port: number;
}

export class MetricsServer {
  private readonly server: Server;

  constructor(exporter: PrometheusExporter, probe: HealthProbe) {
    this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === '/metrics') {
        exporter.getMetricsRequestHandler(req, res);
      } else if (path === '/healthz' || path === '/readyz') {
        const ok = path === '/healthz' ? probe.live() : probe.ready();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ok\n');
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('try /metrics, /healthz or /readyz\n');
      }
    });
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
