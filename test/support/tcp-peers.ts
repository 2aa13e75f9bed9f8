// TCP peers in pod namespaces for the TCP counter tests (IPv4 and IPv6):
// a sink server, a sender, refused connects, and the comparison of a pod's
// exported TCP families with its namespace's own kernel counters (nstat).
import { type ChildProcess, spawn } from 'node:child_process';
import type { Lab } from './lab.js';
import { type Sample, sumOf } from './metrics-text.js';

// A sink that first sends argv[3] bytes (0: none) to each connection: reads
// until the client ends, then closes its side. No host: the wildcard.
const SERVER = `
const net = require('node:net');
const bytes = Number(process.argv[3] ?? 0);
net.createServer((s) => { s.resume(); if (bytes > 0) s.write(Buffer.alloc(bytes, 7)); s.on('end', () => s.end()); })
  .listen(Number(process.argv[2]), process.argv[1] || undefined, () => console.log('ready'));
`;
// argv[4] connections one after another, each sending argv[3] bytes and waiting for the server to close.
const SEND = `
const net = require('node:net');
let left = Number(process.argv[4] ?? 1);
const next = () => {
  if (left-- === 0) return;
  const s = net.connect(Number(process.argv[2]), process.argv[1], () => s.end(Buffer.alloc(Number(process.argv[3]), 7)));
  s.resume();
  s.on('close', (hadError) => (hadError ? process.exit(1) : next()));
};
next();
`;
// argv[3] connects, one after another, each of which must be refused.
const REFUSE = `
const net = require('node:net');
let left = Number(process.argv[3]);
const next = () => {
  if (left-- === 0) return;
  const s = net.connect(Number(process.argv[2]), process.argv[1]);
  s.on('connect', () => { console.error('connected to a closed port'); process.exit(1); });
  s.on('error', (e) => { if (e.code !== 'ECONNREFUSED') { console.error(e.message); process.exit(1); } next(); });
};
next();
`;

/** Starts a sink server in `ns` on host:port (host '' = the wildcard) that first sends `bytes` to each connection; resolves once it listens. */
export async function startTcpServer(ns: string, host: string, port: number, bytes = 0): Promise<ChildProcess> {
  const server = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, '-e', SERVER, host, String(port), String(bytes)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    server.stdout?.once('data', () => resolve());
    server.once('exit', (code) => reject(new Error(`server exited (${code})`)));
  });
  return server;
}

/** `connections` connections from `ns` to host:port, one after another, each sending `bytes`. */
export function sendTcp(lab: Lab, ns: string, host: string, port: number, bytes: number, connections = 1): void {
  lab.exec(ns, process.execPath, ['-e', SEND, host, String(port), String(bytes), String(connections)]);
}

/** `count` connects from `ns` to a closed port host:port, each refused (the peer's kernel answers RST). */
export function refuseTcp(lab: Lab, ns: string, host: string, port: number, count: number): void {
  lab.exec(ns, process.execPath, ['-e', REFUSE, host, String(port), String(count)]);
}

/** Waits until `ns` has no TCP connection left but TIME_WAIT and listeners (so late retransmissions are over). */
export function openTcpConnections(lab: Lab, ns: string): string {
  return lab.exec(ns, 'ss', ['-Htan', 'exclude', 'time-wait', 'exclude', 'listening']).trim();
}

export const TCP_COUNTERS = ['TcpRetransSegs', 'TcpOutRsts', 'TcpAttemptFails', 'TcpEstabResets', 'TcpExtTCPSynRetrans'] as const;
export type TcpCounters = Record<(typeof TCP_COUNTERS)[number], number>;

/** The namespace's kernel TCP counters (shared by IPv4 and IPv6). */
export function tcpCounters(lab: Lab, ns: string): TcpCounters {
  return Object.fromEntries(TCP_COUNTERS.map((c) => [c, lab.nstat(ns, c)])) as TcpCounters;
}

export interface TcpCounts {
  retransmit: number;
  sent: number;
  received: number;
}

/** What a pod's TCP families must have grown by, from its kernel counters before and after. */
export function expectedTcp(before: TcpCounters, after: TcpCounters): TcpCounts {
  const d = (c: keyof TcpCounters) => after[c] - before[c];
  return {
    retransmit: d('TcpRetransSegs'),
    sent: d('TcpOutRsts'),
    // A reset a socket accepts ends it: in SYN_SENT (a refused connect) as an
    // attempt failed, when established as an established reset.
    received: d('TcpAttemptFails') + d('TcpEstabResets'),
  };
}

export const TCP_METRICS = {
  retransmit: 'datapath_tcp_retransmit_segments_total',
  sent: 'datapath_tcp_resets_sent_total',
  received: 'datapath_tcp_resets_received_total',
} as const;

/** How much a pod's exported TCP families grew between two scrapes. */
export function exportedTcp(before: Sample[], after: Sample[], namespace: string, pod: string): TcpCounts {
  const d = (metric: string) => sumOf(after, metric, { namespace, pod }) - sumOf(before, metric, { namespace, pod });
  return { retransmit: d(TCP_METRICS.retransmit), sent: d(TCP_METRICS.sent), received: d(TCP_METRICS.received) };
}
