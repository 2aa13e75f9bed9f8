// The kernel-to-user contract, checked completely and both ways:
//  - every shared struct, member for member (offset and size, padding members
//    too, none more, none fewer), in the compiled objects' BTF against
//    LAYOUTS in src/bpf/contract.ts; every struct datapath.h declares is there;
//  - every #define of bpf/include/datapath.h, its value as the C compiler
//    computes it, against the constant user space uses; a #define with no
//    counterpart here fails until one is named;
//  - every map of every object (type, flags, key and value size, max entries)
//    in the objects' ELF as libbpf reads it, and in the kernel once loaded,
//    against MAP_SPECS.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as contract from '../../src/bpf/contract.js';
import { bpfObjectPath } from '../../src/bpf/kernel-drop-program.js';
import { kernelHasFunction, tracepointArgCount } from '../../src/bpf/kernel-functions.js';
import { BpfObject, declaredMaps } from '../../src/bpf/object.js';
import { untracedResetPrograms } from '../../src/bpf/tcp-program.js';
import { removePinDir, testPinDir } from '../support/exporter.js';
import { requireBpf } from '../support/privileges.js';

const HEADER = fileURLToPath(new URL('../../../bpf/include/datapath.h', import.meta.url));
const OBJECTS = ['drops.bpf.o', 'forward.bpf.o', 'tcp.bpf.o'] as const;

interface BtfMember {
  name: string;
  type_id: number;
  bits_offset: number;
}
interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  members?: BtfMember[];
}

function btf(object: string): Map<number, BtfType> {
  const dump = JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', object], { encoding: 'utf8' })) as { types: BtfType[] };
  return new Map(dump.types.map((t) => [t.id, t]));
}

/** Bytes of a BTF type (typedefs and qualifiers followed, arrays multiplied). */
function sizeOf(types: Map<number, BtfType>, id: number): number {
  const t = types.get(id);
  assert.ok(t, `BTF type ${id}`);
  if (t.size !== undefined) return t.size;
  if (t.kind === 'ARRAY') return (t.nr_elems ?? 0) * sizeOf(types, t.type_id ?? 0);
  if (['TYPEDEF', 'CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG'].includes(t.kind)) return sizeOf(types, t.type_id ?? 0);
  throw new Error(`no size for BTF ${t.kind} ${id}`);
}

/** Each struct named in `names` as { size, members: name -> offset, sizes: name -> bytes }. */
function structsIn(object: string, names: Iterable<string>) {
  const types = btf(bpfObjectPath(object));
  const wanted = new Set(names);
  const out = new Map<string, { size: number; members: Record<string, number>; sizes: Record<string, number> }>();
  for (const t of types.values()) {
    if (t.kind !== 'STRUCT' || !t.name || !wanted.has(t.name)) continue;
    const members = t.members ?? [];
    members.forEach((m) => assert.equal(m.bits_offset % 8, 0, `${t.name}.${m.name}: a bitfield`));
    out.set(t.name, {
      size: t.size ?? 0,
      members: Object.fromEntries(members.map((m) => [m.name, m.bits_offset / 8])),
      sizes: Object.fromEntries(members.map((m) => [m.name, sizeOf(types, m.type_id)])),
    });
  }
  return out;
}

