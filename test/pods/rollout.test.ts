// Workloads end to end: a Deployment of 5 pods rolled again and again (each
// pod deleted and replaced by one with a new name and IP, through the
// suite's API server and the real client-node), with real traffic and real
// drops to every pod. In `workload` mode the number of series stays the same
// and every counter is exact and never goes back; in `pod` mode the old pods'
// series leave and every series names its workload.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { encodeEndpointAddr, MAP_NAMES } from '../../src/bpf/contract.js';
import { BpfMap } from '../../src/bpf/map.js';
import { ExporterProcess, removePinDir, runCli, testPinDir, waitFor } from '../support/exporter.js';
import { KubeApiServer, makePod } from '../support/kube-api-server.js';
import { Lab, sh, UDP_IPV4_OVERHEAD } from '../support/lab.js';
import { type Sample, sumOf } from '../support/metrics-text.js';
import { type LabPod, PodNetwork } from '../support/pod-network.js';
import { requireBpf } from '../support/privileges.js';

const NODE = 'lab-node';
const REPLICAS = 5;
const OPEN_PORT = 5000;
const DROPPED_PORT = 5001;
const PAYLOAD = 100;
const RANGE = '10.241.0.0/16';
/** The ReplicaSet's pod-template-hash of each rollout: a Deployment's pods carry it. */
const hashOf = (round: number) => `7d9f8c${round.toString(16).padStart(3, '0')}`;

function deploymentPod(round: number, replica: number, ip: string): V1Pod {
  const hash = hashOf(round);
  const pod = makePod({ name: `web-${hash}-r${replica}`, namespace: 'shop', nodeName: NODE, ips: [ip] });
  pod.metadata = {
    ...pod.metadata,
    labels: { app: 'web', 'pod-template-hash': hash },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `web-${hash}`, uid: `rs-${hash}`, controller: true }],
  };
  return pod;
}

