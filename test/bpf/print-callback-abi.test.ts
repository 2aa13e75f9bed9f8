// The libbpf print callback copies its va_list before formatting a message
// twice (src/bpf/libbpf.ts), so it must know the va_list's size and that the
// callback and vsnprintf take it as a pointer. Both are ABI facts per arch:
// here the compiler states them for x86-64 and arm64 (AAPCS64), and the
// sizes the agent uses must match (the agent runs on arm64 nodes too).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VA_LIST_BYTES } from '../../src/bpf/libbpf.js';
import { run } from '../deploy/exec.js';

const SOURCE = `typedef __builtin_va_list va_list;
int va_list_bytes = sizeof(va_list);
int vsnprintf(char *buf, unsigned long size, const char *fmt, va_list ap);
int print_fn(int level, const char *fmt, va_list ap) { char b[8]; return vsnprintf(b, sizeof b, fmt, ap); }
`;

const TARGETS: Array<{ arch: NodeJS.Architecture; triple: string }> = [
  { arch: 'x64', triple: 'x86_64-linux-gnu' },
  { arch: 'arm64', triple: 'aarch64-linux-gnu' },
];

describe("bpf: the libbpf print callback's va_list on x86-64 and arm64", () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'dpx-va-'));
    writeFileSync(join(dir, 'va.c'), SOURCE);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const { arch, triple } of TARGETS) {
    it(`${arch}: va_list is ${VA_LIST_BYTES[arch]} bytes and arrives and leaves as a pointer`, async () => {
      const r = await run('clang', ['-target', triple, '-S', '-emit-llvm', '-O1', '-o', '-', join(dir, 'va.c')]);
      assert.equal(r.code, 0, r.stderr);
      const size = /@va_list_bytes = .*global i32 (\d+)/.exec(r.stdout)?.[1];
      assert.equal(Number(size), VA_LIST_BYTES[arch], 'sizeof(va_list) as the callback copies it');
      // The third parameter of the callback and the fourth argument of vsnprintf are pointers to the struct.
      const param = /define .*@print_fn\([^,]+,[^,]+, (\S+)/.exec(r.stdout)?.[1] ?? '';
      assert.match(param, /^(%struct\.__va_list(_tag)?\*|ptr)$/, `callback's va_list parameter: ${param}`);
      const arg = /call i32 @vsnprintf\((?:[^,]+,){3} (\S+)/.exec(r.stdout)?.[1] ?? '';
      assert.match(arg, /^(%struct\.__va_list(_tag)?\*|ptr)$/, `vsnprintf's va_list argument: ${arg}`);
    });
  }
});
