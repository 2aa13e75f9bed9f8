// IPv6: a pod with an IPv6 address (dual-stack clusters) is attributed by
// its IPv6 source address, and a dropped IPv6 packet is counted with its
// IPv6 packet size. IPv6 is enabled only on this test's own link, with DAD,
// router solicitations and MLD off so the only traffic is what the test sends.
import assert from 'node:assert/strict';
import type { DropEvent } from '../../src/events/drop-event.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ExporterProcess, removePinDir, waitFor } from '../support/exporter.js';
import { KubeApiServer, makePod } from '../support/kube-api-server.js';
import { Lab, sh, UDP_IPV6_OVERHEAD } from '../support/lab.js';
import { sumOf } from '../support/metrics-text.js';
import { startPodAgent } from '../support/pod-lab-agents.js';
import { requireBpf } from '../support/privileges.js';

const POD_IP = 'fd00:dbe::2';
const HOST_IP = 'fd00:dbe::1';

describe('IPv6 pods', function () {
  let lab: Lab | undefined;
  let api: KubeApiServer | undefined;
  let dir: string | undefined;
  let pinDir: string | undefined;
  let agent: ExporterProcess | undefined;
  let pod: string;
  let hostIf: string;

  before(async function () {
    requireBpf(this);
    lab = new Lab();
    pod = lab.namespace('v6');
    const podIf = `v6p${lab.id}`;
    hostIf = `v6h${lab.id}`;
    sh('ip', ['link', 'add', podIf, 'type', 'veth', 'peer', 'name', hostIf]);
    sh('ip', ['link', 'set', podIf, 'netns', pod]);
    lab.adoptHostLink(hostIf);
    const quiet = (ns: string | undefined, dev: string) => {
      for (const [k, v] of [
        ['disable_ipv6', '0'],
        ['accept_dad', '0'],
        ['router_solicitations', '0'],
        ['accept_ra', '0'],
      ]) {
        lab?.exec(ns, 'sysctl', ['-qw', `net.ipv6.conf.${dev}.${k}=${v}`]);
      }
      lab?.exec(ns, 'sysctl', ['-qw', `net.ipv6.conf.${dev}.force_mld_version=2`]);
    };
    lab.exec(pod, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0']);
    quiet(pod, podIf);
    quiet(undefined, hostIf);
    lab.exec(pod, 'ip', ['addr', 'add', `${POD_IP}/64`, 'dev', podIf, 'nodad']);
    lab.exec(undefined, 'ip', ['addr', 'add', `${HOST_IP}/64`, 'dev', hostIf, 'nodad']);
    lab.exec(pod, 'ip', ['link', 'set', podIf, 'up']);
    lab.exec(undefined, 'ip', ['link', 'set', hostIf, 'up']);
    lab.neighbour(pod, podIf, HOST_IP, lab.mac(undefined, hostIf));
    lab.neighbour(undefined, hostIf, POD_IP, lab.mac(pod, podIf));

    api = await KubeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), 'dpx-v6-'));
    api.addPod(makePod({ name: 'dual', namespace: 'v6', nodeName: 'lab-node', ips: ['10.213.0.2', POD_IP] }));
    const started = await startPodAgent(api.writeKubeconfig(dir), hostIf);
    agent = started.p;
    pinDir = started.pinDir;
  });

  after(async function () {
    await agent?.stop();
    await api?.stop();
    lab?.destroy();
    if (pinDir) removePinDir(pinDir);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("attributes a pod's IPv6 packets to it, with the IPv6 packet size, and counts their drop", async function () {
    const p = agent as ExporterProcess;
    const N = 11;
    const PAYLOAD = 120;
    const egress = (s: Awaited<ReturnType<ExporterProcess['scrape']>>, metric: string) =>
      sumOf(s, metric, { source: 'tc', direction: 'egress', namespace: 'v6', pod: 'dual' });
    // The node is no pod: the pod's datagram dropped there is the pod's egress drop.
    const noSocket = (s: Awaited<ReturnType<ExporterProcess['scrape']>>, metric: string) =>
      sumOf(s, metric, { source: 'kernel', reason: 'NO_SOCKET', direction: 'egress', namespace: 'v6', pod: 'dual' });
    const before = await p.scrape();
    // To a closed port on the node: forwarded out of the pod, then dropped by the node.
    (lab as Lab).sendUdp(pod, HOST_IP, 9, N, PAYLOAD);
    await waitFor(
      () => p.scrape(),
      (s) => egress(s, 'datapath_forward_packets_total') - egress(before, 'datapath_forward_packets_total') >= N,
    );
    await p.nextPoll();
    const after = await p.scrape();
    assert.equal(egress(after, 'datapath_forward_packets_total') - egress(before, 'datapath_forward_packets_total'), N);
    assert.equal(
      egress(after, 'datapath_forward_bytes_total') - egress(before, 'datapath_forward_bytes_total'),
      N * (PAYLOAD + UDP_IPV6_OVERHEAD),
    );
    assert.equal(
      noSocket(after, 'datapath_drop_packets_total') - noSocket(before, 'datapath_drop_packets_total'),
      N,
      "the node dropped them, as the pod's egress",
    );
    const drops = after.filter(
      (s) => s.name === 'datapath_drop_bytes_total' && s.labels.reason === 'NO_SOCKET' && /udp6|udpv6|__udp6/.test(s.labels.location ?? ''),
    );
    assert.ok(drops.length > 0, "counted at the kernel's IPv6 UDP receive function");
    const bytesBefore = before
      .filter((s) => s.name === 'datapath_drop_bytes_total' && s.labels.location === drops[0]?.labels.location)
      .reduce((a, s) => a + s.value, 0);
    assert.equal((drops[0]?.value ?? 0) - bytesBefore, N * (PAYLOAD + UDP_IPV6_OVERHEAD), 'IPv6 packet size');
    // And one drop event each, with IPv6 addresses and the pod's name.
    const { body } = await p.get('/api/v1/drops?pod=dual&reason=NO_SOCKET');
    const events = body
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as DropEvent);
    assert.equal(events.length, N);
    for (const e of events) {
      assert.equal(e.ipVersion, 6);
      assert.equal(e.protocol, 'UDP');
      assert.equal(e.direction, 'egress');
      assert.deepEqual([e.source.ip, e.source.namespace, e.source.pod], [POD_IP, 'v6', 'dual']);
      assert.deepEqual([e.destination.ip, e.destination.port, e.destination.pod], [HOST_IP, 9, undefined]);
      assert.equal(e.length, PAYLOAD + UDP_IPV6_OVERHEAD);
    }
  });
});
