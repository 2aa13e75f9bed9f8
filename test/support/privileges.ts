// Privileged tests need root, bpffs and BTF. Without them a test skips, unless
// REQUIRE_BPF=1 (CI), where it fails: a privileged test never silently skips.
import { accessSync, constants } from 'node:fs';
import type { Context } from 'mocha';

export function missingPrivileges(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  try {
    accessSync('/sys/kernel/btf/vmlinux', constants.R_OK);
  } catch {
    return 'kernel has no BTF (/sys/kernel/btf/vmlinux)';
  }
  return undefined;
}

/** Call first in a before() hook of every suite that needs the kernel. */
export function requireBpf(ctx: Context): void {
  const missing = missingPrivileges();
  if (missing === undefined) return;
  if (process.env.REQUIRE_BPF === '1') {
    throw new Error(`REQUIRE_BPF=1 but ${missing}`);
  }
  ctx.skip();
}
