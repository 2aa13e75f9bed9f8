// `datapath-exporter observe`: the drops a running agent saw, one line each,
// in the manner of `hubble observe` — read from the agent's /api/v1/drops
// (NDJSON), optionally following new ones until Ctrl-C.
import { CommanderError } from 'commander';
import { readFileOr } from '../file-read.js';
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { DropEvent, DropEventPeer } from '../events/drop-event.js';
import type { ListenAddress } from '../export/pull/http-server.js';
import { DROPS_PATH } from '../export/pull/drops-api.js';

export const OBSERVE_FORMATS = ['table', 'json'] as const;
export type ObserveFormat = (typeof OBSERVE_FORMATS)[number];

export interface ObserveOptions {
  addr: ListenAddress;
  follow: boolean;
  namespace?: string;
  pod?: string;
  reason?: string;
  direction?: string;
  since?: string;
  output: ObserveFormat;
  tls: boolean;
  insecure: boolean;
  token?: string;
  /** PEM files (paths): a CA to trust, a client certificate and its key. */
  cacert?: string;
  cert?: string;
  key?: string;
  /** Basic auth user; the password is $DATAPATH_EXPORTER_PASSWORD (never a flag: it would show in ps). */
  user?: string;
}

/** The environment variable --user's password comes from. */
export const PASSWORD_ENV = 'DATAPATH_EXPORTER_PASSWORD';

/** No agent at the address (or it refused us, or sent what is not its stream): one line, exit 1. */
export class AgentUnreachable extends Error {}

/**
 * Options that cannot work together, or a file that cannot be read: a usage
 * error, like commander's own. Printed here as one line, then thrown as a
 * CommanderError so the CLI exits 2 as it does for every usage error.
 */
function usageError(message: string): never {
  process.stderr.write(`datapath-exporter: ${message}\n`);
  throw new CommanderError(2, 'datapath-exporter.observeUsage', message);
}

function readPem(flag: string, path: string): string {
  const text = readFileOr(path, (why) => usageError(`${flag}: cannot read ${path}: ${why}`)).toString('utf8');
  if (!text.includes('-----BEGIN ')) usageError(`${flag}: ${path} is not a PEM file (no -----BEGIN line)`);
  return text;
}

/** The TLS context and headers the options ask for; usage errors before any request. */
function prepare(o: ObserveOptions): { secureContext?: SecureContext; headers: OutgoingHttpHeaders } {
  if (!o.tls) {
    for (const flag of ['cacert', 'cert', 'key'] as const) {
      if (o[flag] !== undefined) usageError(`--${flag} is for an agent that serves https: add --tls`);
    }
  }
  if (o.cacert !== undefined && o.insecure) usageError('--cacert and --insecure contradict each other: trust the CA, or verify nothing');
  if (o.cert !== undefined && o.key === undefined) usageError("--cert needs --key (the client certificate's private key)");
  if (o.key !== undefined && o.cert === undefined) usageError('--key needs --cert (the client certificate)');
  let secureContext: SecureContext | undefined;
  if (o.tls && (o.cacert !== undefined || o.cert !== undefined)) {
    const ca = o.cacert === undefined ? undefined : readPem('--cacert', o.cacert);
    const cert = o.cert === undefined ? undefined : readPem('--cert', o.cert);
    const key = o.key === undefined ? undefined : readPem('--key', o.key);
    try {
      secureContext = createSecureContext({ ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert, key }) });
    } catch (err) {
      const what = o.cert === undefined ? `--cacert ${o.cacert}` : `--cert ${o.cert} with --key ${o.key}`;
      usageError(`${what}: unusable (${(err as Error).message})`);
    }
  }
  let authorization: string | undefined;
  if (o.user !== undefined) {
    // RFC 7617: the user-id cannot hold a colon (the password can).
    if (o.user.includes(':')) usageError(`--user "${o.user}": a basic auth user name cannot contain ":"`);
    const password = process.env[PASSWORD_ENV];
    if (password === undefined || password === '') usageError(`--user needs the password in $${PASSWORD_ENV} (never on the command line)`);
    // An explicit --user wins over an ambient $DATAPATH_EXPORTER_TOKEN (--user with --token is refused by the CLI).
    authorization = `Basic ${Buffer.from(`${o.user}:${password}`).toString('base64')}`;
  } else if (o.token) {
    authorization = `Bearer ${o.token}`;
  }
  return { ...(secureContext === undefined ? {} : { secureContext }), headers: authorization === undefined ? {} : { authorization } };
}

/** One line of a text for an error message. */
function firstLine(text: string, max = 200): string {
  const line =
    text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l !== '') ?? '';
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

/** Why a request failed, in the user's terms. */
function requestFailure(where: string, o: ObserveOptions, err: NodeJS.ErrnoException): string {
  const code = err.code ?? err.message;
  if (o.tls && /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/.test(code) && !/CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA/.test(code)) {
    return `the agent at ${where} has a certificate this client does not trust (${code}): see --cacert${o.cacert === undefined ? '' : ' (is it the CA that signed it?)'}, --insecure`;
  }
  if (o.tls && /ALERT_(CERTIFICATE_REQUIRED|BAD_CERTIFICATE|UNKNOWN_CA|HANDSHAKE_FAILURE)/.test(code)) {
    return `the agent at ${where} refused the TLS handshake (${code}): it wants a client certificate it trusts (see --cert, --key)`;
  }
  return `no agent answers at ${where} (${code}): is \`datapath-exporter run\` serving there? (see --addr${o.tls ? '' : ', --tls'})`;
}

