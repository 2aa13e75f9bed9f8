// Kubernetes service discovery cannot run here (no API server, and Debian's
// Prometheus is built without it), so the relabeling of both scrape setups is
// exercised on a real Prometheus through file_sd: a file hands it targets
// carrying the same __meta_kubernetes_* labels that Kubernetes discovery
// would, and Prometheus applies the real relabel_configs to them.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { prometheusDir } from './paths.js';

export type ScrapeConfig = Record<string, unknown> & { job_name: string };

interface Relabeling {
  sourceLabels?: string[];
  separator?: string;
  targetLabel?: string;
  regex?: string;
  modulus?: number;
  replacement?: string;
  action?: string;
}

export interface ServiceMonitorEndpoint {
  port: string;
  path?: string;
  interval?: string;
  relabelings?: Relabeling[];
  metricRelabelings?: Relabeling[];
}

export interface ServiceMonitorSpec {
  selector: { matchLabels?: Record<string, string> };
  jobLabel?: string;
  endpoints: ServiceMonitorEndpoint[];
}

/** The agent's job in deploy/prometheus/scrape-config.yaml. */
export async function readPlainScrapeConfig(): Promise<ScrapeConfig> {
  const doc = parse(await readFile(join(prometheusDir, 'scrape-config.yaml'), 'utf8')) as {
    scrape_configs: ScrapeConfig[];
  };
  const [job, ...rest] = doc.scrape_configs;
  if (!job || rest.length > 0) throw new Error('scrape-config.yaml: expected exactly one job');
  return job;
}

/** The plain job with Kubernetes discovery swapped for a file. */
export function withFileSd(job: ScrapeConfig, sdFile: string): ScrapeConfig {
  const { kubernetes_sd_configs: _dropped, ...rest } = job;
  return { ...rest, file_sd_configs: [{ files: [sdFile] }] };
}

function snakeCase(r: Relabeling): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (r.sourceLabels) out.source_labels = r.sourceLabels;
  if (r.separator !== undefined) out.separator = r.separator;
  if (r.targetLabel !== undefined) out.target_label = r.targetLabel;
  if (r.regex !== undefined) out.regex = r.regex;
  if (r.modulus !== undefined) out.modulus = r.modulus;
  if (r.replacement !== undefined) out.replacement = r.replacement;
  if (r.action !== undefined) out.action = r.action;
  return out;
}

/**
 * The scrape job the Prometheus Operator generates for one ServiceMonitor
 * endpoint (role endpoints), reduced to what decides the labels: its own
 * selection and labeling relabelings first (the order of prometheus-operator's
 * generateServiceMonitorConfig), then the endpoint's relabelings, which the
 * operator appends last. Discovery is a file instead of Kubernetes.
 */
export function serviceMonitorAsScrapeConfig(namespace: string, name: string, spec: ServiceMonitorSpec, sdFile: string): ScrapeConfig {
  const ep = spec.endpoints[0];
  if (!ep) throw new Error('ServiceMonitor without endpoints');
  const selection = Object.entries(spec.selector.matchLabels ?? {}).map(([k, v]) => {
    const label = k.replace(/[^a-zA-Z0-9_]/g, '_');
    return {
      action: 'keep',
      source_labels: [`__meta_kubernetes_service_label_${label}`, `__meta_kubernetes_service_labelpresent_${label}`],
      regex: `(${v});true`,
    };
  });
  const operator = [
    ...selection,
    { action: 'keep', source_labels: ['__meta_kubernetes_endpoint_port_name'], regex: ep.port },
    { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
    { source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' },
    { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
    { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
    { action: 'drop', source_labels: ['__meta_kubernetes_pod_phase'], regex: '(Failed|Succeeded)' },
    { source_labels: ['__meta_kubernetes_service_name'], target_label: 'job', replacement: '${1}' },
    { target_label: 'endpoint', replacement: ep.port },
  ];
  return {
    job_name: `serviceMonitor/${namespace}/${name}/0`,
    metrics_path: ep.path ?? '/metrics',
    file_sd_configs: [{ files: [sdFile] }],
    relabel_configs: [...operator, ...(ep.relabelings ?? []).map(snakeCase)],
    metric_relabel_configs: (ep.metricRelabelings ?? []).map(snakeCase),
  };
}

/** One discovered agent pod: what Kubernetes discovery (pod and endpoints roles) says about it. */
export function agentPodMeta(opts: { node: string; portName: string; phase: string }): Record<string, string> {
  return {
    __meta_kubernetes_namespace: 'datapath-exporter',
    __meta_kubernetes_pod_name: `datapath-exporter-${opts.node}`,
    __meta_kubernetes_pod_node_name: opts.node,
    __meta_kubernetes_pod_phase: opts.phase,
    __meta_kubernetes_pod_container_name: 'datapath-exporter',
    __meta_kubernetes_pod_container_port_name: opts.portName,
    __meta_kubernetes_pod_label_app_kubernetes_io_name: 'datapath-exporter',
    __meta_kubernetes_pod_labelpresent_app_kubernetes_io_name: 'true',
    __meta_kubernetes_service_name: 'datapath-exporter',
    __meta_kubernetes_service_label_app_kubernetes_io_name: 'datapath-exporter',
    __meta_kubernetes_service_labelpresent_app_kubernetes_io_name: 'true',
    __meta_kubernetes_endpoint_port_name: opts.portName,
    __meta_kubernetes_endpoint_address_target_kind: 'Pod',
    __meta_kubernetes_endpoint_address_target_name: `datapath-exporter-${opts.node}`,
  };
}
