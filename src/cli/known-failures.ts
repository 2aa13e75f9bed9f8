// Failures an operator can fix (privileges, bpffs, kernel, a busy port) become
// one line and exit 1; anything else is a bug and keeps its stack trace.
import { BpfError } from '../bpf/errors.js';
import { TcAttachError } from '../bpf/datapath-programs.js';
import { PinDirError } from '../bpf/pin-dir.js';
import { fail } from './exit.js';
import { bpfPermissionHint, PreflightError } from './preflight.js';

export function explain(err: unknown): never {
  if (err instanceof PreflightError || err instanceof PinDirError || err instanceof TcAttachError) fail(err.message);
  if (err instanceof BpfError && err.verifierLog) fail(err.message);
  if (err instanceof Error && 'code' in err && (err.code === 'EADDRINUSE' || err.code === 'EADDRNOTAVAIL')) {
    const e = err as Error & { address?: string; port?: number; code: string };
    fail(
      `cannot serve metrics on ${e.address}:${e.port}: ${e.code === 'EADDRINUSE' ? 'it is in use' : 'no such local address'} (see --metrics-addr)`,
    );
  }
  if (err instanceof BpfError) {
    fail(err.isPermission ? `${err.message}: ${bpfPermissionHint()}` : err.message);
  }
  throw err;
}
