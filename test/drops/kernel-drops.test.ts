// Kernel drops end to end: real packets that the real kernel drops in the
// lab, counted by the real program, read through libbpf, scraped from the
// exporter's own /metrics — exact counts, cross-checked with nstat.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { Lab, UDP_IPV4_OVERHEAD } from '../support/lab.js';
import { sumOf, type Sample } from '../support/metrics-text.js';
import { ExporterProcess, removePinDir, testPinDir, waitFor } from '../support/exporter.js';
import { requireBpf } from '../support/privileges.js';

const CLIENT = '10.201.0.1';
const SERVER = '10.201.0.2';

describe('kernel drops (skb:kfree_skb) in the lab', function () {
  let lab: Lab;
  let client: string;
  let server: string;
  let pinDir: string;
  let exporter: ExporterProcess | undefined;

  before(function () {
    requireBpf(this);
    lab = new Lab();
    client = lab.namespace('client');
    server = lab.namespace('server');
    lab.veth(client, `${CLIENT}/24`, server, `${SERVER}/24`);
    pinDir = testPinDir();
  });

  beforeEach(async function () {
    exporter = await ExporterProcess.start(['--bpffs', pinDir, '--poll-interval', '200ms']);
  });

  afterEach(async function () {
    await exporter?.stop();
    exporter = undefined;
  });

  after(function () {
    lab?.destroy();
    if (pinDir) removePinDir(pinDir);
  });

  const drops = (s: Sample[], reason: string, direction: string, metric = 'datapath_drop_packets_total') =>
    sumOf(s, metric, { source: 'kernel', reason, direction });

  /** Scrapes until `metric` reaches `want`, then one more poll to see that it stays. */
  async function settle(read: (s: Sample[]) => number, want: number): Promise<number> {
    const p = exporter as ExporterProcess;
    await waitFor(
      async () => read(await p.scrape()),
      (v) => v >= want,
    );
    await new Promise((r) => setTimeout(r, 500));
    return read(await p.scrape());
  }

  it('counts exactly N UDP datagrams to a closed port as NO_SOCKET ingress, as nstat does', async function () {
    const p = exporter as ExporterProcess;
    const N = 37;
    const PAYLOAD = 100;
    const before = await p.scrape();
    const noPortsBefore = lab.nstat(server, 'UdpNoPorts');
    const { sent } = lab.sendUdp(client, SERVER, 9, N, PAYLOAD);
    assert.equal(sent, N);
    const base = drops(before, 'NO_SOCKET', 'ingress');
    const got = await settle((s) => drops(s, 'NO_SOCKET', 'ingress'), base + N);
    assert.equal(got - base, N, 'NO_SOCKET/ingress packets');
    assert.equal(lab.nstat(server, 'UdpNoPorts') - noPortsBefore, N, "the kernel's own UdpNoPorts agrees");
    const after = await p.scrape();
    assert.equal(
      drops(after, 'NO_SOCKET', 'ingress', 'datapath_drop_bytes_total') -
        drops(before, 'NO_SOCKET', 'ingress', 'datapath_drop_bytes_total'),
      N * (PAYLOAD + UDP_IPV4_OVERHEAD),
      "bytes are the IP packets' size",
    );
    const locations = after
      .filter((s) => s.name === 'datapath_drop_packets_total' && s.labels.reason === 'NO_SOCKET')
      .map((s) => s.labels.location);
    assert.ok(
      locations.some((l) => /udp/.test(l ?? '')),
      `location names the kernel's UDP receive function: ${locations.join(', ')}`,
    );
  });

  // An iptables DROP rule in the receiver's INPUT or the sender's OUTPUT chain.
  const netfilterCases = [
    { chain: 'INPUT', direction: 'ingress', port: 5001, n: 23, payload: 64, refusedAtSend: false },
    { chain: 'OUTPUT', direction: 'egress', port: 5002, n: 19, payload: 200, refusedAtSend: true },
  ] as const;
  for (const c of netfilterCases) {
    it(`counts an iptables DROP in ${c.chain} as NETFILTER_DROP ${c.direction}, bytes exact`, async function () {
      const p = exporter as ExporterProcess;
      const ns = c.chain === 'INPUT' ? server : client;
      const rule = [c.chain, '-p', 'udp', '--dport', String(c.port), '-j', 'DROP'];
      lab.exec(ns, 'iptables', ['-A', ...rule]);
      try {
        const before = await p.scrape();
        const base = drops(before, 'NETFILTER_DROP', c.direction);
        const baseBytes = drops(before, 'NETFILTER_DROP', c.direction, 'datapath_drop_bytes_total');
        const { refused } = lab.sendUdp(client, SERVER, c.port, c.n, c.payload);
        // OUTPUT drops fail the send itself with EPERM; INPUT drops are silent.
        assert.equal(refused, c.refusedAtSend ? c.n : 0);
        assert.equal(await settle((s) => drops(s, 'NETFILTER_DROP', c.direction), base + c.n), base + c.n);
        const bytes = drops(await p.scrape(), 'NETFILTER_DROP', c.direction, 'datapath_drop_bytes_total') - baseBytes;
        assert.equal(bytes, c.n * (c.payload + UDP_IPV4_OVERHEAD));
      } finally {
        lab.exec(ns, 'iptables', ['-D', ...rule]);
      }
    });
  }

  it('serves an exposition that promtool check metrics accepts', async function () {
    const p = exporter as ExporterProcess;
    lab.sendUdp(client, SERVER, 9, 3, 10);
    await waitFor(
      async () => drops(await p.scrape(), 'NO_SOCKET', 'ingress'),
      (v) => v > 0,
    );
    const body = (await p.get('/metrics')).body;
    // promtool exits non-zero on errors and prints lint findings; both must be empty.
    const out = execFileSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    assert.equal(out.trim(), '');
  });

  it('answers /healthz and /readyz', async function () {
    const p = exporter as ExporterProcess;
    assert.equal((await p.get('/healthz')).status, 200);
    assert.equal(
      (
        await waitFor(
          () => p.get('/readyz'),
          (r) => r.status === 200,
        )
      ).status,
      200,
    );
  });
});