describe('workloads: a Deployment rolled with traffic and drops throughout', function () {
  this.timeout(300_000);
  let lab: Lab;
  let net: PodNetwork;
  let api: KubeApiServer;
  let dir: string;
  let kubeconfig: string;
  let pinDir: string;
  let client: LabPod;
  let replicas: LabPod[];
  let exporter: ExporterProcess | undefined;
  let nextIp = 0;
  const rule = ['FORWARD', '-d', RANGE, '-p', 'udp', '--dport', String(DROPPED_PORT), '-j', 'DROP'];
  let ruleAdded = false;

  const newIp = () => `10.241.${1 + Math.floor(nextIp / 250)}.${1 + (nextIp++ % 250)}`;

  before(async function () {
    requireBpf(this);
    lab = new Lab();
    net = new PodNetwork(lab);
    client = net.addPod('client', '10.241.0.2');
    replicas = [];
    for (let r = 0; r < REPLICAS; r++) {
      const pod = net.addPod(`web${r}`, newIp());
      await lab.udpReceiver(pod.ns, OPEN_PORT);
      replicas.push(pod);
    }
    sh('iptables', ['-I', ...rule]);
    ruleAdded = true;
    api = await KubeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), 'dpx-rollout-'));
    kubeconfig = api.writeKubeconfig(dir);
  });

  beforeEach(function () {
    pinDir = testPinDir();
    api.addPod(makePod({ name: 'client', namespace: 'shop', nodeName: NODE, ips: [client.ip] }));
  });

  afterEach(async function () {
    await exporter?.stop();
    exporter = undefined;
    if (pinDir) removePinDir(pinDir);
    for (const pod of api?.listPods() ?? []) api.deletePod(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
  });

  after(async function () {
    if (ruleAdded) sh('iptables', ['-D', ...rule]);
    await api?.stop();
    lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function start(granularity: string, extra: string[] = []): Promise<ExporterProcess> {
    // prettier-ignore
    const p = await ExporterProcess.start([
      '--bpffs', pinDir,
      '--poll-interval', '200ms',
      '--kubeconfig', kubeconfig,
      '--node-name', NODE,
      '--interfaces', net.interfaceGlob,
      '--deleted-pod-grace', '1s',
      '--max-endpoints', '32',
      '--granularity', granularity,
      ...extra,
    ]);
    exporter = p;
    await waitFor(
      async () => sumOf(await p.scrape(), 'datapath_exporter_kubernetes_synced'),
      (v) => v === 1,
    );
    return p;
  }

  /** Waits until the agent has put the pod's address in its endpoints map (it learnt of the pod from the watch). */
  async function placed(ip: string): Promise<void> {
    const endpoints = BpfMap.fromPin(join(pinDir, MAP_NAMES.endpoints));
    try {
      const slot = Buffer.alloc(4);
      const found = await waitFor(
        () => endpoints.lookup(encodeEndpointAddr(ip), slot),
        (v) => v,
      );
      assert.ok(found, `the agent placed ${ip}`);
    } finally {
      endpoints.close();
    }
  }

  /** Deploys round `round`: every replica's pod replaced by a new one (new name, new IP). */
  async function roll(round: number, waitPlaced = true): Promise<string[]> {
    const names: string[] = [];
    for (let r = 0; r < REPLICAS; r++) {
      const old = replicas[r]!;
      if (round > 0) api.deletePod('shop', `web-${hashOf(round - 1)}-r${r}`);
      const pod = round > 0 ? net.readdress(old, newIp()) : old;
      replicas[r] = pod;
      const created = api.addPod(deploymentPod(round, r, pod.ip));
      names.push(created.metadata?.name ?? '');
    }
    if (waitPlaced) for (const pod of replicas) await placed(pod.ip);
    return names;
  }

  /** Sends each replica a few datagrams it receives and a few the node drops (FORWARD DROP), from one process. */
  function traffic(round: number): { delivered: number; dropped: number } {
    const targets = replicas.flatMap((pod, r) => [
      { host: pod.ip, port: OPEN_PORT, count: 1 + ((round + r) % 3), payload: PAYLOAD },
      { host: pod.ip, port: DROPPED_PORT, count: 1 + ((round * 7 + r) % 2), payload: PAYLOAD },
    ]);
    lab.sendUdpMany(client.ns, targets);
    const total = (port: number) => targets.filter((t) => t.port === port).reduce((n, t) => n + t.count, 0);
    return { delivered: total(OPEN_PORT), dropped: total(DROPPED_PORT) };
  }

  const webForward = (s: Sample[], metric = 'datapath_forward_packets_total') =>
    sumOf(s, metric, { source: 'tc', namespace: 'shop', workload: 'web', workload_kind: 'Deployment', direction: 'ingress' });
  const webDrops = (s: Sample[], metric = 'datapath_drop_packets_total') =>
    sumOf(s, metric, { source: 'kernel', reason: 'NETFILTER_DROP', namespace: 'shop', workload: 'web', direction: 'ingress' });
  const webSeries = (s: Sample[]) => s.filter((x) => x.name.startsWith('datapath_') && x.labels.workload === 'web');

  it('workload mode: 50 rollouts, series constant, counters exact and monotonic', async function () {
    const p = await start('workload');
    let delivered = 0;
    let dropped = 0;
    let seriesCount: number | undefined;
    let last = { fwd: 0, drops: 0, bytes: 0 };
    for (let round = 0; round < 50; round++) {
      await roll(round);
      if (round % 10 === 5) {
        // The old pods' grace runs out before the new ones send anything: a
        // scrape then sees the workload with no rows at all (slots zeroed,
        // new pods at 0), and its total must still hold.
        const s = await waitFor(
          () => p.scrape(),
          (x) => sumOf(x, 'datapath_exporter_slots_used', { table: 'endpoints' }) === REPLICAS + 1,
        );
        assert.equal(webForward(s), delivered, `round ${round}: the total holds while the new pods are quiet`);
      }
      const t = traffic(round);
      delivered += t.delivered;
      dropped += t.dropped;
      const s = await waitFor(
        () => p.scrape(),
        (x) => webForward(x) >= delivered && webDrops(x) >= dropped,
      );
      const now = { fwd: webForward(s), drops: webDrops(s), bytes: webForward(s, 'datapath_forward_bytes_total') };
      assert.equal(now.fwd, delivered, `round ${round}: forwarded packets`);
      assert.equal(now.drops, dropped, `round ${round}: dropped packets`);
      assert.equal(now.bytes, delivered * (PAYLOAD + UDP_IPV4_OVERHEAD), `round ${round}: forwarded bytes`);
      assert.ok(now.fwd >= last.fwd && now.drops >= last.drops && now.bytes >= last.bytes, `round ${round}: never back`);
      last = now;
      assert.equal(s.filter((x) => x.name.startsWith('datapath_') && /^web-/.test(x.labels.pod ?? '')).length, 0, 'no pod names');
      const count = webSeries(s).length;
      seriesCount ??= count;
      assert.equal(count, seriesCount, `round ${round}: the workload's series stay the same`);
    }
    // After the last grace periods run out, every old pod's slot is zeroed and
    // released: the workload's totals still hold everything.
    await new Promise((r) => setTimeout(r, 1500));
    const s = await waitFor(
      () => p.scrape(),
      (x) => sumOf(x, 'datapath_exporter_slots_used', { table: 'endpoints' }) === REPLICAS + 1,
    );
    assert.equal(sumOf(s, 'datapath_exporter_slots_used', { table: 'endpoints' }), REPLICAS + 1);
    assert.equal(webForward(s), delivered);
    assert.equal(webDrops(s), dropped);
    assert.equal(webSeries(s).length, seriesCount);
  });

  it("pod mode: each series names its pod and workload; a rolled-out pod's series leave after the grace", async function () {
    const p = await start('pod');
    let previous: string[] = [];
    for (let round = 0; round < 3; round++) {
      const names = await roll(round);
      const t = traffic(round);
      const s = await waitFor(
        () => p.scrape(),
        (x) => names.every((pod) => sumOf(x, 'datapath_forward_packets_total', { pod, direction: 'ingress' }) > 0),
      );
      for (const pod of names) {
        const series = s.filter((x) => x.name === 'datapath_forward_packets_total' && x.labels.pod === pod);
        assert.ok(series.length > 0, pod);
        for (const x of series)
          assert.deepEqual([x.labels.workload, x.labels.workload_kind, x.labels.namespace], ['web', 'Deployment', 'shop']);
      }
      assert.equal(
        webForward(s) - sumOf(s, 'datapath_forward_packets_total', { pod: /^web-/, direction: 'ingress', source: 'tc', workload: 'web' }),
        0,
      );
      assert.ok(t.delivered > 0);
      // The client is a bare pod: its own workload.
      const clientSeries = s.find((x) => x.name === 'datapath_forward_packets_total' && x.labels.pod === 'client');
      assert.deepEqual([clientSeries?.labels.workload, clientSeries?.labels.workload_kind], ['client', 'Pod']);
      if (previous.length > 0) {
        const gone = await waitFor(
          () => p.scrape(),
          (x) => previous.every((pod) => !x.some((y) => y.name.startsWith('datapath_') && y.labels.pod === pod)),
          5_000,
        );
        for (const pod of previous) assert.ok(!gone.some((y) => y.name.startsWith('datapath_') && y.labels.pod === pod), `${pod} left`);
      }
      previous = names;
    }
  });

  it('namespace filter: pods of namespaces left out get no labels, and their traffic and drops count, exactly, at node level', async function () {
    const p = await start('pod', ['--namespaces', 'team-*,kube-system', '--exclude-namespaces', 'kube-system']);
    await roll(0, false); // never placed: nothing to wait for
    const before = await p.scrape();
    const t = traffic(0);
    const nodeFwd = (s: Sample[]) =>
      sumOf(s, 'datapath_forward_packets_total', { source: 'tc', namespace: '', pod: '', direction: 'ingress' });
    const nodeDrops = (s: Sample[]) => sumOf(s, 'datapath_drop_packets_total', { source: 'kernel', reason: 'NETFILTER_DROP', pod: '' });
    const s = await waitFor(
      () => p.scrape(),
      (x) => nodeFwd(x) - nodeFwd(before) >= t.delivered && nodeDrops(x) - nodeDrops(before) >= t.dropped,
    );
    assert.equal(nodeFwd(s) - nodeFwd(before), t.delivered);
    assert.equal(nodeDrops(s) - nodeDrops(before), t.dropped);
    assert.equal(
      s.filter((x) => x.name.startsWith('datapath_') && x.labels.namespace === 'shop').length,
      0,
      'no series of the filtered namespace',
    );
    assert.equal(sumOf(s, 'datapath_exporter_slots_used', { table: 'endpoints' }), 0);
  });

  it('series cap: label sets past --max-series fold into one overflow series per metric, exact, counted and logged once', async function () {
    const p = await start('pod', ['--max-series', '3']);
    await roll(0);
    const t = traffic(0);
    const fwdIn = (s: Sample[]) => sumOf(s, 'datapath_forward_packets_total', { source: /^(tc|overflow)$/, direction: /^(ingress|)$/ });
    // Ingress to the 5 replicas (client's egress is in other series, and in the overflow too): wait for all of it.
    const s = await waitFor(
      () => p.scrape(),
      (x) => sumOf(x, 'datapath_exporter_folded_label_sets', { kind: 'forward' }) > 0 && fwdIn(x) >= t.delivered,
    );
    const forward = s.filter((x) => x.name === 'datapath_forward_packets_total');
    const overflow = forward.filter((x) => x.labels.source === 'overflow');
    assert.equal(overflow.length, 1, `one overflow series: ${JSON.stringify(forward.map((x) => [x.labels, x.value]))}`);
    assert.equal(forward.length, 4, '3 label sets and the overflow');
    // Every packet is somewhere: the pods' own series and the overflow add up to what was sent and received.
    const sent = t.delivered + t.dropped; // the client's egress: every datagram, the dropped ones too
    assert.equal(
      forward.reduce((n, x) => n + x.value, 0),
      sent + t.delivered,
    );
    assert.ok(sumOf(s, 'datapath_exporter_folded_label_sets', { kind: 'forward' }) >= 3);
    const warnings = () => p.logs.split('\n').filter((l) => l.includes('more label sets than --max-series')).length;
    await waitFor(warnings, (n) => n > 0); // the log is written asynchronously
    await p.scrape(); // folding goes on: still one warning
    assert.equal(warnings(), 1);
  });
});

describe('workload flags: bad values are one line and exit 2', function () {
  for (const [args, says] of [
    [['--granularity', 'pods'], '"pods" is not one of pod, workload, namespace, node'],
    [['--namespaces', 'Shop'], 'is not a comma-separated list of namespace globs'],
    [['--exclude-namespaces', 'a[b]'], 'is not a comma-separated list of namespace globs'],
    [['--max-series', '-3'], '"-3" is not a positive number of series'],
    [['--max-series', '0'], '"0" is not a positive number of series'],
  ] as const) {
    it(`${args.join(' ')}`, function () {
      const r = runCli(['run', ...args]);
      assert.equal(r.status, 2);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(r.stderr.includes(says), r.stderr);
    });
  }
});
