// The route, neighbour and fdb messages as the kernel sends them, made by
// hand: which are kept (a pod's host route, a station's neighbour entry, a
// bridge port's learned or static station) and which are not (subnets,
// local and multipath routes, multicast mappings, entries still resolving,
// a port's own address); then the join of the three into the addresses
// behind each interface.
import assert from 'node:assert/strict';
import { joinAddressesBehind, readAddressesBehind } from '../../../src/os/addresses-behind.js';
import { parseFdbEntry, parseNeighbor } from '../../../src/os/neighbor-dump.js';
import { parseHostRoute } from '../../../src/os/route-dump.js';
import type { DumpKind, Link } from '../../../src/os/rtnetlink.js';

function attr(type: number, payload: Buffer): Buffer {
  const out = Buffer.alloc((4 + payload.length + 3) & ~3);
  out.writeUInt16LE(4 + payload.length, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const ip4 = (s: string) => Buffer.from(s.split('.').map(Number));
const ip6 = (groups: number[]) => {
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  return b;
};
const mac = (s: string) => Buffer.from(s.replaceAll(':', ''), 'hex');
const parsed = <T>(parse: (b: Buffer, s: number, e: number) => T, msg: Buffer) => parse(msg, 0, msg.length);

/** rtmsg { family, dst_len, src_len, tos, table, protocol, scope, type, flags } + attributes. */
function route(opts: { dstLen: number; type?: number; dst?: Buffer; oif?: number; multipath?: boolean }): Buffer {
  const rtmsg = Buffer.from([opts.dst?.length === 16 ? 10 : 2, opts.dstLen, 0, 0, 254, 4, 253, opts.type ?? 1, 0, 0, 0, 0]);
  const attrs: Buffer[] = [rtmsg];
  if (opts.dst) attrs.push(attr(1, opts.dst));
  if (opts.oif !== undefined) attrs.push(attr(4, u32(opts.oif)));
  if (opts.multipath) attrs.push(attr(9, Buffer.alloc(16)));
  return Buffer.concat(attrs);
}

/** ndmsg { family, pad, pad, ifindex, state, flags, type } + attributes. */
function neigh(opts: { family?: number; ifindex: number; state: number; dst?: Buffer; lladdr?: Buffer; master?: number }): Buffer {
  const nd = Buffer.alloc(12);
  nd.writeUInt8(opts.family ?? 2, 0);
  nd.writeInt32LE(opts.ifindex, 4);
  nd.writeUInt16LE(opts.state, 8);
  const attrs: Buffer[] = [nd];
  if (opts.dst) attrs.push(attr(1, opts.dst));
  if (opts.lladdr) attrs.push(attr(2, opts.lladdr));
  if (opts.master !== undefined) attrs.push(attr(9, u32(opts.master)));
  return Buffer.concat(attrs);
}

const REACHABLE = 0x02;
const STALE = 0x04;
const NOARP = 0x40;
const PERMANENT = 0x80;

describe('addresses behind interfaces (unit)', function () {
  it('keeps host routes through one interface, IPv4 and IPv6, and nothing else', function () {
    assert.deepEqual(parsed(parseHostRoute, route({ dstLen: 32, dst: ip4('10.0.1.2'), oif: 7 })), { address: '10.0.1.2', ifindex: 7 });
    assert.deepEqual(parsed(parseHostRoute, route({ dstLen: 128, dst: ip6([0xfd00, 0, 0, 0, 0, 0, 0, 2]), oif: 7 })), {
      address: 'fd00:0:0:0:0:0:0:2',
      ifindex: 7,
    });
    assert.equal(parsed(parseHostRoute, route({ dstLen: 24, dst: ip4('10.0.1.0'), oif: 7 })), undefined, 'a subnet');
    assert.equal(parsed(parseHostRoute, route({ dstLen: 32, type: 2, dst: ip4('10.0.1.1'), oif: 7 })), undefined, 'a local address');
    assert.equal(parsed(parseHostRoute, route({ dstLen: 32, dst: ip4('10.0.1.2'), multipath: true })), undefined, 'several interfaces');
    assert.equal(parsed(parseHostRoute, route({ dstLen: 0, oif: 7 })), undefined, 'a default route');
  });

  it('keeps stations: neighbours with a MAC, fdb entries learned or static on a bridge port', function () {
    const a = ip4('10.0.3.2');
    const m = mac('8e:57:67:f7:22:1d');
    assert.deepEqual(parsed(parseNeighbor, neigh({ ifindex: 4, state: STALE, dst: a, lladdr: m })), {
      ifindex: 4,
      address: '10.0.3.2',
      mac: '8e5767f7221d',
    });
    assert.equal(parsed(parseNeighbor, neigh({ ifindex: 4, state: 0x01, dst: a })), undefined, 'still resolving');
    assert.equal(parsed(parseNeighbor, neigh({ ifindex: 4, state: 0x20, dst: a, lladdr: m })), undefined, 'failed');
    assert.equal(parsed(parseNeighbor, neigh({ ifindex: 4, state: NOARP, dst: ip4('224.0.0.22'), lladdr: m })), undefined, 'multicast');
    assert.deepEqual(parsed(parseFdbEntry, neigh({ family: 7, ifindex: 5, state: REACHABLE, lladdr: m, master: 4 })), {
      port: 5,
      bridge: 4,
      mac: '8e5767f7221d',
    });
    assert.deepEqual(parsed(parseFdbEntry, neigh({ family: 7, ifindex: 6, state: NOARP, lladdr: m, master: 4 }))?.port, 6, 'static');
    assert.equal(
      parsed(parseFdbEntry, neigh({ family: 7, ifindex: 5, state: PERMANENT, lladdr: m, master: 4 })),
      undefined,
      "the port's own",
    );
    assert.equal(parsed(parseFdbEntry, neigh({ family: 7, ifindex: 5, state: PERMANENT, lladdr: m })), undefined, "a device's own list");
  });

  it('joins routes and bridge stations into the addresses behind each interface', function () {
    const behind = joinAddressesBehind(
      [
        { address: '10.0.1.2', ifindex: 7 },
        { address: 'fd00:0:0:0:0:0:0:2', ifindex: 7 },
        { address: '10.0.1.2', ifindex: 7 }, // the same route in another table
      ],
      [
        { ifindex: 4, address: '10.0.3.2', mac: 'aa' },
        { ifindex: 4, address: '10.0.3.9', mac: 'bb' },
        { ifindex: 9, address: '10.0.3.2', mac: 'aa' }, // another bridge's neighbour with the same MAC: not this port's
        { ifindex: 4, address: '10.0.3.7', mac: 'cc' }, // no station learned: nowhere
      ],
      [
        { port: 5, bridge: 4, mac: 'aa' },
        { port: 6, bridge: 4, mac: 'bb' },
      ],
    );
    assert.deepEqual(
      [...behind].sort(([x], [y]) => x - y),
      [
        [5, ['10.0.3.2']],
        [6, ['10.0.3.9']],
        [7, ['10.0.1.2', 'fd00:0:0:0:0:0:0:2']],
      ],
    );
  });

  it('dumps neighbours and the fdb only while some bridge port is not known yet', function () {
    const calls: string[] = [];
    const socket = {
      dump<T>(kind: DumpKind<T>): T[] {
        calls.push(kind.name);
        return [];
      },
    };
    const link = (ifindex: number, kind: string, master?: number): Link => ({
      ifindex,
      name: `if${ifindex}`,
      kind,
      master,
      stats: undefined,
    });
    const bridged = [link(4, 'bridge'), link(5, 'veth', 4), link(6, 'veth', 4), link(7, 'veth')];
    const dumps = (links: Link[], known?: (ifindex: number) => boolean) => {
      calls.length = 0;
      readAddressesBehind(socket, links, known);
      return [...calls];
    };
    assert.deepEqual(dumps(bridged), ['RTM_GETROUTE', 'RTM_GETNEIGH', 'RTM_GETNEIGH(AF_BRIDGE)']);
    assert.deepEqual(
      dumps(bridged, (i) => i === 5),
      ['RTM_GETROUTE', 'RTM_GETNEIGH', 'RTM_GETNEIGH(AF_BRIDGE)'],
      'port 6 not known yet',
    );
    assert.deepEqual(
      dumps(bridged, (i) => i === 5 || i === 6),
      ['RTM_GETROUTE'],
      'every port known',
    );
    assert.deepEqual(dumps([link(7, 'veth'), link(8, 'veth', 9)]), ['RTM_GETROUTE'], 'no bridge port (a bond port is not one)');
  });
});
