// PodWatcher with the real @kubernetes/client-node against the suite's own API
// server, through a kubeconfig file, as the agent runs it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadKubeConfig } from '../../src/k8s/kube-config.js';
import { PodWatcher, type PodEndpoint } from '../../src/k8s/pod-watcher.js';
import { KubeApiServer, makePod, type PodSpecOptions } from '../support/kube-api-server.js';
import { waitUntil } from '../support/wait.js';

const NODE = 'node-a';
const FAST_BACKOFF = { initialMs: 50, maxMs: 400 };
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

type Recorded = { type: 'upsert' | 'delete'; pod: PodEndpoint };

/** Every event the watcher emitted, in order. */
class EventLog {
  readonly all: Recorded[] = [];
  private mark = 0;

  attach(watcher: PodWatcher): void {
    watcher.onUpsert((pod) => this.all.push({ type: 'upsert', pod }));
    watcher.onDelete((pod) => this.all.push({ type: 'delete', pod }));
  }

  /** Events since the last checkpoint(), as "upsert ns/name" lines. */
  sinceMark(): string[] {
    return this.all.slice(this.mark).map((e) => `${e.type} ${e.pod.namespace}/${e.pod.name}`);
  }

  checkpoint(): void {
    this.mark = this.all.length;
  }

  last(type: Recorded['type'], name: string): PodEndpoint | undefined {
    return this.all.findLast((e) => e.type === type && e.pod.name === name)?.pod;
  }

  count(type: Recorded['type'], name: string): number {
    return this.all.filter((e) => e.type === type && e.pod.name === name).length;
  }
}

