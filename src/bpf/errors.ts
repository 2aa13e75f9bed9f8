// Errors from libbpf calls, carrying errno so callers can tell "missing
// privilege" from "no such map" and say how to fix it.
import { constants } from 'node:os';
import type { LockdownMode } from '../os/kernel-lockdown.js';

const ERRNO_NAMES = new Map<number, string>(Object.entries(constants.errno).map(([name, code]) => [code, name] as [number, string]));

export class BpfError extends Error {
  constructor(
    message: string,
    readonly errno: number,
  ) {
    super(message);
    this.name = 'BpfError';
  }

  static fromErrno(what: string, errno: number): BpfError {
    const name = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
    return new BpfError(`${what} failed: ${name}`, errno);
  }

  /** The verifier's last lines, when the kernel's verifier rejected a program. */
  verifierLog?: string[];

  /**
   * A program the verifier refused: the message gives the verifier's own
   * reason, or the kernel's lockdown when that is what refused (a locked-down
   * kernel in confidentiality mode denies the probe-read helpers).
   */
  static verifierRejected(object: string, errno: number, log: string[], lockdown?: LockdownMode): BpfError {
    const verdict = verifierVerdict(log);
    const why =
      lockdown === 'confidentiality' && verdict !== undefined && PROBE_READ_REFUSED.test(verdict)
        ? `kernel lockdown (confidentiality) refuses the probe-read helpers it calls (${verdict})`
        : `${verdict === undefined ? '' : `${verdict}: `}this kernel lacks something it needs (see README, "Privileges and kernel")`;
    const e = new BpfError(
      `the kernel's verifier rejected a program of ${object} (${ERRNO_NAMES.get(errno) ?? `errno ${errno}`}): ${why}; ` +
        `the verifier's last lines are in the log at --log-level debug`,
      errno,
    );
    e.verifierLog = log;
    return e;
  }

  get isPermission(): boolean {
    return this.errno === constants.errno.EPERM || this.errno === constants.errno.EACCES;
  }
}

/**
 * What the verifier says of a probe-read helper it refuses: "program of this
 * type cannot use helper" (6.12) or "unknown func" (6.1). libbpf turns
 * bpf_probe_read_kernel into bpf_probe_read where the former fails its
 * feature probe, as it does under lockdown, so either name may appear.
 */
const PROBE_READ_REFUSED = /(cannot use helper|unknown func) bpf_probe_read/;

/**
 * The verifier's reason for a rejection: the last line of its log that is
 * neither an instruction, a source line nor its closing statistics.
 */
export function verifierVerdict(log: readonly string[]): string | undefined {
  for (let i = log.length - 1; i >= 0; i--) {
    const line = (log[i] ?? '').trim();
    if (line === '' || /^(\d+: |; |processed \d+ insns|verification time|stack depth)/.test(line)) continue;
    return line;
  }
  return undefined;
}
