// `datapath-exporter observe`: the drops a running agent saw, one line each,
// in the manner of `hubble observe` — read from the agent's /api/v1/drops
// (NDJSON), optionally following new ones until Ctrl-C.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import type { DropEvent, DropEventPeer } from '../events/drop-event.js';
import type { ListenAddress } from '../export/http-server.js';
import { DROPS_PATH } from '../export/drops-api.js';

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
}

/** No agent at the address (or it refused us): one line, exit 1. */
export class AgentUnreachable extends Error {}

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
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const request = o.tls ? httpsRequest : httpRequest;
    const req = request(
      {
        host: o.addr.host,
        port: o.addr.port,
        path: query(o),
        headers: o.token ? { authorization: `Bearer ${o.token}` } : {},
        ...(o.tls ? { rejectUnauthorized: !o.insecure } : {}),
      },
      resolve,
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(new AgentUnreachable(`no agent answers at ${where} (${err.code ?? err.message}): is \`datapath-exporter run\` serving there? (see --addr${o.tls ? '' : ', --tls'})`)),
    );
    req.end();
  });
  if (res.statusCode !== 200) {
    const body = (await res.toArray()).join('').trim();
    throw new AgentUnreachable(`the agent at ${where} answered ${res.statusCode}: ${body || res.statusMessage}`);
  }
  // Ctrl-C ends a follow as a success.
  process.once('SIGINT', () => {
    res.destroy();
    process.exit(0);
  });
  for await (const text of createInterface({ input: res, crlfDelay: Infinity })) {
    if (text === '') continue;
    if (o.output === 'json') {
      out.write(`${text}\n`);
      continue;
    }
    const item = JSON.parse(text) as DropEvent | { skipped: number };
    out.write('skipped' in item ? `(${item.skipped} drops skipped: this reader fell behind)\n` : `${formatEvent(item)}\n`);
  }
}
