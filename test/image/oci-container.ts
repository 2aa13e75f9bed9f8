// Runs an image the way a node's container runtime does: crun (a real OCI
// runtime) on a bundle whose rootfs is the image's own (`podman image mount`)
// and whose config.json the caller derived (runtime-config.ts).
//
// Two things differ from podman here, both forced by this machine:
//   - no rlimits in the config: `podman run` always asks the runtime to set
//     some (RLIMIT_NPROC ...), and this machine's root lacks CAP_SYS_RESOURCE,
//     so every podman run fails with "setrlimit RLIMIT_NPROC: EPERM";
//   - crun runs in a mount namespace of its own in which the cgroup v2 tree
//     (/sys/fs/cgroup/unified) is unmounted, with no cgroup manager: the host
//     is in cgroup "hybrid" mode with a controller on v2, which crun refuses.
//     The namespace is a slave of the host's, so mounts the host makes later
//     (bpffs) still reach the container, as HostToContainer promises.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../deploy/exec.js';
import type { ImageConfig, OciConfig } from './runtime-config.js';

/** The image's config (Entrypoint, Cmd, Env, WorkingDir) from its stored metadata. */
export async function imageConfig(image: string): Promise<ImageConfig> {
  const r = await run('podman', ['image', 'inspect', '--format', '{{json .Config}}', image]);
  if (r.code !== 0) throw new Error(`podman image inspect ${image}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as ImageConfig;
}

/**
 * A root filesystem for one container of the image: the image's layers under
 * a writable layer of the container's own (what containerd's snapshotter
 * gives a runtime), so that the runtime can make the mount points it needs
 * before it remounts the root read-only as the config asks.
 */
export async function containerRootfs(image: string): Promise<{ path: string; remove(): Promise<void> }> {
  const name = `dpx-rootfs-${randomBytes(3).toString('hex')}`;
  const from = await run('buildah', ['from', '--pull-never', '--name', name, image]);
  if (from.code !== 0) throw new Error(`buildah from ${image}: ${from.stderr.trim()}`);
  const mount = await run('buildah', ['mount', name]);
  if (mount.code !== 0) {
    await run('buildah', ['rm', name]);
    throw new Error(`buildah mount ${name}: ${mount.stderr.trim()}`);
  }
  return {
    path: mount.stdout.trim(),
    remove: async () => {
      await run('buildah', ['umount', name]);
      await run('buildah', ['rm', name]);
    },
  };
}

export class OciContainer {
  private stderrText = '';
  private readonly exited: Promise<number | null>;

  private constructor(
    readonly id: string,
    private readonly child: ChildProcess,
    private readonly bundle: string,
  ) {
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      this.stderrText += d;
    });
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      this.stderrText += d;
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Creates a bundle (rootfs → the mounted image, config.json) and starts `crun run` in the foreground. */
  static start(rootfs: string, config: OciConfig): OciContainer {
    const bundle = mkdtempSync(join(tmpdir(), 'dpx-bundle-'));
    symlinkSync(rootfs, join(bundle, 'rootfs'));
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config, null, 1));
    const id = `dpx-image-${randomBytes(3).toString('hex')}`;
    const script = 'umount -l /sys/fs/cgroup/unified 2>/dev/null; exec crun --cgroup-manager=disabled run --bundle "$1" "$2"';
    const child = spawn('unshare', ['--mount', '--propagation', 'slave', 'sh', '-c', script, 'sh', bundle, id], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new OciContainer(id, child, bundle);
  }

  get output(): string {
    return this.stderrText;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The container's exit code (crun run returns it). */
  wait(): Promise<number | null> {
    return this.exited;
  }

  /** The host pid of the container's first process (crun state). */
  async pid(): Promise<number> {
    const r = await run('crun', ['state', this.id]);
    if (r.code !== 0) throw new Error(`crun state ${this.id}: ${r.stderr.trim()}`);
    return (JSON.parse(r.stdout) as { pid: number }).pid;
  }

  /** What the kubelet does to stop a pod: SIGTERM through the runtime, then the exit code. */
  async stop(signal = 'TERM', graceMs = 30_000): Promise<number | null> {
    if (this.running) await run('crun', ['kill', this.id, signal]);
    const timer = setTimeout(() => void run('crun', ['kill', this.id, 'KILL']), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }

  /** Stops (if needed) and removes the container's state and bundle. */
  async remove(): Promise<void> {
    if (this.running) await this.stop('KILL', 5_000);
    await run('crun', ['delete', '--force', this.id]);
    rmSync(this.bundle, { recursive: true, force: true });
  }
}

/** A service-account directory as the kubelet projects it (token, ca.crt, namespace). */
export function serviceAccountDir(token: string, caPem: string, namespace: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'dpx-sa-'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'token'), token);
  writeFileSync(join(dir, 'ca.crt'), caPem);
  writeFileSync(join(dir, 'namespace'), namespace);
  return dir;
}
