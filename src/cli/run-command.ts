// `datapath-exporter run`: parse the outputs and access, start the agent,
// stop it on SIGTERM/SIGINT. Loaded by main.ts only after the cheap kernel
// check, so an unsupported kernel is refused before the agent's libraries
// (libbpf through koffi, OpenTelemetry, the Kubernetes client) are imported.
import type { Command } from 'commander';
import { hostname } from 'node:os';
import { Agent } from '../agent.js';
import { BpfError } from '../bpf/errors.js';
import type { TcModeOption } from '../bpf/datapath-programs.js';
import type { CiliumRelease } from '../collect/cilium/source-files.js';
import type { ListenAddress } from '../export/pull/http-server.js';
import { buildMetricsAccess, type MetricsAccess } from '../export/access/metrics-auth.js';
import type { MetricsAuthMode } from '../export/access/metrics-auth-mode.js';
import { OtelConfigError, parseOutputs, parseResource } from '../export/push/otel-config.js';
import { WebConfigError } from '../export/access/web-config.js';
import type { Granularity } from '../export/series-options.js';
import { NamespaceFilter } from '../k8s/namespace-filter.js';
import { createLogger, type LogLevel } from '../log/logger.js';
import { VERSION } from '../version.js';
import { usage } from './exit.js';
import { explain } from './known-failures.js';
import { preflight } from './preflight.js';

const SHUTDOWN_DEADLINE_MS = 2000;

export interface RunFlags {
  metricsAddr: ListenAddress | 'none';
  otlpEndpoint?: string;
  pollInterval: number;
  bpffs: string;
  nodeName?: string;
  interfaces?: string[];
  tcMode: TcModeOption;
  kubeconfig?: string;
  maxEndpoints: number;
  deletedPodGrace: number;
  dropEventsRate: number;
  ciliumMetricsMap: string;
  ciliumEndpointMap: string;
  ciliumRelease: CiliumRelease;
  logLevel: LogLevel;
  webConfigFile?: string;
  metricsAuth: MetricsAuthMode;
  metricsAuthAllowedTtl: number;
  metricsAuthDeniedTtl: number;
  granularity: Granularity;
  namespaces?: string[];
  excludeNamespaces?: string[];
  maxSeries: number;
}

export async function runCommand(opts: RunFlags, cmd: Command): Promise<void> {
  let outputs;
  let resource;
  try {
    outputs = parseOutputs(process.env, {
      otlpEndpoint: opts.otlpEndpoint,
      metricsAddrNone: opts.metricsAddr === 'none',
      metricsAddrGiven: cmd.getOptionValueSource('metricsAddr') === 'cli',
    });
    resource = parseResource(process.env, { version: VERSION, nodeName: opts.nodeName ?? hostname(), hostName: hostname() });
  } catch (err) {
    if (err instanceof OtelConfigError) usage(err.message);
    throw err;
  }
  if (!outputs.pull && !outputs.push) {
    usage(
      'no output: Prometheus pull is off (--metrics-addr none or OTEL_METRICS_EXPORTER) and OTLP push is off (set --otlp-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT)',
    );
  }
  let kubeConfig;
  // The Kubernetes client is loaded only where some configuration can exist.
  if (opts.kubeconfig || process.env.KUBECONFIG || process.env.KUBERNETES_SERVICE_HOST) {
    const { loadKubeConfig } = await import('../k8s/kube-config.js');
    try {
      kubeConfig = loadKubeConfig({ kubeconfig: opts.kubeconfig });
    } catch (err) {
      usage(err instanceof Error ? err.message : String(err));
    }
  }
  const log = createLogger(opts.logLevel);
  let access: MetricsAccess;
  try {
    access = await buildMetricsAccess({
      webConfigFile: opts.webConfigFile,
      auth: opts.metricsAuth,
      kubeConfig,
      allowedTtlMs: opts.metricsAuthAllowedTtl,
      deniedTtlMs: opts.metricsAuthDeniedTtl,
      log,
    });
  } catch (err) {
    if (err instanceof WebConfigError) usage(err.message);
    throw err;
  }
  let agent: Agent;
  try {
    preflight({ needNetAdmin: true, bpffs: opts.bpffs });
    agent = await Agent.start(
      {
        metricsAddr: outputs.pull && opts.metricsAddr !== 'none' ? opts.metricsAddr : undefined,
        otlp: outputs.push,
        resource,
        pollIntervalMs: opts.pollInterval,
        bpffs: opts.bpffs,
        nodeName: opts.nodeName ?? hostname(),
        interfaces: opts.interfaces,
        tcMode: opts.tcMode,
        kubeConfig,
        maxEndpoints: opts.maxEndpoints,
        deletedPodGraceMs: opts.deletedPodGrace,
        namespaces: opts.namespaces || opts.excludeNamespaces ? new NamespaceFilter(opts.namespaces, opts.excludeNamespaces) : undefined,
        series: { granularity: opts.granularity, maxSeries: opts.maxSeries },
        dropEventsRate: opts.dropEventsRate,
        cilium: opts.ciliumMetricsMap === 'none' ? undefined : { path: opts.ciliumMetricsMap, release: opts.ciliumRelease },
        ciliumEndpointMap: opts.ciliumEndpointMap === 'none' ? undefined : opts.ciliumEndpointMap,
        access,
      },
      log,
    );
  } catch (err) {
    if (err instanceof BpfError && err.verifierLog) log.debug({ verifierLog: err.verifierLog }, 'verifier log of the rejected program');
    explain(err);
  }
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref();
    agent.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
