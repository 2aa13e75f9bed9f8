// Which kernel functions the running kernel's BTF declares: kfuncs a program
// may call exist only from some version on, so the variant to load is chosen
// by what the kernel has, not by its version number (distributions backport).
import { libbpf } from './libbpf.js';

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
