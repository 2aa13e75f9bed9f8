// One wording for a file that cannot be read, whichever flag, variable or
// config field named it: "<what> <path>: does not exist".
import { readFileSync } from 'node:fs';

/** Why reading failed, in words an operator acts on (the errno code when there are none). */
export function whyUnreadable(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return 'does not exist';
  if (code === 'EACCES') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return code ?? String(err);
}

/** The file's bytes; on failure, throws what `fail` makes of the reason. */
export function readFileOr(path: string, fail: (why: string) => Error): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw fail(whyUnreadable(err));
  }
}
