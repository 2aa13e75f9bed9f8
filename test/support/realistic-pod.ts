// A pod the size real clusters serve (~6 kB of JSON): labels, annotations,
// managedFields, two containers with env, probes and mounts, volumes,
// conditions and container statuses. makePod() gives the few fields the agent
// reads; this wraps it in the rest, so that memory measured with it is what
// a node's pod watch carries.
import type { V1Pod } from '@kubernetes/client-node';
import { makePod, type PodSpecOptions } from './kube-api-server.js';

export function makeRealisticPod(opts: PodSpecOptions): V1Pod {
  const pod = makePod(opts);
  const name = opts.name;
  const app = name.replace(/-[a-z0-9]+-[a-z0-9]+$/, '');
  const time = new Date('2026-11-25T10:00:00Z');
  pod.metadata = {
    ...pod.metadata,
    generateName: `${app}-`,
    creationTimestamp: time,
    labels: {
      app,
      'app.kubernetes.io/name': app,
      'app.kubernetes.io/part-of': 'shop',
      'pod-template-hash': '7d9f8c6b5',
      tier: 'backend',
      version: 'v1.42.0',
    },
    annotations: {
      'kubectl.kubernetes.io/restartedAt': time.toISOString(),
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '8080',
      'cni.projectcalico.org/podIP': `${opts.ips?.[0] ?? ''}/32`,
      'cni.projectcalico.org/containerID': 'f'.repeat(64),
    },
    ownerReferences: [
      {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: `${app}-7d9f8c6b5`,
        uid: '5c2e7a1e-2f7b-4c1e-9d7a-0b1c2d3e4f50',
        controller: true,
        blockOwnerDeletion: true,
      },
    ],
    managedFields: [
      {
        manager: 'kube-controller-manager',
        operation: 'Update',
        apiVersion: 'v1',
        time,
        fieldsType: 'FieldsV1',
        fieldsV1: {
          'f:metadata': { 'f:generateName': {}, 'f:labels': { '.': {}, 'f:app': {}, 'f:pod-template-hash': {} }, 'f:ownerReferences': {} },
          'f:spec': { 'f:containers': {}, 'f:volumes': {} },
        },
      },
      {
        manager: 'kubelet',
        operation: 'Update',
        apiVersion: 'v1',
        time,
        fieldsType: 'FieldsV1',
        subresource: 'status',
        fieldsV1: { 'f:status': { 'f:conditions': {}, 'f:containerStatuses': {}, 'f:podIP': {}, 'f:podIPs': {}, 'f:startTime': {} } },
      },
    ],
  };
  const container = (c: string, image: string) => ({
    name: c,
    image,
    imagePullPolicy: 'IfNotPresent',
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'DATABASE_URL', valueFrom: { secretKeyRef: { name: `${app}-db`, key: 'url' } } },
    ],
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    livenessProbe: {
      httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' },
      periodSeconds: 10,
      timeoutSeconds: 1,
      failureThreshold: 3,
      successThreshold: 1,
    },
    readinessProbe: {
      httpGet: { path: '/readyz', port: 8080, scheme: 'HTTP' },
      periodSeconds: 5,
      timeoutSeconds: 1,
      failureThreshold: 3,
      successThreshold: 1,
    },
    volumeMounts: [
      { name: 'config', mountPath: '/etc/app', readOnly: true },
      { name: 'kube-api-access-x7k2p', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
    ],
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
  });
  pod.spec = {
    ...pod.spec,
    containers: [container('main', 'registry.example/shop/app:1.42.0'), container('envoy', 'registry.example/envoy:1.31.2')],
    volumes: [
      { name: 'config', configMap: { name: `${app}-config`, defaultMode: 420 } },
      {
        name: 'kube-api-access-x7k2p',
        projected: {
          defaultMode: 420,
          sources: [
            { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          ],
        },
      },
    ],
    restartPolicy: 'Always',
    terminationGracePeriodSeconds: 30,
    dnsPolicy: 'ClusterFirst',
    serviceAccountName: app,
    schedulerName: 'default-scheduler',
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
    priority: 0,
    enableServiceLinks: true,
  };
  pod.status = {
    ...pod.status,
    hostIP: '192.0.2.10',
    hostIPs: [{ ip: '192.0.2.10' }],
    startTime: time,
    qosClass: 'Burstable',
    conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map((type) => ({
      type,
      status: 'True',
      lastTransitionTime: time,
    })),
    containerStatuses: ['main', 'envoy'].map((c) => ({
      name: c,
      image: `registry.example/${c}:1`,
      imageID: `registry.example/${c}@sha256:${'a'.repeat(64)}`,
      containerID: `containerd://${'b'.repeat(64)}`,
      ready: true,
      started: true,
      restartCount: 0,
      state: { running: { startedAt: time } },
    })),
  };
  return pod;
}
