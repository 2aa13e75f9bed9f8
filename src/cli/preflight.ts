// Checks made before anything is loaded, so that a missing privilege or an
// old kernel is one clear line instead of a libbpf error half-way through.
import { existsSync, readFileSync } from 'node:fs';
import { kernelTooOld } from '../bpf/kernel-version.js';
import { bpffsProblem } from '../bpf/pin-dir.js';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;
const CAP_NET_ADMIN = 12n;

export class PreflightError extends Error {}

function effectiveCaps(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

function has(caps: bigint, cap: bigint): boolean {
  return (caps & (1n << cap)) !== 0n;
}

/**
 * Throws PreflightError naming what is missing and how to fix it, in the
 * order an operator fixes them: privileges, kernel, mounts.
 */
export function preflight(opts: { needNetAdmin: boolean; bpffs: string }): void {
  const caps = effectiveCaps();
  const admin = has(caps, CAP_SYS_ADMIN);
  if (!admin && !(has(caps, CAP_BPF) && has(caps, CAP_PERFMON))) {
    throw new PreflightError(
      'missing privileges: loading BPF programs needs CAP_BPF and CAP_PERFMON (or root); run as root or grant them (see README, "Privileges")',
    );
  }
  // CAP_SYS_ADMIN does not stand in: tcx links and tc filters check CAP_NET_ADMIN itself.
  if (opts.needNetAdmin && !has(caps, CAP_NET_ADMIN)) {
    throw new PreflightError('missing privileges: attaching tc programs needs CAP_NET_ADMIN (or root)');
  }
  if (!existsSync('/sys/kernel/btf/vmlinux')) {
    throw new PreflightError(
      'this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): the CO-RE programs need a kernel built with CONFIG_DEBUG_INFO_BTF=y',
    );
  }
  // The CLI refuses an old kernel before this (exit 2); kept for callers that start the agent themselves.
  const old = kernelTooOld();
  if (old) throw new PreflightError(old);
  const bpffs = bpffsProblem(opts.bpffs);
  if (bpffs) throw new PreflightError(bpffs);
}
