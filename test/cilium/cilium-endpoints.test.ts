// Cilium's endpoint map (cilium_lxc) against the real kernel: a stand-in
// with Cilium's exact definition, pinned under a bpffs directory of the
// test's own and filled the way Cilium's agent fills it. First the reader
// alone (every entry across batches, host entries naming nothing, the map
// left unchanged, absent / re-pinned / foreign layouts); then the agent end
// to end: a veth with no route and no bridge, real loss on it, named by its
// pod on both doors only because Cilium's map says whose it is.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BpfObject } from '../../src/bpf/object.js';
import { CiliumEndpointMap } from '../../src/collect/cilium/endpoint-map.js';
import { ifNameToIndex } from '../../src/os/libc.js';
import { ExporterProcess, removePinDir, testPinDir } from '../support/exporter.js';
import { KubeApiServer, makePod } from '../support/kube-api-server.js';
import { ipLoss } from '../support/ip-link-loss.js';
import { Lab, sh } from '../support/lab.js';
import { type Sample, sumOf } from '../support/metrics-text.js';
import { OtlpReceiver } from '../support/otlp-receiver.js';
import { requireBpf } from '../support/privileges.js';
import { unhandledFrames } from '../support/raw-frames.js';
import {
  bpftoolSnapshot,
  captureLogger,
  ENDPOINT_F_ATHOSTNS,
  ENDPOINT_F_HOST,
  ENDPOINT_FIXTURES,
  ENDPOINT_MAP,
  INFO,
  loadFixture,
  makeTestPinDir,
  removeTestPinDir,
  waitFor,
  WARN,
  writeCiliumEndpoint,
} from './cilium-lab.js';

const sorted = (m: ReadonlyMap<number, readonly string[]>) =>
  [...m].map(([k, v]) => [k, [...v].sort()] as const).sort((a, b) => a[0] - b[0]);

describe("Cilium's endpoint map (cilium_lxc), read-only against the real kernel", function () {
  let pinDir: string | undefined;
  const objects: BpfObject[] = [];
  let reader: CiliumEndpointMap | undefined;

  beforeEach(function () {
    requireBpf(this);
    pinDir = makeTestPinDir();
  });

  afterEach(function () {
    reader?.close();
    reader = undefined;
    for (const o of objects.splice(0)) o.close();
    removeTestPinDir(pinDir);
    pinDir = undefined;
  });

  it('finds every pod endpoint behind its interface (IPv4 and IPv6, more entries than one batch); host entries name nothing; the map is not changed', function () {
    const dir = pinDir as string;
    objects.push(loadFixture(ENDPOINT_FIXTURES.current, dir));
    const path = join(dir, ENDPOINT_MAP);
    const expected = new Map<number, string[]>();
    // 1,500 endpoints on 1,500 interfaces (ifindex 10,000 + i): more than one batch of 1,024.
    for (let i = 0; i < 1500; i++) {
      const address = `10.248.${i >> 8}.${i & 255}`;
      writeCiliumEndpoint(path, { address, ifindex: 10_000 + i, lxcId: i });
      expected.set(10_000 + i, [address]);
    }
    // A dual-stack pod: both keys name the same interface (Cilium writes one entry per address).
    writeCiliumEndpoint(path, { address: 'fd00:10:248::7', ifindex: 10_007, lxcId: 7 });
    expected.set(10_007, ['10.248.0.7', 'fd00:10:248:0:0:0:0:7']);
    // The node's own addresses (AddHostEntry: flags HOST, ifindex 0), and the same flags on an
    // interface that exists: neither names it. An endpoint in the host's namespace (ATHOSTNS) neither.
    writeCiliumEndpoint(path, { address: '192.0.2.1', ifindex: 0, flags: ENDPOINT_F_HOST });
    writeCiliumEndpoint(path, { address: '192.0.2.2', ifindex: 10_001, flags: ENDPOINT_F_HOST });
    writeCiliumEndpoint(path, { address: '192.0.2.3', ifindex: 10_002, flags: ENDPOINT_F_ATHOSTNS, lxcId: 900 });
    writeCiliumEndpoint(path, { address: 'fd00::1', ifindex: 0, flags: ENDPOINT_F_HOST });
    const before = bpftoolSnapshot(path);

    const { log, lines } = captureLogger();
    reader = new CiliumEndpointMap(path, log);
    const found = reader.read();
    assert.deepEqual(sorted(found), sorted(expected));
    assert.deepEqual(sorted(reader.read()), sorted(expected), 'the same on a second read');
    assert.deepEqual(bpftoolSnapshot(path), before, 'same map, same entries');
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg]),
      [[INFO, "reading Cilium's endpoint map (read-only)"]],
    );
  });

  it('absent -> nothing (said once); a re-pinned map is reopened; a map of another layout is refused with one warning and never decoded', async function () {
    const dir = pinDir as string;
    const path = join(dir, ENDPOINT_MAP);
    const { log, lines } = captureLogger();
    reader = new CiliumEndpointMap(path, log);
    assert.equal(reader.read().size, 0);
    assert.equal(reader.read().size, 0);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg]),
      [
        [
          INFO,
          "no Cilium endpoint map (Cilium not running on this node?): Cilium's pod interfaces are named by routes or bridges only until it appears",
        ],
      ],
    );

    objects.push(loadFixture(ENDPOINT_FIXTURES.current, dir));
    writeCiliumEndpoint(path, { address: '10.248.9.1', ifindex: 4242, lxcId: 1 });
    assert.deepEqual(sorted(reader.read()), [[4242, ['10.248.9.1']]]);

    // Cilium re-creates its map (a restart with another size, an upgrade): a new map at the same path.
    rmSync(path);
    objects.push(loadFixture(ENDPOINT_FIXTURES.current, dir));
    writeCiliumEndpoint(path, { address: '10.248.9.2', ifindex: 4343, lxcId: 2 });
    assert.deepEqual(sorted(reader.read()), [[4343, ['10.248.9.2']]]);
    assert.ok(lines.some((l) => l.level === INFO && l.msg === "Cilium's endpoint map was re-created: reading the new one"));

    // A layout this agent does not know, holding an entry whose first bytes would decode: refused, not read.
    rmSync(path);
    objects.push(loadFixture(ENDPOINT_FIXTURES.wrongSize, dir));
    writeCiliumEndpoint(path, { address: '10.248.9.3', ifindex: 4444, lxcId: 3 }, 64);
    for (let i = 0; i < 3; i++) assert.equal(reader.read().size, 0);
    const warnings = lines.filter((l) => l.level === WARN);
    assert.equal(warnings.length, 1, 'one warning, not one per read');
    assert.match(warnings[0]?.msg ?? '', /^not reading Cilium's endpoint map: key 20 B \/ value 64 B, expected key 20 B \/ value 48 B/);
  });
});

