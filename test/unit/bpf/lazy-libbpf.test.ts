// Importing the FFI declarations loads no native library: libbpf (and libc
// through koffi) is bound at the first call. Checked in a fresh process by
// what it has mapped (/proc/self/maps), before and after one call.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const LIBBPF = fileURLToPath(new URL('../../../src/bpf/libbpf.js', import.meta.url));
const MAP = fileURLToPath(new URL('../../../src/bpf/map.js', import.meta.url));

function mappedLibbpf(script: string): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim();
}

describe('libbpf binding (unit)', function () {
  it('is not loaded by importing the modules that declare it, and is at the first call', function () {
    const out = mappedLibbpf(`
      import { readFileSync } from 'node:fs';
      const mapped = () => readFileSync('/proc/self/maps', 'utf8').includes('libbpf.so');
      await import(${JSON.stringify(MAP)});
      const { libbpf } = await import(${JSON.stringify(LIBBPF)});
      const before = mapped();
      libbpf.libbpf_num_possible_cpus();
      console.log(JSON.stringify({ before, after: mapped() }));
    `);
    assert.deepEqual(JSON.parse(out), { before: false, after: true });
  });
});
