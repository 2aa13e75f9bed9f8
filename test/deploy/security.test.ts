// The security shape of what `kubectl apply -k deploy/base` creates: the
// agent gets exactly the documented capabilities and host paths, and the API
// access it needs, nothing more.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { isScalar, isSeq, parseDocument } from 'yaml';
import { renderKustomization, type KubeObject } from './kustomize.js';
import { deployDir } from './paths.js';

/** The capabilities the agent needs; daemonset.yaml says why for each. */
const CAPABILITIES = ['BPF', 'NET_ADMIN', 'PERFMON', 'SYSLOG'];
/** Host paths: bpffs (pinned maps and links) only; the drop hook needs no tracefs. */
const HOST_PATHS = [{ path: '/sys/fs/bpf', mountPath: '/sys/fs/bpf', readOnly: false }];

function one<T extends KubeObject>(objects: KubeObject[], kind: string): T {
  const found = objects.filter((o) => o.kind === kind);
  assert.equal(found.length, 1, `expected one ${kind}`);
  return found[0] as T;
}

/** Every value under key `name` anywhere in x. */
function findKey(x: unknown, name: string, out: unknown[] = []): unknown[] {
  if (Array.isArray(x)) for (const v of x) findKey(v, name, out);
  else if (typeof x === 'object' && x !== null) {
    for (const [k, v] of Object.entries(x)) {
      if (k === name) out.push(v);
      findKey(v, name, out);
    }
  }
  return out;
}

describe('deploy: security shape of the base', () => {
  let objects: KubeObject[] = [];
  let pod: IPodSpec;
  let containers: IContainer[];

  before(async () => {
    objects = await renderKustomization(join(deployDir, 'base'));
    const ds = one<KubeObject & IDaemonSet>(objects, 'DaemonSet');
    assert.ok(ds.spec?.template.spec);
    pod = ds.spec.template.spec;
    containers = [...pod.containers, ...(pod.initContainers ?? [])];
  });

  it('is privileged nowhere', () => {
    assert.deepEqual(
      findKey(objects, 'privileged').filter((v) => v !== false),
      [],
    );
    assert.equal(pod.hostPID ?? false, false);
    assert.equal(pod.hostIPC ?? false, false);
  });

  it('runs in the host network namespace (to see the host side of pod veths)', () => {
    assert.equal(pod.hostNetwork, true);
    assert.equal(pod.dnsPolicy, 'ClusterFirstWithHostNet');
  });

  it('drops ALL capabilities and adds exactly the documented ones', () => {
    for (const c of containers) {
      const caps = c.securityContext?.capabilities;
      assert.deepEqual(caps?.drop, ['ALL'], c.name);
      assert.deepEqual([...(caps?.add ?? [])].sort(), CAPABILITIES, c.name);
    }
  });

  it('says why for each capability, in a comment on it', async () => {
    const doc = parseDocument(await readFile(join(deployDir, 'base', 'daemonset.yaml'), 'utf8'));
    const add = doc.getIn(['spec', 'template', 'spec', 'containers', 0, 'securityContext', 'capabilities', 'add'], true);
    assert.ok(isSeq(add), 'capabilities.add is not a list');
    add.items.forEach((item, i) => {
      assert.ok(isScalar(item));
      // The yaml parser hangs the first item's comment on the list itself.
      const comment = (i === 0 ? add.commentBefore : item.commentBefore) ?? '';
      assert.ok(comment.trim().length > 20, `capability ${String(item.value)} has no comment`);
    });
  });

  it('cannot gain privileges and writes nothing to its image', () => {
    for (const c of containers) {
      const sc = c.securityContext;
      assert.equal(sc?.allowPrivilegeEscalation, false, c.name);
      assert.equal(sc?.readOnlyRootFilesystem, true, c.name);
      assert.equal(sc?.seccompProfile?.type, 'RuntimeDefault', c.name);
    }
  });

  it('mounts only bpffs from the host (no tracefs, no debugfs)', () => {
    const hostVolumes = (pod.volumes ?? []).filter((v) => v.hostPath);
    assert.deepEqual(
      hostVolumes.map((v) => ({ path: v.hostPath?.path, type: v.hostPath?.type })),
      HOST_PATHS.map((h) => ({ path: h.path, type: 'Directory' })),
    );
    assert.deepEqual(
      (pod.volumes ?? []).filter((v) => !v.hostPath),
      [],
      'only hostPath volumes are expected',
    );
    for (const c of containers) {
      const mounts = (c.volumeMounts ?? []).map((m) => {
        const volume = hostVolumes.find((v) => v.name === m.name);
        return { path: volume?.hostPath?.path, mountPath: m.mountPath, readOnly: m.readOnly ?? false };
      });
      assert.deepEqual(mounts, HOST_PATHS, c.name);
    }
  });

  it('takes NODE_NAME from the downward API and passes it on', () => {
    const [agent] = pod.containers;
    assert.ok(agent);
    const env = (agent.env ?? []).find((e) => e.name === 'NODE_NAME');
    assert.deepEqual(env?.valueFrom, { fieldRef: { fieldPath: 'spec.nodeName' } });
    assert.ok(agent.args?.includes('--node-name=$(NODE_NAME)'));
  });

  it('pins under its own directory of the mounted bpffs', () => {
    const [agent] = pod.containers;
    assert.ok(agent?.args?.includes('--bpffs=/sys/fs/bpf/datapath-exporter'));
  });

  it('probes /healthz for liveness (and startup) and /readyz for readiness on the metrics port', () => {
    const [agent] = pod.containers;
    assert.ok(agent);
    assert.deepEqual(agent.ports, [{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
    assert.deepEqual(agent.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' });
    assert.deepEqual(agent.startupProbe?.httpGet, { path: '/healthz', port: 'metrics' });
    assert.deepEqual(agent.readinessProbe?.httpGet, { path: '/readyz', port: 'metrics' });
    assert.ok(agent.args?.includes('--metrics-addr=0.0.0.0:9464'));
  });

  it('has resource requests and limits', () => {
    for (const c of containers) {
      const r = c.resources;
      for (const kind of ['cpu', 'memory']) {
        assert.ok(r?.requests?.[kind], `${c.name}: no ${kind} request`);
        assert.ok(r?.limits?.[kind], `${c.name}: no ${kind} limit`);
      }
    }
  });

  it('runs on every node, before ordinary pods, and rolls out in steps', () => {
    assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
    assert.equal(pod.priorityClassName, 'system-node-critical');
    const ds = one<KubeObject & IDaemonSet>(objects, 'DaemonSet');
    assert.equal(ds.spec?.updateStrategy?.type, 'RollingUpdate');
    assert.ok(ds.spec?.updateStrategy?.rollingUpdate?.maxUnavailable);
  });

  it('may only get, list and watch pods', () => {
    assert.deepEqual(
      objects.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding').map((o) => o.kind),
      [],
    );
    const role = one<KubeObject & IClusterRole>(objects, 'ClusterRole');
    assert.deepEqual(role.rules, [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }]);
    assert.equal(role.aggregationRule, undefined);

    const binding = one<KubeObject & IClusterRoleBinding>(objects, 'ClusterRoleBinding');
    assert.deepEqual(binding.roleRef, {
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: role.metadata.name,
    });
    const sa = one(objects, 'ServiceAccount');
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace }]);
    assert.equal(pod.serviceAccountName, sa.metadata.name);
  });
});
