// Other programs on a tcx hook, as other agents and CNIs put them there:
// two-instruction SCHED_CLS programs loaded with libbpf and linked to an
// interface, held by the test (closing the fds detaches them). Debian's
// bpftool 7.1 predates tcx, so the hook is also queried here.
import { closeSync } from 'node:fs';
import koffi from 'koffi';
import { LIBBPF_SONAME, lastErrno, libbpf, type Fd } from '../../src/bpf/libbpf.js';

export const BPF_TCX_INGRESS = 46;
export const BPF_TCX_EGRESS = 47;
/** Verdicts: TCX_NEXT runs the next program; TCX_PASS ends the chain (what a CNI returns for a packet it lets through). */
export const TCX_NEXT = -1;
export const TCX_PASS = 0;
const BPF_PROG_TYPE_SCHED_CLS = 3;

const lib = koffi.load(LIBBPF_SONAME);
// int bpf_prog_load(enum bpf_prog_type, const char *name, const char *license,
//                   const struct bpf_insn *insns, size_t insn_cnt, const struct bpf_prog_load_opts *opts)
const bpfProgLoad = lib.func(
  'int bpf_prog_load(int type, const char *name, const char *license, const void *insns, size_t cnt, const void *opts)',
) as (type: number, name: string, license: string, insns: Buffer, cnt: number, opts: null) => number;
// int bpf_prog_query(int target, enum bpf_attach_type, __u32 query_flags,
//                    __u32 *attach_flags, __u32 *prog_ids, __u32 *prog_cnt); for tcx the target is the ifindex
const bpfProgQuery = lib.func(
  'int bpf_prog_query(int target, int type, uint32_t flags, void *attach_flags, void *ids, _Inout_ uint32_t *cnt)',
) as (target: number, type: number, flags: number, attachFlags: null, ids: Buffer, cnt: [number]) => number;

/** Programs and links the test holds; close() detaches them all. */
export class TcxPrograms {
  private readonly fds: number[] = [];

  /** Loads `r0 = verdict; exit` and links it to the hook, after what is there. Returns the errno on refusal. */
  attach(ifindex: number, hook: number, verdict: number, name: string): number {
    const insns = Buffer.alloc(16);
    insns.writeUInt8(0xb7, 0); // BPF_ALU64 | BPF_MOV | BPF_K, dst r0
    insns.writeInt32LE(verdict, 4);
    insns.writeUInt8(0x95, 8); // BPF_JMP | BPF_EXIT
    const prog = bpfProgLoad(BPF_PROG_TYPE_SCHED_CLS, name, 'GPL', insns, 2, null);
    if (prog < 0) throw new Error(`bpf_prog_load ${name}: errno ${-prog}`);
    this.fds.push(prog);
    const link = libbpf.bpf_link_create(prog as Fd, ifindex, hook, null);
    if (link < 0) return lastErrno();
    this.fds.push(link);
    return 0;
  }

  close(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd);
  }
}

/** The ids of the programs the kernel runs at a tcx hook of ifindex, in order. */
export function tcxProgramIds(ifindex: number, hook: number): number[] {
  const cnt: [number] = [256];
  const ids = Buffer.alloc(4 * 256);
  const err = bpfProgQuery(ifindex, hook, 0, null, ids, cnt);
  if (err < 0) throw new Error(`bpf_prog_query on ifindex ${ifindex}: ${err}`);
  return Array.from({ length: cnt[0] }, (_, i) => ids.readUInt32LE(i * 4));
}

/** How many programs the kernel runs at a tcx hook of ifindex. */
export function tcxProgramCount(ifindex: number, hook: number): number {
  return tcxProgramIds(ifindex, hook).length;
}
