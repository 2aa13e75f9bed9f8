// Which addresses sit behind each interface of the node: for a pod's veth,
// the pod's own addresses, found the way the CNI wired them.
//   Routing CNIs: a host route per pod address out of the veth.
//   Bridging CNIs: the pod's address is a neighbour on the bridge with the
//     pod's MAC, and the bridge's forwarding database has that MAC on the
//     veth (its port).
// Nothing here knows pods: the export asks the pod watch whose addresses
// these are. Cilium's default datapath (no per-endpoint routes, no bridge)
// leaves no trace of either kind; Cilium's own endpoint map says it instead
// (collect/cilium/endpoint-map.ts), joined to these with mergeAddressesBehind.
import { FDB_DUMP, type FdbEntry, NEIGHBOR_DUMP, type Neighbor } from './neighbor-dump.js';
import { HOST_ROUTE_DUMP, type HostRoute } from './route-dump.js';
import type { Link, RtnetlinkSocket } from './rtnetlink.js';

/** ifindex -> the addresses reached through it. */
export type AddressesBehind = ReadonlyMap<number, readonly string[]>;

export function joinAddressesBehind(
  routes: readonly HostRoute[],
  neighbors: readonly Neighbor[],
  fdb: readonly FdbEntry[],
): AddressesBehind {
  const out = new Map<number, string[]>();
  const add = (ifindex: number, address: string) => {
    const list = out.get(ifindex);
    if (!list) out.set(ifindex, [address]);
    else if (!list.includes(address)) list.push(address);
  };
  for (const r of routes) add(r.ifindex, r.address);
  if (fdb.length > 0) {
    const portOf = new Map<string, number>(); // bridge ifindex + MAC -> port
    for (const e of fdb) portOf.set(`${e.bridge}/${e.mac}`, e.port);
    for (const n of neighbors) {
      const port = portOf.get(`${n.ifindex}/${n.mac}`);
      if (port !== undefined) add(port, n.address);
    }
  }
  return out;
}

/** Every address each interface leads to by any of the ways found (each address once). */
export function mergeAddressesBehind(a: AddressesBehind, b: AddressesBehind): AddressesBehind {
  if (b.size === 0) return a;
  if (a.size === 0) return b;
  const out = new Map<number, string[]>();
  for (const [ifindex, addresses] of a) out.set(ifindex, [...addresses]);
  for (const [ifindex, addresses] of b) {
    const list = out.get(ifindex);
    if (!list) out.set(ifindex, [...addresses]);
    else for (const address of addresses) if (!list.includes(address)) list.push(address);
  }
  return out;
}

/**
 * Reads them with one route dump per call, plus a neighbour and an fdb dump
 * only while some bridge port's addresses are not `known` yet (a routed node,
 * or a bridged one whose pods are all found, pays for one dump; the kernel
 * walks a bridge's whole fdb once per port, ~10 ms a poll at 1,000 ports).
 */
export function readAddressesBehind(
  socket: Pick<RtnetlinkSocket, 'dump'>,
  links: readonly Link[],
  known: (ifindex: number) => boolean = () => false,
): AddressesBehind {
  const bridges = new Set(links.filter((l) => l.kind === 'bridge').map((l) => l.ifindex));
  const unknownPort = links.some((l) => l.master !== undefined && bridges.has(l.master) && !known(l.ifindex));
  const routes = socket.dump(HOST_ROUTE_DUMP);
  return unknownPort ? joinAddressesBehind(routes, socket.dump(NEIGHBOR_DUMP), socket.dump(FDB_DUMP)) : joinAddressesBehind(routes, [], []);
}
