// Parsers for the command-line values: each returns the typed value or
// throws commander's InvalidArgumentError with a one-line reason.
import { InvalidArgumentError } from 'commander';
import { isIP } from 'node:net';
import { ENDPOINT_SLOTS } from '../bpf/contract.js';
import { durationMs } from '../duration.js';
import type { ListenAddress } from '../export/pull/http-server.js';
import { checkOtlpUrl } from '../export/push/otel-config.js';
import { LOG_LEVELS, type LogLevel } from '../log/log-levels.js';

/** "5s", "500ms", "1m30s" -> milliseconds. */
export function parseDuration(text: string): number {
  const ms = durationMs(text);
  if (ms === undefined) throw new InvalidArgumentError(`"${text}" is not a duration (examples: 500ms, 5s, 1m30s)`);
  return ms;
}

export function parsePollInterval(text: string): number {
  const ms = parseDuration(text);
  if (ms < 100) throw new InvalidArgumentError(`poll interval ${text} is below the minimum of 100ms`);
  return ms;
}

/** "HOST:PORT", "[::]:PORT" or ":PORT" (all addresses). */
export function parseListenAddress(text: string): ListenAddress {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text);
  const host = m ? (m[1] ?? m[2] ?? '') : '';
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535 || (m[1] !== undefined && isIP(host) !== 6)) {
    throw new InvalidArgumentError(`"${text}" is not HOST:PORT (examples: 0.0.0.0:9464, [::]:9464, 127.0.0.1:9464)`);
  }
  if (host !== '' && host !== 'localhost' && isIP(host) === 0 && !/^[A-Za-z0-9.-]+$/.test(host)) {
    throw new InvalidArgumentError(`"${host}" is not a host name or IP address`);
  }
  return { host: host === '' ? '0.0.0.0' : host, port };
}

/** --metrics-addr: HOST:PORT, or 'none' for no Prometheus pull. */
export function parseMetricsAddr(text: string): ListenAddress | 'none' {
  return text === 'none' ? 'none' : parseListenAddress(text);
}

/** --otlp-endpoint: an http:// or https:// URL. */
export function parseOtlpEndpoint(text: string): string {
  const why = checkOtlpUrl(text);
  if (why !== undefined) throw new InvalidArgumentError(`"${text}" ${why}`);
  return text;
}

export function parseLogLevel(text: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(text)) {
    throw new InvalidArgumentError(`"${text}" is not a log level (${LOG_LEVELS.join(', ')})`);
  }
  return text as LogLevel;
}

export function parseChoice<T extends string>(choices: readonly T[]): (text: string) => T {
  return (text) => {
    if (!(choices as readonly string[]).includes(text)) {
      throw new InvalidArgumentError(`"${text}" is not one of ${choices.join(', ')}`);
    }
    return text as T;
  };
}

/** "veth*,lxc*" -> ["veth*", "lxc*"]. */
export function parseGlobList(text: string): string[] {
  const globs = text
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
  if (globs.length === 0 || globs.some((g) => !/^[A-Za-z0-9_.@*?-]+$/.test(g))) {
    throw new InvalidArgumentError(`"${text}" is not a comma-separated list of interface name globs (example: veth*,lxc*)`);
  }
  return globs;
}

/** "kube-*,default" -> ["kube-*", "default"]: namespace names (DNS labels) with * and ?. */
export function parseNamespaceGlobs(text: string): string[] {
  const globs = text
    .split(',')
    .map((g) => g.trim())
    .filter((g) => g !== '');
  if (globs.length === 0 || globs.some((g) => !/^[a-z0-9*?-]{1,63}$/.test(g))) {
    throw new InvalidArgumentError(
      `"${text}" is not a comma-separated list of namespace globs (lower-case letters, digits, -, * and ?; example: kube-*,default)`,
    );
  }
  return globs;
}

/** --max-series: a positive number of label sets per metric. */
export function parseMaxSeries(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError(`"${text}" is not a positive number of series`);
  }
  return n;
}

export function parseMaxEndpoints(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > ENDPOINT_SLOTS) {
    throw new InvalidArgumentError(`"${text}" is not a number of endpoints from 1 to ${ENDPOINT_SLOTS}`);
  }
  return n;
}

/** --drop-events-rate: events per second for the node, 0 for none. */
export function parseEventRate(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 1_000_000) {
    throw new InvalidArgumentError(`"${text}" is not an event rate (0 to 1000000 events per second; 0 turns drop events off)`);
  }
  return n;
}

/** observe --addr: HOST:PORT of a running agent (":PORT" is this machine). */
export function parseAgentAddress(text: string): ListenAddress {
  const a = parseListenAddress(text);
  return a.host === '0.0.0.0' && text.startsWith(':') ? { host: '127.0.0.1', port: a.port } : a;
}
