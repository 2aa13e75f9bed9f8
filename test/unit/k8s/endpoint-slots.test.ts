// EndpointSlots' bookkeeping on in-memory maps: which slot a pod gets, what
// the endpoints and names maps hold, the grace period, release, restart.
import assert from 'node:assert/strict';
import { pino } from 'pino';
import {
  decodeEndpointName,
  encodeEndpointAddr,
  ENDPOINT_ADDR_SIZE,
  ENDPOINT_NAME_SIZE,
  type EndpointSlot,
} from '../../../src/bpf/contract.js';
import { DropCacheGeneration } from '../../../src/bpf/drop-cache.js';
import { u32Key } from '../../../src/bpf/map.js';
import { EndpointSlots, forgetEndpoints } from '../../../src/k8s/endpoint-slots.js';
import type { PodEndpoint } from '../../../src/k8s/pod-endpoint.js';
import { MemoryMap } from '../../support/memory-map.js';

const CAPACITY = 4;
const silent = pino({ level: 'silent' });

function maps() {
  const endpoints = new MemoryMap({ name: 'endpoints', kind: 'hash', keySize: ENDPOINT_ADDR_SIZE, valueSize: 4, maxEntries: 4096 });
  const names = new MemoryMap({ name: 'endpoint_names', kind: 'array', keySize: 4, valueSize: ENDPOINT_NAME_SIZE, maxEntries: 4096 });
  const gen = new MemoryMap({ name: 'drop_cache_gen', kind: 'array', keySize: 4, valueSize: 4, maxEntries: 1 });
  return { endpoints, names, gen, cacheGeneration: new DropCacheGeneration(gen) };
}

function slotsOn(m: ReturnType<typeof maps>, graceMs = 1000): EndpointSlots {
  const s = new EndpointSlots(m, CAPACITY, graceMs, silent);
  s.restore();
  return s;
}

const pod = (name: string, ips: string[], extra: Partial<PodEndpoint> = {}): PodEndpoint => ({
  uid: `uid-${name}`,
  namespace: 'shop',
  name,
  ips,
  hostNetwork: false,
  workload: { kind: 'Pod', name },
  ...extra,
});

/** The slot the endpoints map gives an IP (what the BPF programs read). */
const slotOfIp = (m: ReturnType<typeof maps>, ip: string) => m.endpoints.get(encodeEndpointAddr(ip))?.readUInt32LE(0);

describe('endpoint slots (unit)', function () {
  it('gives a pod a slot, maps every IP to it, names the slot, and bumps the cache generation', function () {
    const m = maps();
    const s = slotsOn(m);
    s.upsert(pod('web-0', ['10.0.0.5', 'fd00::5']));
    const slot = slotOfIp(m, '10.0.0.5');
    assert.ok(slot !== undefined);
    assert.equal(slotOfIp(m, 'fd00::5'), slot);
    assert.deepEqual(decodeEndpointName(m.names.get(slot) ?? Buffer.alloc(0)), { namespace: 'shop', pod: 'web-0' });
    assert.deepEqual(s.labelsOf(slot as EndpointSlot), {
      namespace: 'shop',
      pod: 'web-0',
      workload: 'web-0',
      workloadKind: 'Pod',
      uid: 'uid-web-0',
    });
    assert.equal(m.gen.get(0)?.readUInt32LE(0), 1);
    assert.equal(s.used, 1);
  });

  it('ignores hostNetwork pods and pods without IPs', function () {
    const m = maps();
    const s = slotsOn(m);
    s.upsert(pod('node-agent', ['192.0.2.1'], { hostNetwork: true }));
    s.upsert(pod('pending', []));
    assert.equal(s.used, 0);
    assert.equal(m.endpoints.size, 0);
  });

  it('a deleted pod leaves the endpoints map at once but keeps its slot and labels for the grace period', function () {
    const m = maps();
    const s = slotsOn(m, 1000);
    const p = pod('web-0', ['10.0.0.5']);
    s.upsert(p);
    const slot = slotOfIp(m, '10.0.0.5') as EndpointSlot;
    s.delete(p);
    assert.equal(slotOfIp(m, '10.0.0.5'), undefined, 'no new counts');
    assert.deepEqual(
      s.labelsOf(slot),
      { namespace: 'shop', pod: 'web-0', workload: 'web-0', workloadKind: 'Pod', uid: 'uid-web-0' },
      'final counts still labelled',
    );
    assert.deepEqual(s.expired(Date.now()), []);
    assert.deepEqual(s.expired(Date.now() + 1000), [slot]);
    s.release(slot);
    assert.equal(s.labelsOf(slot), undefined);
    assert.deepEqual(decodeEndpointName(m.names.get(slot) ?? Buffer.alloc(0)), { namespace: '', pod: '' });
    assert.equal(s.used, 0);
  });

  it('an IP taken over by a new pod before the old pod is deleted stays with the new pod', function () {
    const m = maps();
    const s = slotsOn(m);
    s.upsert(pod('old', ['10.0.0.9']));
    s.upsert(pod('new', ['10.0.0.9']));
    const newSlot = slotOfIp(m, '10.0.0.9');
    s.delete(pod('old', ['10.0.0.9']));
    assert.equal(slotOfIp(m, '10.0.0.9'), newSlot);
  });

  it('a pod that finds no free slot waits, counted as unplaced, and gets the next released slot', function () {
    const m = maps();
    const s = slotsOn(m, 0);
    for (let i = 0; i < CAPACITY; i++) s.upsert(pod(`p${i}`, [`10.0.1.${i}`]));
    s.upsert(pod('late', ['10.0.2.1']));
    assert.equal(s.unplaced, 1);
    assert.equal(slotOfIp(m, '10.0.2.1'), undefined);
    s.delete(pod('p0', ['10.0.1.0']));
    for (const slot of s.expired()) s.release(slot);
    assert.equal(s.unplaced, 0);
    assert.ok(slotOfIp(m, '10.0.2.1') !== undefined);
  });

  it('after a restart a pod keeps the slot its IP has in the pinned map; slots no pod claims expire', function () {
    const m = maps();
    m.endpoints.set(encodeEndpointAddr('10.0.0.5'), u32Key(2));
    m.endpoints.set(encodeEndpointAddr('10.0.0.6'), u32Key(3));
    m.endpoints.set(encodeEndpointAddr('10.0.0.7'), u32Key(CAPACITY + 10)); // beyond a smaller --max-endpoints
    const s = slotsOn(m, 0);
    assert.equal(slotOfIp(m, '10.0.0.7'), undefined, 'a slot beyond the capacity is dropped at restore');
    s.upsert(pod('web-0', ['10.0.0.5']));
    assert.equal(slotOfIp(m, '10.0.0.5'), 2);
    s.releaseUnclaimed();
    assert.equal(slotOfIp(m, '10.0.0.6'), undefined);
    assert.deepEqual(s.expired(), [3]);
  });

  it('forgetEndpoints empties both maps (running without Kubernetes)', function () {
    const m = maps();
    const s = slotsOn(m);
    s.upsert(pod('web-0', ['10.0.0.5']));
    forgetEndpoints(m);
    assert.equal(m.endpoints.size, 0);
    assert.ok(m.names.keys().every((k) => decodeEndpointName(m.names.get(k) ?? Buffer.alloc(0)).pod === ''));
  });
});
