// How a pod is named on a series: at which granularity (the pod, its
// workload, its namespace, or not at all), and under each door's label names.
// The datapath families and the node families that know their pod (a pod's
// veth) name it the same way.
import { otelWorkloadAttribute } from '../k8s/workload.js';
import { NO_POD_LABELS, type PodLabels } from '../k8s/pod-labels.js';
import type { Granularity } from './series-options.js';

/**
 * What one door calls the same rows. Prometheus keeps `namespace`/`pod`
 * (joins with kube-state-metrics) and no unit (the name says it); OTLP uses
 * the semantic conventions' `k8s.namespace.name`/`k8s.pod.name`, leaves them
 * out for traffic of no pod, and carries UCUM units.
 */
export interface Naming {
  namespace: string;
  pod: string;
  /** The workload's name and kind as two labels (Prometheus); undefined: one attribute named by the kind (OTLP). */
  workload?: { name: string; kind: string };
  /** Leave pod attributes out when no pod is known (instead of ""). */
  omitNoPod: boolean;
  units: Record<'packets' | 'bytes', string>;
}

export const PROMETHEUS_NAMING: Naming = {
  namespace: 'namespace',
  pod: 'pod',
  workload: { name: 'workload', kind: 'workload_kind' },
  omitNoPod: false,
  units: { packets: '', bytes: '' },
};
export const OTLP_NAMING: Naming = {
  namespace: 'k8s.namespace.name',
  pod: 'k8s.pod.name',
  omitNoPod: true,
  units: { packets: '{packet}', bytes: 'By' },
};

/** The labels a pod's series are published under, at a granularity. */
export function coarsen(pod: PodLabels, granularity: Granularity): PodLabels {
  switch (granularity) {
    case 'pod':
      return pod;
    case 'workload':
      return { namespace: pod.namespace, pod: '', workload: pod.workload, workloadKind: pod.workloadKind, uid: '' };
    case 'namespace':
      return { namespace: pod.namespace, pod: '', workload: '', workloadKind: '', uid: '' };
    case 'node':
      return NO_POD_LABELS;
  }
}

/** Adds a pod's attributes, under a door's names, to a series' others. */
export function addPodAttributes(attributes: Record<string, string>, pod: PodLabels, naming: Naming): Record<string, string> {
  if (!naming.omitNoPod) {
    // One label set for every series of a metric, "" where a label has no value.
    attributes[naming.namespace] = pod.namespace;
    attributes[naming.pod] = pod.pod;
    if (naming.workload) {
      attributes[naming.workload.name] = pod.workload;
      attributes[naming.workload.kind] = pod.workloadKind;
    }
    return attributes;
  }
  // OTLP: only the attributes that have a value, the workload under its kind's name.
  if (pod.namespace !== '') attributes[naming.namespace] = pod.namespace;
  if (pod.pod !== '') attributes[naming.pod] = pod.pod;
  const workloadAttribute = otelWorkloadAttribute(pod.workloadKind);
  if (workloadAttribute && pod.workload !== '') attributes[workloadAttribute] = pod.workload;
  return attributes;
}
