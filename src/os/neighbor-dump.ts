// Neighbours (ARP and NDP entries) and a bridge's forwarding database, from
// rtnetlink RTM_GETNEIGH dumps (what `ip neigh` and `bridge fdb` do):
// bridging CNIs (the bridge plugin of flannel and others) install no route
// per pod; a pod's address is a neighbour on the bridge with the pod's MAC,
// and the bridge learned on which port (the pod's veth) that MAC lives.
//
// Wire format (include/uapi/linux/neighbour.h):
//   struct ndmsg { u8 family; u8 pad1; u16 pad2; s32 ifindex; u16 state; u8 flags; u8 type; }  12 B
//   NDA_DST (the address), NDA_LLADDR (the MAC), NDA_MASTER (u32: the bridge of an fdb entry)
import { addressText } from './address-text.js';
import { Attributes, type DumpKind, dumpRequest } from './rtnetlink.js';

const RTM_NEWNEIGH = 28;
const RTM_GETNEIGH = 30;
const NDMSG_LEN = 12;
const AF_BRIDGE = 7;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const NDA_MASTER = 9;
/** Entry states that hold no station's address: still resolving, failed, or a fixed mapping (multicast) or none (as `ip neigh` hides them). */
const NUD_NONE = 0x00;
const NUD_INCOMPLETE = 0x01;
const NUD_FAILED = 0x20;
const NUD_NOARP = 0x40;
/** An fdb entry for the port's own address (or a static one the device holds), not a station behind the port. */
const NUD_PERMANENT = 0x80;

/** An IP neighbour: `address` answers at `mac` on interface `ifindex`. */
export interface Neighbor {
  ifindex: number;
  address: string;
  mac: string;
}

/** A station the bridge `bridge` reaches through its port `port`. */
export interface FdbEntry {
  port: number;
  bridge: number;
  mac: string;
}

/** The ndmsg's fields and the attributes both dumps read, from one RTM_NEWNEIGH message. */
function parseNdmsg(buf: Buffer, start: number, end: number) {
  if (start + NDMSG_LEN > end) return undefined;
  const ifindex = buf.readInt32LE(start + 4);
  const state = buf.readUInt16LE(start + 8);
  let address: string | undefined;
  let mac: string | undefined;
  let master: number | undefined;
  for (const a = new Attributes(buf, start + NDMSG_LEN, end); a.next();) {
    if (a.type === NDA_DST) address = addressText(buf, a.from, a.to - a.from);
    else if (a.type === NDA_LLADDR && a.to - a.from === 6) mac = buf.toString('hex', a.from, a.to);
    else if (a.type === NDA_MASTER && a.to - a.from >= 4) master = buf.readUInt32LE(a.from);
  }
  return { ifindex, state, address, mac, master };
}

/** One ARP/NDP entry of a station with an Ethernet address; undefined for one still resolving, failed, or multicast. */
export function parseNeighbor(buf: Buffer, start: number, end: number): Neighbor | undefined {
  const m = parseNdmsg(buf, start, end);
  if (!m || m.address === undefined || m.mac === undefined) return undefined;
  if (m.state === NUD_NONE || m.state & (NUD_INCOMPLETE | NUD_FAILED | NUD_NOARP)) return undefined;
  return { ifindex: m.ifindex, address: m.address, mac: m.mac };
}

/** One learned (or static) station of a bridge port; undefined for the port's own address or a device's own list. */
export function parseFdbEntry(buf: Buffer, start: number, end: number): FdbEntry | undefined {
  const m = parseNdmsg(buf, start, end);
  if (!m || m.master === undefined || m.mac === undefined || m.state & NUD_PERMANENT) return undefined;
  return { port: m.ifindex, bridge: m.master, mac: m.mac };
}

/** ARP and NDP tables (AF_UNSPEC: both). */
export const NEIGHBOR_DUMP: DumpKind<Neighbor> = {
  name: 'RTM_GETNEIGH',
  request: (seq) => dumpRequest(RTM_GETNEIGH, NDMSG_LEN, seq),
  replyType: RTM_NEWNEIGH,
  parse: parseNeighbor,
};

/** Every bridge's forwarding database (AF_BRIDGE). */
export const FDB_DUMP: DumpKind<FdbEntry> = {
  name: 'RTM_GETNEIGH(AF_BRIDGE)',
  request: (seq) => dumpRequest(RTM_GETNEIGH, NDMSG_LEN, seq, AF_BRIDGE),
  replyType: RTM_NEWNEIGH,
  parse: parseFdbEntry,
};
