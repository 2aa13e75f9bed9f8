// The agent's bpffs directory: where its maps (and tc links) are pinned, and
// the lock that keeps a second agent on the node from attaching a second set
// of programs that would count every packet twice.
import { closeSync, existsSync, mkdirSync, openSync, rmSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { tryLockExclusive } from '../os/libc.js';

const BPF_FS_MAGIC = 0xcafe4a11;

export class PinDirError extends Error {}

export function isBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

/** Where bpffs lives on every distribution and in the DaemonSet. */
export const BPFFS_ROOT = '/sys/fs/bpf';

/**
 * Why `path` cannot hold pins, as one line that says how to fix it; undefined
 * when it can (it, or the directory it will be made in, is on bpffs).
 */
export function bpffsProblem(path: string): string | undefined {
  if (isBpffs(path) || isBpffs(dirname(path))) return undefined;
  if (path === BPFFS_ROOT || path.startsWith(`${BPFFS_ROOT}/`)) {
    return `bpffs is not mounted at ${BPFFS_ROOT}: mount it with: mount -t bpf bpf ${BPFFS_ROOT} (in Kubernetes: a hostPath volume of ${BPFFS_ROOT})`;
  }
  return `--bpffs ${path} is not on a bpffs mount: pin under ${BPFFS_ROOT} (the default is ${BPFFS_ROOT}/datapath-exporter; mount it with: mount -t bpf bpf ${BPFFS_ROOT})`;
}

export class PinDir {
  private constructor(
    readonly path: string,
    private fd: number | undefined,
    /** The directory did not exist before this agent: a failed start removes it. */
    private readonly created: boolean,
  ) {}

  /** Creates (if needed) and locks `path`, which must lie on a bpffs mount. */
  static acquire(path: string): PinDir {
    const problem = bpffsProblem(path);
    if (problem) throw new PinDirError(problem);
    const created = !existsSync(path);
    mkdirSync(path, { recursive: true, mode: 0o700 });
    const fd = openSync(path, 'r');
    if (!tryLockExclusive(fd)) {
      closeSync(fd);
      throw new PinDirError(`another datapath-exporter is running with ${path}; refusing to attach a second set of programs`);
    }
    return new PinDir(path, fd, created);
  }

  release(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd); // closing drops the flock
    this.fd = undefined;
  }

  /**
   * After a failed start: removes what this agent pinned when the directory
   * is its own creation, so a failed start leaves nothing behind. A directory
   * of an earlier run keeps its counters.
   */
  discard(): void {
    const owned = this.fd !== undefined && this.created;
    if (owned) rmSync(this.path, { recursive: true, force: true });
    this.release();
  }
}
