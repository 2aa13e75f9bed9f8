// The OCI runtime config (a bundle's config.json) that a container runtime
// makes for the DaemonSet's container, derived from the manifest and the
// image's own config, so that a run of the image uses exactly what
// deploy/base/daemonset.yaml says and cannot drift from it:
//   - process: the image's ENTRYPOINT with the container's args (Kubernetes:
//     args replace CMD, command would replace ENTRYPOINT), $(VAR) expanded
//     from the container's env; the image's Env and WorkingDir, then the
//     container's env; uid/gid from runAsUser/runAsGroup;
//   - capabilities: drop ALL + add, the same set in bounding, effective and
//     permitted (none inheritable or ambient, as containerd and CRI-O do);
//     noNewPrivileges from allowPrivilegeEscalation: false;
//   - root filesystem read-only from readOnlyRootFilesystem;
//   - seccomp RuntimeDefault: podman's default profile (seccomp-profile.ts);
//   - namespaces: hostNetwork (and so the host's UTS namespace) shares the
//     host's; pid, ipc and mount are the container's own;
//   - mounts: the runtime's usual /proc, /dev, /sys (read-only), and the
//     container's volumeMounts of hostPath volumes, with their propagation.
// What the kubelet adds, the caller gives as `kubelet`: the downward-API
// values (spec.nodeName), the service-account directory and the API
// server's address (KUBERNETES_SERVICE_HOST/PORT). The only settings a test
// changes are named in `overrides`, so that each change is visible.
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { CAPABILITY_GATES, PODMAN_DEFAULT_PROFILE, seccompForContainer, type OciSeccomp } from './seccomp-profile.js';

/** What `podman image inspect` says of an image's config. */
export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
}

/** What the node adds: the kubelet's values and the runtime's default seccomp profile. */
export interface KubeletPart {
  /** Values of downward-API fieldRefs, by fieldPath (spec.nodeName, ...). */
  fieldRefs: Record<string, string>;
  /** Host directory mounted read-only at /var/run/secrets/kubernetes.io/serviceaccount. */
  serviceAccountDir: string;
  apiServer: { host: string; port: number };
  /**
   * The runtime's RuntimeDefault seccomp profile: podman's as installed
   * (4.3 here: bpf(2) only with CAP_SYS_ADMIN), or that with the capability
   * gates of current containerd and moby (seccomp-profile.ts).
   */
  seccompDefault: 'podman' | 'podman+capability-gates';
}

/** Changes a test makes to the manifest's container, each for a stated reason. */
export interface Overrides {
  /** Replaces the value of `--flag=...` args of the same flag. */
  args?: Record<string, string>;
  /** Extra args appended after the manifest's. */
  extraArgs?: string[];
  /** Replaces the manifest's capabilities.add (to remove one). */
  capabilities?: string[];
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface OciConfig {
  ociVersion: string;
  root: { path: string; readonly: boolean };
  hostname?: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: Record<'bounding' | 'effective' | 'permitted' | 'inheritable' | 'ambient', string[]>;
    noNewPrivileges: boolean;
  };
  mounts: OciMount[];
  linux: {
    namespaces: { type: string }[];
    seccomp?: OciSeccomp;
    maskedPaths: string[];
    readonlyPaths: string[];
  };
}

export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/** mountPropagation → the bind mount's propagation (as the CRI runtimes map it). */
const PROPAGATION: Readonly<Record<string, string>> = {
  None: 'rprivate',
  HostToContainer: 'rslave',
  Bidirectional: 'rshared',
};

/** $(VAR) references in args, expanded from the container's env (Kubernetes' rule; $$ escapes). */
function expand(arg: string, env: Map<string, string>): string {
  return arg.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string | undefined) =>
    m === '$$' ? '$' : name !== undefined && env.has(name) ? (env.get(name) ?? '') : m,
  );
}

/** The DaemonSet's agent container and the pod spec around it. */
export function agentContainer(pod: IPodSpec): IContainer {
  const c = pod.containers[0];
  if (!c || pod.containers.length !== 1 || (pod.initContainers ?? []).length > 0) {
    throw new Error('expected one container and no init containers in the DaemonSet');
  }
  return c;
}

