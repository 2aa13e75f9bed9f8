// Decoding Cilium's endpoint map (cilium_lxc) entries on hand-made bytes of
// each layout seen in Cilium's sources: the key with a u16 cluster_id or a
// u8 cluster_id + pad, and the value with pad[4], sec_id + pad[3], or
// sec_id + parent_ifindex + pad[2]; which entries put an address behind an
// interface (a pod endpoint) and which do not (host entries).
import assert from 'node:assert/strict';
import {
  CILIUM_ENDPOINT_KEY_SIZE,
  CILIUM_ENDPOINT_VALUE_SIZE,
  decodeCiliumEndpoint,
  podInterfaceOf,
} from '../../../src/collect/cilium/endpoint-entry.js';
import { mergeAddressesBehind } from '../../../src/os/addresses-behind.js';

/** struct endpoint_key, bytes in the map's order. */
function key(address: number[], family: number, tail: number[]): Buffer {
  const b = Buffer.alloc(20);
  Buffer.from(address).copy(b, 0);
  b[16] = family;
  b[17] = 0; // key (encryption)
  Buffer.from(tail).copy(b, 18);
  return b;
}

/** struct endpoint_info (little-endian host), fields after node_mac as given (12 or 16 bytes of u32s). */
function value(ifindex: number, lxcId: number, flags: number, after: number[]): Buffer {
  const b = Buffer.alloc(48);
  b.writeUInt32LE(ifindex, 0);
  b.writeUInt16LE(0xbeef, 4); // unused (was sec_label): ignored
  b.writeUInt16LE(lxcId, 6);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(0xdeadbeef, 12); // padding before the u64 mac: ignored
  Buffer.from([0x0a, 0x58, 0x0a, 0xf4, 0x01, 0x07, 0, 0]).copy(b, 16);
  Buffer.from([0x0a, 0x58, 0x0a, 0xf4, 0xff, 0x01, 0, 0]).copy(b, 24);
  after.forEach((u32, i) => b.writeUInt32LE(u32, 32 + i * 4));
  return b;
}

const IPV4 = 1;
const IPV6 = 2;
const V4 = [10, 244, 1, 7, ...Array<number>(12).fill(0)];
const V6 = [0xfd, 0x00, 0x10, 0x24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x07];

describe('Cilium endpoint map entries', function () {
  it('has the sizes of struct endpoint_key and struct endpoint_info', function () {
    assert.equal(CILIUM_ENDPOINT_KEY_SIZE, 20);
    assert.equal(CILIUM_ENDPOINT_VALUE_SIZE, 48);
  });

  it('decodes an IPv4 key with a u16 cluster_id and the value with sec_id + parent_ifindex + pad[2]', function () {
    const k = key(V4, IPV4, [0, 0]);
    const v = value(31, 1234, 0, [54321, 9, 0, 0]);
    const e = decodeCiliumEndpoint(k, 0, v, 0);
    assert.deepEqual(e, { address: '10.244.1.7', ifindex: 31, flags: 0, lxcId: 1234 });
    assert.equal(podInterfaceOf(e!), 31);
  });

  it('decodes the older layouts alike: u8 cluster_id + u8 pad; sec_id + pad[3]; pad[4]', function () {
    for (const tail of [
      [0, 0],
      [5, 0], // a cluster id (u8) and its pad, or u16 5: the address is the same
      [0x05, 0x01], // u16 cluster id 261
    ]) {
      for (const after of [
        [54321, 0, 0, 0], // sec_id + pad[3]
        [0, 0, 0, 0], // pad[4]
      ]) {
        const e = decodeCiliumEndpoint(key(V4, IPV4, tail), 0, value(31, 7, 0, after), 0);
        assert.deepEqual(e, { address: '10.244.1.7', ifindex: 31, flags: 0, lxcId: 7 });
      }
    }
  });

  it('writes an IPv6 address as the netlink dumps do (eight groups, not shortened)', function () {
    const e = decodeCiliumEndpoint(key(V6, IPV6, [0, 0]), 0, value(32, 8, 0, [1, 0, 0, 0]), 0);
    assert.equal(e?.address, 'fd00:1024:0:0:0:0:0:107');
    assert.equal(e && podInterfaceOf(e), 32);
  });

  it('reads entries at their offsets in batch buffers', function () {
    const keys = Buffer.concat([key(V6, IPV6, [0, 0]), key(V4, IPV4, [0, 0])]);
    const values = Buffer.concat([value(40, 1, 0, [0, 0, 0, 0]), value(41, 2, 0, [0, 0, 0, 0])]);
    assert.deepEqual(decodeCiliumEndpoint(keys, 20, values, 48), { address: '10.244.1.7', ifindex: 41, flags: 0, lxcId: 2 });
  });

  it('skips a family that is neither IPv4 (1) nor IPv6 (2): not AF_INET (2) / AF_INET6 (10) either', function () {
    assert.equal(decodeCiliumEndpoint(key(V4, 0, [0, 0]), 0, value(31, 1, 0, [0, 0, 0, 0]), 0), undefined);
    assert.equal(decodeCiliumEndpoint(key(V6, 10, [0, 0]), 0, value(31, 1, 0, [0, 0, 0, 0]), 0), undefined);
  });

  it("puts no address behind any interface for host entries: HOST (the node's own addresses, ifindex 0), ATHOSTNS, or ifindex 0", function () {
    const at = (ifindex: number, flags: number) =>
      podInterfaceOf(decodeCiliumEndpoint(key(V4, IPV4, [0, 0]), 0, value(ifindex, 0, flags, [0, 0, 0, 0]), 0)!);
    assert.equal(at(0, 1), undefined, 'AddHostEntry: flags HOST, nothing else');
    assert.equal(at(5, 1), undefined, 'HOST on an interface');
    assert.equal(at(5, 2), undefined, 'ATHOSTNS: an endpoint in the host network namespace');
    assert.equal(at(5, 3), undefined);
    assert.equal(at(0, 0), undefined, 'no interface');
    // Flags that say nothing about where the endpoint is (ENDPOINT_F_NO_SNAT_V4/V6) keep it a pod's.
    assert.equal(at(5, 4), 5);
    assert.equal(at(5, 8), 5);
  });
});

describe('merging addresses behind interfaces', function () {
  it('joins what routes or bridges say with what Cilium says, each address once', function () {
    const routes = new Map([
      [3, ['10.0.0.3']],
      [4, ['10.0.0.4']],
    ]);
    const cilium = new Map([
      [4, ['10.0.0.4', 'fd00:0:0:0:0:0:0:4']],
      [5, ['10.0.0.5']],
    ]);
    assert.deepEqual(
      [...mergeAddressesBehind(routes, cilium)],
      [
        [3, ['10.0.0.3']],
        [4, ['10.0.0.4', 'fd00:0:0:0:0:0:0:4']],
        [5, ['10.0.0.5']],
      ],
    );
    assert.equal(mergeAddressesBehind(routes, new Map()), routes);
    assert.equal(mergeAddressesBehind(new Map(), cilium), cilium);
    assert.deepEqual(routes.get(4), ['10.0.0.4'], 'the inputs are not changed');
  });
});