/** Struct names datapath.h declares. */
function headerStructs(): string[] {
  return [...readFileSync(HEADER, 'utf8').matchAll(/^struct\s+(\w+)\s*\{/gm)].map((m) => m[1] ?? '');
}

/** Every object-like #define of datapath.h with its value as the C compiler computes it. */
function headerDefines(): Map<string, bigint> {
  const text = readFileSync(HEADER, 'utf8');
  const guard = /^#ifndef\s+(\w+)/m.exec(text)?.[1];
  const names = [...text.matchAll(/^#define\s+(\w+)(?!\()\s+\S/gm)].map((m) => m[1] ?? '').filter((n) => n !== guard);
  const dir = mkdtempSync(join(tmpdir(), 'dpx-contract-'));
  try {
    const src = join(dir, 'defines.c');
    const lines = names.map((n) => `  printf("%s %llu\\n", "${n}", (unsigned long long)(${n}));`);
    writeFileSync(
      src,
      `#include <stdio.h>\n#include <linux/types.h>\n#include "${HEADER}"\nint main(void) {\n${lines.join('\n')}\n  return 0;\n}\n`,
    );
    execFileSync('clang', ['-o', join(dir, 'defines'), src]);
    const out = execFileSync(join(dir, 'defines'), { encoding: 'utf8' });
    return new Map(
      out
        .trim()
        .split('\n')
        .map((l) => l.split(' ') as [string, string])
        .map(([n, v]) => [n, BigInt(v)]),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each #define of datapath.h and the user-space value it must equal. */
const DEFINES: Record<string, number> = {
  DROP_SLOTS: contract.DROP_SLOTS,
  DROP_OVERFLOW_SLOT: contract.DROP_OVERFLOW_SLOT,
  ENDPOINT_SLOTS: contract.ENDPOINT_SLOTS,
  ENDPOINT_UNATTRIBUTED: contract.ENDPOINT_UNATTRIBUTED,
  ...Object.fromEntries(contract.DIRECTION_CODES.map((dir, code) => [`DIR_${dir.toUpperCase()}`, code])),
  DIRECTIONS: contract.DIRECTION_CODES.length,
  DROP_REASON_ABSENT: contract.DROP_REASON_ABSENT,
  DROP_EVENT_RING_BYTES: contract.DROP_EVENT_RING_BYTES,
  DROP_EVENT_LOST_RATE: contract.DROP_EVENT_LOST.rate,
  DROP_EVENT_LOST_RING_FULL: contract.DROP_EVENT_LOST.ring_full,
  DROP_EVENT_F_PORTS: contract.DROP_EVENT_F_PORTS,
  DROP_EVENT_F_ICMP: contract.DROP_EVENT_F_ICMP,
  ...Object.fromEntries(
    Object.entries(contract.AGENT_FILES).map(([id, file]) => [`FILE_ID_${file.replace('.bpf.c', '').toUpperCase()}`, Number(id)]),
  ),
  NAMESPACE_LEN: contract.NAMESPACE_LEN,
  POD_NAME_LEN: contract.POD_NAME_LEN,
  FORWARD_CELLS: contract.FORWARD_CELLS,
  TCP_RETRANSMIT: contract.TCP_EVENTS.indexOf('retransmit'),
  TCP_RESET_SENT: contract.TCP_EVENTS.indexOf('reset_sent'),
  TCP_RESET_RECEIVED: contract.TCP_EVENTS.indexOf('reset_received'),
  TCP_EVENTS: contract.TCP_EVENTS.length,
  TCP_CELLS: contract.TCP_CELLS,
  DROP_CACHE_BITS: Math.log2(contract.DROP_CACHE_ENTRIES),
  DROP_CACHE_ENTRIES: contract.DROP_CACHE_ENTRIES,
  FORWARD_CACHE_ENTRIES: contract.FORWARD_CACHE_ENTRIES,
};

describe('kernel-to-user contract', function () {
  it('datapath.h declares exactly the structs of LAYOUTS', function () {
    assert.deepEqual(headerStructs().sort(), Object.keys(contract.LAYOUTS).sort());
  });

  for (const object of OBJECTS) {
    it(`every member of every shared struct in ${object} matches LAYOUTS: offset, size, none more or fewer`, function () {
      const structs = structsIn(object, Object.keys(contract.LAYOUTS));
      // Every struct is in drops.bpf.o; forward.bpf.o has those its maps use.
      if (object === 'drops.bpf.o') assert.deepEqual([...structs.keys()].sort(), Object.keys(contract.LAYOUTS).sort());
      else assert.ok(structs.size > 0);
      for (const [name, actual] of structs) {
        const layout = contract.LAYOUTS[name as keyof typeof contract.LAYOUTS];
        assert.deepEqual(
          { size: actual.size, members: actual.members, sizes: actual.sizes },
          { size: layout.size, members: layout.members, sizes: layout.sizes },
          `struct ${name} in ${object}`,
        );
      }
    });
  }

  it('every #define of datapath.h equals its user-space constant, and none is left unchecked', function () {
    const defines = headerDefines();
    assert.deepEqual([...defines.keys()].sort(), Object.keys(DEFINES).sort(), 'the #defines named here are those of datapath.h');
    for (const [name, value] of defines) assert.equal(value, BigInt(DEFINES[name] ?? -1), name);
  });

  it("every map of the objects' ELF is declared as MAP_SPECS says: type, flags, key and value size, entries", function () {
    const seen = new Set<string>();
    for (const object of OBJECTS) {
      for (const { name, ...spec } of declaredMaps(bpfObjectPath(object))) {
        seen.add(name);
        const expected = contract.MAP_SPECS[name as keyof typeof contract.MAP_SPECS];
        assert.ok(expected, `${object} declares map ${name}, which MAP_SPECS does not know`);
        assert.deepEqual(spec, expected, `map ${name} in ${object}`);
      }
    }
    assert.deepEqual([...seen].sort(), Object.keys(contract.MAP_SPECS).sort(), 'MAP_SPECS names no map the objects lack');
    assert.deepEqual(Object.values(contract.MAP_NAMES).sort(), Object.keys(contract.MAP_SPECS).sort());
  });

  describe('maps as the kernel creates them', function () {
    let pinDir: string;
    before(function () {
      requireBpf(this);
      pinDir = testPinDir();
    });
    after(function () {
      if (pinDir) removePinDir(pinDir);
    });

    it('have the type, flags, key and value sizes and entries user space reads with', function () {
      for (const object of OBJECTS) {
        // As the agent loads them: fentry programs this kernel does not need (or refuses) left out.
        const notLoaded =
          object === 'tcp.bpf.o' ? untracedResetPrograms(tracepointArgCount('tcp_send_reset'), kernelHasFunction).leave : [];
        const obj = BpfObject.load(bpfObjectPath(object), pinDir, undefined, notLoaded);
        try {
          for (const { name } of declaredMaps(bpfObjectPath(object))) {
            const info = obj.map(name).info();
            const { type, flags, keySize, valueSize, maxEntries } = info;
            assert.deepEqual(
              { type, keySize, valueSize, maxEntries, flags },
              contract.MAP_SPECS[name as keyof typeof contract.MAP_SPECS],
              name,
            );
          }
        } finally {
          obj.close();
        }
      }
    });
  });

  it('encodes IPv4 as IPv4-mapped and IPv6 in network order', function () {
    assert.equal(contract.encodeEndpointAddr('10.1.2.3').toString('hex'), '00000000000000000000ffff0a010203');
    assert.equal(contract.encodeEndpointAddr('fd00::1').toString('hex'), 'fd000000000000000000000000000001');
    assert.equal(contract.encodeEndpointAddr('fd00:1:2:3:4:5:6:7').toString('hex'), 'fd000001000200030004000500060007');
    assert.throws(() => contract.encodeEndpointAddr('nope'));
  });
});
