// Pods as the test API server stores them, and the field selectors it
// filters them with (only the fields the real server accepts for pods).
import type { V1Pod } from '@kubernetes/client-node';

export interface PodSpecOptions {
  name: string;
  namespace?: string;
  nodeName?: string;
  ips?: string[];
  hostNetwork?: boolean;
  phase?: string;
  uid?: string;
}

export type Requirement = { field: string; value: string; equal: boolean };
export type FieldSelector = Requirement[];

// The pod fields the real API server accepts in a field selector.
const POD_SELECTABLE_FIELDS = new Set([
  'metadata.name',
  'metadata.namespace',
  'spec.nodeName',
  'spec.restartPolicy',
  'spec.schedulerName',
  'spec.serviceAccountName',
  'spec.hostNetwork',
  'status.phase',
  'status.podIP',
  'status.nominatedNodeName',
]);

let uidCounter = 0;

/** A pod object as the API server would store it (resourceVersion is set by the server). */
export function makePod(opts: PodSpecOptions): V1Pod {
  const ips = opts.ips ?? [];
  const status: NonNullable<V1Pod['status']> = { phase: opts.phase ?? 'Running' };
  if (ips.length > 0) {
    status.podIP = ips[0];
    status.podIPs = ips.map((ip) => ({ ip }));
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: opts.name,
      namespace: opts.namespace ?? 'default',
      uid: opts.uid ?? `uid-${opts.name}-${++uidCounter}`,
    },
    spec: {
      nodeName: opts.nodeName,
      hostNetwork: opts.hostNetwork,
      containers: [{ name: 'main', image: 'registry.example/app:1' }],
    },
    status,
  };
}

export function podKey(pod: V1Pod): string {
  const name = pod.metadata?.name;
  if (name === undefined || name === '') throw new Error('pod has no metadata.name');
  return `${pod.metadata?.namespace ?? 'default'}/${name}`;
}

export function matchPodsPath(pathname: string): { namespace?: string } | undefined {
  if (pathname === '/api/v1/pods') return {};
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(pathname);
  return m?.[1] !== undefined ? { namespace: decodeURIComponent(m[1]) } : undefined;
}

export function parseFieldSelector(text: string): FieldSelector {
  if (text === '') return [];
  return text.split(',').map((term) => {
    const m = /^([a-zA-Z.]+)\s*(==|!=|=)\s*(.*)$/.exec(term.trim());
    if (m === null || m[1] === undefined || m[2] === undefined || m[3] === undefined) {
      throw new Error(`invalid field selector term "${term}"`);
    }
    if (!POD_SELECTABLE_FIELDS.has(m[1])) {
      throw new Error(`"${m[1]}" is not a known field selector: only ${[...POD_SELECTABLE_FIELDS].join(', ')}`);
    }
    return { field: m[1], value: m[3], equal: m[2] !== '!=' };
  });
}

export function inScope(pod: V1Pod, namespace: string | undefined, selector: FieldSelector): boolean {
  if (namespace !== undefined && pod.metadata?.namespace !== namespace) return false;
  return selector.every((req) => (fieldValue(pod, req.field) === req.value) === req.equal);
}

function fieldValue(pod: V1Pod, field: string): string {
  let value: unknown = pod;
  for (const part of field.split('.')) {
    value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
  }
  if (value === undefined || value === null) return field === 'spec.hostNetwork' ? 'false' : '';
  return String(value);
}
