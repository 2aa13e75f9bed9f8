// OTLP push, beside /metrics: a PeriodicExportingMetricReader over the OTel
// SDK's own OTLP exporter (gRPC, HTTP protobuf or HTTP JSON), fed by the same
// DatapathProducer as the Prometheus exporter, through its OTLP door (the
// semantic conventions' attribute names). A series the agent forgets is gone
// from the next export exactly as from the next scrape.
//
// An export goes out as requests of at most POINTS_PER_REQUEST data points.
// Failures stay here: the reader runs on its own timer (the poll loop and
// /metrics never wait for it), skips a period while an export is still
// running, and at most EXPORTS_IN_FLIGHT requests are ever held; each failed
// request counts in datapath_exporter_otlp_export_failures_total and the log
// says so once per change of state. With cumulative temporality nothing is
// lost: the next export carries the kernel's totals. With delta, each series'
// delta is taken against the last value of it the collector accepted, so a
// failed request is folded into the next.
import type { Attributes, HrTime } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode, hrTime } from '@opentelemetry/core';
import {
  type AggregationOption,
  AggregationTemporality,
  AggregationType,
  type CollectionResult,
  DataPointType,
  type InstrumentType,
  type MetricCollectOptions,
  type MetricProducer,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
  type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import type { Logger } from '../../log/logger.js';
import type { DatapathProducer } from '../datapath-producer.js';
import { OTLP_NAMING } from '../pod-naming.js';
import type { OtlpConfig } from './otel-config.js';

/** Requests held at once (each a serialized request of up to POINTS_PER_REQUEST points). */
const EXPORTS_IN_FLIGHT = 2;
/**
 * Data points per request: the maximum series (~24.6k) in one gRPC message
 * would be ~5 MB, past the 4 MiB a Collector's gRPC receiver takes by default.
 */
const POINTS_PER_REQUEST = 4096;

export class OtlpPush {
  private constructor(
    readonly reader: PeriodicExportingMetricReader,
    private readonly delta: DeltaView | undefined,
  ) {}

  /** Loads only the chosen protocol's exporter (gRPC brings its own library). */
  /**
   * `inheriting`: true while series may still appear whose totals were
   * counted in an earlier run (slots restored from the pinned maps, named
   * once the pod list has synced): their totals are not new.
   */
  static async create(
    config: OtlpConfig,
    producer: DatapathProducer,
    onFailure: () => void,
    log: Logger,
    inheriting: () => boolean = () => false,
  ): Promise<OtlpPush> {
    const exporter = await createExporter(config);
    const door = producer.as(OTLP_NAMING);
    // The producer hands over kernel totals; "delta" is computed here. With
    // "lowmemory" they stay cumulative, as the specification has it for
    // asynchronous counters (which these are).
    const delta = config.temporality === 'delta' ? new DeltaView(door, inheriting) : undefined;
    const watched = new WatchedExporter(exporter, config.url, onFailure, log, delta);
    const reader = new PeriodicExportingMetricReader({
      exporter: watched,
      exportIntervalMillis: config.intervalMs,
      exportTimeoutMillis: config.exportTimeoutMs,
      maxExportBatchSize: POINTS_PER_REQUEST,
      metricProducers: [delta ?? door],
    });
    return new OtlpPush(reader, delta);
  }

  /** Called after the agent's first poll: delta counting starts from it. */
  async start(): Promise<void> {
    await this.delta?.prime();
  }
}

async function createExporter(config: OtlpConfig): Promise<PushMetricExporter> {
  const temporalityPreference = config.temporality === 'delta' ? 0 : config.temporality === 'lowmemory' ? 2 : 1; // AggregationTemporalityPreference
  // TLS files (OTEL_EXPORTER_OTLP_*CERTIFICATE, *_CLIENT_KEY) and, for gRPC,
  // the headers as metadata are read by the exporters from the same
  // variables otel-config.ts checked.
  const common = {
    url: config.url,
    timeoutMillis: config.timeoutMs,
    concurrencyLimit: EXPORTS_IN_FLIGHT,
    temporalityPreference,
  };
  switch (config.protocol) {
    case 'grpc': {
      const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-grpc');
      return new OTLPMetricExporter({ ...common, compression: compression<typeof OTLPMetricExporter>(config) });
    }
    case 'http/protobuf': {
      const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-proto');
      return new OTLPMetricExporter({ ...common, headers: config.headers, compression: compression<typeof OTLPMetricExporter>(config) });
    }
    case 'http/json': {
      const { OTLPMetricExporter } = await import('@opentelemetry/exporter-metrics-otlp-http');
      return new OTLPMetricExporter({ ...common, headers: config.headers, compression: compression<typeof OTLPMetricExporter>(config) });
    }
  }
}

/** 'none' | 'gzip' as the exporter's own (not exported) CompressionAlgorithm enum, whose values they are. */
function compression<E extends abstract new (...args: never[]) => unknown>(config: OtlpConfig) {
  type Option = NonNullable<NonNullable<ConstructorParameters<E>[0]>['compression']>;
  return config.compression as unknown as Option;
}

/** Counts failed exports and logs changes of state; acknowledges delta snapshots. */
class WatchedExporter implements PushMetricExporter {
  private state: 'unknown' | 'ok' | 'failing' = 'unknown';
  private failuresInRow = 0;

  constructor(
    private readonly inner: PushMetricExporter,
    private readonly url: string,
    private readonly onFailure: () => void,
    private readonly log: Logger,
    private readonly delta: DeltaView | undefined,
  ) {}

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    this.inner.export(metrics, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.succeeded(metrics);
      else this.failed(result.error);
      resultCallback(result);
    });
  }

  private succeeded(metrics: ResourceMetrics): void {
    this.delta?.acknowledge(metrics);
    if (this.state === 'failing') this.log.info({ url: this.url, failedExports: this.failuresInRow }, 'OTLP export recovered');
    else if (this.state === 'unknown') this.log.info({ url: this.url }, 'OTLP export ok');
    this.state = 'ok';
    this.failuresInRow = 0;
  }

  private failed(error: Error | undefined): void {
    this.onFailure();
    this.failuresInRow++;
    if (this.state !== 'failing') {
      this.log.warn({ url: this.url, err: String(error) }, 'OTLP export failing (said again only when it recovers)');
    }
    this.state = 'failing';
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  selectAggregationTemporality(instrumentType: InstrumentType): AggregationTemporality {
    return this.inner.selectAggregationTemporality?.(instrumentType) ?? AggregationTemporality.CUMULATIVE;
  }

  selectAggregation(instrumentType: InstrumentType): AggregationOption {
    // Every SDK exporter has one; the fallback is the SDK's default.
    return this.inner.selectAggregation?.(instrumentType) ?? { type: AggregationType.DEFAULT };
  }
}

