// The agent's bpffs directory: where its maps (and tc links) are pinned, and
// the lock that keeps a second agent on the node from attaching a second set
// of programs that would count every packet twice.
import { closeSync, mkdirSync, openSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { tryLockExclusive } from './libbpf.js';

const BPF_FS_MAGIC = 0xcafe4a11;

export class PinDirError extends Error {}

export function isBpffs(path: string): boolean {
  try {
    return statfsSync(path).type === BPF_FS_MAGIC;
  } catch {
    return false;
  }
}

export class PinDir {
  private constructor(
    readonly path: string,
    private fd: number | undefined,
  ) {}

  /** Creates (if needed) and locks `path`, which must lie on a bpffs mount. */
  static acquire(path: string): PinDir {
    const parent = dirname(path);
    if (!isBpffs(path) && !isBpffs(parent)) {
      throw new PinDirError(
        `${parent} is not a bpffs mount; mount it with: mount -t bpf bpf ${parent} (in Kubernetes: a hostPath volume of /sys/fs/bpf)`,
      );
    }
    mkdirSync(path, { recursive: true, mode: 0o700 });
    const fd = openSync(path, 'r');
    if (!tryLockExclusive(fd)) {
      closeSync(fd);
      throw new PinDirError(`another datapath-exporter is running with ${path}; refusing to attach a second set of programs`);
    }
    return new PinDir(path, fd);
  }

  release(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd); // closing drops the flock
    this.fd = undefined;
  }
}
