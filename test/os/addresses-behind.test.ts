// Which addresses sit behind each interface, from the in-process route,
// neighbour and fdb dumps, in a namespace of the test's own wired as the two
// kinds of CNI wire pods: host routes (IPv4 and IPv6, in the main table and
// another) out of a veth, and a bridge whose ports lead to a pod whose
// address and MAC were learned from its real traffic (a datagram) and to a
// static station. Each dump is compared with what iproute2 prints; routes
// that are not a pod's (a subnet, a gateway's) lead nowhere.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Lab } from '../support/lab.js';
import { waitFor } from '../support/wait.js';
import { requireBpf } from '../support/privileges.js';

interface Dumped {
  behind: Array<[number, string[]]>;
  routes: Array<{ address: string; ifindex: number }>;
  neighbors: Array<{ ifindex: number; address: string; mac: string }>;
  fdb: Array<{ port: number; bridge: number; mac: string }>;
}

/** The dumps, made by a process in `ns` (a netlink socket belongs to the namespace it was opened in). */
function dumpIn(ns: string): Dumped {
  const module = (name: string) => JSON.stringify(fileURLToPath(new URL(`../../src/os/${name}.js`, import.meta.url)));
  const script = `const { RtnetlinkSocket } = await import(${module('rtnetlink')});
    const { readAddressesBehind } = await import(${module('addresses-behind')});
    const { HOST_ROUTE_DUMP } = await import(${module('route-dump')});
    const { NEIGHBOR_DUMP, FDB_DUMP } = await import(${module('neighbor-dump')});
    const s = new RtnetlinkSocket();
    const out = { behind: [...readAddressesBehind(s, s.dumpLinks())], routes: s.dump(HOST_ROUTE_DUMP), neighbors: s.dump(NEIGHBOR_DUMP), fdb: s.dump(FDB_DUMP) };
    s.close();
    process.stdout.write(JSON.stringify(out));`;
  const out = execFileSync('nsenter', [`--net=/run/netns/${ns}`, process.execPath, '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  return JSON.parse(out) as Dumped;
}

/** An address as 16 bytes of hex, whatever its text (iproute2 shortens IPv6, we do not). */
function canonical(address: string): string {
  if (address.includes('.')) return address;
  const [head = '', tail = ''] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const all = address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return all.map((g) => parseInt(g, 16).toString(16)).join(':');
}
const mac = (m: string) => m.replaceAll(':', '');

describe('addresses behind interfaces: route, neighbour and fdb dumps against iproute2', function () {
  let lab: Lab;
  let ns: string;
  let pod: string;
  const ifindex = (dev: string) =>
    Number((JSON.parse(lab.exec(ns, 'ip', ['-j', 'link', 'show', dev])) as Array<{ ifindex: number }>)[0]?.ifindex);

  before(async function () {
    requireBpf(this);
    lab = new Lab();
    ns = lab.namespace('node');
    pod = lab.namespace('pod');
    lab.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']);
    const batch = [
      // A routed pod (its peer end stays in the node namespace: only the host side matters here).
      'link add r0 type veth peer name r0p',
      'link set r0 up',
      'link set r0p up',
      'route add 10.250.1.2/32 dev r0',
      'route add 10.250.1.3/32 dev r0 table 100',
      'route add fd00:250::2/128 dev r0',
      // Not a pod's: a subnet route and a gateway's host route through eth-like r0p.
      'route add 10.250.9.0/24 dev r0p',
      'route add 10.250.8.1/32 via 10.250.9.1 dev r0p',
      // A bridge with two ports: one to a pod namespace, one to a static station.
      'link add br0 type bridge',
      'link set br0 up',
      'addr add 10.250.3.1/24 dev br0',
      'link add b0 type veth peer name b0p',
      'link add b1 type veth peer name b1p',
      'link set b0 master br0',
      'link set b1 master br0',
      'link set b0 up',
      'link set b1 up',
      'link set b1p up',
      `link set b0p netns ${pod}`,
      'neigh replace 10.250.3.9 lladdr 02:00:00:00:00:09 dev br0 nud permanent',
    ];
    lab.exec(ns, 'ip', ['-batch', '-'], `${batch.join('\n')}\n`);
    lab.exec(ns, 'bridge', ['fdb', 'add', '02:00:00:00:00:09', 'dev', 'b1', 'master', 'static']);
    lab.exec(pod, 'ip', ['addr', 'add', '10.250.3.2/24', 'dev', 'b0p']);
    lab.exec(pod, 'ip', ['link', 'set', 'b0p', 'up']);
    // The pod's real traffic: the node learns its address (its ARP request) and the bridge its MAC on b0.
    lab.sendUdp(pod, '10.250.3.1', 9, 1, 8);
    await waitFor(
      () => lab.exec(ns, 'ip', ['neigh', 'show', '10.250.3.2', 'dev', 'br0']),
      (out) => out.includes('lladdr'),
    );
  });

  after(function () {
    lab?.destroy();
  });

  it('finds the host routes, neighbours and bridge stations iproute2 shows, and joins them per interface', function () {
    const d = dumpIn(ns);
    const podMac = mac(lab.mac(pod, 'b0p'));

    // Host routes: every /32 and /128 unicast route through one interface, in any table.
    type IpRoute = { dst: string; dev?: string; type?: string; gateway?: string };
    const ipRoutes = [
      ...(JSON.parse(lab.exec(ns, 'ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as IpRoute[]),
      ...(JSON.parse(lab.exec(ns, 'ip', ['-j', '-6', 'route', 'show', 'table', 'all'])) as IpRoute[]),
    ];
    const hostRoute = (r: IpRoute) =>
      (r.type ?? 'unicast') === 'unicast' && r.dev !== undefined && (/^[\d.]+$/.test(r.dst) || /^[\da-f:]+$/.test(r.dst));
    const expected = ipRoutes.filter(hostRoute).map((r) => `${canonical(r.dst)} ${ifindex(r.dev ?? '')}`);
    assert.deepEqual(d.routes.map((r) => `${canonical(r.address)} ${r.ifindex}`).sort(), expected.sort());
    assert.ok(
      expected.includes(`10.250.8.1 ${ifindex('r0p')}`),
      'a host route via a gateway is a host route too (the join ignores it: no pod holds it)',
    );

    // Neighbours with an Ethernet address, as ip neigh shows them.
    type IpNeigh = { dst: string; dev: string; lladdr?: string; state?: string[] };
    const ipNeigh = (JSON.parse(lab.exec(ns, 'ip', ['-j', 'neigh', 'show'])) as IpNeigh[]).filter(
      (n) => n.lladdr !== undefined && !n.state?.some((s) => s === 'INCOMPLETE' || s === 'FAILED'),
    );
    assert.deepEqual(
      d.neighbors.map((n) => `${canonical(n.address)} ${n.ifindex} ${n.mac}`).sort(),
      ipNeigh.map((n) => `${canonical(n.dst)} ${ifindex(n.dev)} ${mac(n.lladdr ?? '')}`).sort(),
    );
    assert.ok(
      d.neighbors.some((n) => n.address === '10.250.3.2' && n.mac === podMac),
      'the pod, learned from its traffic',
    );

    // Bridge stations: fdb entries of a bridge that are not a port's own (permanent) address.
    type Fdb = { mac: string; ifname: string; master?: string; state?: string; flags?: string[] };
    const stations = (JSON.parse(lab.exec(ns, 'bridge', ['-j', 'fdb', 'show'])) as Fdb[]).filter(
      (e) => e.master !== undefined && e.state !== 'permanent',
    );
    assert.deepEqual(
      d.fdb.map((e) => `${e.mac} ${e.port} ${e.bridge}`).sort(),
      stations.map((e) => `${mac(e.mac)} ${ifindex(e.ifname)} ${ifindex(e.master ?? '')}`).sort(),
    );

    // The join: each veth leads to its pod's addresses; a bridge, a subnet or a gateway to none.
    const behind = new Map(d.behind.map(([i, a]) => [i, a.map(canonical).sort()]));
    assert.deepEqual(behind.get(ifindex('r0')), ['10.250.1.2', '10.250.1.3', 'fd00:250:0:0:0:0:0:2']);
    assert.deepEqual(behind.get(ifindex('b0')), ['10.250.3.2']);
    assert.deepEqual(behind.get(ifindex('b1')), ['10.250.3.9']);
    assert.equal(behind.get(ifindex('br0')), undefined);
    assert.deepEqual(behind.get(ifindex('r0p')), ['10.250.8.1']);
  });
});
