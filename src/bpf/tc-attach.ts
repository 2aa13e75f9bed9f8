// Attaching the tc programs to an interface's two hooks, exactly once.
//
// tcx (kernel 6.6+): a bpf_link per hook, pinned under <pinDir>/links so a
// restarted (or crashed) agent finds its links and swaps in its program with
// bpf_link_update instead of attaching a second time. Debian 12's libbpf 1.1
// predates tcx, so links are made with bpf_link_create and the raw attach
// types (BPF_TCX_INGRESS = 46, BPF_TCX_EGRESS = 47). Our links go first in
// the hook's chain (BPF_F_BEFORE): our programs only observe (TCX_NEXT), and
// a CNI's program that returns a verdict (Cilium's TCX_PASS or REDIRECT) ends
// the chain, so a program after it never sees the packet.
//
// clsact (older kernels): a filter with a fixed handle and priority of ours,
// attached with BPF_TC_F_REPLACE so attaching again replaces it.
import { constants } from 'node:os';
import { existsSync, mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BpfError } from './errors.js';
import { close, type Fd, lastErrno, libbpf } from './libbpf.js';
import { KERNEL_STRUCTS, LIBBPF_STRUCTS, offsetOf, optsBuffer, structBuffer } from './libbpf-structs.js';

export type TcMode = 'tcx' | 'clsact';
export type HostHook = 'ingress' | 'egress';
const HOOKS: readonly HostHook[] = ['ingress', 'egress'];

const BPF_TCX_ATTACH: Record<HostHook, number> = { ingress: 46, egress: 47 };
const BPF_TC_POINT: Record<HostHook, number> = { ingress: 1, egress: 2 };
const BPF_TC_F_REPLACE = 1;
const BPF_F_BEFORE = 1 << 3;
/** BPF_F_BEFORE with no relative program: the head of the chain. */
const FIRST_IN_CHAIN = optsBuffer(LIBBPF_STRUCTS.bpf_link_create_opts, { flags: BPF_F_BEFORE });
const TC_HANDLE = 0xd47a;
const TC_PRIORITY = 0xd47a;
const { EEXIST } = constants.errno;

export interface TcPrograms {
  ingress: Fd;
  egress: Fd;
}

interface Attachment {
  name: string;
  links: Partial<Record<HostHook, Fd>>;
}

export class TcAttacher {
  private readonly attached = new Map<number, Attachment>();
  private readonly linkDir: string;

  constructor(
    readonly mode: TcMode,
    pinDir: string,
    private readonly programs: TcPrograms,
  ) {
    this.linkDir = join(pinDir, 'links');
    if (mode === 'tcx') mkdirSync(this.linkDir, { recursive: true });
  }

  get count(): number {
    return this.attached.size;
  }

  isAttached(ifindex: number): boolean {
    return this.attached.has(ifindex);
  }

  /** Attaches both hooks of ifindex (idempotent, also across restarts). */
  attach(name: string, ifindex: number): void {
    if (this.attached.has(ifindex)) return;
    const a: Attachment = { name, links: {} };
    try {
      for (const hook of HOOKS) {
        if (this.mode === 'tcx') a.links[hook] = this.attachTcx(ifindex, hook);
        else this.attachClsact(ifindex, hook);
      }
    } catch (err) {
      this.release(ifindex, a, true);
      throw err;
    }
    this.attached.set(ifindex, a);
  }

  /** Forgets an interface that vanished (its hooks went with it). */
  forget(ifindex: number): void {
    const a = this.attached.get(ifindex);
    if (!a) return;
    this.attached.delete(ifindex);
    this.release(ifindex, a, false);
  }

  attachedIndexes(): number[] {
    return [...this.attached.keys()];
  }

  /** Detaches every hook of ours (shutdown). */
  detachAll(): void {
    for (const [ifindex, a] of this.attached) this.release(ifindex, a, true);
    this.attached.clear();
  }