describe('PodWatcher (real client-node, test API server)', function () {
  let api: KubeApiServer | undefined;
  let watcher: PodWatcher | undefined;
  let dir: string | undefined;

  afterEach(async function () {
    await watcher?.stop();
    await api?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    watcher = undefined;
    api = undefined;
    dir = undefined;
  });

  async function startApi(): Promise<KubeApiServer> {
    api = await KubeApiServer.start();
    return api;
  }

  function newWatcher(server: KubeApiServer, log = logger): { w: PodWatcher; events: EventLog } {
    dir = mkdtempSync(join(tmpdir(), 'pod-watcher-'));
    const kubeConfig = loadKubeConfig({ kubeconfig: server.writeKubeconfig(dir) }, {});
    assert.ok(kubeConfig);
    watcher = new PodWatcher({ kubeConfig, nodeName: NODE, logger: log, backoff: FAST_BACKOFF });
    const events = new EventLog();
    events.attach(watcher);
    return { w: watcher, events };
  }

  function pod(name: string, opts: Omit<PodSpecOptions, 'name'> = {}) {
    return makePod({ name, nodeName: NODE, ...opts });
  }

  async function startSynced(server: KubeApiServer): Promise<{ w: PodWatcher; events: EventLog }> {
    const started = newWatcher(server);
    await started.w.start();
    await waitUntil('first sync', () => started.w.status().synced);
    return started;
  }

  it('lists the pods of its node only, with their IPs, using the field selector', async function () {
    const server = await startApi();
    server.addPod(pod('web', { namespace: 'shop', ips: ['10.0.0.5', 'fd00::5'] }));
    server.addPod(pod('legacy', { ips: ['10.0.0.6'] }));
    server.updatePod(dropPodIps(server.getPod('default', 'legacy')));
    server.addPod(makePod({ name: 'elsewhere', nodeName: 'node-b', ips: ['10.0.1.9'] }));

    const { w, events } = await startSynced(server);

    assert.deepEqual(events.sinceMark().sort(), ['upsert default/legacy', 'upsert shop/web']);
    const web = events.last('upsert', 'web');
    assert.deepEqual(web?.ips, ['10.0.0.5', 'fd00::5']);
    assert.equal(web?.hostNetwork, false);
    assert.match(web?.uid ?? '', /^uid-web-/);
    assert.deepEqual(events.last('upsert', 'legacy')?.ips, ['10.0.0.6'], 'falls back to status.podIP');

    const status = w.status();
    assert.equal(status.synced, true);
    assert.ok(status.lastSyncTime instanceof Date);
    assert.equal(status.restarts, 0);
    assert.equal(status.lastError, undefined);

    await waitUntil('a watch to be open', () => server.openWatchCount() === 1);
    const seen = server.requests;
    assert.ok(seen.length >= 2);
    for (const req of seen) {
      assert.equal(req.path, '/api/v1/pods');
      assert.equal(req.fieldSelector, `spec.nodeName=${NODE}`, `${req.kind} without the node's field selector`);
      assert.equal(req.authorized, true, 'the kubeconfig token was not sent');
    }
    assert.equal(server.listRequests().length, 1);
    assert.equal(server.watchRequests()[0]?.resourceVersion, server.resourceVersion);
  });

  it('follows ADDED, MODIFIED and DELETED, and drops finished pods', async function () {
    const server = await startApi();
    const { events } = await startSynced(server);
    await waitUntil('a watch to be open', () => server.openWatchCount() === 1);

    server.addPod(pod('job', { phase: 'Pending' }));
    await waitUntil('the pending pod', () => events.count('upsert', 'job') === 1);
    assert.deepEqual(events.last('upsert', 'job')?.ips, [], 'a pending pod has no IPs yet');

    server.updatePod(pod('job', { uid: uidOf(server, 'job'), ips: ['10.0.0.7'] }));
    await waitUntil('the pod to get its IP', () => events.count('upsert', 'job') === 2);
    assert.deepEqual(events.last('upsert', 'job')?.ips, ['10.0.0.7']);

    // A change that does not touch the endpoint (here: a label) emits nothing.
    const labelled = pod('job', { uid: uidOf(server, 'job'), ips: ['10.0.0.7'] });
    labelled.metadata = { ...labelled.metadata, labels: { app: 'job' } };
    server.updatePod(labelled);
    server.addPod(pod('marker'));
    await waitUntil('the marker pod', () => events.count('upsert', 'marker') === 1);
    assert.equal(events.count('upsert', 'job'), 2);

    server.updatePod(pod('job', { uid: uidOf(server, 'job'), ips: ['10.0.0.7'], phase: 'Succeeded' }));
    await waitUntil('the finished pod to be deleted', () => events.count('delete', 'job') === 1);
    assert.deepEqual(events.last('delete', 'job')?.ips, ['10.0.0.7'], 'the delete carries the last-known IPs');

    server.deletePod('default', 'job');
    server.deletePod('default', 'marker');
    await waitUntil('the marker pod to be deleted', () => events.count('delete', 'marker') === 1);
    assert.equal(events.count('delete', 'job'), 1, 'a finished pod is deleted once');
  });

  it('reports hostNetwork pods as such', async function () {
    const server = await startApi();
    server.addPod(pod('node-exporter', { hostNetwork: true, ips: ['192.168.1.10'] }));
    const { events } = await startSynced(server);
    const hostPod = events.last('upsert', 'node-exporter');
    assert.equal(hostPod?.hostNetwork, true);
    assert.deepEqual(hostPod?.ips, ['192.168.1.10']);
  });

  it('replaces a pod recreated under the same name (new uid)', async function () {
    const server = await startApi();
    server.addPod(pod('db-0', { uid: 'uid-old', ips: ['10.0.0.20'] }));
    const { events } = await startSynced(server);
    await waitUntil('a watch to be open', () => server.openWatchCount() === 1);
    events.checkpoint();

    server.deletePod('default', 'db-0');
    server.addPod(pod('db-0', { uid: 'uid-new', ips: ['10.0.0.21'] }));
    await waitUntil('the new db-0', () => events.last('upsert', 'db-0')?.uid === 'uid-new');
    assert.deepEqual(events.sinceMark(), ['delete default/db-0', 'upsert default/db-0']);
    assert.equal(events.last('delete', 'db-0')?.uid, 'uid-old');
  });

  it('relists after 410 Gone sent on the open watch, and ends up with the right pods', async function () {
    const server = await startApi();
    server.addPod(pod('a', { ips: ['10.0.0.1'] }));
    server.addPod(pod('b', { ips: ['10.0.0.2'] }));
    const { w, events } = await startSynced(server);
    await waitUntil('a watch to be open', () => server.openWatchCount() === 1);
    events.checkpoint();

    server.expireResourceVersions();
    await waitUntil('a relist', () => server.listRequests().length === 2);
    await waitUntil('the watch to reopen', () => server.openWatchCount() === 1);
    server.deletePod('default', 'a');
    server.addPod(pod('c', { ips: ['10.0.0.3'] }));
    await waitUntil('c', () => events.count('upsert', 'c') === 1);
    await waitUntil('a gone', () => events.count('delete', 'a') === 1);

    assert.deepEqual(events.sinceMark(), ['delete default/a', 'upsert default/c']);
    assert.deepEqual(names(w.pods()), ['b', 'c']);
    assert.equal(w.status().synced, true);
    assert.equal(w.status().restarts, 0, 'client-node relists on 410 by itself');
  });

  it('relists when a watch from an expired resourceVersion is refused with HTTP 410', async function () {
    const server = await startApi();
    server.addPod(pod('a', { ips: ['10.0.0.1'] }));
    const { w, events } = await startSynced(server);
    await waitUntil('a watch to be open', () => server.openWatchCount() === 1);
    events.checkpoint();

    // Changes the open watch never hears about, then the watch ends cleanly
    // and client-node resumes from its (now expired) resourceVersion.
    server.expireResourceVersions({ openWatches: 'keep', newWatches: 'http-410' });
    server.closeWatches();
    server.deletePod('default', 'a');
    server.addPod(pod('b', { ips: ['10.0.0.2'] }));

    await waitUntil('the relist to bring b', () => events.count('upsert', 'b') === 1);
    assert.deepEqual(events.sinceMark(), ['delete default/a', 'upsert default/b']);
    assert.equal(server.listRequests().length, 2);
    assert.ok(
      server.watchRequests().some((r) => r.status === 410),
      'no watch was refused with 410',
    );
    assert.deepEqual(names(w.pods()), ['b']);
    assert.equal(w.status().restarts, 0, 'client-node relists on 410 by itself');
  });

  it('resumes a cleanly closed watch from its resourceVersion without relisting', async function () {
    const server = await startApi();
    const { events } = await startSynced(server);
    await waitUntil('a watch to be open', () => server.openWatchCount() === 1);

    server.closeWatches();
    server.addPod(pod('late', { ips: ['10.0.0.9'] }));
    await waitUntil('the pod added while no watch was open', () => events.count('upsert', 'late') === 1);
    assert.equal(server.listRequests().length, 1);
    const resumed = server.watchRequests()[1];
    assert.equal(resumed?.resourceVersion, server.watchRequests()[0]?.resourceVersion);
  });

  it('asks for bookmarks and resumes from the newest one, not from its last pod event', async function () {
    const server = await startApi();
    await startSynced(server);
    await waitUntil('a watch to be open', () => server.openWatchCount() === 1);
    assert.equal(server.watchRequests()[0]?.allowWatchBookmarks, true);
    // Pods of other nodes move the server's resourceVersion on; this watch sees none of them.
    for (let i = 0; i < 5; i++) server.addPod(makePod({ name: `elsewhere-${i}`, nodeName: 'node-b', ips: [`10.0.1.${i + 1}`] }));
    const bookmarked = server.resourceVersion;
    server.sendBookmarks();
    await new Promise((r) => setTimeout(r, 200));
    server.closeWatches();
    await waitUntil('the watch to be resumed', () => server.watchRequests().length >= 2);
    assert.notEqual(server.watchRequests()[0]?.resourceVersion, bookmarked);
    assert.equal(server.watchRequests()[1]?.resourceVersion, bookmarked, 'resumed from the bookmark');
    assert.equal(server.listRequests().length, 1, 'no relist');
  });

  it('reconnects after its watch connection is cut', async function () {
    const server = await startApi();
    server.addPod(pod('a', { ips: ['10.0.0.1'] }));
    const { w, events } = await startSynced(server);
    await waitUntil('a watch to be open', () => server.openWatchCount() === 1);
    events.checkpoint();

    server.dropWatches();
    server.addPod(pod('b', { ips: ['10.0.0.2'] }));
    await waitUntil('b after the reconnect', () => events.count('upsert', 'b') === 1);
    await waitUntil('synced again', () => w.status().synced);
    await waitUntil('a new watch', () => server.watchRequests().length >= 2 && server.openWatchCount() === 1);
    assert.deepEqual(events.sinceMark(), ['upsert default/b']);
    assert.deepEqual(names(w.pods()), ['a', 'b']);
  });

  it('keeps last-known pods through an API outage, then reconciles', async function () {
    const server = await startApi();
    server.addPod(pod('a', { ips: ['10.0.0.1'] }));
    server.addPod(pod('b', { ips: ['10.0.0.2'] }));
    const { w, events } = await startSynced(server);
    await waitUntil('a watch to be open', () => server.openWatchCount() === 1);
    events.checkpoint();
    const syncedBefore = w.status().lastSyncTime;

    await server.stop();
    await waitUntil('synced to turn false', () => !w.status().synced);
    // Changes made while the agent cannot see them.
    server.deletePod('default', 'a');
    server.addPod(pod('c', { ips: ['10.0.0.3'] }));
    await waitUntil('retries with backoff while down', () => w.status().restarts >= 2);

    const down = w.status();
    assert.equal(down.synced, false);
    assert.match(down.lastError ?? '', /ECONNREFUSED|fetch failed|terminated|other side closed/i);
    assert.deepEqual(events.sinceMark(), [], 'an outage deletes nothing');
    assert.deepEqual(names(w.pods()), ['a', 'b']);

    await server.restart();
    await waitUntil('synced after the outage', () => w.status().synced);
    assert.deepEqual(events.sinceMark(), ['delete default/a', 'upsert default/c']);
    assert.deepEqual(events.last('delete', 'a')?.ips, ['10.0.0.1']);
    assert.deepEqual(names(w.pods()), ['b', 'c']);
    const up = w.status();
    assert.ok(up.restarts >= 2);
    assert.ok(up.lastSyncTime !== undefined && syncedBefore !== undefined && up.lastSyncTime > syncedBefore);

    // And it watches again.
    await waitUntil('a watch to be open', () => server.openWatchCount() === 1);
    server.addPod(pod('d', { ips: ['10.0.0.4'] }));
    await waitUntil('d', () => events.count('upsert', 'd') === 1);
  });

  it('starts without an API server and syncs once it comes up', async function () {
    const server = await startApi();
    server.addPod(pod('a', { ips: ['10.0.0.1'] }));
    const { w, events } = newWatcher(server);
    await server.stop();

    await w.start(); // resolves although nothing answers
    await waitUntil('a failed attempt', () => w.status().lastError !== undefined);
    assert.equal(w.status().synced, false);
    assert.deepEqual(events.all, []);

    await server.restart();
    await waitUntil('synced', () => w.status().synced);
    assert.deepEqual(events.sinceMark(), ['upsert default/a']);
  });

  it('reports an API that refuses (403) and recovers when it is allowed', async function () {
    const server = await startApi();
    server.addPod(pod('a', { ips: ['10.0.0.1'] }));
    server.failRequestsWith(403);
    const { w, events } = newWatcher(server);
    await w.start();

    await waitUntil('the 403 to be reported', () => w.status().lastError !== undefined);
    assert.match(w.status().lastError ?? '', /403/);
    assert.equal(w.status().synced, false);

    server.failRequestsWith(undefined);
    await waitUntil('synced', () => w.status().synced);
    assert.deepEqual(events.sinceMark(), ['upsert default/a']);
  });

  it('backs off while watches are refused although lists work, and starts over once a watch is up', async function () {
    const server = await startApi();
    server.failWatchesWith(403);
    const warnings: Array<{ retryInMs: number; err: string }> = [];
    const capture = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    const { w, events } = newWatcher(server, capture);
    await w.start();

    await waitUntil('four refused watches', () => warnings.length >= 4);
    // Doubling, each spread by ±20 % (backoff.ts).
    const delays = warnings.slice(0, 4).map((x) => x.retryInMs);
    [50, 100, 200, 400].forEach((nominal, i) => {
      const d = delays[i] ?? 0;
      assert.ok(d >= nominal * 0.8 && d <= nominal * 1.2, `a successful list alone does not reset the backoff: ${delays.join(', ')}`);
    });
    assert.match(warnings[0]?.err ?? '', /HTTP 403/);

    server.failWatchesWith(undefined);
    await waitUntil('a watch to be open', () => server.openWatchCount() === 1 && w.status().synced);
    server.addPod(pod('seen-through-the-watch', { ips: ['10.0.0.1'] }));
    await waitUntil('an event through the watch', () => events.count('upsert', 'seen-through-the-watch') === 1);
    const before = warnings.length;
    server.dropWatches();
    await waitUntil('the next failure', () => warnings.length > before);
    const reset = warnings[before]?.retryInMs ?? 0;
    assert.ok(reset >= 40 && reset <= 60, `an established watch resets the backoff: ${reset}`);
  });

  it('emits nothing and holds no watch after stop()', async function () {
    const server = await startApi();
    const { w, events } = await startSynced(server);
    await waitUntil('a watch to be open', () => server.openWatchCount() === 1);

    await w.stop();
    await waitUntil('the watch to close', () => server.openWatchCount() === 0);
    server.addPod(pod('after-stop', { ips: ['10.0.0.1'] }));
    server.addPod(pod('marker', { ips: ['10.0.0.2'] }));
    // Nothing is listening any more, so there is nothing to wait for but the server.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(events.all, []);
    assert.equal(server.openWatchCount(), 0);
  });

  it('closes a watch that was still connecting when stop() came', async function () {
    const server = await startApi();
    server.holdWatchResponses();
    const { w } = await startSynced(server);
    await waitUntil('the watch request', () => server.watchRequests().length === 1);

    await w.stop();
    server.releaseWatchResponses();
    await waitUntil('the late watch to be closed by the client', () => server.openWatchCount() === 0);
    assert.equal(server.watchRequests()[0]?.status, 200);
  });

  it('keeps calling listeners when one of them throws', async function () {
    const server = await startApi();
    server.addPod(pod('a', { ips: ['10.0.0.1'] }));
    const { w, events } = newWatcher(server);
    w.onUpsert(() => {
      throw new Error('a broken consumer');
    });
    await w.start();
    await waitUntil('synced', () => w.status().synced);
    await waitUntil('a watch to be open', () => server.openWatchCount() === 1);
    server.addPod(pod('b', { ips: ['10.0.0.2'] }));
    await waitUntil('b', () => events.count('upsert', 'b') === 1);
    assert.equal(events.count('upsert', 'a'), 1);
  });

  it('refuses an empty node name', async function () {
    const server = await startApi();
    dir = mkdtempSync(join(tmpdir(), 'pod-watcher-'));
    const kubeConfig = loadKubeConfig({ kubeconfig: server.writeKubeconfig(dir) }, {});
    assert.ok(kubeConfig);
    assert.throws(() => new PodWatcher({ kubeConfig, nodeName: '', logger }), /node name/);
  });
});

function names(pods: PodEndpoint[]): string[] {
  return pods.map((p) => p.name).sort();
}

function uidOf(server: KubeApiServer, name: string): string {
  const uid = server.getPod('default', name)?.metadata?.uid;
  assert.ok(uid !== undefined, `no pod ${name}`);
  return uid;
}

/** The pod as an older API server would store it: status.podIP only. */
function dropPodIps(stored: ReturnType<KubeApiServer['getPod']>) {
  assert.ok(stored !== undefined);
  const copy = structuredClone(stored);
  if (copy.status !== undefined) delete copy.status.podIPs;
  return copy;
}
