// What the CLI's error handling promises: one line on stderr.
import assert from 'node:assert/strict';

/** The one line of `stderr` (fails the test when there are more or none); `prefix` if it must start so. */
export function oneLine(stderr: string, prefix?: RegExp): string {
  const lines = stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`);
  const line = lines[0] ?? '';
  if (prefix) assert.match(line, prefix);
  return line;
}
