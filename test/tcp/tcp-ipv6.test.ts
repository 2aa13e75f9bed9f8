// Per-pod TCP retransmissions and resets of dual-stack pods over IPv6, and
// over IPv4 to an IPv6 wildcard listener (its sockets then hold IPv4-mapped
// addresses), exact against each pod's own kernel counters (nstat's Tcp
// counters count IPv4 and IPv6 alike). The two pods route through a node
// namespace of the test's own (IPv6 forwarding is one switch for a whole
// namespace, and the machine's own is not ours to turn on); loss is an
// ip6tables (iptables) statistic rule in that node's FORWARD chain. tcp.bpf.o's tracepoints see every namespace, so the
// agent in the root namespace counts them by the pods' IPv6 addresses from
// the suite's Kubernetes API server. IPv6 is enabled only on the test's own
// links, with DAD, router solicitations and RAs off so the only traffic is
// what the test sends.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ExporterProcess, removePinDir, waitFor } from '../support/exporter.js';
import { KubeApiServer, makePod } from '../support/kube-api-server.js';
import { Lab } from '../support/lab.js';
import { startPodAgent } from '../support/pod-lab-agents.js';
import { requireBpf } from '../support/privileges.js';
import {
  expectedTcp,
  exportedTcp,
  openTcpConnections,
  refuseTcp,
  sendTcp,
  startTcpServer,
  type TcpCounters,
  tcpCounters,
} from '../support/tcp-peers.js';

const CLIENT_IP = 'fd00:dbe:1::2';
const SERVER_IP = 'fd00:dbe:2::2';
const CLIENT_V4 = '10.246.1.2';
const SERVER_V4 = '10.246.2.2';
const PORT = 5001; // the server listens on the IPv6 wildcard
const CLOSED = 5002;
const DOWNLOAD_PORT = 5003; // another, also on the IPv6 wildcard, that sends to each client
const BYTES = 2 * 1024 * 1024;
const REFUSED = 7;
const HANDSHAKES = 4;

