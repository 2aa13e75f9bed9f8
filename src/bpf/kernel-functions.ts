// Which kernel functions the running kernel's BTF declares: kfuncs a program
// may call exist only from some version on, so the variant to load is chosen
// by what the kernel has, not by its version number (distributions backport).
import { libbpf, readMemory } from './libbpf.js';

const BTF_KIND_FUNC = 12;

/** Whether the running kernel's BTF has a function named `name` (false without BTF). */
export function kernelHasFunction(name: string): boolean {
  const btf = libbpf.btf__load_vmlinux_btf();
  if (btf === null) return false;
  try {
    return libbpf.btf__find_by_name_kind(btf, name, BTF_KIND_FUNC) > 0;
  } finally {
    libbpf.btf__free(btf);
  }
}

const BTF_KIND_TYPEDEF = 8;
const BTF_TYPE_SIZE = 12; // struct btf_type: name_off, info, size/type

/**
 * The arguments of a tracepoint as its BTF-typed form passes them (the
 * typedef btf_trace_NAME: a pointer to a function of ctx and the arguments),
 * or undefined when the kernel's BTF has no such tracepoint. Arguments are
 * added over versions (tcp_retransmit_skb's err in 6.16), and a tp_btf
 * program that reads one the kernel lacks is rejected.
 */
export function tracepointArgCount(name: string): number | undefined {
  const btf = libbpf.btf__load_vmlinux_btf();
  if (btf === null) return undefined;
  try {
    const typedefId = libbpf.btf__find_by_name_kind(btf, `btf_trace_${name}`, BTF_KIND_TYPEDEF);
    if (typedefId <= 0) return undefined;
    let id = typedefId;
    for (let hop = 0; hop < 2; hop++) {
      // typedef -> pointer -> function prototype: each refers to the next in its third word.
      const type = libbpf.btf__type_by_id(btf, id);
      if (type === null) return undefined;
      id = readMemory(type, BTF_TYPE_SIZE).readUInt32LE(8);
    }
    const proto = libbpf.btf__type_by_id(btf, id);
    if (proto === null) return undefined;
    const vlen = readMemory(proto, BTF_TYPE_SIZE).readUInt32LE(4) & 0xffff;
    return vlen - 1; // the first parameter is the tracepoint's own context
  } finally {
    libbpf.btf__free(btf);
  }
}
