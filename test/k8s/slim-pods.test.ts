// The pod cache holds slim records, not Pod objects: what slimPod keeps of a
// real-sized pod, and what client-node's ListWatch inside the PodWatcher holds
// after a list and after watch events (real client-node, the suite's server).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ListWatch } from '@kubernetes/client-node';
import { pino } from 'pino';
import { loadKubeConfig } from '../../src/k8s/kube-config.js';
import { PodWatcher } from '../../src/k8s/pod-watcher.js';
import { slimPod, type SlimPod } from '../../src/k8s/slim-pods.js';
import { KubeApiServer } from '../support/kube-api-server.js';
import { makeRealisticPod } from '../support/realistic-pod.js';

const NODE = 'node-a';
const SLIM_KEYS = ['hostNetwork', 'ips', 'metadata', 'phase', 'terminating', 'workload'];
const META_KEYS = ['name', 'namespace', 'resourceVersion', 'uid'];

describe('slim pod records', function () {
  it('keeps name, namespace, uid, resourceVersion, IPs, hostNetwork, phase, deletion and workload of a real-sized pod, nothing else', function () {
    const pod = makeRealisticPod({
      name: 'cart-7d9f8c6b5-x2x9z',
      namespace: 'shop',
      nodeName: NODE,
      ips: ['10.0.0.5', 'fd00::5'],
      uid: 'uid-cart',
    });
    pod.metadata = { ...pod.metadata, resourceVersion: '42' };
    assert.ok(JSON.stringify(pod).length > 4000, 'the pod is real-sized');
    assert.deepEqual(slimPod(pod), {
      metadata: { name: 'cart-7d9f8c6b5-x2x9z', namespace: 'shop', uid: 'uid-cart', resourceVersion: '42' },
      ips: ['10.0.0.5', 'fd00::5'],
      hostNetwork: false,
      phase: 'Running',
      terminating: false,
      workload: { kind: 'Deployment', name: 'cart' },
    });
    // As a watch event carries it (plain JSON, deletionTimestamp a string) ...
    const terminating = JSON.parse(JSON.stringify({ ...pod, metadata: { ...pod.metadata, deletionTimestamp: new Date() } })) as typeof pod;
    assert.equal(slimPod(terminating).terminating, true);
    // ... and with only status.podIP, on hostNetwork.
    const legacy = { ...pod, spec: { ...pod.spec!, hostNetwork: true }, status: { phase: 'Pending', podIP: '10.0.0.9' } };
    assert.deepEqual([slimPod(legacy).ips, slimPod(legacy).hostNetwork, slimPod(legacy).phase], [['10.0.0.9'], true, 'Pending']);
  });

  describe('in the PodWatcher (real client-node, test API server)', function () {
    let api: KubeApiServer | undefined;
    let watcher: PodWatcher | undefined;
    let dir = '';

    afterEach(async function () {
      await watcher?.stop();
      await api?.stop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('ListWatch caches only slim records, from the list and from watch events', async function () {
      api = await KubeApiServer.start();
      for (let i = 0; i < 3; i++)
        api.addPod(makeRealisticPod({ name: `listed-7d9f8c6b5-${i}xxxx`, namespace: 'shop', nodeName: NODE, ips: [`10.0.0.${i + 2}`] }));
      dir = mkdtempSync(join(tmpdir(), 'slim-pods-'));
      const kubeConfig = loadKubeConfig({ kubeconfig: api.writeKubeconfig(dir) }, {});
      assert.ok(kubeConfig);
      const w = new PodWatcher({ kubeConfig, nodeName: NODE, logger: pino({ level: 'silent' }) });
      watcher = w;
      const upserts: string[] = [];
      w.onUpsert((p) => upserts.push(p.name));
      await w.start();
      await until(() => w.status().synced && api!.openWatchCount() === 1);
      // Watch events: a new pod, a changed one.
      api.addPod(makeRealisticPod({ name: 'watched-7d9f8c6b5-aaaaa', namespace: 'shop', nodeName: NODE, ips: ['10.0.0.9'] }));
      const changed = makeRealisticPod({
        name: 'listed-7d9f8c6b5-0xxxx',
        namespace: 'shop',
        nodeName: NODE,
        ips: ['10.0.0.20'],
        uid: api.getPod('shop', 'listed-7d9f8c6b5-0xxxx')?.metadata?.uid ?? '',
      });
      api.updatePod(changed);
      await until(() => upserts.includes('watched-7d9f8c6b5-aaaaa') && upserts.filter((n) => n === 'listed-7d9f8c6b5-0xxxx').length === 2);

      // The informer is private: read it the way the agent's process holds it.
      const informer = (w as unknown as { informer: ListWatch<SlimPod> }).informer;
      const cached = informer.list();
      assert.equal(cached.length, 4);
      for (const record of cached) {
        assert.deepEqual(Object.keys(record).sort(), SLIM_KEYS);
        assert.deepEqual(Object.keys(record.metadata).sort(), META_KEYS);
      }
      assert.deepEqual(informer.get('listed-7d9f8c6b5-0xxxx', 'shop')?.ips, ['10.0.0.20']);
      assert.equal(
        informer.get('watched-7d9f8c6b5-aaaaa', 'shop')?.metadata.resourceVersion,
        api.getPod('shop', 'watched-7d9f8c6b5-aaaaa')?.metadata?.resourceVersion,
      );
    });

    it("lists a node of 1,234 pods in pages of 500, all at the first page's resourceVersion, and watches from it", async function () {
      api = await KubeApiServer.start();
      for (let i = 0; i < 1234; i++)
        api.addPod(
          makeRealisticPod({
            name: `paged-7d9f8c6b5-${i.toString(36).padStart(5, 'x')}`,
            namespace: `ns-${i % 7}`,
            nodeName: NODE,
            ips: [`10.1.${i >> 8}.${i & 255}`],
          }),
        );
      api.addPod(makeRealisticPod({ name: 'other-7d9f8c6b5-xxxxx', namespace: 'ns-0', nodeName: 'node-b', ips: ['10.2.0.1'] }));
      const rv = api.resourceVersion;
      dir = mkdtempSync(join(tmpdir(), 'slim-pods-'));
      const kubeConfig = loadKubeConfig({ kubeconfig: api.writeKubeconfig(dir) }, {});
      assert.ok(kubeConfig);
      const w = new PodWatcher({ kubeConfig, nodeName: NODE, logger: pino({ level: 'silent' }) });
      watcher = w;
      const seen = new Set<string>();
      w.onUpsert((p) => seen.add(`${p.namespace}/${p.name}`));
      await w.start();
      await until(() => w.status().synced && api!.openWatchCount() === 1);
      assert.equal(seen.size, 1234);
      assert.equal(w.pods().length, 1234);
      assert.equal(api.listRequests().length, 3, 'three pages');
      assert.deepEqual(
        api.watchRequests().map((r) => r.resourceVersion),
        [rv],
        "the watch starts at the list's resourceVersion",
      );
      // A pod added after the list arrives through that watch.
      api.addPod(makeRealisticPod({ name: 'late-7d9f8c6b5-xxxxx', namespace: 'ns-1', nodeName: NODE, ips: ['10.3.0.1'] }));
      await until(() => seen.has('ns-1/late-7d9f8c6b5-xxxxx'));
    });
  });
});

async function until(cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
