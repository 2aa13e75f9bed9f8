// bpf/Makefile builds the agent's objects for arm64 nodes too (`make ARCH=arm64`
// → bpf/.output/arm64/, -D__TARGET_ARCH_arm64). Read back: each is a 64-bit
// little-endian BPF ELF (arm64 Linux is little-endian, like x86-64) whose BTF
// and relocations (the CO-RE records in .BTF.ext and the map relocations) are
// those of the x86 build: the programs read no registers (no PT_REGS, which
// is what __TARGET_ARCH changes), so one kernel-independent object serves both.
// A program that did would show up here as a difference to check on arm64.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describeRun, run } from '../deploy/exec.js';
import { repoRoot } from '../deploy/paths.js';

const BPF = join(repoRoot, 'bpf');
const PRODUCT = readdirSync(BPF)
  .filter((f) => f.endsWith('.bpf.c'))
  .map((f) => f.replace(/\.c$/, '.o'));

async function out(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args, { cwd: BPF, timeoutMs: 120_000 });
  assert.equal(r.code, 0, describeRun(cmd, args, r));
  return r.stdout;
}

/** BTF (types, names, the programs' function prototypes) as bpftool reads it. */
const btf = (obj: string) => out('bpftool', ['btf', 'dump', 'file', obj]);
/** Relocation records of every section (map references, .BTF.ext's CO-RE and line info). */
const relocations = async (obj: string) => (await out('llvm-objdump', ['-r', obj])).replace(/^.*file format.*$/m, '');
/** The raw .BTF.ext section: CO-RE relocation records (field accesses by BTF id and access string). */
const btfExt = (obj: string) => out('llvm-objdump', ['-s', '--section=.BTF.ext', obj]).then((t) => t.replace(/^.*file format.*$/m, ''));

describe('bpf: objects for arm64', function () {
  this.timeout(180_000);

  before(async () => {
    await out('make', ['-s', 'ARCH=arm64']);
    await out('make', ['-s']);
  });

  it('compiles with -D__TARGET_ARCH_arm64 into .output/arm64 (and x86 beside the sources)', async () => {
    const arm = await out('make', ['-B', '-n', 'ARCH=aarch64']);
    for (const o of PRODUCT) assert.match(arm, new RegExp(`-D__TARGET_ARCH_arm64 .* -o \\.output/arm64/${o.replace('.', '\\.')}`));
    const x86 = await out('make', ['-B', '-n', 'ARCH=amd64']);
    assert.match(x86, /-D__TARGET_ARCH_x86 /);
    assert.doesNotMatch(x86, /\.output/);
  });

  for (const o of PRODUCT) {
    it(`${o}: a little-endian ELF64 BPF object whose BTF and relocations are the x86 build's`, async () => {
      const arm = join('.output', 'arm64', o);
      const header = await out('llvm-readelf', ['-h', arm]);
      assert.match(header, /Class:\s+ELF64/);
      assert.match(header, /Data:\s+2's complement, little endian/);
      assert.match(header, /Machine:\s+EM_BPF/);
      const armBtf = await btf(arm);
      assert.match(armBtf, /\] FUNC '/, 'the programs are in its BTF');
      assert.match(armBtf, /STRUCT '/, 'the types it reads are in its BTF');
      assert.equal(armBtf, await btf(o));
      assert.match(await relocations(arm), /RELOCATION RECORDS FOR \[\.BTF\.ext\]/);
      assert.equal(await relocations(arm), await relocations(o));
      assert.equal(await btfExt(arm), await btfExt(o));
    });
  }
});
