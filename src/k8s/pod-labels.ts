// The boundary between kernel data and exported labels for pods: the export
// stage asks this for the namespace and pod of an endpoint slot.
import type { EndpointSlot } from '../bpf/contract.js';

export interface PodLabels {
  namespace: string;
  pod: string;
}

export interface PodLabelResolver {
  labelsOf(slot: EndpointSlot): PodLabels | undefined;
}

/** Running without Kubernetes: no slot has a pod. */
export const NO_PODS: PodLabelResolver = { labelsOf: () => undefined };
