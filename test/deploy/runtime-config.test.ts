// The run config that test/image/ gives the container runtime, derived from
// deploy/base/daemonset.yaml and the Dockerfile's runtime stage, checked on
// every run without building the image (scripts/test-image builds and runs
// it): what the manifest promises is what the runtime is asked for.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { dockerfileImageConfig } from '../image/dockerfile-config.js';
import { agentContainer, type KubeletPart, runtimeConfig, SERVICE_ACCOUNT_MOUNT } from '../image/runtime-config.js';
import { actionFor } from '../image/seccomp-profile.js';
import { renderKustomization, type KubeObject } from './kustomize.js';
import { deployDir } from './paths.js';

const kubelet = (seccompDefault: KubeletPart['seccompDefault']): KubeletPart => ({
  fieldRefs: { 'spec.nodeName': 'node-1' },
  serviceAccountDir: '/tmp/sa',
  apiServer: { host: '10.0.0.1', port: 443 },
  seccompDefault,
});

describe('deploy: the container runtime config derived from the DaemonSet and the Dockerfile', () => {
  let pod: IPodSpec;

  before(async () => {
    const ds = (await renderKustomization(join(deployDir, 'base'))).find((o) => o.kind === 'DaemonSet') as
      (KubeObject & IDaemonSet) | undefined;
    assert.ok(ds?.spec?.template.spec);
    pod = ds.spec.template.spec;
  });

  it("runs the image's ENTRYPOINT with the manifest's args, $(NODE_NAME) expanded, in /app", () => {
    const image = dockerfileImageConfig();
    const config = runtimeConfig(pod, image, kubelet('podman+capability-gates'));
    const args = (agentContainer(pod).args ?? []).map((a) => a.replace('$(NODE_NAME)', 'node-1'));
    assert.deepEqual(config.process.args, [...(image.Entrypoint ?? []), ...args]);
    assert.equal(config.process.args[0], 'node');
    assert.ok(config.process.args.includes('--node-name=node-1'));
    assert.equal(config.process.cwd, '/app');
    for (const e of ['NODE_ENV=production', 'MALLOC_MMAP_THRESHOLD_=131072', 'NODE_NAME=node-1', 'KUBERNETES_SERVICE_HOST=10.0.0.1']) {
      assert.ok(config.process.env.includes(e), e);
    }
  });

  it('holds exactly the listed capabilities, uid 0, no_new_privs, a read-only root', () => {
    const config = runtimeConfig(pod, dockerfileImageConfig(), kubelet('podman+capability-gates'));
    const listed = (agentContainer(pod).securityContext?.capabilities?.add ?? []).map((c) => `CAP_${c}`);
    assert.deepEqual([...listed].sort(), ['CAP_BPF', 'CAP_NET_ADMIN', 'CAP_PERFMON', 'CAP_SYSLOG']);
    const caps = config.process.capabilities;
    for (const set of ['bounding', 'effective', 'permitted'] as const) assert.deepEqual(caps[set], listed, set);
    assert.deepEqual(caps.inheritable, []);
    assert.deepEqual(caps.ambient, []);
    assert.deepEqual(config.process.user, { uid: 0, gid: 0 });
    assert.equal(config.process.noNewPrivileges, true);
    assert.equal(config.root.readonly, true);
  });

  it("shares the host's network namespace and mounts only bpffs from the host (rslave: HostToContainer)", () => {
    const config = runtimeConfig(pod, dockerfileImageConfig(), kubelet('podman+capability-gates'));
    assert.deepEqual(config.linux.namespaces.map((n) => n.type).sort(), ['ipc', 'mount', 'pid']);
    const binds = config.mounts.filter((m) => m.type === 'bind');
    assert.deepEqual(binds, [
      { destination: '/sys/fs/bpf', type: 'bind', source: '/sys/fs/bpf', options: ['rbind', 'rslave', 'rw'] },
      { destination: SERVICE_ACCOUNT_MOUNT, type: 'bind', source: '/tmp/sa', options: ['rbind', 'rprivate', 'ro'] },
    ]);
    assert.ok(
      config.mounts.some((m) => m.destination === '/sys' && m.options?.includes('ro')),
      'sysfs read-only',
    );
  });

  it("uses the runtime's default seccomp profile: podman 4.3's refuses bpf(2) without CAP_SYS_ADMIN; with current runtimes' capability gates it is allowed", () => {
    const podman = runtimeConfig(pod, dockerfileImageConfig(), kubelet('podman')).linux.seccomp;
    assert.ok(podman);
    assert.equal(podman.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(actionFor(podman, 'bpf'), 'SCMP_ACT_ERRNO');
    assert.equal(actionFor(podman, 'read'), 'SCMP_ACT_ALLOW');
    const gated = runtimeConfig(pod, dockerfileImageConfig(), kubelet('podman+capability-gates')).linux.seccomp;
    assert.ok(gated);
    assert.equal(actionFor(gated, 'bpf'), 'SCMP_ACT_ALLOW');
    assert.equal(actionFor(gated, 'perf_event_open'), 'SCMP_ACT_ALLOW');
    assert.equal(actionFor(gated, 'init_module'), 'SCMP_ACT_ERRNO', "everything else as podman's profile");
    assert.equal(actionFor(gated, 'chroot'), 'SCMP_ACT_ERRNO');
  });
});