const interfaceDrops = (s: Sample[], dev: string, counter: string) =>
  s.filter((x) => x.name === 'datapath_interface_drop_packets_total' && x.labels.interface === dev && x.labels.counter === counter);

describe('the agent names a pod behind a Cilium lxc interface from Cilium’s endpoint map', function () {
  let lab: Lab | undefined;
  let cilPinDir: string | undefined;
  let pinDir = '';
  const objects: BpfObject[] = [];
  let agent: ExporterProcess | undefined;
  let receiver: OtlpReceiver | undefined;
  let api: KubeApiServer | undefined;
  let kubeDir: string | undefined;

  beforeEach(function () {
    requireBpf(this);
  });

  afterEach(async function () {
    await agent?.stop();
    agent = undefined;
    await receiver?.stop();
    receiver = undefined;
    await api?.stop();
    api = undefined;
    if (kubeDir) rmSync(kubeDir, { recursive: true, force: true });
    for (const o of objects.splice(0)) o.close();
    removeTestPinDir(cilPinDir);
    cilPinDir = undefined;
    if (pinDir) removePinDir(pinDir);
    lab?.destroy();
    lab = undefined;
  });

  it("a veth with no route and no bridge carries its pod's labels on both doors; host entries name nothing; a map of another layout -> one warning, nothing decoded, the rest goes on", async function () {
    lab = new Lab();
    const l = lab;
    // Pod veths as Cilium wires them: the pod's address inside, nothing on the host side (no address, no route, no bridge).
    const apiNs = l.namespace('api');
    const apiVeth = l.veth(undefined, '', apiNs, '10.247.1.2/24');
    // An interface only host entries point at (as cilium_host's own addresses would), and a veth added later.
    const hostVeth = l.veth(undefined, '', l.namespace('host'), '10.247.2.2/24');
    const lateNs = l.namespace('late');
    const lateVeth = l.veth(undefined, '', lateNs, '10.247.4.2/24');
    for (const dev of [apiVeth.a, hostVeth.a, lateVeth.a]) {
      assert.equal(sh('ip', ['-4', 'route', 'show', 'table', 'all', 'dev', dev]).trim(), '', `no route through ${dev}`);
    }

    cilPinDir = makeTestPinDir();
    objects.push(loadFixture(ENDPOINT_FIXTURES.current, cilPinDir));
    const lxc = join(cilPinDir, ENDPOINT_MAP);
    writeCiliumEndpoint(lxc, { address: '10.247.1.2', ifindex: ifNameToIndex(apiVeth.a), lxcId: 101 });
    // Addresses that are pods' in the API, in entries Cilium marks as not a pod's: they must name nothing.
    writeCiliumEndpoint(lxc, { address: '10.247.2.2', ifindex: ifNameToIndex(hostVeth.a), flags: ENDPOINT_F_HOST });
    writeCiliumEndpoint(lxc, { address: '10.247.3.2', ifindex: ifNameToIndex(hostVeth.a), flags: ENDPOINT_F_ATHOSTNS, lxcId: 102 });

    api = await KubeApiServer.start();
    kubeDir = mkdtempSync(join(tmpdir(), 'dpx-kube-'));
    for (const [name, ip] of [
      ['api', '10.247.1.2'],
      ['node-ip', '10.247.2.2'],
      ['ingress', '10.247.3.2'],
      ['late', '10.247.4.2'],
    ] as const) {
      api.addPod(makePod({ name, namespace: 'shop', nodeName: 'lab-node', ips: [ip] }));
    }

    receiver = await OtlpReceiver.start('http');
    pinDir = testPinDir();
    agent = await ExporterProcess.start(
      [
        '--bpffs',
        pinDir,
        '--poll-interval',
        '200ms',
        '--cilium-metrics-map',
        'none',
        '--cilium-endpoint-map',
        lxc,
        '--interfaces',
        'none-such*',
        '--kubeconfig',
        api.writeKubeconfig(kubeDir),
        '--node-name',
        'lab-node',
        '--otlp-endpoint',
        receiver.url,
      ],
      { ...process.env, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_METRIC_EXPORT_INTERVAL: '300' },
    );
    const p = agent;
    await waitFor(
      async () => sumOf(await p.scrape(), 'datapath_exporter_kubernetes_synced'),
      (v) => v === 1,
    );
    // Real loss: frames no protocol handles, from the pod into its veth (rx_dropped on the host side).
    const RX = 6;
    unhandledFrames(l, apiNs, apiVeth.b, apiVeth.macA, RX);
    assert.equal(ipLoss(apiVeth.a).rx_dropped, RX);

    await p.nextPoll();
    const pod = (name: string) => ({ namespace: 'shop', pod: name, workload: name, workload_kind: 'Pod' });
    const noPod = { namespace: '', pod: '', workload: '', workload_kind: '' };
    const expectSeries = (scraped: Sample[], dev: string, value: number, labels: Record<string, string>) => {
      const [series, ...more] = interfaceDrops(scraped, dev, 'rx_dropped');
      assert.equal(more.length, 0, `one series of ${dev}`);
      assert.deepEqual(series?.labels, { interface: dev, counter: 'rx_dropped', ...labels }, dev);
      assert.equal(series?.value, value, dev);
    };
    let scraped = await p.scrape();
    expectSeries(scraped, apiVeth.a, RX, pod('api'));
    expectSeries(scraped, hostVeth.a, 0, noPod);
    expectSeries(scraped, lateVeth.a, 0, noPod);
    // OTLP: the semantic conventions' names; no pod attributes where no pod is.
    const r = receiver;
    await waitFor(
      () =>
        r.latest('datapath_interface_drop_packets', {
          interface: apiVeth.a,
          counter: 'rx_dropped',
          'k8s.namespace.name': 'shop',
          'k8s.pod.name': 'api',
        }),
      (x) => x === RX,
    );
    const hostPoint = r.points('datapath_interface_drop_packets', { interface: hostVeth.a, counter: 'rx_dropped' }).at(-1);
    assert.deepEqual(hostPoint?.attributes, { interface: hostVeth.a, counter: 'rx_dropped' });

    // Cilium re-creates its map with a layout this agent does not know; it holds the late pod's
    // entry where Cilium's layout has it: refused with one warning, and the entry names nothing.
    const pollErrors = (s: Sample[]) =>
      sumOf(
        s.filter((x) => x.labels.source === 'cilium_endpoints'),
        'datapath_exporter_poll_errors_total',
      );
    rmSync(lxc);
    objects.push(loadFixture(ENDPOINT_FIXTURES.wrongSize, cilPinDir));
    writeCiliumEndpoint(lxc, { address: '10.247.4.2', ifindex: ifNameToIndex(lateVeth.a), lxcId: 103 }, 64);
    unhandledFrames(l, lateNs, lateVeth.b, lateVeth.macA, 3);
    await waitFor(
      () => p.logs.split('\n').filter((line) => line.includes("not reading Cilium's endpoint map")).length,
      (n) => n >= 1,
    );
    await p.nextPoll();
    await p.nextPoll();
    scraped = await p.scrape();
    const warnings = p.logs.split('\n').filter((line) => line.includes("not reading Cilium's endpoint map"));
    assert.equal(warnings.length, 1, 'one warning');
    assert.match(warnings[0] ?? '', /"level":40/);
    expectSeries(scraped, lateVeth.a, 3, noPod);
    // The api pod's veth is still that pod's while it exists (as a bridge's forgotten MAC leaves it named).
    expectSeries(scraped, apiVeth.a, RX, pod('api'));
    assert.equal(pollErrors(scraped), 0, 'a refused map is not a failed poll');
    assert.ok(
      scraped.some((x) => x.name === 'datapath_softnet_processed_packets_total'),
      'the other node families go on',
    );
  });

  it("a path that is no BPF pin fails alone: counted as source cilium_endpoints, warned once; a routed pod's veth is still named", async function () {
    lab = new Lab();
    const l = lab;
    // A routed pod (a host route through its veth), as a routing CNI wires it.
    const webNs = l.namespace('web');
    const web = l.veth(undefined, '', webNs, '10.247.5.2/24');
    sh('ip', ['route', 'add', '10.247.5.2/32', 'dev', web.a]);
    api = await KubeApiServer.start();
    kubeDir = mkdtempSync(join(tmpdir(), 'dpx-kube-'));
    api.addPod(makePod({ name: 'web', namespace: 'shop', nodeName: 'lab-node', ips: ['10.247.5.2'] }));
    // Not a pinned BPF object: stat() finds it, opening it as a map fails (not as "absent").
    const notAPin = join(kubeDir, 'cilium_lxc');
    writeFileSync(notAPin, 'not a map\n');
    pinDir = testPinDir();
    agent = await ExporterProcess.start([
      '--bpffs',
      pinDir,
      '--poll-interval',
      '200ms',
      '--cilium-metrics-map',
      'none',
      '--cilium-endpoint-map',
      notAPin,
      '--interfaces',
      'none-such*',
      '--kubeconfig',
      api.writeKubeconfig(kubeDir),
      '--node-name',
      'lab-node',
    ]);
    const p = agent;
    await waitFor(
      async () => sumOf(await p.scrape(), 'datapath_exporter_kubernetes_synced'),
      (v) => v === 1,
    );
    const RX = 5;
    unhandledFrames(l, webNs, web.b, web.macA, RX);
    await p.nextPoll();
    const scraped = await p.scrape();
    const errors = scraped.filter((x) => x.name === 'datapath_exporter_poll_errors_total' && x.labels.source === 'cilium_endpoints');
    assert.equal(errors.length, 1);
    assert.ok((errors[0]?.value ?? 0) >= 2, 'counted every poll');
    assert.equal(
      sumOf(
        scraped.filter((x) => x.labels.source === 'interfaces'),
        'datapath_exporter_poll_errors_total',
      ),
      0,
      'the interfaces source did not fail',
    );
    const [series] = interfaceDrops(scraped, web.a, 'rx_dropped');
    assert.deepEqual(series?.labels, {
      interface: web.a,
      counter: 'rx_dropped',
      namespace: 'shop',
      pod: 'web',
      workload: 'web',
      workload_kind: 'Pod',
    });
    assert.equal(series?.value, RX);
    const warnings = p.logs
      .split('\n')
      .filter((line) => line.includes('"source":"cilium_endpoints"') && line.includes('reading counters failed'));
    assert.equal(warnings.length, 1, 'logged once');
  });

  it("reads Cilium's endpoint map at Cilium's pin by default (absent here: said once), and not at all with --cilium-endpoint-map none", async function () {
    const base = ['--poll-interval', '200ms', '--cilium-metrics-map', 'none', '--interfaces', 'none-such*'];
    for (const [extra, said] of [
      [[], true],
      [['--cilium-endpoint-map', 'none'], false],
    ] as const) {
      pinDir = testPinDir();
      agent = await ExporterProcess.start(['--bpffs', pinDir, ...base, ...extra]);
      await agent.nextPoll();
      await agent.nextPoll();
      const lines = agent.logs.split('\n').filter((line) => line.includes('Cilium endpoint map') || line.includes("Cilium's endpoint map"));
      if (said) {
        assert.equal(lines.length, 1, 'one info line, not one per poll');
        assert.match(lines[0] ?? '', /"path":"\/sys\/fs\/bpf\/tc\/globals\/cilium_lxc".*no Cilium endpoint map/);
      } else {
        assert.deepEqual(lines, []);
      }
      await agent.stop();
      agent = undefined;
      removePinDir(pinDir);
      pinDir = '';
    }
  });
});
