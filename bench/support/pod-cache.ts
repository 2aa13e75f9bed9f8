// What the pod cache holds, in one process: client-node's ListWatch fed
// whole Pod objects (as the agent's watch was before) against the agent's
// PodWatcher (slim records, paged list), both synced to the same real-sized
// pods from the suite's API server. Prints JSON: heap used after a full GC
// with each watch running and synced, minus the heap before it started.
// Run by hand: node --expose-gc dist/bench/support/pod-cache.js [--pods 4096]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, ListWatch, type V1Pod, Watch } from '@kubernetes/client-node';
import { pino } from 'pino';
import { loadKubeConfig } from '../../src/k8s/kube-config.js';
import { PodWatcher } from '../../src/k8s/pod-watcher.js';
import { KubeApiServer } from '../../test/support/kube-api-server.js';
import { makeRealisticPod } from '../../test/support/realistic-pod.js';
import { numberFlag } from './report.js';

const PODS = numberFlag('pods', 4096);
const NODE = 'cache-node';
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

const heap = async () => {
  await new Promise((r) => setTimeout(r, 200));
  gc();
  return process.memoryUsage().heapUsed;
};

const api = await KubeApiServer.start();
const dir = mkdtempSync(join(tmpdir(), 'dpx-pod-cache-'));
try {
  for (let i = 0; i < PODS; i++)
    api.addPod(
      makeRealisticPod({
        name: `checkout-api-7d9f8c6b5-${i.toString(36).padStart(5, 'x')}`,
        namespace: `team-${i % 20}-prod`,
        nodeName: NODE,
        ips: [`10.9.${i >> 8}.${i & 255}`],
      }),
    );
  const kubeConfig = loadKubeConfig({ kubeconfig: api.writeKubeconfig(dir) }, {});
  if (!kubeConfig) throw new Error('no kubeconfig');
  const fieldSelector = `spec.nodeName=${NODE}`;
  const until = async (cond: () => boolean) => {
    while (!cond()) await new Promise((r) => setTimeout(r, 20));
  };

  // Whole objects: client-node's ListWatch as the docs build it.
  let base = await heap();
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const whole = new ListWatch<V1Pod>(
    '/api/v1/pods',
    new Watch(kubeConfig),
    () => core.listPodForAllNamespaces({ fieldSelector }),
    false,
    undefined,
    fieldSelector,
  );
  await whole.start();
  await until(() => whole.list().length === PODS);
  const wholeBytes = (await heap()) - base;
  await whole.stop();

  // The agent's: slim records.
  base = await heap();
  const slim = new PodWatcher({ kubeConfig, nodeName: NODE, logger: pino({ level: 'silent' }) });
  await slim.start();
  await until(() => slim.status().synced && slim.pods().length === PODS);
  const slimBytes = (await heap()) - base;
  await slim.stop();

  process.stdout.write(
    `${JSON.stringify({ pods: PODS, podJsonBytes: JSON.stringify(api.listPods()[0]).length, wholeMb: wholeBytes / 1e6, slimMb: slimBytes / 1e6 })}\n`,
  );
} finally {
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
}
