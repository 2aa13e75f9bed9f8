// The C structs passed to libbpf and the bpf() syscall, declared once as koffi
// structs: their sizes and member offsets come from these declarations (no
// byte offsets written by hand), and test/bpf/libbpf-structs.test.ts compares
// every member with the installed headers (<bpf/libbpf.h>, <bpf/bpf.h>,
// <linux/bpf.h>) by compiling a C program that prints sizeof and offsetof.
//
// libbpf's option structs start with `size_t sz`, the size the caller knows:
// a caller may pass fewer members than the library has (a prefix), never more.
import koffi, { type TypeObject } from 'koffi';

/** A koffi struct type. */
export type CStruct = TypeObject;

export const LIBBPF_STRUCTS = {
  /** struct bpf_obj_get_opts (bpf.h). */
  bpf_obj_get_opts: koffi.struct('bpf_obj_get_opts', { sz: 'size_t', file_flags: 'uint32_t' }),
  /** struct bpf_tc_hook (libbpf.h); attach_point is enum bpf_tc_attach_point. */
  bpf_tc_hook: koffi.struct('bpf_tc_hook', { sz: 'size_t', ifindex: 'int', attach_point: 'uint32_t', parent: 'uint32_t' }),
  /** struct bpf_tc_opts (libbpf.h). */
  bpf_tc_opts: koffi.struct('bpf_tc_opts', {
    sz: 'size_t',
    prog_fd: 'int',
    flags: 'uint32_t',
    prog_id: 'uint32_t',
    handle: 'uint32_t',
    priority: 'uint32_t',
  }),
  /** struct bpf_link_create_opts (bpf.h), up to flags: the rest (per-attach-type unions) stays zero. */
  bpf_link_create_opts: koffi.struct('bpf_link_create_opts', { sz: 'size_t', flags: 'uint32_t' }),
} as const;

/** Kernel info structs (linux/bpf.h), the leading members the agent reads. */
export const KERNEL_STRUCTS = {
  bpf_map_info: koffi.struct('bpf_map_info', {
    type: 'uint32_t',
    id: 'uint32_t',
    key_size: 'uint32_t',
    value_size: 'uint32_t',
    max_entries: 'uint32_t',
    map_flags: 'uint32_t',
    name: koffi.array('char', 16, 'Array'),
  }),
  // The union after prog_id is 8-aligned (its members hold __aligned_u64);
  // a tcx link's member is { ifindex, attach_type } (kernel 6.6+).
  bpf_link_info: koffi.struct('bpf_link_info', {
    type: 'uint32_t',
    id: 'uint32_t',
    prog_id: 'uint32_t',
    target: koffi.union('bpf_link_info_target', {
      tcx: koffi.struct('bpf_link_info_tcx', { ifindex: 'uint32_t', attach_type: 'uint32_t' }),
      aligned: 'uint64_t',
    }),
  }),
} as const;

/** Structs declared up to the members the agent uses (smaller than the C struct; the rest stays zero or unread). */
export const PREFIX_STRUCTS: ReadonlySet<string> = new Set(['bpf_link_create_opts', 'bpf_map_info', 'bpf_link_info']);

/** Members whose C name differs: the union of bpf_link_info is anonymous (its first member names its offset). */
export const C_MEMBER_NAMES: Readonly<Record<string, string>> = { 'bpf_link_info.target': 'raw_tracepoint' };

/** An option struct with `sz` set to the size this process declares, and `fields`. */
export function optsBuffer(type: CStruct, fields: Record<string, number>): Buffer {
  const buf = Buffer.alloc(koffi.sizeof(type));
  koffi.encode(buf, 0, type, { ...fields, sz: buf.length });
  return buf;
}

/** A zeroed buffer of a struct's size (for info calls the kernel fills). */
export function structBuffer(type: CStruct): Buffer {
  return Buffer.alloc(koffi.sizeof(type));
}

/** Byte offset of a member. */
export function offsetOf(type: CStruct, member: string): number {
  return koffi.offsetof(type, member);
}
