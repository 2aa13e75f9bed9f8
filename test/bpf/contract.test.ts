// The kernel-to-user contract, checked both ways: the struct layouts in the
// compiled objects' BTF against src/bpf/contract.ts, the #defines of
// bpf/include/datapath.h against its constants, and the maps as the kernel
// created them against the sizes user space reads with.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as contract from '../../src/bpf/contract.js';
import { bpfObjectPath } from '../../src/bpf/kernel-drop-program.js';
import { BpfObject } from '../../src/bpf/object.js';
import { removePinDir, testPinDir } from '../support/exporter.js';
import { requireBpf } from '../support/privileges.js';

interface BtfType {
  kind: string;
  name?: string;
  size?: number;
  members?: Array<{ name: string; bits_offset: number }>;
}

function btfStructs(object: string): Map<string, BtfType> {
  const dump = JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', object], { encoding: 'utf8' })) as { types: BtfType[] };
  return new Map(dump.types.filter((t) => t.kind === 'STRUCT' && t.name).map((t) => [t.name ?? '', t]));
}

function headerDefines(): Map<string, number> {
  const header = readFileSync(fileURLToPath(new URL('../../../bpf/include/datapath.h', import.meta.url)), 'utf8');
  const defines = new Map<string, number>();
  for (const m of header.matchAll(/^#define\s+(\w+)\s+(0x[0-9a-f]+|\d+)u?\b/gim)) defines.set(m[1] ?? '', Number(m[2]));
  for (const m of header.matchAll(/^#define\s+(\w+)\s+([A-Z_]+)\s*(?:\/\*.*)?$/gm)) {
    const v = defines.get(m[2] ?? '');
    if (v !== undefined) defines.set(m[1] ?? '', v);
  }
  return defines;
}

describe('kernel-to-user contract', function () {
  for (const object of ['drops.bpf.o', 'forward.bpf.o']) {
    it(`struct layouts in ${object} match src/bpf/contract.ts`, function () {
      const structs = btfStructs(bpfObjectPath(object));
      for (const [name, layout] of Object.entries(contract.LAYOUTS)) {
        const t = structs.get(name);
        // Every struct is in drops.bpf.o; forward.bpf.o has those its maps use.
        if (!t && object !== 'drops.bpf.o') continue;
        assert.ok(t, `struct ${name} in ${object}`);
        assert.equal(t.size, layout.size, `sizeof(struct ${name})`);
        const offsets = Object.fromEntries((t.members ?? []).filter((m) => m.name in layout.members).map((m) => [m.name, m.bits_offset / 8]));
        assert.deepEqual(offsets, layout.members, `member offsets of struct ${name}`);
      }
    });
  }

  it('datapath.h #defines match the constants', function () {
    const d = headerDefines();
    assert.equal(d.get('DROP_SLOTS'), contract.DROP_SLOTS);
    assert.equal(d.get('DROP_OVERFLOW_SLOT'), contract.DROP_OVERFLOW_SLOT);
    assert.equal(d.get('ENDPOINT_SLOTS'), contract.ENDPOINT_SLOTS);
    assert.equal(d.get('ENDPOINT_UNATTRIBUTED'), contract.ENDPOINT_UNATTRIBUTED);
    assert.equal(d.get('DROP_REASON_ABSENT'), contract.DROP_REASON_ABSENT);
    assert.equal(d.get('NAMESPACE_LEN'), contract.NAMESPACE_LEN);
    assert.equal(d.get('POD_NAME_LEN'), contract.POD_NAME_LEN);
    assert.equal(d.get('DROP_EVENT_RING_BYTES'), contract.DROP_EVENT_RING_BYTES);
    assert.equal(d.get('DROP_CACHE_ENTRIES'), contract.DROP_CACHE_ENTRIES);
    assert.equal(d.get('FORWARD_CACHE_ENTRIES'), contract.FORWARD_CACHE_ENTRIES);
    assert.equal(1 << (d.get('DROP_CACHE_BITS') ?? 0), contract.DROP_CACHE_ENTRIES, 'DROP_CACHE_ENTRIES = 1 << DROP_CACHE_BITS');
    assert.equal(d.get('DROP_EVENT_LOST_RATE'), contract.DROP_EVENT_LOST.rate);
    assert.equal(d.get('DROP_EVENT_LOST_RING_FULL'), contract.DROP_EVENT_LOST.ring_full);
    assert.equal(d.get('DROP_EVENT_F_PORTS'), contract.DROP_EVENT_F_PORTS);
    assert.equal(d.get('DROP_EVENT_F_ICMP'), contract.DROP_EVENT_F_ICMP);
    contract.DIRECTION_CODES.forEach((dir, code) => assert.equal(d.get(`DIR_${dir.toUpperCase()}`), code, `DIR_${dir.toUpperCase()}`));
    for (const [id, file] of Object.entries(contract.AGENT_FILES)) {
      const name = `FILE_ID_${file.replace('.bpf.c', '').toUpperCase()}`;
      assert.equal(d.get(name), Number(id), name);
    }
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

    it('have the key and value sizes and entries user space reads with', function () {
      const obj = BpfObject.load(bpfObjectPath('drops.bpf.o'), pinDir);
      try {
        const expect: Record<string, [number, number, number]> = {
          [contract.MAP_NAMES.endpoints]: [contract.ENDPOINT_ADDR_SIZE, 4, contract.ENDPOINT_SLOTS],
          [contract.MAP_NAMES.dropSlotOf]: [contract.DROP_KEY_SIZE, 4, contract.DROP_SLOTS],
          [contract.MAP_NAMES.dropFreeSlots]: [0, 4, contract.DROP_SLOTS],
          [contract.MAP_NAMES.dropCounts]: [4, contract.COUNTER_SIZE, contract.DROP_SLOTS + 1],
          [contract.MAP_NAMES.forwardCounts]: [4, contract.SITE_COUNTER_SIZE, contract.FORWARD_CELLS],
          [contract.MAP_NAMES.endpointNames]: [4, contract.ENDPOINT_NAME_SIZE, contract.ENDPOINT_SLOTS],
          [contract.MAP_NAMES.dropCache]: [4, contract.DROP_CACHE_ENTRY_SIZE, contract.DROP_CACHE_ENTRIES],
          [contract.MAP_NAMES.dropCacheGen]: [4, 4, 1],
          [contract.MAP_NAMES.forwardCache]: [4, contract.FORWARD_CACHE_ENTRY_SIZE, contract.FORWARD_CACHE_ENTRIES],
          [contract.MAP_NAMES.dropEvents]: [0, 0, contract.DROP_EVENT_RING_BYTES],
          [contract.MAP_NAMES.dropEventTokens]: [4, contract.DROP_EVENT_TOKENS_SIZE, 1],
          [contract.MAP_NAMES.dropEventLost]: [4, 8, Object.keys(contract.DROP_EVENT_LOST).length],
        };
        for (const [name, [key, value, entries]] of Object.entries(expect)) {
          const info = obj.map(name).info();
          assert.deepEqual([info.keySize, info.valueSize, info.maxEntries], [key, value, entries], name);
        }
      } finally {
        obj.close();
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