/** A line of the stream, checked: a drop event or a skipped count, else why not. */
function parseLine(text: string): DropEvent | { skipped: number } | string {
  let item: unknown;
  try {
    item = JSON.parse(text);
  } catch (err) {
    return `is not JSON (${(err as Error).message})`;
  }
  if (typeof item === 'object' && item !== null && !Array.isArray(item)) {
    const r = item as Record<string, unknown>;
    if (typeof r.skipped === 'number') return { skipped: r.skipped };
    const peerOk = (p: unknown) => typeof p === 'object' && p !== null;
    if (typeof r.time === 'string' && typeof r.reason === 'string' && peerOk(r.source) && peerOk(r.destination)) return item as DropEvent;
  }
  return 'is not a drop event';
}

function peer(p: DropEventPeer): string {
  const host = p.pod !== undefined ? `${p.namespace}/${p.pod}` : p.ip === undefined ? '?' : p.ip.includes(':') ? `[${p.ip}]` : p.ip;
  return p.port === undefined ? host : `${host}:${p.port}`;
}

/** One drop as one line: time, source -> destination, protocol, reason, location, direction. */
export function formatEvent(e: DropEvent): string {
  const d = new Date(e.time);
  const month = d.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  const time = `${month} ${String(d.getUTCDate()).padStart(2, ' ')} ${e.time.slice(11, 23)}`;
  const proto = e.icmp ? `${e.protocol} ${e.icmp.type}/${e.icmp.code}` : e.protocol || 'non-IP';
  return `${time}  ${peer(e.source)} -> ${peer(e.destination)}  ${proto}  ${e.reason}  ${e.location}  ${e.direction}`;
}

function query(o: ObserveOptions): string {
  const q = new URLSearchParams();
  if (o.follow) q.set('follow', '1');
  for (const key of ['namespace', 'pod', 'reason', 'direction', 'since'] as const) {
    const v = o[key];
    if (v !== undefined) q.set(key, v);
  }
  const s = q.toString();
  return s === '' ? DROPS_PATH : `${DROPS_PATH}?${s}`;
}

/** Prints the agent's drops to `out`; resolves when the stream ends (never, with follow, until Ctrl-C). */
export async function observe(o: ObserveOptions, out: Writable): Promise<void> {
  const where = `${o.addr.host.includes(':') ? `[${o.addr.host}]` : o.addr.host}:${o.addr.port}`;
  const { secureContext, headers } = prepare(o);
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = o.tls ? httpsRequest : httpRequest;
    const req = request(
      {
        host: o.addr.host,
        port: o.addr.port,
        path: query(o),
        headers,
        ...(o.tls ? { rejectUnauthorized: !o.insecure, ...(secureContext === undefined ? {} : { secureContext }) } : {}),
      },
      resolve,
    );
    req.on('error', (err: NodeJS.ErrnoException) => reject(new AgentUnreachable(requestFailure(where, o, err))));
    req.end();
  });
  if (res.statusCode !== 200) {
    // A 401/403 from the agent or a proxy's 502/503 page: the status and the body's first line.
    let body = '';
    try {
      body = firstLine((await res.toArray()).join(''));
    } catch {
      // The status says enough.
    }
    const hint = res.statusCode === 401 ? ' (see --token, --user)' : '';
    throw new AgentUnreachable(
      `the agent at ${where} answered ${res.statusCode} ${res.statusMessage ?? ''}`.trimEnd() + `: ${body || '(no body)'}${hint}`,
    );
  }
  // Ctrl-C ends a follow as a success.
  process.once('SIGINT', () => {
    res.destroy();
    process.exit(0);
  });
  let n = 0;
  try {
    for await (const text of createInterface({ input: res, crlfDelay: Infinity })) {
      n++;
      if (text === '') continue;
      const item = parseLine(text);
      // A bad line ends observe (exit 1), following or not: the agent writes
      // only whole JSON lines, so one that does not parse means what answers
      // is not the agent's stream (a proxy's error page) or the stream was cut
      // mid-line. Skipping it would leave a follow running that may no longer
      // be reading drops at all; a script is better told, and can restart.
      if (typeof item === 'string') {
        res.destroy();
        throw new AgentUnreachable(`line ${n} from the agent at ${where} ${item}: ${firstLine(text, 80)}`);
      }
      out.write(
        o.output === 'json'
          ? `${text}\n`
          : 'skipped' in item
            ? `(${item.skipped} drops skipped: this reader fell behind)\n`
            : `${formatEvent(item)}\n`,
      );
    }
  } catch (err) {
    if (err instanceof AgentUnreachable) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new AgentUnreachable(`the agent at ${where} broke off the stream after ${n} lines (${code})`);
  }
}
