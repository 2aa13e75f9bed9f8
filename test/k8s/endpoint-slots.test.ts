// EndpointSlots' bookkeeping against the real (loaded, unattached) maps: a
// pod whose IPs go away and come back under the same uid is a new slot, and
// the old slot's expiry must not make the agent forget the new one.
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { MAP_NAMES } from '../../src/bpf/contract.js';
import { DropCacheGeneration } from '../../src/bpf/drop-cache.js';
import { bpfObjectPath } from '../../src/bpf/kernel-drop-program.js';
import { BpfObject } from '../../src/bpf/object.js';
import { EndpointSlots } from '../../src/k8s/endpoint-slots.js';
import { NamespaceFilter } from '../../src/k8s/namespace-filter.js';
import type { PodEndpoint } from '../../src/k8s/pod-endpoint.js';
import { removePinDir, testPinDir } from '../support/exporter.js';
import { requireBpf } from '../support/privileges.js';

describe('endpoint slots', function () {
  let pinDir: string;
  let obj: BpfObject | undefined;

  before(function () {
    requireBpf(this);
    pinDir = testPinDir();
    obj = BpfObject.load(bpfObjectPath('drops.bpf.o'), pinDir);
  });

  after(function () {
    obj?.close();
    if (pinDir) removePinDir(pinDir);
  });

  function slots(graceMs: number, namespaces?: NamespaceFilter): EndpointSlots {
    assert.ok(obj);
    const maps = {
      endpoints: obj.map(MAP_NAMES.endpoints),
      names: obj.map(MAP_NAMES.endpointNames),
      cacheGeneration: new DropCacheGeneration(obj.map(MAP_NAMES.dropCacheGen)),
    };
    const s = new EndpointSlots(maps, 8, graceMs, pino({ level: 'silent' }), namespaces);
    s.restore(); // as the agent starts: a fresh pin directory, so every slot is free
    return s;
  }

  it("a pod whose IPs leave and come back keeps its new slot past the old one's expiry, and frees it when deleted", function () {
    const s = slots(1_000);
    const pod = (ips: string[]): PodEndpoint => ({
      uid: 'uid-web-0',
      namespace: 'shop',
      name: 'web-0',
      ips,
      hostNetwork: false,
      workload: { kind: 'StatefulSet', name: 'web' },
    });
    s.upsert(pod(['10.0.0.5']));
    assert.equal(s.used, 1);
    s.upsert(pod([])); // IPs gone (the pod is finishing): its slot starts its grace
    s.upsert(pod(['10.0.0.6'])); // and back under the same uid: a new slot
    assert.equal(s.used, 2);
    const t0 = Date.now();
    const first = s.expired(t0 + 1_000);
    assert.equal(first.length, 1, 'the first slot expires');
    for (const slot of first) s.release(slot);
    assert.equal(s.used, 1);
    s.delete(pod(['10.0.0.6']));
    const second = s.expired(Date.now() + 1_000);
    assert.equal(second.length, 1, 'the deletion of the pod is not lost: its slot expires too');
    for (const slot of second) s.release(slot);
    assert.equal(s.used, 0, 'no slot leaks');
  });

  it('pods of namespaces filtered out get no slot and no address in the map: their traffic is node-level', function () {
    assert.ok(obj);
    const s = slots(1_000, new NamespaceFilter(['shop', 'team-*'], ['team-secret']));
    const pod = (namespace: string, name: string, ip: string): PodEndpoint => ({
      uid: `uid-${namespace}-${name}`,
      namespace,
      name,
      ips: [ip],
      hostNetwork: false,
      workload: { kind: 'Pod', name },
    });
    s.upsert(pod('shop', 'web-0', '10.0.1.1'));
    s.upsert(pod('team-a', 'api-0', '10.0.1.2'));
    s.upsert(pod('team-secret', 'vault-0', '10.0.1.3'));
    s.upsert(pod('kube-system', 'coredns-0', '10.0.1.4'));
    assert.equal(s.used, 2);
    const endpoints = obj.map(MAP_NAMES.endpoints).lookupAll(16, 4, 16);
    assert.equal(endpoints.count, 2, 'only the admitted pods have addresses in the endpoints map');
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 7]
        .map((slot) => s.labelsOf(slot as never)?.pod)
        .filter((p) => p !== undefined)
        .sort(),
      ['api-0', 'web-0'],
    );
    for (const [ns, name, ip] of [
      ['shop', 'web-0', '10.0.1.1'],
      ['team-a', 'api-0', '10.0.1.2'],
    ] as const)
      s.delete(pod(ns, name, ip));
  });
});
