// The lab most end-to-end tests of pods use: two pods (twoPodLab) that the
// suite's Kubernetes API server knows, and agents started against it, each
// on a pin dir of its own and returned once the pod list has synced.
// stopAgents() after each test, destroy() after all.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExporterProcess, removePinDir, testPinDir, waitFor } from './exporter.js';
import { KubeApiServer, makePod } from './kube-api-server.js';
import type { Lab } from './lab.js';
import { sumOf } from './metrics-text.js';
import { type LabPod, type PodNetwork, twoPodLab } from './pod-network.js';

/** The node name the agents run as and the pods are scheduled on. */
export const LAB_NODE = 'lab-node';

export interface LabPodName {
  name: string;
  namespace: string;
}

/**
 * An agent that knows the node's pods from the suite's API server (the pod
 * list synced when this returns), on the interfaces matching `interfaces`,
 * with a pin dir of its own: the caller stops it and removes the pins.
 */
export async function startPodAgent(
  kubeconfig: string,
  interfaces: string,
  extra: string[] = [],
): Promise<{ p: ExporterProcess; pinDir: string }> {
  const pinDir = testPinDir();
  const p = await ExporterProcess.start([
    '--bpffs',
    pinDir,
    '--poll-interval',
    '200ms',
    '--kubeconfig',
    kubeconfig,
    '--node-name',
    LAB_NODE,
    '--interfaces',
    interfaces,
    '--cilium-metrics-map',
    'none',
    ...extra,
  ]);
  try {
    await waitFor(
      async () => sumOf(await p.scrape(), 'datapath_exporter_kubernetes_synced'),
      (v) => v === 1,
    );
  } catch (err) {
    await p.stop();
    removePinDir(pinDir);
    throw err;
  }
  return { p, pinDir };
}

export class PodLabAgents {
  private readonly agents: Array<{ p: ExporterProcess; pinDir: string }> = [];

  private constructor(
    readonly lab: Lab,
    readonly net: PodNetwork,
    /** The client pod (10.<subnet>.1.2). */
    readonly a: LabPod,
    /** The server pod (10.<subnet>.2.2). */
    readonly b: LabPod,
    readonly api: KubeApiServer,
    private readonly dir: string,
  ) {}

  /** The lab (see twoPodLab) and an API server that lists pod a and pod b under these names. */
  static async create(
    names: readonly [string, string],
    subnet: number,
    pods: readonly [LabPodName, LabPodName],
    opts: { receiverPort?: number } = {},
  ): Promise<PodLabAgents> {
    const { lab, net, a, b } = await twoPodLab(names, subnet, opts);
    let api: KubeApiServer | undefined;
    try {
      api = await KubeApiServer.start();
      api.addPod(makePod({ ...pods[0], nodeName: LAB_NODE, ips: [a.ip] }));
      api.addPod(makePod({ ...pods[1], nodeName: LAB_NODE, ips: [b.ip] }));
      return new PodLabAgents(lab, net, a, b, api, mkdtempSync(join(tmpdir(), 'dpx-kube-')));
    } catch (err) {
      await api?.stop();
      lab.destroy();
      throw err;
    }
  }

  /** An agent on the lab's pod interfaces that knows the pods (synced when this returns); `extra` flags after the lab's. */
  async start(extra: string[] = []): Promise<ExporterProcess> {
    const agent = await startPodAgent(this.api.writeKubeconfig(this.dir), this.net.interfaceGlob, extra);
    this.agents.push(agent);
    return agent.p;
  }

  /** Stops every agent started (SIGTERM) and removes its pins. */
  async stopAgents(): Promise<void> {
    for (const { p, pinDir } of this.agents.splice(0)) {
      await p.stop();
      removePinDir(pinDir);
    }
  }

  async destroy(): Promise<void> {
    try {
      await this.stopAgents();
      await this.api.stop();
    } finally {
      this.lab.destroy();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}
