// Per-pod TCP retransmissions and resets from tcp.bpf.o's tracepoints, end
// to end: two pods behind veths, their labels from the suite's Kubernetes
// API server, real loss (an iptables statistic rule in the node's FORWARD
// chain dropping every Nth segment of a flow: a drop in the sender's own
// OUTPUT chain would fail the send locally instead of making TCP
// retransmit), a real transfer, real resets (connects to a closed port:
// the server's kernel answers with RST), and lost SYN-ACKs (the listener
// retransmits them through tcp_rtx_synack, another tracepoint than the
// other retransmissions). The exported per-pod counts must equal the
// kernel's own counters in each pod's namespace.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { type Lab, sh } from '../support/lab.js';
import { waitFor } from '../support/exporter.js';
import { PodLabAgents } from '../support/pod-lab-agents.js';
import type { LabPod } from '../support/pod-network.js';
import { requireBpf } from '../support/privileges.js';
import {
  expectedTcp,
  exportedTcp,
  openTcpConnections,
  refuseTcp,
  sendTcp,
  startTcpServer,
  TCP_METRICS,
  tcpCounters,
} from '../support/tcp-peers.js';

const PORT = 5001; // the server listens, on the wildcard address
const CLOSED = 5002; // nothing listens: connects are answered with RST
const BYTES = 2 * 1024 * 1024;
const REFUSED = 9;
const HANDSHAKES = 4;

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
    server = await startTcpServer(b.ns, '', PORT);
  });

  afterEach(async function () {
    try {
      if (rule) sh('iptables', ['-D', ...rule]);
    } finally {
      rule = undefined;
      await pods?.stopAgents();
    }
  });

  after(async function () {
    server?.kill('SIGKILL');
    await pods?.destroy();
  });

  /** Runs `traffic` with an iptables rule in place (removed even when it throws). */
  const withRule = (spec: string[], traffic: () => void) => {
    sh('iptables', ['-I', ...spec]);
    rule = spec;
    try {
      traffic();
    } finally {
      sh('iptables', ['-D', ...spec]);
      rule = undefined;
    }
  };
  // A segment lost at the very end (the client's last ACK) is retransmitted
  // after the client has gone: read the kernel's counters once every
  // connection of both pods has finished (only TIME_WAIT left).
  const settled = () =>
    waitFor(
      async () => openTcpConnections(lab, a.ns) + openTcpConnections(lab, b.ns),
      (v) => v === '',
    );

  it('counts each pod’s retransmitted segments, resets sent and resets received as its namespace’s TcpRetransSegs, TcpOutRsts and refused connects', async function () {
    const p = await pods.start();
    const before = await p.scrape();
    const kBefore = { client: tcpCounters(lab, a.ns), server: tcpCounters(lab, b.ns) };

    // Every 7th segment of the client's flow to the server is lost on the node.
    const nth = ['FORWARD', '-s', a.ip, '-d', b.ip, '-p', 'tcp', '--dport', String(PORT)];
    nth.push('-m', 'statistic', '--mode', 'nth', '--every', '7', '--packet', '0', '-j', 'DROP');
    withRule(nth, () => sendTcp(lab, a.ns, b.ip, PORT, BYTES));
    refuseTcp(lab, a.ns, b.ip, CLOSED, REFUSED);
    await settled();
    const kAfter = { client: tcpCounters(lab, a.ns), server: tcpCounters(lab, b.ns) };
    const expected = { client: expectedTcp(kBefore.client, kAfter.client), server: expectedTcp(kBefore.server, kAfter.server) };
    assert.ok(expected.client.retransmit > 0, 'the loss made the client retransmit');
    assert.equal(expected.server.sent, REFUSED, 'the server answered each connect with RST');

    await waitFor(
      () => p.scrape(),
      (s) => exportedTcp(before, s, 'shop', 'server').sent >= REFUSED && exportedTcp(before, s, 'shop', 'client').received >= REFUSED,
    );
    await p.nextPoll();
    const after = await p.scrape();
    assert.deepEqual(exportedTcp(before, after, 'shop', 'client'), expected.client, 'client');
    assert.deepEqual(exportedTcp(before, after, 'shop', 'server'), expected.server, 'server');
    assert.equal(expected.client.received, REFUSED);

    // Only pod labels: no direction or location on these families.
    const series = after.filter((s) => s.name === TCP_METRICS.retransmit && s.labels.pod === 'client');
    assert.equal(series.length, 1);
    assert.deepEqual(Object.keys(series[0]?.labels ?? {}).sort(), ['namespace', 'pod', 'source', 'workload', 'workload_kind']);
  });

  it('counts a listening pod’s SYN-ACK retransmissions (attributed by the connection’s address, not the wildcard listener’s) as its TcpRetransSegs, and the client’s SYN retransmissions as its own', async function () {
    const p = await pods.start();
    const before = await p.scrape();
    const kBefore = { client: tcpCounters(lab, a.ns), server: tcpCounters(lab, b.ns) };

    // Every other SYN-ACK of the server is lost on the node: each lost one is
    // sent again by the server's request timer or on the client's SYN
    // retransmission; the handshakes complete a second or so later.
    const synAcks = ['FORWARD', '-s', b.ip, '-d', a.ip, '-p', 'tcp', '--sport', String(PORT), '--tcp-flags', 'SYN,ACK', 'SYN,ACK'];
    synAcks.push('-m', 'statistic', '--mode', 'nth', '--every', '2', '--packet', '0', '-j', 'DROP');
    withRule(synAcks, () => sendTcp(lab, a.ns, b.ip, PORT, 1000, HANDSHAKES));
    await settled();
    const kAfter = { client: tcpCounters(lab, a.ns), server: tcpCounters(lab, b.ns) };
    const expected = { client: expectedTcp(kBefore.client, kAfter.client), server: expectedTcp(kBefore.server, kAfter.server) };
    const synRetrans = kAfter.server.TcpExtTCPSynRetrans - kBefore.server.TcpExtTCPSynRetrans;
    assert.ok(synRetrans >= HANDSHAKES / 2, `the server retransmitted SYN-ACKs (TCPSynRetrans ${synRetrans})`);
    assert.ok(expected.server.retransmit >= synRetrans, 'TcpRetransSegs counts them');

    await waitFor(
      () => p.scrape(),
      (s) => exportedTcp(before, s, 'shop', 'server').retransmit >= expected.server.retransmit,
    );
    await p.nextPoll();
    const after = await p.scrape();
    assert.deepEqual(exportedTcp(before, after, 'shop', 'server'), expected.server, 'server');
    assert.deepEqual(exportedTcp(before, after, 'shop', 'client'), expected.client, 'client');
  });
});
