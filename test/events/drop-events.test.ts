// Drop events end to end: real packets the kernel drops in the pods lab, one
// event each out of the drop program's ring buffer, named with the pods at
// both ends from the suite's API server, served at /api/v1/drops and printed
// by `datapath-exporter observe` — exact below the rate limit, within the
// token bucket's budget above it, never at the counters' expense.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import type { DropEvent } from '../../src/events/drop-event.js';
import { CLI, type ExporterProcess, runCli, sleep, waitFor } from '../support/exporter.js';
import { type Lab, UDP_IPV4_OVERHEAD } from '../support/lab.js';
import { type Sample, sumOf } from '../support/metrics-text.js';
import type { LabPod } from '../support/pod-network.js';
import { PodLabAgents } from '../support/pod-lab-agents.js';
import { requireBpf } from '../support/privileges.js';

describe('drop events: /api/v1/drops and observe', function () {
  let pods: PodLabAgents;
  let lab: Lab;
  let a: LabPod;
  let b: LabPod;

  before(async function () {
    requireBpf(this);
    pods = await PodLabAgents.create(['ev-a', 'ev-b'], 214, [
      { name: 'client', namespace: 'front' },
      { name: 'server', namespace: 'back' },
    ]);
    ({ lab, a, b } = pods);
  });

  afterEach(async function () {
    await pods?.stopAgents();
  });

  after(async function () {
    await pods?.destroy();
  });

  const start = (extra: string[] = []): Promise<ExporterProcess> => pods.start(extra);

  async function events(p: ExporterProcess, query = ''): Promise<DropEvent[]> {
    const { status, body } = await p.get(`/api/v1/drops${query}`);
    assert.equal(status, 200, body);
    return body
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as DropEvent);
  }

  const serverNoSocket = (s: Sample[]) =>
    sumOf(s, 'datapath_drop_packets_total', {
      source: 'kernel',
      reason: 'NO_SOCKET',
      namespace: 'back',
      pod: 'server',
      direction: 'ingress',
    });

  it('gives exactly N events for N drops below the rate, naming both pods, ports, reason and location; observe prints them', async function () {
    const p = await start();
    const N = 13;
    const PAYLOAD = 20;
    const SPORT = 40123;
    lab.sendUdp(a.ns, b.ip, 9, N, PAYLOAD, SPORT);
    assert.equal(
      await waitFor(
        async () => serverNoSocket(await p.scrape()),
        (v) => v >= N,
      ),
      N,
    );
    const mine = await waitFor(
      () => events(p, '?reason=NO_SOCKET&pod=server'),
      (e) => e.length >= N,
    );
    assert.equal(mine.length, N, 'one event per drop');
    for (const e of mine) {
      assert.deepEqual(e.source, { ip: a.ip, port: SPORT, namespace: 'front', pod: 'client' });
      assert.deepEqual(e.destination, { ip: b.ip, port: 9, namespace: 'back', pod: 'server' });
      assert.equal(e.protocol, 'UDP');
      assert.equal(e.ipVersion, 4);
      assert.equal(e.direction, 'ingress');
      assert.match(e.location, /udp/);
      assert.equal(e.length, PAYLOAD + UDP_IPV4_OVERHEAD);
      assert.ok(Math.abs(Date.parse(e.time) - Date.now()) < 60_000, `a current time: ${e.time}`);
    }

    const addr = `127.0.0.1:${p.port}`;
    const table = runCli(['observe', '--addr', addr, '--reason', 'NO_SOCKET', '--pod', 'server']);
    assert.equal(table.status, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.equal(lines.length, N);
    for (const l of lines)
      assert.match(
        l,
        new RegExp(
          `^\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d\\.\\d{3}  front/client:${SPORT} -> back/server:9  UDP  NO_SOCKET  \\S*udp\\S*  ingress$`,
        ),
      );
    const json = runCli(['observe', '--addr', addr, '--reason', 'NO_SOCKET', '--pod', 'server', '--output', 'json']);
    assert.equal(json.status, 0, json.stderr);
    assert.deepEqual(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as DropEvent),
      mine,
    );
    // Filters that match nothing, and a bad one.
    assert.equal((await events(p, '?reason=NO_SOCKET&namespace=nowhere')).length, 0);
    assert.equal((await p.get('/api/v1/drops?direction=sideways')).status, 400);
  });

  it('stays within the token bucket above the rate; events + suppressed = drops counted; counters exact', async function () {
    const RATE = 100;
    const p = await start(['--drop-events-rate', String(RATE)]);
    const N = 4000;
    const t0 = Date.now();
    lab.sendUdp(a.ns, b.ip, 9, N, 10);
    const seconds = (Date.now() - t0) / 1000;
    assert.equal(
      await waitFor(
        async () => serverNoSocket(await p.scrape()),
        (v) => v >= N,
      ),
      N,
      'the counters stay exact',
    );
    await sleep(300); // the ring is drained every 100 ms
    const flood = await events(p, '?reason=NO_SOCKET&pod=server');
    // The node's budget holds one second's worth, whichever CPUs drop: the burst is RATE.
    const budget = RATE * (seconds + 0.5) + RATE;
    assert.ok(
      flood.length > 0 && flood.length <= budget,
      `${flood.length} events for ${N} drops in ${seconds.toFixed(2)} s (budget ${budget})`,
    );
    // Every drop since this agent started (its pins are new) was either sent
    // as an event or counted as suppressed, whatever else the node dropped.
    const account = async () => {
      const s = await p.scrape();
      const drops = sumOf(s, 'datapath_drop_packets_total', { source: 'kernel' });
      const suppressed = sumOf(s, 'datapath_exporter_drop_events_suppressed_total');
      return { drops, accounted: (await events(p)).length + suppressed, suppressed };
    };
    const last = await waitFor(account, (x) => x.drops === x.accounted);
    assert.equal(last.accounted, last.drops);
    assert.ok(last.suppressed >= N - budget, `suppressed ${last.suppressed}`);
  });

  it('observe --follow shows only matching events; a reader that stops reading stalls neither /metrics nor another follower', async function () {
    const p = await start(['--drop-events-rate', '1000000']);
    const addr = `127.0.0.1:${p.port}`;
    // A stuck reader: asks to follow everything with a small receive buffer,
    // then reads nothing until told to (a line on its stdin), then all of it.
    const stuck = spawn(
      'python3',
      [
        '-c',
        `
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(('127.0.0.1', ${p.port}))
s.sendall(b'GET /api/v1/drops?follow=1 HTTP/1.1\\r\\nHost: agent\\r\\n\\r\\n')
sys.stdin.readline()
s.settimeout(2)
try:
    while True:
        d = s.recv(65536)
        if not d: break
        sys.stdout.buffer.write(d)
except socket.timeout:
    pass
`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let stuckText = '';
    stuck.stdout?.setEncoding('utf8').on('data', (d: string) => (stuckText += d));
    // A follower that reads, filtered to NO_SOCKET: iptables drops must not show.
    let followed = '';
    const follower: ChildProcess = spawn(
      process.execPath,
      [CLI, 'observe', '--addr', addr, '--follow', '--reason', 'NO_SOCKET', '--output', 'json'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    follower.stdout?.setEncoding('utf8').on('data', (d: string) => (followed += d));
    await sleep(500);
    const rule = ['INPUT', '-p', 'udp', '--dport', '5009', '-j', 'DROP'];
    lab.exec(b.ns, 'iptables', ['-A', ...rule]);
    try {
      // Enough events to pass what a stuck reader may hold: its socket
      // buffers, 1 MiB unsent and 10,000 queued (~15,000 events here).
      const N = 80_000;
      lab.sendUdp(a.ns, b.ip, 5009, 50, 10); // NETFILTER_DROP: filtered out
      lab.sendUdp(a.ns, b.ip, 9, N, 10);
      const metrics = await p.get('/metrics');
      assert.equal(metrics.status, 200, '/metrics answers while a reader is stuck');
      await waitFor(
        async () => serverNoSocket(await p.scrape()),
        (v) => v >= N,
      );
      await sleep(300); // the ring is drained every 100 ms
      const buffered = (await events(p, '?reason=NO_SOCKET')).map((e) => e.timeUnixNano);
      const lines = await waitFor(
        () => followed.split('\n').filter(Boolean),
        (l) => l.length >= buffered.length && (l.at(-1) ?? '').includes(buffered.at(-1) ?? '-'),
      );
      const parsed = lines.map((l) => JSON.parse(l) as DropEvent | { skipped: number });
      assert.ok(
        parsed.every((e) => 'reason' in e && e.reason === 'NO_SOCKET'),
        `only NO_SOCKET events: ${lines
          .filter((l) => !l.includes('NO_SOCKET'))
          .slice(0, 3)
          .join('\n')}`,
      );
      // It saw at least what the agent still holds (the last 10,000), ending the same way.
      const times = parsed.map((e) => ('timeUnixNano' in e ? e.timeUnixNano : ''));
      assert.deepEqual(times.slice(-buffered.length), buffered, 'the reading follower got every event, none skipped');
      // The stuck reader, read at last: it skipped ahead and was told so.
      stuck.stdin?.write('go\n');
      const skipped = await waitFor(
        () => /\{"skipped":(\d+)\}/.exec(stuckText),
        (m) => m !== null,
        15_000,
      );
      const sent = stuckText.split('\n').filter((l) => l.startsWith('{"time"')).length;
      assert.ok(Number(skipped?.[1]) > 0, `told how many it missed (it read ${sent} events of ${lines.length} the follower got)`);
    } finally {
      lab.exec(b.ns, 'iptables', ['-D', ...rule]);
      stuck.kill();
      follower.kill('SIGINT');
      await new Promise((r) => follower.once('exit', r));
    }
    assert.equal(follower.exitCode, 0, 'observe exits 0 on Ctrl-C');
  });

  it('gives ICMP type and code, and an event for a packet too short to parse', async function () {
    const p = await start();
    // Three echo requests dropped by B's INPUT chain.
    const rule = ['INPUT', '-p', 'icmp', '-j', 'DROP'];
    lab.exec(b.ns, 'iptables', ['-A', ...rule]);
    try {
      lab.exec(a.ns, 'python3', [
        '-c',
        `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
# type 8 (echo request), code 0, checksum 0xf7ff over the all-zero rest
for _ in range(3): s.sendto(bytes([8, 0, 0xf7, 0xff, 0, 0, 0, 0]), ('${b.ip}', 0))
`,
      ]);
      const icmp = await waitFor(
        () => events(p, '?reason=NETFILTER_DROP&pod=server'),
        (e) => e.length >= 3,
      );
      assert.equal(icmp.length, 3);
      for (const e of icmp) {
        assert.equal(e.protocol, 'ICMP');
        assert.deepEqual(e.icmp, { type: 8, code: 0 });
        assert.equal(e.source.port, undefined);
        assert.equal(e.source.pod, 'client');
      }
    } finally {
      lab.exec(b.ns, 'iptables', ['-D', ...rule]);
    }
    // A frame claiming IPv4 with only 10 bytes of it, sent raw at B's MAC.
    const podIf = JSON.parse(lab.exec(a.ns, 'ip', ['-j', 'link', 'show', 'type', 'veth'])) as Array<{ ifname: string }>;
    const hostMac = lab.mac(undefined, a.hostIf);
    lab.exec(a.ns, 'python3', [
      '-c',
      `
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('${podIf[0]?.ifname}', 0))
dst = bytes.fromhex('${hostMac.replace(/:/g, '')}')
s.send(dst + s.getsockname()[4] + b'\\x08\\x00' + bytes([0x45, 0, 0, 10, 0, 0, 0, 0, 64, 17]))
`,
    ]);
    const short = await waitFor(
      () => events(p, ''),
      (e) => e.some((x) => x.ipVersion === 0 && x.length === 10),
    );
    const e = short.find((x) => x.ipVersion === 0 && x.length === 10);
    assert.ok(e, 'an event for the short packet');
    assert.deepEqual([e.protocol, e.source, e.destination], ['', {}, {}], 'no addresses it could not read');
    assert.match(e.reason, /PKT_TOO_SMALL|IP_INHDR/);
    assert.ok(e.ifindex > 0, 'the interface it arrived on');
  });
});
