// The OpenTelemetry side of the configuration, in one place: the standard
// OTEL_* variables (each with the meaning and default the OTel specification
// gives it) plus the two flags that win over them, turned into which doors
// are open (Prometheus pull, OTLP push), the OTLP exporter's settings and the
// resource. A bad value is an OtelConfigError with one line naming the
// variable; the command line turns it into exit 2.
//
// The SDK's OTLP exporters read OTEL_EXPORTER_OTLP_* themselves too, but a bad
// value there is a diag warning and a silent default. Parsing them here first
// makes a misconfiguration fail at start, and gives the agent what it needs
// itself (the endpoint after the flag, the temporality for the producer, the
// reader's interval and timeout).
import { readFileOr } from '../../file-read.js';
import type { Attributes } from '@opentelemetry/api';

export class OtelConfigError extends Error {}

export const OTLP_PROTOCOLS = ['grpc', 'http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];
export const TEMPORALITIES = ['cumulative', 'delta', 'lowmemory'] as const;
export type Temporality = (typeof TEMPORALITIES)[number];
const METRICS_EXPORTERS = ['prometheus', 'otlp', 'none'] as const;

export interface OtlpConfig {
  protocol: OtlpProtocol;
  /** Where requests go: for HTTP the full URL (…/v1/metrics); for gRPC the server's URL. */
  url: string;
  /** OTEL_EXPORTER_OTLP_(METRICS_)HEADERS, per-signal keys over general ones. */
  headers: Record<string, string>;
  /** One export request, retries included (OTEL_EXPORTER_OTLP_(METRICS_)TIMEOUT). */
  timeoutMs: number;
  compression: 'none' | 'gzip';
  /** PEM files, checked readable here; the exporters read them themselves. */
  tls: { certificate?: string; clientCertificate?: string; clientKey?: string };
  temporality: Temporality;
  /** OTEL_METRIC_EXPORT_INTERVAL: from the start of one export to the next. */
  intervalMs: number;
  /** OTEL_METRIC_EXPORT_TIMEOUT: one whole collect and export. */
  exportTimeoutMs: number;
}

export interface OutputsConfig {
  /** Serve /metrics for Prometheus to scrape. */
  pull: boolean;
  /** Push OTLP; undefined when off. */
  push: OtlpConfig | undefined;
}

export interface OutputFlags {
  /** --otlp-endpoint: turns push on and wins over the environment's endpoints. */
  otlpEndpoint?: string;
  /** --metrics-addr none */
  metricsAddrNone: boolean;
  /** --metrics-addr given on the command line (wins over OTEL_METRICS_EXPORTER). */
  metricsAddrGiven: boolean;
}

type Env = Record<string, string | undefined>;

/** The specification: an empty value is the same as an unset one. */
function get(env: Env, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

/** The metrics-specific variable, else the general one: [name, value]. */
function either(env: Env, suffix: string): [string, string] | undefined {
  for (const name of [`OTEL_EXPORTER_OTLP_METRICS_${suffix}`, `OTEL_EXPORTER_OTLP_${suffix}`]) {
    const v = get(env, name);
    if (v !== undefined) return [name, v];
  }
  return undefined;
}

function fail(name: string, value: string, why: string): never {
  throw new OtelConfigError(`${name}="${value}" ${why}`);
}

/** An http:// or https:// URL, or the reason it is not. */
export function checkOtlpUrl(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'is not a URL (example: http://localhost:4317)';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'is not an http:// or https:// URL';
  return undefined;
}

function parseUrl(name: string, text: string): URL {
  const why = checkOtlpUrl(text);
  if (why !== undefined) fail(name, text, why);
  return new URL(text);
}

function parseMillis(name: string, text: string): number {
  if (!/^\d+$/.test(text) || Number(text) <= 0) fail(name, text, 'is not a whole number of milliseconds above 0');
  return Number(text);
}

function parseChoice<T extends string>(name: string, text: string, choices: readonly T[]): T {
  const v = text.toLowerCase();
  if (!(choices as readonly string[]).includes(v)) fail(name, text, `is not one of ${choices.join(', ')}`);
  return v as T;
}

/** W3C-baggage-like "k1=v1,k2=v2" with percent-encoded values (headers and resource attributes). */
export function parseKeyValues(name: string, text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    const key = eq < 0 ? '' : item.slice(0, eq).trim();
    if (key === '') fail(name, text, 'is not a comma-separated list of key=value');
    try {
      out[key] = decodeURIComponent(item.slice(eq + 1).trim());
    } catch {
      fail(name, text, `has a badly percent-encoded value for ${key}`);
    }
  }
  return out;
}

function readable(name: string, path: string): string {
  readFileOr(path, (why) => fail(name, path, `cannot be read: ${why}`));
  return path;
}

/** Which doors are open, from OTEL_METRICS_EXPORTER and the flags. */
export function parseOutputs(env: Env, flags: OutputFlags): OutputsConfig {
  const listed = get(env, 'OTEL_METRICS_EXPORTER');
  const exporters = listed?.split(',').map((e) => parseChoice('OTEL_METRICS_EXPORTER', e.trim(), METRICS_EXPORTERS));
  // Unset: pull as always, push when an endpoint is configured.
  const pull = !flags.metricsAddrNone && (exporters === undefined || exporters.includes('prometheus') || flags.metricsAddrGiven);
  const endpointInEnv =
    get(env, 'OTEL_EXPORTER_OTLP_ENDPOINT') !== undefined || get(env, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT') !== undefined;
  const pushOn = flags.otlpEndpoint !== undefined || (exporters === undefined ? endpointInEnv : exporters.includes('otlp'));
  return { pull, push: pushOn ? parseOtlp(env, flags.otlpEndpoint) : undefined };
}

/** The OTLP exporter's settings (defaults as the specification gives them). */
export function parseOtlp(env: Env, endpointFlag?: string): OtlpConfig {
  const p = either(env, 'PROTOCOL');
  const protocol = p ? parseChoice(p[0], p[1], OTLP_PROTOCOLS) : 'http/protobuf';
  const grpc = protocol === 'grpc';

  let url: string;
  const specific = get(env, 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT');
  const general = get(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  if (endpointFlag !== undefined || (specific === undefined && general !== undefined)) {
    // A base URL: HTTP appends the signal's path to whatever path it has.
    const [name, text] = endpointFlag !== undefined ? ['--otlp-endpoint', endpointFlag] : ['OTEL_EXPORTER_OTLP_ENDPOINT', general ?? ''];
    const base = parseUrl(name, text);
    url = grpc ? base.href : new URL(`${base.pathname.replace(/\/?$/, '/')}v1/metrics`, base).href;
  } else if (specific !== undefined) {
    // The signal's own endpoint is used exactly as given.
    url = parseUrl('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT', specific).href;
  } else {
    url = grpc ? 'http://localhost:4317' : 'http://localhost:4318/v1/metrics';
  }

  const headers = {
    ...parseKeyValues('OTEL_EXPORTER_OTLP_HEADERS', get(env, 'OTEL_EXPORTER_OTLP_HEADERS') ?? ''),
    ...parseKeyValues('OTEL_EXPORTER_OTLP_METRICS_HEADERS', get(env, 'OTEL_EXPORTER_OTLP_METRICS_HEADERS') ?? ''),
  };
  const t = either(env, 'TIMEOUT');
  const c = either(env, 'COMPRESSION');
  const ca = either(env, 'CERTIFICATE');
  const cert = either(env, 'CLIENT_CERTIFICATE');
  const key = either(env, 'CLIENT_KEY');
  if ((cert === undefined) !== (key === undefined)) {
    const [name, value] = cert ?? key ?? ['', ''];
    fail(name, value, 'is one half of a pair: a client certificate needs its client key and the other way round');
  }
  const tls: OtlpConfig['tls'] = {};
  if (ca) tls.certificate = readable(ca[0], ca[1]);
  if (cert) tls.clientCertificate = readable(cert[0], cert[1]);
  if (key) tls.clientKey = readable(key[0], key[1]);

  const tp = get(env, 'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE');
  const iv = get(env, 'OTEL_METRIC_EXPORT_INTERVAL');
  const et = get(env, 'OTEL_METRIC_EXPORT_TIMEOUT');
  const intervalMs = iv ? parseMillis('OTEL_METRIC_EXPORT_INTERVAL', iv) : 60_000;
  let exportTimeoutMs = et ? parseMillis('OTEL_METRIC_EXPORT_TIMEOUT', et) : 30_000;
  if (exportTimeoutMs > intervalMs) {
    // An export that outlasts the interval would overlap the next one.
    if (et !== undefined) fail('OTEL_METRIC_EXPORT_TIMEOUT', et, `is longer than OTEL_METRIC_EXPORT_INTERVAL (${intervalMs})`);
    exportTimeoutMs = intervalMs;
  }
  return {
    protocol,
    url,
    headers,
    timeoutMs: t ? parseMillis(t[0], t[1]) : 10_000,
    compression: c ? parseChoice(c[0], c[1], ['none', 'gzip'] as const) : 'none',
    tls,
    temporality: tp ? parseChoice('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE', tp, TEMPORALITIES) : 'cumulative',
    intervalMs,
    exportTimeoutMs,
  };
}

export interface AgentIdentity {
  version: string;
  nodeName: string;
  hostName: string;
}

/**
 * The resource of every exported metric: the agent's own attributes, then
 * OTEL_RESOURCE_ATTRIBUTES over them, then OTEL_SERVICE_NAME over
 * service.name. service.instance.id is the node: one agent per node, and a
 * restarted agent continues the same counters, so it is the same instance.
 */
export function parseResource(env: Env, id: AgentIdentity): Attributes {
  const attrs: Attributes = {
    'service.name': 'datapath-exporter',
    'service.version': id.version,
    'service.instance.id': id.nodeName,
    'host.name': id.hostName,
    'k8s.node.name': id.nodeName,
    ...parseKeyValues('OTEL_RESOURCE_ATTRIBUTES', get(env, 'OTEL_RESOURCE_ATTRIBUTES') ?? ''),
  };
  const service = get(env, 'OTEL_SERVICE_NAME');
  if (service !== undefined) attrs['service.name'] = service;
  return attrs;
}
