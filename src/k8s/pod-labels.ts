// The boundary between kernel data and exported labels for pods: the export
// stage asks this for the namespace and pod of an endpoint slot.
import type { EndpointSlot } from '../bpf/contract.js';

export interface PodLabels {
  namespace: string;
  pod: string;
  /** The pod's workload (its Deployment, StatefulSet, …; the pod itself when bare). */
  workload: string;
  /** `Deployment`, `StatefulSet`, `DaemonSet`, `ReplicaSet`, `Job`, `CronJob`, `Pod`, or another controller's kind. */
  workloadKind: string;
  /** The pod's uid: not a label, but who holds the slot ("" for no pod). */
  uid: string;
}

/** The labels of no pod (traffic of no known pod). */
export const NO_POD_LABELS: PodLabels = Object.freeze({ namespace: '', pod: '', workload: '', workloadKind: '', uid: '' });

export interface PodLabelResolver {
  labelsOf(slot: EndpointSlot): PodLabels | undefined;
  /** The pod an address (dotted IPv4 or IPv6 text) is one of, if a pod with a slot holds it. */
  labelsOfAddress(address: string): PodLabels | undefined;
}

/** Running without Kubernetes: no slot or address has a pod. */
export const NO_PODS: PodLabelResolver = { labelsOf: () => undefined, labelsOfAddress: () => undefined };
