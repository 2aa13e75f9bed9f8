// The agent reaches @kubernetes/client-node only through its one-module
// bundle (src/k8s/kubernetes-client.ts, built by `npm run bundle`): what the
// suite runs is what the launcher and the image run, and the bundle is of the
// client that package-lock.json installs.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { loadKubeConfig } from '../../src/k8s/kube-config.js';
import { PodWatcher } from '../../src/k8s/pod-watcher.js';
import { KubeApiServer, makePod } from '../support/kube-api-server.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const installedVersion = (
  JSON.parse(readFileSync(join(repoRoot, 'node_modules/@kubernetes/client-node/package.json'), 'utf8')) as { version: string }
).version;

describe('the Kubernetes client bundle', () => {
  it('is what #kubernetes-client resolves to: one module, not the package', () => {
    const resolved = fileURLToPath(import.meta.resolve('#kubernetes-client'));
    assert.equal(resolved, join(repoRoot, 'dist/vendor/kubernetes-client.js'));
    assert.ok(statSync(resolved).size > 100_000, 'the bundle holds the client');
    assert.doesNotMatch(
      readFileSync(resolved, 'utf8'),
      /from\s*["']@kubernetes\/client-node|["'][^"']*node_modules\/@kubernetes/,
      'the bundle imports nothing of the package',
    );
  });

  it('is the only way src/ imports the client', () => {
    const files = readdirSync(join(repoRoot, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
    const direct = files.filter((f) =>
      /from ['"]@kubernetes\/client-node['"]|import\(['"]@kubernetes\/client-node['"]\)/.test(
        readFileSync(join(repoRoot, 'src', f), 'utf8'),
      ),
    );
    assert.deepEqual(direct, ['k8s/kubernetes-client.ts'], 'only the bundle entry imports the package');
    const bypass = files.filter((f) =>
      /from ['"][./]+(k8s\/)?kubernetes-client\.js['"]/.test(readFileSync(join(repoRoot, 'src', f), 'utf8')),
    );
    assert.deepEqual(bypass, [], 'no module imports the entry around the bundle');
  });

  it('talks to the API server as the installed client version', async function () {
    const api = await KubeApiServer.start();
    const dir = mkdtempSync(join(tmpdir(), 'k8s-bundle-'));
    let watcher: PodWatcher | undefined;
    try {
      api.addPod(makePod({ name: 'web', nodeName: 'node-a', ips: ['10.0.0.5'] }));
      const kubeConfig = loadKubeConfig({ kubeconfig: api.writeKubeconfig(dir) }, {});
      assert.ok(kubeConfig);
      watcher = new PodWatcher({ kubeConfig, nodeName: 'node-a', logger: pino({ level: 'silent' }) });
      await watcher.start();
      const deadline = Date.now() + 15_000;
      while (!watcher.status().synced && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(watcher.status().synced, 'the watch synced through the bundle');
      // The generated API's requests name the client and its version (the
      // watch's are plain undici fetches, in the package as in the bundle).
      const lists = api.listRequests();
      assert.ok(lists.length > 0);
      assert.deepEqual([...new Set(lists.map((r) => r.userAgent))], [`kubernetes-client-javascript/${installedVersion}`]);
    } finally {
      await watcher?.stop();
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
