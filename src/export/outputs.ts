// The doors onto the one row model: the producer every output reads, the
// Prometheus pull (the HTTP server: /metrics, /api/v1/drops, the probes), the
// OTLP push, the meter provider they share and the agent's own health
// metrics. Built before anything is loaded, so a taken port fails first.
import { hostname } from 'node:os';
import type { Attributes } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, type MetricReader } from '@opentelemetry/sdk-metrics';
import type { DropEventBuffer } from '../events/event-buffer.js';
import type { Logger } from '../log/logger.js';
import { VERSION } from '../version.js';
import { DatapathProducer, type ProducerOptions } from './datapath-producer.js';
import { HealthMetrics } from './health-metrics.js';
import { type HealthProbe, type ListenAddress, MetricsServer } from './pull/http-server.js';
import type { MetricsAccess } from './access/metrics-auth.js';
import type { OtlpConfig } from './push/otel-config.js';
import { OtlpPush } from './push/otlp-push.js';
import { NO_PODS } from '../k8s/pod-labels.js';

export interface OutputOptions {
  /** undefined: no Prometheus pull (no HTTP listener at all). */
  metricsAddr: ListenAddress | undefined;
  /** undefined: no OTLP push. */
  otlp?: OtlpConfig;
  /** The OTel resource (see otel-config.ts parseResource). */
  resource?: Attributes;
  nodeName: string;
  /** TLS and who may read /metrics; undefined: plain HTTP, open. */
  access?: MetricsAccess;
  /** What per-pod series carry, and how many there may be (default: pod, 50,000). */
  series?: Omit<ProducerOptions, 'log'>;
}

export class Outputs {
  listening: ListenAddress | undefined;

  private constructor(
    readonly producer: DatapathProducer,
    readonly health: HealthMetrics,
    private readonly meterProvider: MeterProvider,
    private readonly server: MetricsServer | undefined,
    private readonly otlp: OtlpPush | undefined,
    private readonly opts: OutputOptions,
    private readonly log: Logger,
  ) {}

  /** Builds every door and starts listening (pull); push starts with startPush(). */
  static async open(opts: OutputOptions, probe: HealthProbe, dropEvents: DropEventBuffer, log: Logger): Promise<Outputs> {
    const resource = resourceFromAttributes(
      opts.resource ?? { 'service.name': 'datapath-exporter', 'host.name': opts.nodeName || hostname() },
    );
    const producer = new DatapathProducer(resource, NO_PODS, opts.series && { ...opts.series, log });
    const exporter =
      opts.metricsAddr &&
      new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true, withoutTargetInfo: true, metricProducers: [producer] });
    let health: HealthMetrics | undefined;
    // Until the pod list has synced, pod series may carry totals of an earlier run.
    const inheriting = () => health?.state.kubernetes?.synced === false;
    const otlp = opts.otlp && (await OtlpPush.create(opts.otlp, producer, () => health?.otlpExportFailed(), log, inheriting));
    const readers: MetricReader[] = [...(exporter ? [exporter] : []), ...(otlp ? [otlp.reader] : [])];
    const meterProvider = new MeterProvider({ resource, readers });
    health = new HealthMetrics(meterProvider.getMeter('datapath-exporter'), { version: VERSION, node: opts.nodeName });
    health.state.foldedLabelSets = () => producer.foldedLabelSets;
    const server = exporter && new MetricsServer(exporter, probe, opts.access, dropEvents);
    const outputs = new Outputs(producer, health, meterProvider, server, otlp, opts, log);
    if (server && opts.metricsAddr) outputs.listening = await server.listen(opts.metricsAddr);
    return outputs;
  }

  /** Starts the OTLP push (after the first poll, so its first export has data) and says where each door is. */
  async startPush(pollIntervalMs: number): Promise<void> {
    await this.otlp?.start();
    if (this.opts.otlp) {
      const { protocol, url, intervalMs, temporality } = this.opts.otlp;
      this.log.info({ protocol, url, intervalMs, temporality }, 'pushing OTLP metrics');
    }
    if (this.listening) {
      const { host, port } = this.listening;
      this.log.info({ addr: `${host}:${port}`, pollIntervalMs, ...this.opts.access?.summary }, 'serving /metrics');
    }
  }

  async close(): Promise<void> {
    await this.server?.close();
    // A last OTLP export, but never past the CLI's shutdown deadline.
    await this.meterProvider.shutdown({ timeoutMillis: 1000 }).catch(() => undefined);
  }
}