function seriesKey(name: string, attributes: Attributes): string {
  return `${name}\u0001${Object.entries(attributes)
    .map(([k, v]) => `${k}\u0000${String(v)}`)
    .join('\u0001')}`;
}

/**
 * The producer's kernel totals as deltas: each series carries what grew since
 * the last export of it the collector accepted (not merely the last
 * attempted), so the deltas a collector receives add up to the counters'
 * growth across failed exports and split requests. A total that went down (a
 * counter reset) counts from zero. Only series still present are remembered.
 */
class DeltaView implements MetricProducer {
  /** Per series: the total the collector last accepted, and when it was read. */
  private acked = new Map<string, { total: number; time: HrTime; generation: number }>();
  /** Where counting starts: the agent's first poll. */
  private startTime: HrTime = hrTime();
  private generation = 0;
  /** What each data point handed out stands for, to acknowledge it. */
  private readonly sent = new WeakMap<object, { key: string; total: number; time: HrTime; generation: number }>();

  /** Whether series could be inherited at the last collect (or at prime): the first collect after still may see some. */
  private wasInheriting = false;

  constructor(
    private readonly source: MetricProducer,
    private readonly inheriting: () => boolean,
  ) {}

  async prime(): Promise<void> {
    const { resourceMetrics } = await this.source.collect();
    const time = hrTime();
    this.acked = new Map();
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.dataPointType !== DataPointType.SUM) continue;
        for (const dp of metric.dataPoints)
          this.acked.set(seriesKey(metric.descriptor.name, dp.attributes), { total: dp.value, time, generation: 0 });
      }
    }
    this.startTime = time;
    this.wasInheriting = this.inheriting();
  }

  async collect(options?: MetricCollectOptions): Promise<CollectionResult> {
    const result = await this.source.collect(options);
    const time = hrTime();
    const generation = ++this.generation;
    // A series seen for the first time counts from zero, unless it may have
    // counted in an earlier run: until the pods are known, and in the first
    // collect after (the poll that learned them published them), its total
    // is where it starts, not a delta (a restarted agent re-sent its whole
    // history before).
    const inheriting = this.inheriting();
    const baselineNew = inheriting || this.wasInheriting;
    this.wasInheriting = inheriting;
    const present = new Map<string, { total: number; time: HrTime; generation: number }>();
    const scopeMetrics = result.resourceMetrics.scopeMetrics.map((scope): ScopeMetrics => ({
      scope: scope.scope,
      metrics: scope.metrics.map((metric) => {
        if (metric.dataPointType !== DataPointType.SUM) return metric;
        return {
          ...metric,
          aggregationTemporality: AggregationTemporality.DELTA,
          dataPoints: metric.dataPoints.map((dp) => {
            const key = seriesKey(metric.descriptor.name, dp.attributes);
            let before = this.acked.get(key);
            if (!before && baselineNew) before = { total: dp.value, time, generation: 0 };
            if (before) present.set(key, before);
            const base = before?.total ?? 0;
            const out = { ...dp, startTime: before?.time ?? this.startTime, value: dp.value >= base ? dp.value - base : dp.value };
            this.sent.set(out, { key, total: dp.value, time, generation });
            return out;
          }),
        };
      }),
    }));
    this.acked = present;
    return { ...result, resourceMetrics: { ...result.resourceMetrics, scopeMetrics } };
  }

  /** The collector accepted `batch`: its series' totals are their new starting points. */
  acknowledge(batch: ResourceMetrics): void {
    for (const scope of batch.scopeMetrics) {
      for (const metric of scope.metrics) {
        for (const dp of metric.dataPoints) {
          const s = this.sent.get(dp);
          if (s === undefined) continue;
          const current = this.acked.get(s.key);
          // An older export answered late never moves a series back.
          if (current === undefined || s.generation > current.generation)
            this.acked.set(s.key, { total: s.total, time: s.time, generation: s.generation });
        }
      }
    }
  }
}