export function runtimeConfig(pod: IPodSpec, image: ImageConfig, kubelet: KubeletPart, overrides: Overrides = {}): OciConfig {
  const c = agentContainer(pod);
  const sc = c.securityContext ?? {};
  if (sc.privileged) throw new Error('privileged containers are not modelled');

  // Environment: the image's, then the container's (downward API resolved), then the kubelet's service variables.
  const env = new Map<string, string>();
  for (const e of image.Env ?? []) {
    const i = e.indexOf('=');
    env.set(e.slice(0, i), e.slice(i + 1));
  }
  const containerEnv = new Map<string, string>();
  for (const e of c.env ?? []) {
    let value = e.value;
    const ref = e.valueFrom?.fieldRef?.fieldPath;
    if (ref !== undefined) value = kubelet.fieldRefs[ref];
    if (value === undefined) throw new Error(`env ${e.name}: no value the test can give (${JSON.stringify(e.valueFrom)})`);
    containerEnv.set(e.name, expand(value, containerEnv));
  }
  for (const [k, v] of containerEnv) env.set(k, v);
  env.set('KUBERNETES_SERVICE_HOST', kubelet.apiServer.host);
  env.set('KUBERNETES_SERVICE_PORT', String(kubelet.apiServer.port));

  const entrypoint = c.command ?? image.Entrypoint ?? [];
  let args = (c.command !== undefined ? c.args : (c.args ?? image.Cmd)) ?? [];
  args = args.map((a) => expand(a, containerEnv));
  for (const [flag, value] of Object.entries(overrides.args ?? {})) {
    const at = args.findIndex((a) => a.startsWith(`${flag}=`));
    if (at < 0) throw new Error(`override of ${flag}: the manifest has no such arg`);
    args[at] = `${flag}=${value}`;
  }
  args = [...args, ...(overrides.extraArgs ?? [])];

  const drop = sc.capabilities?.drop ?? [];
  if (!drop.includes('ALL')) throw new Error('the container does not drop ALL capabilities: the runtime defaults would apply');
  const caps = (overrides.capabilities ?? sc.capabilities?.add ?? []).map((n) => `CAP_${n}`);

  const mounts: OciMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    // Not privileged: the runtime mounts sysfs read-only.
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  ];
  for (const m of c.volumeMounts ?? []) {
    const volume = (pod.volumes ?? []).find((v) => v.name === m.name);
    const hostPath = volume?.hostPath?.path;
    if (hostPath === undefined) throw new Error(`volume ${m.name}: only hostPath volumes are modelled`);
    const propagation = PROPAGATION[m.mountPropagation ?? 'None'];
    if (!propagation) throw new Error(`volume ${m.name}: unknown mountPropagation ${m.mountPropagation}`);
    mounts.push({ destination: m.mountPath, type: 'bind', source: hostPath, options: ['rbind', propagation, m.readOnly ? 'ro' : 'rw'] });
  }
  mounts.push({
    destination: SERVICE_ACCOUNT_MOUNT,
    type: 'bind',
    source: kubelet.serviceAccountDir,
    options: ['rbind', 'rprivate', 'ro'],
  });

  const namespaces = [{ type: 'pid' }, { type: 'ipc' }, { type: 'mount' }];
  if (!pod.hostNetwork) namespaces.push({ type: 'network' }, { type: 'uts' });

  const config: OciConfig = {
    ociVersion: '1.0.2',
    root: { path: 'rootfs', readonly: sc.readOnlyRootFilesystem === true },
    process: {
      terminal: false,
      user: { uid: sc.runAsUser ?? 0, gid: sc.runAsGroup ?? 0 },
      args: [...entrypoint, ...args],
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: image.WorkingDir || '/',
      capabilities: { bounding: caps, effective: caps, permitted: caps, inheritable: [], ambient: [] },
      noNewPrivileges: sc.allowPrivilegeEscalation === false,
    },
    mounts,
    linux: {
      namespaces,
      // The runtimes' defaults for an unprivileged container.
      maskedPaths: [
        '/proc/acpi',
        '/proc/asound',
        '/proc/kcore',
        '/proc/keys',
        '/proc/latency_stats',
        '/proc/timer_list',
        '/proc/timer_stats',
        '/proc/sched_debug',
        '/sys/firmware',
        '/proc/scsi',
      ],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  const seccomp = sc.seccompProfile?.type ?? 'RuntimeDefault';
  if (seccomp === 'RuntimeDefault') {
    const extra = kubelet.seccompDefault === 'podman' ? [] : CAPABILITY_GATES;
    config.linux.seccomp = seccompForContainer(caps, PODMAN_DEFAULT_PROFILE, extra);
  } else if (seccomp !== 'Unconfined') throw new Error(`seccompProfile ${seccomp} is not modelled`);
  if (!pod.hostNetwork) config.hostname = 'datapath-exporter';
  return config;
}
