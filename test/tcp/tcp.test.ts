// Per-pod TCP retransmissions and resets from tcp.bpf.o's tracepoints, end
// to end: two pods behind veths, their labels from the suite's Kubernetes
// API server, real loss (an iptables statistic rule in the node's FORWARD
// chain dropping every Nth segment of the client's flow: a drop in the
// sender's own OUTPUT chain would fail the send locally instead of making
// TCP retransmit), a real transfer, real resets (connects to a closed port:
// the server's kernel answers with RST). The exported per-pod counts must
// equal the kernel's own counters in each pod's namespace.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { type Lab, sh } from '../support/lab.js';
import { type Sample, sumOf } from '../support/metrics-text.js';
import { waitFor } from '../support/exporter.js';
import { PodLabAgents } from '../support/pod-lab-agents.js';
import type { LabPod } from '../support/pod-network.js';
import { requireBpf } from '../support/privileges.js';

const PORT = 5001; // the server listens
const CLOSED = 5002; // nothing listens: connects are answered with RST
const BYTES = 2 * 1024 * 1024;
const REFUSED = 9;

// A sink: reads until the client ends, then closes its side.
const SERVER = `
const net = require('node:net');
net.createServer((s) => { s.resume(); s.on('end', () => s.end()); })
  .listen(Number(process.argv[2]), process.argv[1], () => console.log('ready'));
`;
// Sends argv[3] bytes and waits for the server to close.
const SEND = `
const net = require('node:net');
const s = net.connect(Number(process.argv[2]), process.argv[1], () => s.end(Buffer.alloc(Number(process.argv[3]), 7)));
s.resume();
s.on('close', (hadError) => process.exit(hadError ? 1 : 0));
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

const COUNTERS = ['TcpRetransSegs', 'TcpOutRsts', 'TcpAttemptFails', 'TcpEstabResets'] as const;
type Counters = Record<(typeof COUNTERS)[number], number>;

describe('tcp: per-pod retransmissions and resets, exact against the pods’ own kernel counters', function () {
  this.timeout(60_000);
  let pods: PodLabAgents;
  let lab: Lab;
  let a: LabPod;
  let b: LabPod;
  let server: ChildProcess | undefined;
  let rule: string[] | undefined;

  before(async function () {
    requireBpf(this);
    pods = await PodLabAgents.create(['tcp-a', 'tcp-b'], 243, [
      { name: 'client', namespace: 'shop' },
      { name: 'server', namespace: 'shop' },
    ]);
    ({ lab, a, b } = pods);
    server = spawn('nsenter', [`--net=/run/netns/${b.ns}`, process.execPath, '-e', SERVER, b.ip, String(PORT)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      server?.stdout?.once('data', () => resolve());
      server?.once('exit', (code) => reject(new Error(`server exited (${code})`)));
    });
  });

  after(async function () {
    server?.kill('SIGKILL');
    try {
      if (rule) sh('iptables', ['-D', ...rule]);
    } finally {
      await pods?.destroy();
    }
  });

  const counters = (pod: LabPod): Counters => Object.fromEntries(COUNTERS.map((c) => [c, lab.nstat(pod.ns, c)])) as Counters;
  const tcp = (s: Sample[], metric: string, pod: string) => sumOf(s, metric, { namespace: 'shop', pod });
  const METRICS = {
    retransmit: 'datapath_tcp_retransmit_segments_total',
    sent: 'datapath_tcp_resets_sent_total',
    received: 'datapath_tcp_resets_received_total',
  } as const;

  it('counts each pod’s retransmitted segments, resets sent and resets received as its namespace’s TcpRetransSegs, TcpOutRsts and refused connects', async function () {
    const p = await pods.start();
    const before = await p.scrape();
    const kBefore = { client: counters(a), server: counters(b) };

    // Every 7th segment of the client's flow to the server is lost on the node.
    const nth = ['FORWARD', '-s', a.ip, '-d', b.ip, '-p', 'tcp', '--dport', String(PORT)];
    nth.push('-m', 'statistic', '--mode', 'nth', '--every', '7', '--packet', '0', '-j', 'DROP');
    sh('iptables', ['-I', ...nth]);
    rule = nth;
    try {
      lab.exec(a.ns, process.execPath, ['-e', SEND, b.ip, String(PORT), String(BYTES)]);
    } finally {
      sh('iptables', ['-D', ...rule]);
      rule = undefined;
    }
    lab.exec(a.ns, process.execPath, ['-e', REFUSE, b.ip, String(CLOSED), String(REFUSED)]);
    // A segment lost at the very end (the client's last ACK) is retransmitted
    // after the client has gone: read the kernel's counters once every
    // connection of both pods has finished (only TIME_WAIT left).
    const open = (pod: LabPod) => lab.exec(pod.ns, 'ss', ['-Htan', 'exclude', 'time-wait', 'exclude', 'listening']).trim();
    await waitFor(
      async () => open(a) + open(b),
      (v) => v === '',
    );
    const kAfter = { client: counters(a), server: counters(b) };
    const delta = (pod: 'client' | 'server', c: keyof Counters) => kAfter[pod][c] - kBefore[pod][c];
    assert.ok(delta('client', 'TcpRetransSegs') > 0, 'the loss made the client retransmit');
    assert.equal(delta('server', 'TcpOutRsts'), REFUSED, 'the server answered each connect with RST');

    const expected = (pod: 'client' | 'server') => ({
      retransmit: delta(pod, 'TcpRetransSegs'),
      sent: delta(pod, 'TcpOutRsts'),
      // A reset a socket accepts ends it: in SYN_SENT (a refused connect) as an
      // attempt failed, when established as an established reset.
      received: delta(pod, 'TcpAttemptFails') + delta(pod, 'TcpEstabResets'),
    });
    const exported = (s: Sample[], pod: string) => ({
      retransmit: tcp(s, METRICS.retransmit, pod) - tcp(before, METRICS.retransmit, pod),
      sent: tcp(s, METRICS.sent, pod) - tcp(before, METRICS.sent, pod),
      received: tcp(s, METRICS.received, pod) - tcp(before, METRICS.received, pod),
    });
    await waitFor(
      () => p.scrape(),
      (s) => exported(s, 'server').sent >= REFUSED && exported(s, 'client').received >= REFUSED,
    );
    await p.nextPoll();
    const after = await p.scrape();
    assert.deepEqual(exported(after, 'client'), expected('client'), 'client');
    assert.deepEqual(exported(after, 'server'), expected('server'), 'server');
    assert.equal(expected('client').received, REFUSED);

    // Only pod labels: no direction or location on these families.
    const series = after.filter((s) => s.name === METRICS.retransmit && s.labels.pod === 'client');
    assert.equal(series.length, 1);
    assert.deepEqual(Object.keys(series[0]?.labels ?? {}).sort(), ['namespace', 'pod', 'source', 'workload', 'workload_kind']);
  });
});
