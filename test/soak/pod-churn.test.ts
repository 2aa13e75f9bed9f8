// The short pod-churn soak (bench/soak.ts is the long one): the real agent,
// started by scripts/datapath-exporter and polling every 100 ms, the suite's
// API server, pods churning through real namespaces and veths with real
// traffic. Every pod's counts are checked exactly while it lives, traffic to
// deleted pods' IPs never lands on them, deletions happen during API outages
// and across 410 relists, and once the churn stops and the grace has passed,
// nothing of the churned pods is left: no series, no slots, no fds, no BPF
// links, no pins. Memory over time is the benchmark's business (RSS is too
// noisy for a two-minute assertion); counts are not.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removePinDir, testPinDir, waitFor } from '../support/exporter.js';
import { KubeApiServer } from '../support/kube-api-server.js';
import { Lab } from '../support/lab.js';
import type { Sample } from '../support/metrics-text.js';
import { requireBpf } from '../support/privileges.js';
import { LaunchedAgent } from './agent-process.js';
import { agentBpfLinks, footprint, gauge, NAMESPACE, PodChurn, scrapeOf, sleep } from './churn.js';

const NODE = 'soak-node';
const GRACE_MS = 1000;
const ROUNDS = 36;
const SEATS = 4;

describe('soak: pod churn with real traffic (short)', function () {
  let lab: Lab | undefined;
  let api: KubeApiServer | undefined;
  let churn: PodChurn | undefined;
  let agent: LaunchedAgent | undefined;
  let dir = '';
  let pinDir = '';

  after(async function () {
    await agent?.stop();
    churn?.tearDown();
    await api?.stop();
    lab?.destroy();
    if (pinDir) removePinDir(pinDir);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`churns ${(ROUNDS + 2) * SEATS} pods: exact counts per pod, nothing after deletion, and back to the baseline after the grace`, async function () {
    requireBpf(this);
    lab = new Lab();
    api = await KubeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), 'dpx-soak-'));
    pinDir = testPinDir();
    const c = new PodChurn({
      lab,
      api,
      nodeName: NODE,
      seats: SEATS,
      prefix: '10.218',
      outageEvery: 5,
      relistEvery: 3,
      scrape: () => scrapeOf(agent?.port ?? 0)(),
    });
    churn = c;
    await c.setUp();
    agent = await LaunchedAgent.start([
      '--bpffs',
      pinDir,
      '--poll-interval',
      '100ms',
      '--kubeconfig',
      api.writeKubeconfig(dir),
      '--node-name',
      NODE,
      '--interfaces',
      c.interfaceGlob,
      '--deleted-pod-grace',
      `${GRACE_MS}ms`,
      '--cilium-metrics-map',
      'none',
    ]);
    const a = agent;
    const scrape = scrapeOf(a.port);

    // Baseline: after two rounds and their grace, the client pod only.
    for (let i = 0; i < 2; i++) assert.deepEqual(await c.runRound(), []);
    const settled = (s: Sample[]) => gauge(s, 'datapath_exporter_slots_used', { table: 'endpoints' }) === 1;
    const base = await waitFor(scrape, settled, 20_000);
    assert.ok(settled(base), 'the warm-up pods expired');
    await sleep(300);
    const baseScrape = await scrape();
    const baseFp = footprint(a.pid, pinDir);
    const baseLinks = agentBpfLinks(a.pid);

    for (let i = 0; i < ROUNDS; i++) {
      const failures = await c.runRound();
      assert.deepEqual(failures, [], `round ${i + 2}`);
    }
    await c.finish();
    const s = c.stats;
    assert.equal(s.cycles, (ROUNDS + 2) * SEATS);
    assert.ok(s.outages >= 5 && s.relists >= 5, `outages ${s.outages}, relists ${s.relists}`);
    assert.ok(s.namesReused > SEATS && s.ipsReused > SEATS, `names reused ${s.namesReused}, IPs reused ${s.ipsReused}`);
    assert.ok(s.podsChecked >= ROUNDS * SEATS * 0.6, `pods checked exactly: ${s.podsChecked}`);
    assert.ok(s.afterDeletionPackets > 0);

    // During the churn slots were in use; after the grace nothing of the churned pods is left.
    const end = await waitFor(scrape, settled, 20_000);
    assert.ok(settled(end), `endpoint slots back to 1: ${gauge(end, 'datapath_exporter_slots_used', { table: 'endpoints' })}`);
    await sleep(300);
    const after = await scrape();
    const churned = after.filter((x) => x.labels.namespace === NAMESPACE && x.labels.pod !== 'client');
    assert.deepEqual(
      churned.map((x) => `${x.name}{pod=${x.labels.pod}}`),
      [],
      'no series of a deleted pod',
    );
    const ofPods = (x: Sample[]) =>
      x
        .filter((y) => y.name.startsWith('datapath_') && !y.name.startsWith('datapath_exporter_') && (y.labels.pod ?? '') !== '')
        .map((y) => `${y.name}${JSON.stringify(y.labels)}`)
        .sort();
    assert.deepEqual(ofPods(after), ofPods(baseScrape), 'series with a pod: as at the baseline');
    // Drop keys of deleted pods are retired with their slots. Other processes on
    // this machine drop packets too: their keys are node-level, and each new one
    // brings a node-level series, which a leaked key of a pod would not.
    const keys = (x: Sample[]) => gauge(x, 'datapath_exporter_slots_used', { table: 'drop_keys' });
    const nodeLevel = (x: Sample[]) =>
      new Set(x.filter((y) => y.name === 'datapath_drop_packets_total' && (y.labels.pod ?? '') === '').map((y) => JSON.stringify(y.labels)))
        .size;
    assert.ok(
      keys(after) - keys(baseScrape) <= Math.max(0, nodeLevel(after) - nodeLevel(baseScrape)),
      `drop keys ${keys(baseScrape)} -> ${keys(after)}, node-level series ${nodeLevel(baseScrape)} -> ${nodeLevel(after)}`,
    );

    const fp = footprint(a.pid, pinDir);
    for (const kind of ['bpf-map', 'bpf-prog', 'bpf_link']) assert.equal(fp.fdKinds[kind] ?? 0, baseFp.fdKinds[kind] ?? 0, `${kind} fds`);
    // Sockets come and go (the watch reconnecting, scrapes): a few, never one per pod.
    assert.ok(fp.fds <= baseFp.fds + 3, `fds ${baseFp.fds} -> ${fp.fds}: ${JSON.stringify(fp.fdKinds)}`);
    assert.equal(fp.pins, baseFp.pins, 'pinned objects');
    assert.equal(agentBpfLinks(a.pid), baseLinks, 'BPF links of the agent (bpftool)');
    assert.equal(await a.stop(), 0);
    agent = undefined;
  });
});
