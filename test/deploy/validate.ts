// Validates rendered objects: core kinds against the Kubernetes OpenAPI
// schemas (kubernetes-models), the Prometheus Operator's kinds against the
// few fields this project relies on (no CRD model package is installed).
import { DaemonSet, type IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { ClusterRole, type IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding, type IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Namespace, type INamespace } from 'kubernetes-models/v1/Namespace';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { ServiceAccount, type IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { KubeObject } from './kustomize.js';

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Throws with the schema's message when obj is invalid for its kind. */
function validateCore(obj: KubeObject): boolean {
  const data: unknown = obj;
  switch (`${obj.apiVersion}/${obj.kind}`) {
    case 'v1/Namespace':
      new Namespace(data as INamespace).validate();
      return true;
    case 'v1/ServiceAccount':
      new ServiceAccount(data as IServiceAccount).validate();
      return true;
    case 'v1/Service':
      new Service(data as IService).validate();
      return true;
    case 'apps/v1/DaemonSet':
      new DaemonSet(data as IDaemonSet).validate();
      return true;
    case 'rbac.authorization.k8s.io/v1/ClusterRole':
      new ClusterRole(data as IClusterRole).validate();
      return true;
    case 'rbac.authorization.k8s.io/v1/ClusterRoleBinding':
      new ClusterRoleBinding(data as IClusterRoleBinding).validate();
      return true;
    default:
      return false;
  }
}

const RELABEL_ACTIONS = [
  'replace',
  'keep',
  'drop',
  'hashmod',
  'labelmap',
  'labeldrop',
  'labelkeep',
  'lowercase',
  'uppercase',
  'keepequal',
  'dropequal',
];

function checkRelabelings(where: string, list: unknown): void {
  if (list === undefined) return;
  if (!Array.isArray(list)) throw new Error(`${where}: not a list`);
  for (const [i, r] of list.entries()) {
    if (!isRecord(r)) throw new Error(`${where}[${i}]: not a mapping`);
    for (const key of Object.keys(r)) {
      if (!['sourceLabels', 'separator', 'targetLabel', 'regex', 'modulus', 'replacement', 'action'].includes(key)) {
        throw new Error(`${where}[${i}]: unknown field ${key}`);
      }
    }
    if (r.action !== undefined && !RELABEL_ACTIONS.includes(String(r.action))) {
      throw new Error(`${where}[${i}]: unknown action ${String(r.action)}`);
    }
    if (r.regex !== undefined) new RegExp(String(r.regex));
  }
}

/** monitoring.coreos.com/v1 ServiceMonitor: the fields of its CRD used here. */
function validateServiceMonitor(obj: KubeObject): void {
  const spec = obj.spec;
  if (!isRecord(spec)) throw new Error('ServiceMonitor: no spec');
  if (!isRecord(spec.selector)) throw new Error('ServiceMonitor: spec.selector is required');
  if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) throw new Error('ServiceMonitor: no endpoints');
  for (const [i, ep] of spec.endpoints.entries()) {
    if (!isRecord(ep)) throw new Error(`endpoints[${i}]: not a mapping`);
    if (typeof ep.port !== 'string') throw new Error(`endpoints[${i}].port: a port name is required`);
    if (ep.interval !== undefined && !/^(\d+(ms|s|m|h))+$/.test(String(ep.interval))) {
      throw new Error(`endpoints[${i}].interval: not a duration`);
    }
    checkRelabelings(`endpoints[${i}].relabelings`, ep.relabelings);
    checkRelabelings(`endpoints[${i}].metricRelabelings`, ep.metricRelabelings);
  }
}

/** monitoring.coreos.com/v1 PrometheusRule: groups of named rules. */
function validatePrometheusRule(obj: KubeObject): void {
  const spec = obj.spec;
  if (!isRecord(spec) || !Array.isArray(spec.groups)) throw new Error('PrometheusRule: spec.groups is required');
  for (const g of spec.groups) {
    if (!isRecord(g) || typeof g.name !== 'string' || !Array.isArray(g.rules)) {
      throw new Error('PrometheusRule: every group needs a name and rules');
    }
    for (const r of g.rules) {
      if (!isRecord(r) || typeof r.expr !== 'string') throw new Error(`group ${g.name}: a rule without expr`);
      if ((typeof r.alert === 'string') === (typeof r.record === 'string')) {
        throw new Error(`group ${g.name}: each rule is either an alert or a record`);
      }
    }
  }
}

/** Throws when obj is invalid; throws too for a kind nobody here can check. */
export function validateObject(obj: KubeObject): void {
  if (validateCore(obj)) return;
  switch (`${obj.apiVersion}/${obj.kind}`) {
    case 'monitoring.coreos.com/v1/ServiceMonitor':
      return validateServiceMonitor(obj);
    case 'monitoring.coreos.com/v1/PrometheusRule':
      return validatePrometheusRule(obj);
    default:
      throw new Error(`no validator for ${obj.apiVersion} ${obj.kind}`);
  }
}