describe('tcp: dual-stack pods’ retransmissions (segments and SYN-ACKs, IPv6 and IPv4-mapped) and resets, exact against their own kernel counters', function () {
  this.timeout(60_000);
  let lab: Lab | undefined;
  let api: KubeApiServer | undefined;
  let dir: string | undefined;
  let pinDir: string | undefined;
  let agent: ExporterProcess | undefined;
  let server: ChildProcess | undefined;
  let download: ChildProcess | undefined;
  let node: string;
  let client: string;
  let srv: string;

  before(async function () {
    requireBpf(this);
    lab = new Lab();
    const l = lab;
    node = l.namespace('v6node');
    client = l.namespace('v6client');
    srv = l.namespace('v6server');
    for (const ns of [node, client, srv]) {
      l.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.all.accept_dad=0']);
      l.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.default.router_solicitations=0']);
    }
    l.exec(node, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1', 'net.ipv4.ip_forward=1']);
    for (const [ns, ip, subnet, v4, n] of [
      [client, CLIENT_IP, 'fd00:dbe:1::', CLIENT_V4, 1],
      [srv, SERVER_IP, 'fd00:dbe:2::', SERVER_V4, 2],
    ] as const) {
      const v = l.veth(ns, '', node, '', { a: `v6p${l.id}${n}`, b: `v6n${l.id}${n}` });
      const gateway = `${subnet}1`;
      for (const [where, dev] of [
        [ns, v.a],
        [node, v.b],
      ] as const) {
        l.exec(where, 'sysctl', ['-qw', `net.ipv6.conf.${dev}.disable_ipv6=0`, `net.ipv6.conf.${dev}.accept_ra=0`]);
        l.exec(where, 'sysctl', ['-qw', `net.ipv6.conf.${dev}.force_mld_version=2`]);
      }
      l.exec(ns, 'ip', ['addr', 'add', `${ip}/64`, 'dev', v.a, 'nodad']);
      l.exec(node, 'ip', ['addr', 'add', `${gateway}/64`, 'dev', v.b, 'nodad']);
      l.exec(ns, 'ip', ['-6', 'route', 'add', 'default', 'via', gateway, 'dev', v.a]);
      l.neighbour(ns, v.a, gateway, v.macB);
      l.neighbour(node, v.b, ip, v.macA);
      const gateway4 = v4.replace(/\.2$/, '.1');
      l.exec(ns, 'ip', ['addr', 'add', `${v4}/24`, 'dev', v.a]);
      l.exec(node, 'ip', ['addr', 'add', `${gateway4}/24`, 'dev', v.b]);
      l.exec(ns, 'ip', ['route', 'add', 'default', 'via', gateway4, 'dev', v.a]);
      l.neighbour(ns, v.a, gateway4, v.macB);
      l.neighbour(node, v.b, v4, v.macA);
    }

    api = await KubeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), 'dpx-tcp6-'));
    api.addPod(makePod({ name: 'client', namespace: 'six', nodeName: 'lab-node', ips: [CLIENT_V4, CLIENT_IP] }));
    api.addPod(makePod({ name: 'server', namespace: 'six', nodeName: 'lab-node', ips: [SERVER_V4, SERVER_IP] }));
    // The pods' links are in the test's node namespace: no tc programs here.
    const started = await startPodAgent(api.writeKubeconfig(dir), `v6n${l.id}-none`);
    agent = started.p;
    pinDir = started.pinDir;
    server = await startTcpServer(srv, '::', PORT);
    download = await startTcpServer(srv, '::', DOWNLOAD_PORT, BYTES);
  });

  after(async function () {
    server?.kill('SIGKILL');
    download?.kill('SIGKILL');
    try {
      await agent?.stop();
      await api?.stop();
    } finally {
      lab?.destroy(); // the node namespace's ip6tables rules go with it
      if (pinDir) removePinDir(pinDir);
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Runs `traffic` with an ip6tables (or iptables) rule in the node's FORWARD chain. */
  const withLoss = (rule: string[], traffic: () => void, tables = 'ip6tables') => {
    const l = lab as Lab;
    l.exec(node, tables, ['-I', 'FORWARD', ...rule, '-j', 'DROP']);
    try {
      traffic();
    } finally {
      l.exec(node, tables, ['-D', 'FORWARD', ...rule, '-j', 'DROP']);
    }
  };

  it('counts each pod’s retransmitted segments (IPv6, and IPv4 on an IPv6 socket), SYN-ACK retransmissions, resets sent and received as its namespace’s counters', async function () {
    const l = lab as Lab;
    const p = agent as ExporterProcess;
    const before = await p.scrape();
    const kBefore: Record<'client' | 'server', TcpCounters> = { client: tcpCounters(l, client), server: tcpCounters(l, srv) };

    // Every 7th segment of the client's flow is lost on the node: the client retransmits.
    const nth = ['-m', 'statistic', '--mode', 'nth', '--every', '7', '--packet', '0'];
    withLoss(['-s', CLIENT_IP, '-d', SERVER_IP, '-p', 'tcp', '--dport', String(PORT), ...nth], () =>
      sendTcp(l, client, SERVER_IP, PORT, BYTES),
    );
    // Every other SYN-ACK of the server is lost: the listener retransmits them.
    const synAck = ['-s', SERVER_IP, '-d', CLIENT_IP, '-p', 'tcp', '--sport', String(PORT), '--tcp-flags', 'SYN,ACK', 'SYN,ACK'];
    withLoss([...synAck, '-m', 'statistic', '--mode', 'nth', '--every', '2', '--packet', '0'], () =>
      sendTcp(l, client, SERVER_IP, PORT, 1000, HANDSHAKES),
    );
    // Over IPv4 to the IPv6 wildcard listener: the server's socket has an
    // IPv4-mapped address, and every 7th segment it sends is lost.
    withLoss(
      ['-s', SERVER_V4, '-d', CLIENT_V4, '-p', 'tcp', '--sport', String(DOWNLOAD_PORT), ...nth],
      () => sendTcp(l, client, SERVER_V4, DOWNLOAD_PORT, 0),
      'iptables',
    );
    refuseTcp(l, client, SERVER_IP, CLOSED, REFUSED);
    // Late retransmissions (a lost last ACK) are over once only TIME_WAIT is left.
    await waitFor(
      async () => openTcpConnections(l, client) + openTcpConnections(l, srv),
      (v) => v === '',
    );
    const kAfter = { client: tcpCounters(l, client), server: tcpCounters(l, srv) };
    const expected = { client: expectedTcp(kBefore.client, kAfter.client), server: expectedTcp(kBefore.server, kAfter.server) };
    assert.ok(expected.client.retransmit > 0, 'the loss made the client retransmit');
    assert.ok(
      expected.server.retransmit - (kAfter.server.TcpExtTCPSynRetrans - kBefore.server.TcpExtTCPSynRetrans) > 0,
      'the server retransmitted data',
    );
    assert.ok(kAfter.server.TcpExtTCPSynRetrans - kBefore.server.TcpExtTCPSynRetrans > 0, 'the server retransmitted SYN-ACKs');
    assert.equal(expected.server.sent, REFUSED, 'the server answered each connect with RST');
    assert.equal(expected.client.received, REFUSED, 'each refused connect took a reset');

    await waitFor(
      () => p.scrape(),
      (s) =>
        exportedTcp(before, s, 'six', 'server').sent >= REFUSED &&
        exportedTcp(before, s, 'six', 'client').received >= REFUSED &&
        exportedTcp(before, s, 'six', 'server').retransmit >= expected.server.retransmit,
    );
    await p.nextPoll();
    const after = await p.scrape();
    assert.deepEqual(exportedTcp(before, after, 'six', 'client'), expected.client, 'client');
    assert.deepEqual(exportedTcp(before, after, 'six', 'server'), expected.server, 'server');
  });
});