  /** Removes link pins of interfaces that no longer exist (left by a crash). */
  pruneStaleLinks(exists: (ifindex: number) => boolean): void {
    if (this.mode !== 'tcx') return;
    for (const file of readdirSync(this.linkDir)) {
      const m = /^tcx-(\d+)-(ingress|egress)$/.exec(file);
      if (m && !exists(Number(m[1]))) unlinkSync(join(this.linkDir, file));
    }
  }

  private pinPath(ifindex: number, hook: HostHook): string {
    return join(this.linkDir, `tcx-${ifindex}-${hook}`);
  }

  private attachTcx(ifindex: number, hook: HostHook): Fd {
    const pin = this.pinPath(ifindex, hook);
    if (existsSync(pin)) {
      const fd = libbpf.bpf_obj_get(pin);
      if (fd >= 0 && linkIfindex(fd as Fd) === ifindex) {
        // Ours from an earlier run: keep the link, run this run's program.
        if (libbpf.bpf_link_update(fd as Fd, this.programs[hook], null) < 0) {
          const errno = lastErrno();
          close(fd as Fd);
          throw BpfError.fromErrno(`update tcx link on ifindex ${ifindex} ${hook}`, errno);
        }
        return fd as Fd;
      }
      if (fd >= 0) close(fd as Fd);
      unlinkSync(pin); // the interface it was on is gone
    }
    const fd = libbpf.bpf_link_create(this.programs[hook], ifindex, BPF_TCX_ATTACH[hook], FIRST_IN_CHAIN);
    if (fd < 0) throw BpfError.fromErrno(`attach tcx ${hook} on ifindex ${ifindex}`, lastErrno());
    if (libbpf.bpf_obj_pin(fd as Fd, pin) < 0) {
      const errno = lastErrno();
      close(fd as Fd);
      throw BpfError.fromErrno(`pin tcx link at ${pin}`, errno);
    }
    return fd as Fd;
  }

  private attachClsact(ifindex: number, hook: HostHook): void {
    const h = tcHook(ifindex, hook);
    const err = libbpf.bpf_tc_hook_create(h);
    if (err < 0 && -err !== EEXIST) throw BpfError.fromErrno(`create clsact on ifindex ${ifindex}`, -err);
    const opts = tcOpts(this.programs[hook], BPF_TC_F_REPLACE);
    const aerr = libbpf.bpf_tc_attach(h, opts);
    if (aerr < 0) throw BpfError.fromErrno(`attach tc ${hook} on ifindex ${ifindex}`, -aerr);
  }

  private release(ifindex: number, a: Attachment, detach: boolean): void {
    for (const hook of HOOKS) {
      if (this.mode === 'tcx') {
        // Without its pin and our fd the link has no reference left: detached.
        const pin = this.pinPath(ifindex, hook);
        if (existsSync(pin)) unlinkSync(pin);
        const fd = a.links[hook];
        if (fd !== undefined) close(fd);
      } else if (detach) {
        // ENOENT: the interface went away meanwhile; nothing left to detach.
        libbpf.bpf_tc_detach(tcHook(ifindex, hook), tcOpts(0 as Fd, 0, true));
      }
    }
  }
}

/** ifindex a tcx link is attached to; 0 once its interface is gone. */
function linkIfindex(fd: Fd): number {
  const info = structBuffer(KERNEL_STRUCTS.bpf_link_info);
  const len: [number] = [info.length];
  if (libbpf.bpf_obj_get_info_by_fd(fd, info, len) < 0) return 0;
  // The tcx member of the union: { ifindex, attach_type }.
  return info.readUInt32LE(offsetOf(KERNEL_STRUCTS.bpf_link_info, 'target'));
}

function tcHook(ifindex: number, hook: HostHook): Buffer {
  return optsBuffer(LIBBPF_STRUCTS.bpf_tc_hook, { ifindex, attach_point: BPF_TC_POINT[hook] });
}

/** For a detach, prog_fd (and prog_id) must stay 0: libbpf refuses them. */
function tcOpts(progFd: Fd, flags: number, forDetach = false): Buffer {
  return optsBuffer(LIBBPF_STRUCTS.bpf_tc_opts, { prog_fd: forDetach ? 0 : progFd, flags, handle: TC_HANDLE, priority: TC_PRIORITY });
}
