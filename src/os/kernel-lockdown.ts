// The kernel's lockdown mode (the lockdown LSM): in confidentiality mode the
// verifier refuses the helpers that read kernel memory (bpf_probe_read_kernel
// and kin), so a program that calls them cannot load, whatever the agent's
// privileges. Read so that a refusal says that instead of "lacks something".
import { readFileSync } from 'node:fs';

export type LockdownMode = 'none' | 'integrity' | 'confidentiality';

/** securityfs lists the modes with the current one in brackets: "none integrity [confidentiality]". */
export function parseLockdown(text: string): LockdownMode | undefined {
  const m = /\[(none|integrity|confidentiality)\]/.exec(text);
  return m ? (m[1] as LockdownMode) : undefined;
}

/**
 * The running kernel's lockdown mode: from securityfs where it is mounted,
 * else the lockdown= boot parameter (a container often has no securityfs,
 * but reads the host's /proc/cmdline); undefined when neither says.
 */
export function kernelLockdown(): LockdownMode | undefined {
  try {
    return parseLockdown(readFileSync('/sys/kernel/security/lockdown', 'utf8'));
  } catch {
    /* no securityfs here, or no lockdown LSM: the boot parameter may still say */
  }
  try {
    const m = /(?:^|\s)lockdown=(integrity|confidentiality)(?:\s|$)/.exec(readFileSync('/proc/cmdline', 'utf8'));
    return m ? (m[1] as LockdownMode) : undefined;
  } catch {
    return undefined;
  }
}
