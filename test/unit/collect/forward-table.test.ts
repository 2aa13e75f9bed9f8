// The forward source on an in-memory forward_counts: one row per counted
// (slot, direction) cell, summed over CPUs, and zeroSlot before reuse.
import assert from 'node:assert/strict';
import {
  type EndpointSlot,
  ENDPOINT_UNATTRIBUTED,
  FORWARD_CELLS,
  forwardIndex,
  LAYOUTS,
  SITE_COUNTER_SIZE,
} from '../../../src/bpf/contract.js';
import { perCpuStride } from '../../../src/bpf/map.js';
import { ForwardSource } from '../../../src/collect/forward-table.js';
import { MemoryMap } from '../../support/memory-map.js';

const CPUS = 3;
const STRIDE = perCpuStride(SITE_COUNTER_SIZE, CPUS);
const M = LAYOUTS.site_counter.members;

function count(map: MemoryMap, index: number, cpu: number, packets: bigint, bytes: bigint, file: number, line: number): void {
  const cell = map.get(index) ?? Buffer.alloc(STRIDE);
  const off = cpu * SITE_COUNTER_SIZE;
  cell.writeBigUInt64LE(cell.readBigUInt64LE(off + M.packets) + packets, off + M.packets);
  cell.writeBigUInt64LE(cell.readBigUInt64LE(off + M.bytes) + bytes, off + M.bytes);
  cell.writeUInt32LE(file, off + M.file);
  cell.writeUInt32LE(line, off + M.line);
  map.set(index, cell);
}

describe('forward source (unit)', function () {
  const setup = () => {
    const map = new MemoryMap({ name: 'forward_counts', kind: 'array', keySize: 4, valueSize: STRIDE, maxEntries: FORWARD_CELLS });
    return { map, source: new ForwardSource(map, CPUS) };
  };

  it('makes one row per counted cell, summed over CPUs, with its direction, slot and site', function () {
    const { map, source } = setup();
    count(map, forwardIndex(3 as EndpointSlot, 'egress'), 0, 2n, 200n, 2, 41);
    count(map, forwardIndex(3 as EndpointSlot, 'egress'), 2, 1n, 100n, 2, 41);
    count(map, forwardIndex(ENDPOINT_UNATTRIBUTED as EndpointSlot, 'ingress'), 1, 5n, 500n, 2, 57);
    const rows = source.read();
    assert.deepEqual(
      rows.map((r) => [r.endpoint, r.direction, r.packets, r.bytes, r.location]),
      [
        [3, 'egress', 3n, 300n, 'forward.bpf.c:41'],
        [ENDPOINT_UNATTRIBUTED, 'ingress', 5n, 500n, 'forward.bpf.c:57'],
      ],
    );
    assert.ok(rows.every((r) => r.kind === 'forward' && r.source === 'tc'));
  });

  it('names a file id it does not know, not a wrong file', function () {
    const { map, source } = setup();
    count(map, 0, 0, 1n, 1n, 99, 7);
    assert.equal(source.read()[0]?.location, 'unknown(99):7');
  });

  it('zeroSlot clears both directions of a slot and nothing else', function () {
    const { map, source } = setup();
    count(map, forwardIndex(4 as EndpointSlot, 'ingress'), 0, 1n, 1n, 2, 1);
    count(map, forwardIndex(4 as EndpointSlot, 'egress'), 1, 1n, 1n, 2, 1);
    count(map, forwardIndex(5 as EndpointSlot, 'egress'), 1, 1n, 1n, 2, 1);
    source.zeroSlot(4 as EndpointSlot);
    assert.deepEqual(
      source.read().map((r) => r.endpoint),
      [5],
    );
    source.zeroSlot(ENDPOINT_UNATTRIBUTED as EndpointSlot); // the unattributed cells are never zeroed
  });

  it('reads the whole table in one batch call', function () {
    const { map, source } = setup();
    source.read();
    assert.deepEqual(map.calls, ['lookupBatch']);
  });
});
