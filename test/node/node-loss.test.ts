// The node's loss counters that kfree_skb's reasons cannot show, end to end:
// the real agent, real loss in the lab (frames of a protocol nothing handles,
// a transmit while the veth's peer is down, a tbf that overflows, conntrack
// invalid packets and entries in a namespace the agent runs in), compared
// exactly with what iproute2, tc and procfs say, through both doors
// (/metrics and OTLP); an interface deleted takes its series with it; and a
// source that cannot be read (conntrack's limit file, over-mounted with text
// that is no count, in a mount namespace of the agent's own) counts in the
// poll error metric and logs once, while the others go on.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConntrackStat } from '../../src/collect/node/conntrack.js';
import { parseSoftnetStat } from '../../src/collect/node/softnet.js';
import { CLI, ExporterProcess, removePinDir, testPinDir, waitFor } from '../support/exporter.js';
import { KubeApiServer, makePod } from '../support/kube-api-server.js';
import { ipLoss } from '../support/ip-link-loss.js';
import { Lab, sh } from '../support/lab.js';
import { parseExposition, type Sample, sumOf } from '../support/metrics-text.js';
import { OtlpReceiver } from '../support/otlp-receiver.js';
import { PodNetwork } from '../support/pod-network.js';
import { requireBpf } from '../support/privileges.js';
import { burst, unhandledFrames } from '../support/raw-frames.js';

const COUNTERS = [
  'rx_dropped',
  'tx_dropped',
  'rx_over_errors',
  'rx_fifo_errors',
  'rx_missed_errors',
  'tx_fifo_errors',
  'rx_nohandler',
] as const;

const interfaceDrops = (s: Sample[], dev: string, counter: string) =>
  s.filter((x) => x.name === 'datapath_interface_drop_packets_total' && x.labels.interface === dev && x.labels.counter === counter);

