// Pods end to end: tc programs on the host side of pod veths, pod metadata
// from the suite's own Kubernetes API server through the real client-node,
// exact per-pod counts from real packets, pod churn, API outages, and
// interfaces that come and go.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExporterProcess, removePinDir, runCli, testPinDir, waitFor } from '../support/exporter.js';
import { KubeApiServer, makePod } from '../support/kube-api-server.js';
import { type Lab, sh, UDP_IPV4_OVERHEAD } from '../support/lab.js';
import { type Sample, sumOf } from '../support/metrics-text.js';
import { type LabPod, type PodNetwork, twoPodLab } from '../support/pod-network.js';
import { requireBpf } from '../support/privileges.js';

const NODE = 'lab-node';
const GRACE = '2s';

const scalar = (s: Sample[], name: string, labels: Record<string, string> = {}) => sumOf(s, name, labels);
const fwd = (s: Sample[], pod: string, direction: string, metric = 'datapath_forward_packets_total') =>
  sumOf(s, metric, { source: 'tc', namespace: 'shop', pod, direction });

describe('pods: per-pod traffic and drops with Kubernetes labels', function () {
  let lab: Lab;
  let net: PodNetwork;
  let api: KubeApiServer;
  let dir: string;
  let kubeconfig: string;
  let pinDir: string;
  let a: LabPod;
  let b: LabPod;
  let exporter: ExporterProcess | undefined;

  before(async function () {
    requireBpf(this);
    ({ lab, net, a, b } = await twoPodLab(['pod-a', 'pod-b'], 210, { receiverPort: 5000 }));
    api = await KubeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), 'dpx-kube-'));
    kubeconfig = api.writeKubeconfig(dir);
  });

  beforeEach(function () {
    pinDir = testPinDir();
    api.addPod(makePod({ name: 'client', namespace: 'shop', nodeName: NODE, ips: [a.ip] }));
    api.addPod(makePod({ name: 'server', namespace: 'shop', nodeName: NODE, ips: [b.ip] }));
    api.addPod(makePod({ name: 'elsewhere', namespace: 'shop', nodeName: 'other-node', ips: ['10.210.7.7'] }));
  });

  afterEach(async function () {
    await exporter?.stop();
    exporter = undefined;
    if (pinDir) removePinDir(pinDir);
    if (api && !api.listening) await api.restart();
    for (const pod of api?.listPods() ?? []) api.deletePod(pod.metadata?.namespace ?? '', pod.metadata?.name ?? '');
  });

  after(async function () {
    await api?.stop();
    lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function start(extra: string[] = []): Promise<ExporterProcess> {
    const p = await ExporterProcess.start([
      '--bpffs',
      pinDir,
      '--poll-interval',
      '200ms',
      '--kubeconfig',
      kubeconfig,
      '--node-name',
      NODE,
      '--interfaces',
      net.interfaceGlob,
      '--deleted-pod-grace',
      GRACE,
      ...extra,
    ]);
    exporter = p;
    await waitFor(
      async () => scalar(await p.scrape(), 'datapath_exporter_kubernetes_synced'),
      (v) => v === 1,
    );
    return p;
  }

  it('counts exactly N datagrams from pod A to pod B as A egress and B ingress, bytes exact', async function () {
    const p = await start();
    assert.equal(scalar(await p.scrape(), 'datapath_exporter_attached_interfaces'), 2);
    const N = 41;
    const PAYLOAD = 300;
    const before = await p.scrape();
    lab.sendUdp(a.ns, b.ip, 5000, N, PAYLOAD);
    await waitFor(
      () => p.scrape(),
      (s) => fwd(s, 'server', 'ingress') - fwd(before, 'server', 'ingress') >= N,
    );
    await p.nextPoll(); // nothing more arrives
    const after = await p.scrape();
    assert.equal(fwd(after, 'client', 'egress') - fwd(before, 'client', 'egress'), N);
    assert.equal(fwd(after, 'server', 'ingress') - fwd(before, 'server', 'ingress'), N);
    const bytes = N * (PAYLOAD + UDP_IPV4_OVERHEAD);
    const fwdBytes = (s: Sample[], pod: string, dir: string) => fwd(s, pod, dir, 'datapath_forward_bytes_total');
    assert.equal(fwdBytes(after, 'client', 'egress') - fwdBytes(before, 'client', 'egress'), bytes);
    assert.equal(fwdBytes(after, 'server', 'ingress') - fwdBytes(before, 'server', 'ingress'), bytes);
    const locations = after
      .filter((s) => s.name === 'datapath_forward_packets_total' && s.labels.pod === 'client')
      .map((s) => s.labels.location ?? '');
    assert.ok(
      locations.length > 0 && locations.every((l) => /^forward\.bpf\.c:\d+$/.test(l)),
      `counted at forward.bpf.c:LINE: ${locations.join()}`,
    );
    assert.equal(sumOf(after, 'datapath_forward_packets_total', { pod: 'elsewhere' }), 0, 'pods of other nodes are not watched');
  });

  it("counts a pod's datagrams dropped in FORWARD as its egress drops, and FORWARD drops to a pod as the receiver's ingress", async function () {
    const p = await start();
    // A host the node routes to that is no pod (what an egress policy or a
    // firewall guards): its veth is wired like a pod's but the API never names it.
    const ext = net.addPod('ext', '10.210.9.9');
    const rules = [
      ['FORWARD', '-s', a.ip, '-d', ext.ip, '-p', 'udp', '--dport', '5003', '-j', 'DROP'],
      ['FORWARD', '-s', a.ip, '-d', b.ip, '-p', 'udp', '--dport', '5004', '-j', 'DROP'],
    ];
    for (const rule of rules) sh('iptables', ['-I', ...rule]);
    try {
      const N_OUT = 11,
        OUT_PAYLOAD = 90;
      const N_IN = 7,
        IN_PAYLOAD = 150;
      const drops = (s: Sample[], pod: string, direction: string, metric = 'datapath_drop_packets_total') =>
        sumOf(s, metric, { source: 'kernel', reason: 'NETFILTER_DROP', namespace: pod === '' ? '' : 'shop', pod, direction });
      const delta = (after: Sample[], before: Sample[], pod: string, direction: string, metric?: string) =>
        drops(after, pod, direction, metric) - drops(before, pod, direction, metric);
      const before = await p.scrape();
      lab.sendUdp(a.ns, ext.ip, 5003, N_OUT, OUT_PAYLOAD);
      lab.sendUdp(a.ns, b.ip, 5004, N_IN, IN_PAYLOAD);
      await waitFor(
        () => p.scrape(),
        (s) => delta(s, before, 'client', 'egress') >= N_OUT && delta(s, before, 'server', 'ingress') >= N_IN,
      );
      await p.nextPoll(); // nothing more arrives
      const after = await p.scrape();
      assert.equal(delta(after, before, 'client', 'egress'), N_OUT, "to a non-pod host: the sender's egress");
      assert.equal(delta(after, before, 'client', 'egress', 'datapath_drop_bytes_total'), N_OUT * (OUT_PAYLOAD + UDP_IPV4_OVERHEAD));
      assert.equal(delta(after, before, 'server', 'ingress'), N_IN, "to a pod: the receiver's ingress");
      assert.equal(delta(after, before, 'server', 'ingress', 'datapath_drop_bytes_total'), N_IN * (IN_PAYLOAD + UDP_IPV4_OVERHEAD));
      assert.equal(delta(after, before, 'client', 'ingress'), 0);
      assert.equal(delta(after, before, '', 'ingress'), 0, "nobody's");
    } finally {
      for (const rule of rules) sh('iptables', ['-D', ...rule]);
      net.removePod(ext);
    }
  });

  it("attributes N datagrams to a closed port of pod B as B's NO_SOCKET ingress drops", async function () {
    const p = await start();
    const N = 17;
    const drops = (s: Sample[]) =>
      sumOf(s, 'datapath_drop_packets_total', {
        source: 'kernel',
        reason: 'NO_SOCKET',
        direction: 'ingress',
        namespace: 'shop',
        pod: 'server',
      });
    const before = drops(await p.scrape());
    lab.sendUdp(a.ns, b.ip, 9, N, 10);
    assert.equal(
      await waitFor(
        async () => drops(await p.scrape()) - before,
        (v) => v >= N,
      ),
      N,
    );
    const listed = JSON.parse(runCli(['list', '--bpffs', pinDir, '--output', 'json', '--cilium-metrics-map', 'none']).stdout) as Array<
      Record<string, string>
    >;
    const row = listed.find((r) => r.reason === 'NO_SOCKET' && r.pod === 'server');
    assert.equal(row?.namespace, 'shop', 'list names the pod too');
    assert.equal(row?.packets, String(N));
  });

  it("attributes a drop of pod A's own sent packets (OUTPUT rule in A) to A's egress", async function () {
    const p = await start();
    const N = 7;
    const drops = (s: Sample[]) =>
      sumOf(s, 'datapath_drop_packets_total', {
        source: 'kernel',
        reason: 'NETFILTER_DROP',
        direction: 'egress',
        namespace: 'shop',
        pod: 'client',
      });
    const rule = ['OUTPUT', '-p', 'udp', '--dport', '5003', '-j', 'DROP'];
    lab.exec(a.ns, 'iptables', ['-A', ...rule]);
    try {
      const before = drops(await p.scrape());
      lab.sendUdp(a.ns, b.ip, 5003, N, 10);
      assert.equal(
        await waitFor(
          async () => drops(await p.scrape()) - before,
          (v) => v >= N,
        ),
        N,
      );
    } finally {
      lab.exec(a.ns, 'iptables', ['-D', ...rule]);
    }
  });

  it("pod churn: C created with deleted B's IP gets B's zeroed slot and starts at 0; B's final counts were published", async function () {
    // Two slots: C can only get B's slot, after B's grace period has zeroed it.
    const p = await start(['--max-endpoints', '2']);
    const N = 13;
    const M = 5;
    const K = 3;
    // Drops too: the program caches the last drop's attribution, which must
    // follow the IP from B to nobody to C.
    const noSocket = (s: Sample[], pod: string, direction: string) =>
      sumOf(s, 'datapath_drop_packets_total', { source: 'kernel', reason: 'NO_SOCKET', namespace: 'shop', pod, direction });
    lab.sendUdp(a.ns, b.ip, 5000, N, 50);
    lab.sendUdp(a.ns, b.ip, 9, N, 10);
    // tc counts both sends as forwarded into B (the drop happens after).
    await waitFor(
      async () => fwd(await p.scrape(), 'server', 'ingress'),
      (v) => v >= 2 * N,
    );
    assert.equal(
      await waitFor(
        async () => noSocket(await p.scrape(), 'server', 'ingress'),
        (v) => v >= N,
      ),
      N,
    );
    api.deletePod('shop', 'server');
    api.addPod(makePod({ name: 'server-2', namespace: 'shop', nodeName: NODE, ips: [b.ip] }));
    // During B's grace period: B's final value is still published, C waits for a slot.
    const during = await waitFor(
      () => p.scrape(),
      (s) => scalar(s, 'datapath_exporter_unplaced_pods') === 1,
    );
    assert.equal(scalar(during, 'datapath_exporter_unplaced_pods'), 1, 'C waits for a slot');
    assert.equal(fwd(during, 'server', 'ingress'), 2 * N, "B's final counts are published");
    // B's IP belongs to no pod now: a drop there is the sender's (A's) egress drop, never B's.
    const egressBefore = noSocket(during, 'client', 'egress');
    lab.sendUdp(a.ns, b.ip, 9, K, 10);
    const afterK = await waitFor(
      () => p.scrape(),
      (s) => noSocket(s, 'client', 'egress') - egressBefore >= K,
    );
    assert.equal(noSocket(afterK, 'client', 'egress') - egressBefore, K, "after B's deletion: A's egress");
    if (scalar(afterK, 'datapath_exporter_unplaced_pods') === 1) assert.equal(noSocket(afterK, 'server', 'ingress'), N, 'not counted to B');
    // After the grace period: B's series are gone and C has B's slot, from zero.
    const after = await waitFor(
      () => p.scrape(),
      (s) => scalar(s, 'datapath_exporter_unplaced_pods') === 0 && sumOf(s, 'datapath_forward_packets_total', { pod: 'server' }) === 0,
      10_000,
    );
    assert.equal(sumOf(after, 'datapath_forward_packets_total', { pod: 'server' }), 0, "B's series are gone");
    assert.equal(sumOf(after, 'datapath_forward_packets_total', { pod: 'server-2' }), 0, 'C starts from nothing');
    assert.equal(sumOf(after, 'datapath_drop_packets_total', { pod: 'server-2' }), 0, 'C starts from no drops');
    lab.sendUdp(a.ns, b.ip, 5000, M, 50);
    lab.sendUdp(a.ns, b.ip, 9, M, 10);
    await waitFor(
      async () => fwd(await p.scrape(), 'server-2', 'ingress'),
      (v) => v >= 2 * M,
    );
    await waitFor(
      async () => noSocket(await p.scrape(), 'server-2', 'ingress'),
      (v) => v >= M,
    );
    await p.nextPoll();
    const last = await p.scrape();
    assert.equal(fwd(last, 'server-2', 'ingress'), 2 * M, 'C counts only its own packets');
    assert.equal(noSocket(last, 'server-2', 'ingress'), M, 'C counts only its own drops');
    assert.equal(noSocket(last, 'client', 'egress') - egressBefore, K, 'none of them went to A');
  });

  it('a pod deleted just before a restart leaves nothing to the pod that gets its slot in the next run', async function () {
    // Two slots and a long grace: the deleted pod's slot still holds its counts when the agent stops.
    const p = await start(['--max-endpoints', '2', '--deleted-pod-grace', '60s']);
    const N = 11;
    const M = 4;
    const K = 3;
    const noSocket = (s: Sample[], pod: string, direction: string) =>
      sumOf(s, 'datapath_drop_packets_total', { source: 'kernel', reason: 'NO_SOCKET', namespace: 'shop', pod, direction });
    lab.sendUdp(a.ns, b.ip, 5000, N, 50);
    lab.sendUdp(a.ns, b.ip, 9, N, 10);
    await waitFor(
      async () => noSocket(await p.scrape(), 'server', 'ingress'),
      (v) => v >= N,
    );
    api.deletePod('shop', 'server');
    // Once its IP has left the endpoints map, a drop there is the sender's egress.
    const egressBefore = noSocket(await p.scrape(), 'client', 'egress');
    await waitFor(
      async () => {
        lab.sendUdp(a.ns, b.ip, 9, 1, 10);
        return noSocket(await p.scrape(), 'client', 'egress') - egressBefore;
      },
      (v) => v >= K,
    );
    await p.stop();
    api.addPod(makePod({ name: 'server-2', namespace: 'shop', nodeName: NODE, ips: [b.ip] }));
    const q = await start(['--max-endpoints', '2', '--deleted-pod-grace', '60s']);
    const placed = await waitFor(
      () => q.scrape(),
      (s) => scalar(s, 'datapath_exporter_slots_used', { table: 'endpoints' }) === 2,
    );
    assert.equal(scalar(placed, 'datapath_exporter_unplaced_pods'), 0, "server-2 got the deleted pod's slot");
    lab.sendUdp(a.ns, b.ip, 5000, M, 50);
    lab.sendUdp(a.ns, b.ip, 9, M, 10);
    await waitFor(
      async () => noSocket(await q.scrape(), 'server-2', 'ingress'),
      (v) => v >= M,
    );
    await q.nextPoll();
    const last = await q.scrape();
    assert.equal(fwd(last, 'server-2', 'ingress'), 2 * M, 'server-2 counts only its own packets');
    assert.equal(noSocket(last, 'server-2', 'ingress'), M, 'server-2 counts only its own drops');
  });

  it('keeps labels through an API outage and 410 Gone, and resyncs after', async function () {
    const p = await start();
    lab.sendUdp(a.ns, b.ip, 5000, 3, 10);
    await waitFor(
      async () => fwd(await p.scrape(), 'server', 'ingress'),
      (v) => v >= 3,
    );
    await api.stop();
    await waitFor(
      async () => scalar(await p.scrape(), 'datapath_exporter_kubernetes_synced'),
      (v) => v === 0,
    );
    lab.sendUdp(a.ns, b.ip, 5000, 4, 10);
    const down = await waitFor(
      async () => fwd(await p.scrape(), 'server', 'ingress'),
      (v) => v >= 7,
    );
    assert.equal(down, 7, 'labels kept and counts still served while the API is down');
    // A pod arrives meanwhile; the API comes back with every old version expired (410 Gone).
    api.addPod(makePod({ name: 'newcomer', namespace: 'shop', nodeName: NODE, ips: ['10.210.5.5'] }));
    api.expireResourceVersions();
    await api.restart();
    await waitFor(
      async () => scalar(await p.scrape(), 'datapath_exporter_kubernetes_synced'),
      (v) => v === 1,
      40_000,
    );
    const s = await waitFor(
      () => p.scrape(),
      (x) => scalar(x, 'datapath_exporter_slots_used', { table: 'endpoints' }) === 3,
    );
    assert.ok(scalar(s, 'datapath_exporter_kubernetes_watch_restarts_total') >= 1, 'the restart is reported');
    assert.equal(scalar(s, 'datapath_exporter_slots_used', { table: 'endpoints' }), 3, 'the newcomer got a slot after resync');
    assert.equal(fwd(s, 'server', 'ingress'), 7);
  });

  it('picks up interfaces added while running and forgets removed ones without an error loop', async function () {
    const p = await start();
    const c = net.addPod('pod-c', '10.210.3.2');
    api.addPod(makePod({ name: 'late', namespace: 'shop', nodeName: NODE, ips: [c.ip] }));
    await waitFor(
      async () => scalar(await p.scrape(), 'datapath_exporter_attached_interfaces'),
      (v) => v === 3,
    );
    lab.sendUdp(c.ns, b.ip, 5000, 6, 10);
    assert.equal(
      await waitFor(
        async () => fwd(await p.scrape(), 'late', 'egress'),
        (v) => v >= 6,
      ),
      6,
    );
    net.removePod(c);
    await waitFor(
      async () => scalar(await p.scrape(), 'datapath_exporter_attached_interfaces'),
      (v) => v === 2,
    );
    await p.nextPoll(); // the interface's removal seen by a poll
    assert.doesNotMatch(p.logs, /"level":(40|50).*(attach|interface)/, 'no warnings or errors about interfaces');
  });

  it('serves exactly the metric families the README table lists', async function () {
    const p = await start();
    const served = new Set([...(await p.get('/metrics')).body.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const readme = readFileSync(fileURLToPath(new URL('../../../README.md', import.meta.url)), 'utf8');
    const listed = new Set([...readme.matchAll(/^\| `(datapath_[a-z_]+)` \|/gm)].map((m) => m[1]));
    assert.deepEqual([...served].sort(), [...listed].sort());
  });

  it("ignores hostNetwork pods: they share the node's IPs", async function () {
    api.addPod(makePod({ name: 'host-agent', namespace: 'kube-system', nodeName: NODE, ips: ['10.210.9.9'], hostNetwork: true }));
    const p = await start();
    assert.equal(scalar(await p.scrape(), 'datapath_exporter_slots_used', { table: 'endpoints' }), 2);
  });
});

describe('without Kubernetes', function () {
  before(function () {
    requireBpf(this);
  });

  it('runs node-level and says so once in the log', async function () {
    const pinDir = testPinDir();
    const env = { ...process.env };
    delete env.KUBECONFIG;
    delete env.KUBERNETES_SERVICE_HOST;
    const p = await ExporterProcess.start(['--bpffs', pinDir, '--interfaces', 'none-such*'], env);
    try {
      assert.equal(p.logs.match(/no Kubernetes configuration/g)?.length, 1);
      assert.equal(sumOf(await p.scrape(), 'datapath_exporter_kubernetes_synced'), 0);
    } finally {
      await p.stop();
      removePinDir(pinDir);
    }
  });
});
