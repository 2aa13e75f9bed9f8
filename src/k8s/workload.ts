// The workload a pod belongs to, from the pod alone: its controller
// ownerReference, and the names Kubernetes' own controllers give what they
// create. No watch on ReplicaSets or Jobs is needed (a cluster-wide watch of
// those from every node would cost more than the pod watch itself):
//
// - The Deployment controller names a ReplicaSet `<deployment>-<hash>` and
//   labels its pods `pod-template-hash: <hash>`, so a ReplicaSet owner whose
//   name ends in `-<that hash>` belongs to the Deployment before it. A
//   ReplicaSet made by hand (no such label) is its own workload.
// - The CronJob controller names a Job `<cronjob>-<scheduled time in
//   minutes since the epoch>` (8 digits until the year 2160), so a Job owner
//   whose name ends in `-` and 8 or more digits is taken as its CronJob's. A
//   Job named that way by hand is attributed to a CronJob of the prefix's
//   name: the price of not watching Jobs, and said in README.
// - A pod without a controller is its own workload.

/** The workload kinds that labels and OTLP attributes name. */
export type WorkloadKind = 'Deployment' | 'ReplicaSet' | 'StatefulSet' | 'DaemonSet' | 'Job' | 'CronJob' | 'Pod' | (string & {});

export interface Workload {
  kind: WorkloadKind;
  name: string;
}

/** The fields of a pod's metadata that the workload is read from. */
export interface OwnedObjectMeta {
  name?: string;
  labels?: Record<string, string> | null;
  ownerReferences?: ReadonlyArray<{ kind: string; name: string; controller?: boolean | null }> | null;
}

const POD_TEMPLATE_HASH = 'pod-template-hash';
const CRONJOB_SCHEDULE_SUFFIX = /^(.+)-\d{8,}$/;

export function workloadOf(meta: OwnedObjectMeta): Workload {
  const owner = meta.ownerReferences?.find((o) => o.controller === true);
  if (!owner) return { kind: 'Pod', name: meta.name ?? '' };
  if (owner.kind === 'ReplicaSet') {
    const hash = meta.labels?.[POD_TEMPLATE_HASH];
    if (hash && owner.name.endsWith(`-${hash}`) && owner.name.length > hash.length + 1) {
      return { kind: 'Deployment', name: owner.name.slice(0, -hash.length - 1) };
    }
    return { kind: 'ReplicaSet', name: owner.name };
  }
  if (owner.kind === 'Job') {
    const cron = CRONJOB_SCHEDULE_SUFFIX.exec(owner.name);
    return cron?.[1] ? { kind: 'CronJob', name: cron[1] } : { kind: 'Job', name: owner.name };
  }
  return { kind: owner.kind, name: owner.name };
}

/**
 * The OpenTelemetry semantic-convention attribute that names a workload of
 * this kind (`k8s.deployment.name`, …), or undefined for a bare pod (its
 * `k8s.pod.name` already names it) and for kinds the conventions lack.
 */
export function otelWorkloadAttribute(kind: WorkloadKind): string | undefined {
  return OTEL_ATTRIBUTES[kind];
}

const OTEL_ATTRIBUTES: Readonly<Record<string, string>> = {
  Deployment: 'k8s.deployment.name',
  ReplicaSet: 'k8s.replicaset.name',
  StatefulSet: 'k8s.statefulset.name',
  DaemonSet: 'k8s.daemonset.name',
  Job: 'k8s.job.name',
  CronJob: 'k8s.cronjob.name',
};
