// What the datapath needs to know about a pod: who it is and which IPs its
// packets carry, from the slim record the pod cache keeps (slim-pods.ts).
import type { SlimPod } from './slim-pods.js';
import type { Workload } from './workload.js';

export interface PodEndpoint {
  uid: string;
  namespace: string;
  name: string;
  /** status.podIPs (dual stack), or status.podIP on servers that only fill that; may be empty while Pending. */
  ips: string[];
  /**
   * A hostNetwork pod shares the node's IPs, so its "IPs" do not identify it;
   * it is still reported so that callers can decide, and must ignore it for
   * IP-to-pod attribution.
   */
  hostNetwork: boolean;
  workload: Workload;
}

// A finished pod keeps its IPs in status, but the IPs are free for reuse.
const FINISHED_PHASES = new Set(['Succeeded', 'Failed']);

/** The pod's endpoint, or undefined when the pod no longer has one (finished). */
export function podEndpoint(pod: SlimPod): PodEndpoint | undefined {
  if (FINISHED_PHASES.has(pod.phase)) return undefined;
  const { uid, namespace, name } = pod.metadata;
  return { uid, namespace, name, ips: pod.ips, hostNetwork: pod.hostNetwork, workload: pod.workload };
}

export function sameEndpoint(a: PodEndpoint, b: PodEndpoint): boolean {
  return (
    a.uid === b.uid &&
    a.namespace === b.namespace &&
    a.name === b.name &&
    a.hostNetwork === b.hostNetwork &&
    a.workload.kind === b.workload.kind &&
    a.workload.name === b.workload.name &&
    a.ips.length === b.ips.length &&
    a.ips.every((ip, i) => ip === b.ips[i])
  );
}
