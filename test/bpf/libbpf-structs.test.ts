// The C structs the agent passes to libbpf and the kernel (src/bpf/libbpf-
// structs.ts) against the installed headers: a C program compiled now prints
// sizeof, offsetof and the size of every declared member, and each must be
// what koffi lays out. A full struct must have the C size (its `sz` is what
// libbpf reads); a prefix may be smaller, never larger.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { C_MEMBER_NAMES, type CStruct, KERNEL_STRUCTS, LIBBPF_STRUCTS, PREFIX_STRUCTS } from '../../src/bpf/libbpf-structs.js';

const STRUCTS: Record<string, CStruct> = { ...LIBBPF_STRUCTS, ...KERNEL_STRUCTS };

interface Layout {
  size: number;
  members: Record<string, { offset: number; size: number }>;
}

function koffiLayout(type: CStruct): Layout {
  const members = koffi.type(type).members ?? {};
  return {
    size: koffi.sizeof(type),
    members: Object.fromEntries(Object.values(members).map((m) => [m.name, { offset: m.offset, size: koffi.sizeof(m.type) }])),
  };
}

/** The same structs as the C compiler lays them out from the installed headers. */
function cLayouts(): Record<string, Layout> {
  const prints: string[] = [];
  for (const [name, type] of Object.entries(STRUCTS)) {
    prints.push(`  printf("%s size %zu\\n", "${name}", sizeof(struct ${name}));`);
    for (const member of Object.keys(koffi.type(type).members ?? {})) {
      const c = C_MEMBER_NAMES[`${name}.${member}`] ?? member;
      prints.push(
        `  printf("%s %s %zu %zu\\n", "${name}", "${member}", offsetof(struct ${name}, ${c}), sizeof(((struct ${name} *)0)->${c}));`,
      );
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'dpx-structs-'));
  try {
    const src = join(dir, 'structs.c');
    writeFileSync(
      src,
      `#include <stddef.h>\n#include <stdio.h>\n#include <linux/bpf.h>\n#include <bpf/bpf.h>\n#include <bpf/libbpf.h>\nint main(void) {\n${prints.join('\n')}\n  return 0;\n}\n`,
    );
    execFileSync('clang', ['-o', join(dir, 'structs'), src]);
    const out: Record<string, Layout> = {};
    for (const line of execFileSync(join(dir, 'structs'), { encoding: 'utf8' }).trim().split('\n')) {
      const [struct = '', member = '', a = '', b] = line.split(' ');
      const layout = (out[struct] ??= { size: 0, members: {} });
      if (member === 'size') layout.size = Number(a);
      else layout.members[member] = { offset: Number(a), size: Number(b) };
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('libbpf and kernel structs as koffi declares them', function () {
  const c = cLayouts();

  for (const [name, type] of Object.entries(STRUCTS)) {
    it(`struct ${name}: every declared member at the header's offset and size${PREFIX_STRUCTS.has(name) ? ' (a prefix)' : ', and its size'}`, function () {
      const ours = koffiLayout(type);
      const theirs = c[name];
      assert.ok(theirs, name);
      for (const [member, at] of Object.entries(ours.members)) {
        // A union member is compared by offset; its size is the header's union, not ours.
        const expected: { offset: number; size: number } | undefined = theirs.members[member];
        assert.ok(expected, `${name}.${member}`);
        assert.equal(at.offset, expected.offset, `offsetof(${name}, ${member})`);
        if (!C_MEMBER_NAMES[`${name}.${member}`]) assert.equal(at.size, expected.size, `sizeof(${name}.${member})`);
      }
      if (PREFIX_STRUCTS.has(name))
        assert.ok(ours.size <= theirs.size, `${name}: ${ours.size} bytes declared, the header has ${theirs.size}`);
      else assert.equal(ours.size, theirs.size, `sizeof(struct ${name}), which its sz says`);
    });
  }
});
