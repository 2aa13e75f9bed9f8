// The pod cache keeps a slim record per pod, never the Pod object: a real
// Pod is kilobytes of JSON (labels, annotations, managedFields, containers,
// conditions), and client-node's ListWatch caches whatever it is handed.
// So every object is slimmed before ListWatch sees it: list items in the
// list function, watch events in the Watch callback. ListWatch itself stays
// (its resourceVersion bookkeeping, 410 relist, reconnects); it only needs
// metadata.name, namespace and resourceVersion, which the record keeps.
import type { KubeConfig, V1Pod } from '#kubernetes-client';
import { ClosableWatch } from './closable-watch.js';
import { type Workload, workloadOf } from './workload.js';

/** What the agent uses of a pod, and ListWatch's keys. */
export interface SlimPod {
  metadata: { name: string; namespace: string; uid: string; resourceVersion?: string };
  /** status.podIPs (dual stack), or status.podIP on servers that only fill that; may be empty while Pending. */
  ips: string[];
  hostNetwork: boolean;
  phase: string;
  /** deletionTimestamp is set: still an endpoint (its IP carries traffic) until the DELETED event. */
  terminating: boolean;
  /** The Deployment, StatefulSet, … it belongs to (itself when bare), from its owner and labels. */
  workload: Workload;
}

/** A Pod as the API serves it: a V1Pod from the generated client, or the plain JSON of a watch event. */
type PodObject = Pick<V1Pod, 'metadata' | 'spec' | 'status'>;

export function slimPod(pod: PodObject): SlimPod {
  const m = pod.metadata;
  return {
    metadata: {
      name: m?.name ?? '',
      namespace: m?.namespace ?? '',
      uid: m?.uid ?? '',
      resourceVersion: m?.resourceVersion,
    },
    ips: podIps(pod),
    hostNetwork: pod.spec?.hostNetwork === true,
    phase: pod.status?.phase ?? '',
    terminating: m?.deletionTimestamp !== undefined && m.deletionTimestamp !== null,
    workload: workloadOf(m ?? {}),
  };
}

type WatchArgs = Parameters<ClosableWatch['watch']>;

/**
 * Without events for this long a watch is taken for dead and reconnected. The
 * API server sends a bookmark about every minute, so a quiet but healthy
 * watch outlives it, and its resourceVersion stays recent: a reconnect resumes
 * instead of failing with 410 and relisting every pod of the node.
 */
export const WATCH_INACTIVITY_MS = 90_000;

/** The pod watch, handing ListWatch slim records instead of Pod objects. */
export class SlimPodWatch extends ClosableWatch {
  constructor(config: KubeConfig, onEstablished?: () => void) {
    super(config, onEstablished);
    // client-node has no option for it (the field is private in its types only).
    (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = WATCH_INACTIVITY_MS;
  }

  override watch(...[path, queryParams, callback, done]: WatchArgs): Promise<AbortController> {
    return super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true },
      (phase: string, obj: unknown) => {
        // ERROR (a Status) and BOOKMARK pass as they are: ListWatch reads their code / resourceVersion.
        const slim = phase === 'ADDED' || phase === 'MODIFIED' || phase === 'DELETED' ? slimPod(obj as PodObject) : obj;
        // The raw event (third argument) is not passed on: ListWatch does not use it.
        callback(phase, slim, undefined);
      },
      done,
    );
  }
}

function podIps(pod: PodObject): string[] {
  const fromList = (pod.status?.podIPs ?? []).map((p) => p.ip).filter((ip) => ip !== '' && ip !== undefined);
  const ips = fromList.length > 0 ? fromList : [pod.status?.podIP ?? ''].filter((ip) => ip !== '');
  return [...new Set(ips)];
}
