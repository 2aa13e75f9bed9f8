// Host routes of this network namespace, from an rtnetlink RTM_GETROUTE dump
// (what `ip route show table all` does): routing CNIs (Calico, the ptp
// plugin of kindnet and others, the AWS VPC CNI, Cilium with endpoint
// routes) install one route per pod address through the host side of the
// pod's veth, which is how the agent learns whose a veth is.
//
// Wire format (include/uapi/linux/rtnetlink.h):
//   struct rtmsg { u8 family; u8 dst_len; u8 src_len; u8 tos; u8 table; u8 protocol; u8 scope; u8 type; u32 flags; }  12 B
//   RTA_DST (the address), RTA_OIF (u32 ifindex)
import { addressText } from './address-text.js';
import { Attributes, type DumpKind, dumpRequest } from './rtnetlink.js';

const RTM_NEWROUTE = 24;
const RTM_GETROUTE = 26;
const RTMSG_LEN = 12;
const RTN_UNICAST = 1;
const RTA_DST = 1;
const RTA_OIF = 4;

/** A unicast route to one address (a /32 or /128) through one interface. */
export interface HostRoute {
  /** The destination, as text. */
  address: string;
  /** The interface it goes out of. */
  ifindex: number;
}

/** rtmsg + attributes of one RTM_NEWROUTE message in buf[start, end); undefined unless a host route through one interface. */
export function parseHostRoute(buf: Buffer, start: number, end: number): HostRoute | undefined {
  if (start + RTMSG_LEN > end) return undefined;
  const dstLen = buf.readUInt8(start + 1);
  if (buf.readUInt8(start + 7) !== RTN_UNICAST || (dstLen !== 32 && dstLen !== 128)) return undefined;
  let address: string | undefined;
  let ifindex: number | undefined;
  for (const a = new Attributes(buf, start + RTMSG_LEN, end); a.next();) {
    if (a.type === RTA_DST) address = addressText(buf, a.from, a.to - a.from);
    else if (a.type === RTA_OIF && a.to - a.from >= 4) ifindex = buf.readUInt32LE(a.from);
  }
  // A multipath route (RTA_MULTIPATH) names no single interface: not a pod's.
  return address === undefined || ifindex === undefined ? undefined : { address, ifindex };
}

/** Every table, both families (AF_UNSPEC); only host routes through one interface are kept. */
export const HOST_ROUTE_DUMP: DumpKind<HostRoute> = {
  name: 'RTM_GETROUTE',
  request: (seq) => dumpRequest(RTM_GETROUTE, RTMSG_LEN, seq),
  replyType: RTM_NEWROUTE,
  parse: parseHostRoute,
};
