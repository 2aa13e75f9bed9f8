// Errors from libbpf calls, carrying errno so callers can tell "missing
// privilege" from "no such map" and say how to fix it.
import { constants } from 'node:os';

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

  static verifierRejected(object: string, errno: number, log: string[]): BpfError {
    const e = new BpfError(
      `the kernel's verifier rejected a program of ${object} (${ERRNO_NAMES.get(errno) ?? `errno ${errno}`}): this kernel lacks something ` +
        `it needs (see README, "Privileges and kernel"); the verifier's last lines are in the log at --log-level debug`,
      errno,
    );
    e.verifierLog = log;
    return e;
  }

  get isPermission(): boolean {
    return this.errno === constants.errno.EPERM || this.errno === constants.errno.EACCES;
  }
}
