// The unit tier's in-memory map (test/support/memory-map.ts) behaves as the
// kernel's maps do for every operation the bookkeeping uses: the same calls on
// a real map of each kind (loaded, not attached) and on a MemoryMap of the
// same spec give the same answers, so a unit test cannot pass on a behaviour
// the kernel does not have.
import assert from 'node:assert/strict';
import { COUNTER_SIZE, MAP_NAMES, MAP_SPECS } from '../../src/bpf/contract.js';
import { bpfObjectPath } from '../../src/bpf/kernel-drop-program.js';
import { libbpf } from '../../src/bpf/libbpf.js';
import { lookupAll, type MapAccess, perCpuStride, u32Key } from '../../src/bpf/map.js';
import { BpfObject } from '../../src/bpf/object.js';
import { MemoryMap, type MemoryMapKind } from '../support/memory-map.js';
import { removePinDir, testPinDir } from '../support/exporter.js';
import { requireBpf } from '../support/privileges.js';

/** What a call did: its result, or that it threw. */
function outcome(call: () => unknown): unknown {
  try {
    const r = call();
    return Buffer.isBuffer(r) ? r.toString('hex') : r;
  } catch {
    return 'threw';
  }
}

/** Every entry as sorted "key=value" hex (hash batch order is the kernel's bucket order). */
function entries(map: MapAccess, keySize: number, valueStride: number, max: number): string[] {
  const { count, keys, values } = lookupAll(map, keySize, valueStride, max);
  return Array.from({ length: count }, (_, i) => {
    const k = keys.subarray(i * keySize, (i + 1) * keySize).toString('hex');
    return `${k}=${values.subarray(i * valueStride, (i + 1) * valueStride).toString('hex')}`;
  }).sort();
}

describe('the in-memory map against the kernel', function () {
  let pinDir: string;
  let obj: BpfObject | undefined;
  let cpus = 0;

  before(function () {
    requireBpf(this);
    pinDir = testPinDir();
    obj = BpfObject.load(bpfObjectPath('drops.bpf.o'), pinDir);
    cpus = libbpf.libbpf_num_possible_cpus();
  });

  after(function () {
    obj?.close();
    if (pinDir) removePinDir(pinDir);
  });

  /** The real map and a MemoryMap of its spec (per-CPU values as user space sees them). */
  function pair(name: keyof typeof MAP_SPECS, kind: MemoryMapKind, valueSize: number) {
    assert.ok(obj);
    const spec = MAP_SPECS[name];
    return {
      real: obj.map(name),
      memory: new MemoryMap({ name, kind, keySize: spec.keySize, valueSize, maxEntries: spec.maxEntries }),
      spec,
    };
  }

  it('hash (endpoints): lookup, update, delete, batch read, and a full map refusing a new key', function () {
    const { real, memory, spec } = pair(MAP_NAMES.endpoints as 'endpoints', 'hash', 4);
    const key = (i: number) => {
      const k = Buffer.alloc(spec.keySize);
      k.writeUInt32BE(i, 12);
      return k;
    };
    for (const m of [real, memory]) {
      const v = Buffer.alloc(4);
      const seen = [
        outcome(() => m.lookup(key(1), v)),
        outcome(() => m.update(key(1), u32Key(7))),
        outcome(() => m.lookup(key(1), v) && v.readUInt32LE(0)),
        outcome(() => m.update(key(1), u32Key(8))),
        outcome(() => m.delete(key(2))),
        outcome(() => m.delete(key(1))),
        outcome(() => m.delete(key(1))),
      ];
      assert.deepEqual(seen, [false, undefined, 7, undefined, false, true, false], m.name);
    }
    for (let i = 0; i < spec.maxEntries; i++) {
      real.update(key(i), u32Key(i));
      memory.update(key(i), u32Key(i));
    }
    assert.deepEqual(entries(memory, spec.keySize, 4, spec.maxEntries), entries(real, spec.keySize, 4, spec.maxEntries));
    assert.equal(
      outcome(() => real.update(key(spec.maxEntries), u32Key(0))),
      'threw',
      'the kernel refuses a key past max_entries',
    );
    assert.equal(
      outcome(() => memory.update(key(spec.maxEntries), u32Key(0))),
      'threw',
    );
    assert.equal(
      outcome(() => real.update(key(0), u32Key(9))),
      undefined,
      'an existing key still updates',
    );
    assert.equal(
      outcome(() => memory.update(key(0), u32Key(9))),
      undefined,
    );
    for (let i = 0; i < spec.maxEntries; i++) {
      real.delete(key(i));
      memory.delete(key(i));
    }
  });

  it('queue (drop_free_slots): FIFO push and pop, empty pop, a full queue refusing a push', function () {
    const { real, memory, spec } = pair(MAP_NAMES.dropFreeSlots as 'drop_free_slots', 'queue', 4);
    for (const m of [real, memory]) {
      const v = Buffer.alloc(4);
      assert.equal(m.pop(v), false, `${m.name}: empty`);
      m.push(u32Key(3));
      m.push(u32Key(5));
      assert.deepEqual([m.pop(v) && v.readUInt32LE(0), m.pop(v) && v.readUInt32LE(0), m.pop(v)], [3, 5, false]);
      for (let i = 0; i < spec.maxEntries; i++) m.push(u32Key(i));
      assert.equal(
        outcome(() => m.push(u32Key(0))),
        'threw',
        `${m.name}: full`,
      );
      while (m.pop(v)) {
        /* drain */
      }
    }
  });

  it('per-CPU array (drop_counts): every index present and zero, updates whole cells, no delete, nothing past the end', function () {
    const stride = perCpuStride(COUNTER_SIZE, cpus);
    const { real, memory, spec } = pair(MAP_NAMES.dropCounts as 'drop_counts', 'array', stride);
    const cell = Buffer.alloc(stride);
    cell.writeBigUInt64LE(5n, 0);
    for (const m of [real, memory]) {
      const v = Buffer.alloc(stride, 0xff);
      assert.equal(m.lookup(u32Key(3), v), true, m.name);
      assert.ok(v.equals(Buffer.alloc(stride)), `${m.name}: zero`);
      m.update(u32Key(3), cell);
      assert.equal(
        outcome(() => m.delete(u32Key(3))),
        'threw',
        `${m.name}: no delete on arrays`,
      );
      assert.equal(
        outcome(() => m.update(u32Key(spec.maxEntries), cell)),
        'threw',
        `${m.name}: past the end`,
      );
      assert.equal(m.lookup(u32Key(spec.maxEntries), v), false, `${m.name}: lookup past the end`);
    }
    assert.deepEqual(
      entries(memory, 4, stride, spec.maxEntries),
      entries(real, 4, stride, spec.maxEntries),
      'batch read: every index, in order',
    );
    real.update(u32Key(3), Buffer.alloc(stride));
  });
});