describe('loss the drop reasons cannot show (interfaces, qdiscs, softnet, conntrack)', function () {
  let lab: Lab;
  let pinDir = '';
  let receiver: OtlpReceiver | undefined;
  let agent: ExporterProcess | undefined;

  before(function () {
    requireBpf(this);
    lab = new Lab();
  });

  afterEach(async function () {
    await agent?.stop();
    agent = undefined;
    await receiver?.stop();
    receiver = undefined;
    if (pinDir) removePinDir(pinDir);
  });

  after(function () {
    lab?.destroy();
  });

  /** The agent's arguments in every test here: a pin dir of the test's own, fast polls, no Cilium, no tc programs (the node collectors do not need them). */
  function agentArgs(): string[] {
    pinDir = testPinDir();
    return ['--bpffs', pinDir, '--poll-interval', '200ms', '--cilium-metrics-map', 'none', '--interfaces', 'none-such*'];
  }

  /** The agent, on both doors when `otlp` (an OTLP receiver of the test's, exports every 300 ms). */
  async function startAgent(extra: string[] = [], otlp = false): Promise<ExporterProcess> {
    if (!otlp) return (agent = await ExporterProcess.start([...agentArgs(), ...extra]));
    receiver = await OtlpReceiver.start('http');
    return (agent = await ExporterProcess.start([...agentArgs(), ...extra, '--otlp-endpoint', receiver.url], {
      ...process.env,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '300',
    }));
  }

  it("publishes an interface's real rx_dropped and tx_dropped exactly as ip -s -s link shows them, on both doors; a deleted interface's series go", async function () {
    agent = await startAgent([], true);
    const ns = lab.namespace('pod');
    const v = lab.veth(undefined, '', ns, '');
    const RX = 7;
    const TX = 5;
    unhandledFrames(lab, ns, v.b, v.macA, RX); // host side: rx_dropped (no protocol handler)
    lab.exec(ns, 'ip', ['link', 'set', v.b, 'down']);
    unhandledFrames(lab, undefined, v.a, v.macB, TX); // host side: tx_dropped (the peer is down)
    const ip = ipLoss(v.a);
    assert.equal(ip.rx_dropped, RX);
    assert.equal(ip.tx_dropped, TX);

    await agent.nextPoll();
    const scraped = await agent.scrape();
    for (const counter of COUNTERS) {
      const series = interfaceDrops(scraped, v.a, counter);
      assert.equal(series.length, 1, `one series of ${counter}`);
      assert.equal(series[0]?.value, ip[counter], counter);
    }
    // The OTLP door: the same values, a monotonic cumulative sum without _total.
    assert.ok(receiver);
    const r = receiver;
    await waitFor(
      () => r.latest('datapath_interface_drop_packets', { interface: v.a, counter: 'tx_dropped' }),
      (x) => x === TX,
    );
    const pushed = r.metric('datapath_interface_drop_packets');
    assert.equal(pushed?.kind, 'sum');
    assert.equal(pushed?.isMonotonic, true);
    assert.equal(pushed?.unit, '{packet}');
    for (const counter of COUNTERS)
      assert.equal(r.latest('datapath_interface_drop_packets', { interface: v.a, counter }), ip[counter], counter);

    sh('ip', ['link', 'del', v.a]);
    await agent.nextPoll();
    assert.deepEqual(interfaceDrops(await agent.scrape(), v.a, 'rx_dropped'), [], 'the deleted interface has no series');
  });

  it("names a pod's veth by its pod, routed (a host route) or bridged (the bridge learned the pod's MAC), on both doors; a veth of no pod names none", async function () {
    const api = await KubeApiServer.start();
    const dir = mkdtempSync(join(tmpdir(), 'dpx-kube-'));
    try {
      // A routed pod, as Calico or the ptp plugin wire it.
      const web = new PodNetwork(lab).addPod('web', '10.245.1.2');
      // A bridged pod, as the bridge plugin wires it: its veth a port of a bridge that holds the gateway address.
      const bridge = `dpb${lab.id}`;
      sh('ip', ['link', 'add', bridge, 'type', 'bridge']);
      lab.adoptHostLink(bridge);
      sh('sysctl', ['-qw', `net.ipv6.conf.${bridge}.disable_ipv6=1`]);
      sh('ip', ['addr', 'add', '10.245.3.1/24', 'dev', bridge]);
      sh('ip', ['link', 'set', bridge, 'up']);
      const cacheNs = lab.namespace('cache');
      const cache = lab.veth(undefined, '', cacheNs, '10.245.3.2/24');
      sh('ip', ['link', 'set', cache.a, 'master', bridge]);
      // Its real traffic teaches the node its address (ARP) and the bridge its MAC on the veth.
      lab.sendUdp(cacheNs, '10.245.3.1', 9, 1, 8);
      await waitFor(
        () => sh('bridge', ['fdb', 'show', 'dev', cache.a]),
        (out) => out.includes(cache.macB),
      );
      // A veth no pod is behind.
      const bare = lab.veth(undefined, '', lab.namespace('bare'), '');
      api.addPod(makePod({ name: 'web', namespace: 'shop', nodeName: 'lab-node', ips: [web.ip] }));
      api.addPod(makePod({ name: 'cache', namespace: 'shop', nodeName: 'lab-node', ips: ['10.245.3.2'] }));

      agent = await startAgent(['--kubeconfig', api.writeKubeconfig(dir), '--node-name', 'lab-node'], true);
      const p = agent;
      await waitFor(
        async () => sumOf(await p.scrape(), 'datapath_exporter_kubernetes_synced'),
        (v) => v === 1,
      );
      // Real loss on each: frames no protocol handles into the routed pod's veth (rx_dropped);
      // frames larger than the bridged pod's MTU out of its veth (tx_dropped: its peer cannot take them).
      const RX = 7;
      const TX = 4;
      unhandledFrames(lab, web.ns, web.podIf, lab.mac(undefined, web.hostIf), RX);
      lab.exec(cacheNs, 'ip', ['link', 'set', cache.b, 'mtu', '1000']);
      assert.equal(burst(lab, cache.a, TX, 1400), TX, 'each one refused to the sender (the veth dropped it)');
      assert.equal(ipLoss(web.hostIf).rx_dropped, RX);
      assert.equal(ipLoss(cache.a).tx_dropped, TX);

      await agent.nextPoll();
      const scraped = await agent.scrape();
      const pod = (name: string) => ({ namespace: 'shop', pod: name, workload: name, workload_kind: 'Pod' });
      const noPod = { namespace: '', pod: '', workload: '', workload_kind: '' };
      for (const [dev, counter, value, labels] of [
        [web.hostIf, 'rx_dropped', RX, pod('web')],
        [cache.a, 'tx_dropped', TX, pod('cache')],
        [bare.a, 'rx_dropped', 0, noPod],
      ] as const) {
        const [series, ...more] = interfaceDrops(scraped, dev, counter);
        assert.equal(more.length, 0, `one series of ${dev}`);
        assert.deepEqual(series?.labels, { interface: dev, counter, ...labels }, dev);
        assert.equal(series?.value, value, dev);
      }
      // OTLP: the semantic conventions' names; no pod attributes on a veth of no pod.
      assert.ok(receiver);
      const r = receiver;
      for (const [dev, counter, value, name] of [
        [web.hostIf, 'rx_dropped', RX, 'web'],
        [cache.a, 'tx_dropped', TX, 'cache'],
      ] as const) {
        const match = { interface: dev, counter, 'k8s.namespace.name': 'shop', 'k8s.pod.name': name };
        await waitFor(
          () => r.latest('datapath_interface_drop_packets', match),
          (x) => x === value,
        );
      }
      const barePoint = r.points('datapath_interface_drop_packets', { interface: bare.a, counter: 'rx_dropped' }).at(-1);
      assert.deepEqual(barePoint?.attributes, { interface: bare.a, counter: 'rx_dropped' });

      // The bridge forgets the idle pod (its MAC aged out, its neighbour entry gone; here at once): the veth is still the pod's.
      sh('bridge', ['fdb', 'del', cache.macB, 'dev', cache.a, 'master']);
      sh('ip', ['neigh', 'flush', 'dev', bridge]);
      assert.ok(!sh('bridge', ['fdb', 'show', 'dev', cache.a]).includes(cache.macB));
      await agent.nextPoll();
      await agent.nextPoll();
      assert.deepEqual(interfaceDrops(await agent.scrape(), cache.a, 'tx_dropped')[0]?.labels, {
        interface: cache.a,
        counter: 'tx_dropped',
        ...pod('cache'),
      });

      // The pod deleted: its veth (still there) names no pod any more.
      api.deletePod('shop', 'web');
      await waitFor(
        async () => interfaceDrops(await p.scrape(), web.hostIf, 'rx_dropped')[0]?.labels.pod,
        (x) => x === '',
      );
    } finally {
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("publishes a root qdisc's drops, overlimits and requeues exactly as tc -s qdisc shows them; the same packets are kfree_skb's QDISC_* drops", async function () {
    agent = await startAgent();
    const ns = lab.namespace('shaped');
    const v = lab.veth(undefined, '', ns, '');
    sh('tc', ['qdisc', 'replace', 'dev', v.a, 'root', 'tbf', 'rate', '80kbit', 'burst', '1600', 'limit', '3000']);
    await agent.nextPoll();
    const qdiscDrops = (s: Sample[]) => sumOf(s, 'datapath_drop_packets_total', { source: 'kernel', reason: /^QDISC_/ });
    const before = qdiscDrops(await agent.scrape());
    const refused = burst(lab, v.a, 60);
    assert.ok(refused > 0, 'the tbf dropped');
    await new Promise((r) => setTimeout(r, 1000)); // drained: the counters stand still
    await agent.nextPoll();
    const s = await agent.scrape();
    const [tc] = JSON.parse(sh('tc', ['-s', '-j', 'qdisc', 'show', 'dev', v.a])) as Array<{
      drops: number;
      overlimits: number;
      requeues: number;
    }>;
    const labels = { interface: v.a, qdisc: 'tbf' };
    assert.equal(sumOf(s, 'datapath_qdisc_drop_packets_total', labels), tc?.drops);
    assert.equal(sumOf(s, 'datapath_qdisc_drop_packets_total', labels), refused);
    assert.equal(sumOf(s, 'datapath_qdisc_overlimits_total', labels), tc?.overlimits);
    assert.equal(sumOf(s, 'datapath_qdisc_requeue_packets_total', labels), tc?.requeues);
    // Node-wide: another suite's qdisc drops at the same moment would show here (re-run once before concluding).
    assert.equal(qdiscDrops(s) - before, refused, 'each qdisc drop is also one kfree_skb QDISC_* drop: never sum the two');
  });

  it("publishes softnet_stat per CPU and conntrack as procfs has them between a poll's neighbours", async function () {
    agent = await startAgent();
    const a = agent;
    await a.nextPoll();
    // These counters move with the machine's traffic: what a poll read lies between a read before and after it.
    const before = parseSoftnetStat(readFileSync('/proc/net/softnet_stat', 'utf8'));
    const conntrackBefore = existsSync('/proc/net/stat/nf_conntrack')
      ? parseConntrackStat(readFileSync('/proc/net/stat/nf_conntrack', 'utf8'))
      : undefined;
    await a.nextPoll();
    const s = await a.scrape();
    const after = parseSoftnetStat(readFileSync('/proc/net/softnet_stat', 'utf8'));
    const conntrackAfter = existsSync('/proc/net/stat/nf_conntrack')
      ? parseConntrackStat(readFileSync('/proc/net/stat/nf_conntrack', 'utf8'))
      : undefined;
    assert.deepEqual(
      after.map((c) => c.cpu),
      before.map((c) => c.cpu),
    );
    const between = (metric: string, labels: Record<string, string>, lo: number, hi: number) => {
      const v = sumOf(s, metric, labels);
      assert.ok(v >= lo && v <= hi, `${metric} ${JSON.stringify(labels)}: ${v} not in [${lo}, ${hi}]`);
    };
    for (const [i, cpu] of after.entries()) {
      const b = before[i];
      assert.ok(b);
      const labels = { cpu: String(cpu.cpu) };
      assert.equal(s.filter((x) => x.name === 'datapath_softnet_drop_packets_total' && x.labels.cpu === labels.cpu).length, 1);
      between('datapath_softnet_processed_packets_total', labels, b.processed, cpu.processed);
      between('datapath_softnet_drop_packets_total', labels, b.dropped, cpu.dropped);
      between('datapath_softnet_time_squeezes_total', labels, b.timeSqueeze, cpu.timeSqueeze);
      between('datapath_softnet_flow_limit_packets_total', labels, b.flowLimit ?? 0, cpu.flowLimit ?? 0);
    }
    if (conntrackBefore && conntrackAfter) {
      assert.equal(sumOf(s, 'datapath_conntrack_entries_limit'), Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_max', 'utf8')));
      for (const [event, column] of [
        ['insert_failed', 'insert_failed'],
        ['drop', 'drop'],
        ['early_drop', 'early_drop'],
        ['invalid', 'invalid'],
      ] as const) {
        between('datapath_conntrack_events_total', { event }, conntrackBefore.get(column) ?? -1, conntrackAfter.get(column) ?? -1);
      }
      assert.equal(s.filter((x) => x.name === 'datapath_conntrack_entries').length, 1);
    } else {
      assert.deepEqual(
        s.filter((x) => x.name.startsWith('datapath_conntrack_')),
        [],
        'absent, not zero, without conntrack',
      );
    }
  });

  it("counts a namespace's real conntrack entries and invalid packets exactly as its procfs does (the agent in that namespace)", async function () {
    if (!existsSync('/proc/sys/net/netfilter/nf_conntrack_count')) this.skip(); // no conntrack module on this machine
    // Conntrack state is per network namespace: the agent runs in one of the test's own, where nothing else counts.
    const ns = lab.namespace('ct');
    lab.veth(undefined, '10.231.0.1/24', ns, '10.231.0.2/24');
    // A conntrack match in the namespace makes its conntrack track.
    lab.exec(ns, 'iptables', ['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
    const child = spawn(
      'nsenter',
      [`--net=/run/netns/${ns}`, process.execPath, CLI, 'run', '--metrics-addr', '10.231.0.2:0', ...agentArgs()],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    try {
      const port = await waitFor(
        () => Number(/"addr":"10\.231\.0\.2:(\d+)".*serving \/metrics/.exec(stderr)?.[1] ?? 0),
        (p) => p > 0 || child.exitCode !== null,
        20_000,
      );
      assert.ok(port > 0, stderr);
      const scrape = async () => parseExposition(await (await fetch(`http://10.231.0.2:${port}/metrics`)).text());
      const stat = () => parseConntrackStat(lab.exec(ns, 'cat', ['/proc/net/stat/nf_conntrack']));
      const invalidBefore = stat().get('invalid') ?? -1;
      // N TCP segments with SYN and FIN both set: conntrack calls them invalid (and the rule drops them).
      const N = 9;
      lab.exec(undefined, 'python3', [
        '-c',
        `
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
tcp = (40000).to_bytes(2, 'big') + (80).to_bytes(2, 'big') + bytes(8) + bytes([0x50, 0x03]) + (1024).to_bytes(2, 'big') + bytes(4)
for _ in range(${N}): s.sendto(tcp, ('10.231.0.2', 0))
`,
      ]);
      // M UDP flows (one source port each) to a closed port: M unreplied entries, alive for 30 s.
      const M = 4;
      for (let i = 0; i < M; i++) lab.sendUdp(undefined, '10.231.0.2', 9, 1, 10, 41000 + i);
      const invalid = stat().get('invalid') ?? -1;
      assert.equal(invalid - invalidBefore, N, 'the kernel counted each as invalid');
      const entries = (x: Sample[]) => sumOf(x, 'datapath_conntrack_entries');
      const s = await waitFor(
        scrape,
        (x) => sumOf(x, 'datapath_conntrack_events_total', { event: 'invalid' }) === invalid && entries(x) >= M,
        10_000,
      );
      assert.equal(sumOf(s, 'datapath_conntrack_events_total', { event: 'invalid' }), invalid);
      // The scrapes' own TCP connections are tracked too, so entries only grow here: a poll's count lies between M and the count after the scrape.
      const count = Number(lab.exec(ns, 'cat', ['/proc/sys/net/netfilter/nf_conntrack_count']));
      assert.ok(entries(s) >= M && entries(s) <= count, `${entries(s)} entries published, ${count} after`);
      assert.equal(sumOf(s, 'datapath_conntrack_entries_limit'), Number(lab.exec(ns, 'cat', ['/proc/sys/net/netfilter/nf_conntrack_max'])));
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
  });

  it('a source that cannot be read counts in datapath_exporter_poll_errors_total and logs once; the others go on', async function () {
    if (!existsSync('/proc/sys/net/netfilter/nf_conntrack_max')) this.skip(); // no conntrack here: nothing to break
    const dir = mkdtempSync(join(tmpdir(), 'dpx-loss-'));
    let child: ChildProcess | undefined;
    try {
      const garbage = join(dir, 'nf_conntrack_max');
      writeFileSync(garbage, 'not a number\n');
      // In a mount namespace of its own, the agent reads text that is no count where the limit is.
      child = spawn(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          '--',
          'sh',
          '-c',
          `mount --bind "$0" /proc/sys/net/netfilter/nf_conntrack_max && exec "$@"`,
          garbage,
          process.execPath,
          CLI,
          'run',
          '--metrics-addr',
          '127.0.0.1:0',
          ...agentArgs(),
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const port = await waitFor(
        () => Number(/"addr":"127\.0\.0\.1:(\d+)".*serving \/metrics/.exec(stderr)?.[1] ?? 0),
        (p) => p > 0,
        20_000,
      );
      assert.ok(port > 0, stderr);
      const scrape = async () => parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      const errors = (s: Sample[]) => sumOf(s, 'datapath_exporter_poll_errors_total', { source: 'conntrack' });
      const s = await waitFor(scrape, (x) => errors(x) >= 3);
      assert.ok(errors(s) >= 3, 'counted every poll');
      assert.equal(sumOf(s, 'datapath_exporter_poll_errors_total', { source: 'softnet' }), 0);
      assert.equal(sumOf(s, 'datapath_exporter_poll_errors_total', { source: 'interfaces' }), 0);
      assert.ok(
        s.some((x) => x.name === 'datapath_softnet_processed_packets_total'),
        'softnet goes on',
      );
      assert.ok(
        s.some((x) => x.name === 'datapath_interface_drop_packets_total' && x.labels.interface === 'lo'),
        'interfaces go on',
      );
      assert.deepEqual(
        s.filter((x) => x.name.startsWith('datapath_conntrack_')),
        [],
        'no conntrack values it could not read',
      );
      assert.equal(stderr.match(/reading counters failed/g)?.length, 1, 'logged once');
      assert.match(stderr, /"source":"conntrack".*nf_conntrack_max is not a count/);
    } finally {
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child?.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
