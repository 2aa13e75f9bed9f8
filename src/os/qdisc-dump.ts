// The qdiscs of this network namespace and their queue statistics, from an
// rtnetlink RTM_GETQDISC dump (what `tc -s qdisc show` does), in-process over
// the same kind of NETLINK_ROUTE socket as the link dump: no `tc` child.
//
// Wire format (include/uapi/linux/rtnetlink.h, pkt_sched.h, gen_stats.h):
//   struct tcmsg { u8 family; u8 pad1; u16 pad2; s32 ifindex; u32 handle; u32 parent; u32 info; }   20 B
//   TCA_KIND (string), TCA_STATS2 (nested) { TCA_STATS_QUEUE: struct gnet_stats_queue
//     { u32 qlen; u32 backlog; u32 drops; u32 requeues; u32 overlimits; } }
import { Attributes, cString, type DumpKind, dumpRequest } from './rtnetlink.js';

const RTM_NEWQDISC = 36;
const RTM_GETQDISC = 38;
const TCMSG_LEN = 20;
const TCA_KIND = 1;
const TCA_STATS2 = 7;
const TCA_STATS_QUEUE = 3;
const GNET_STATS_QUEUE_LEN = 20;

/** tcm_parent of a device's root qdisc (TC_H_ROOT). */
export const TC_H_ROOT = 0xffffffff;

/** One qdisc and its queue counters (u32 in the kernel: they wrap at 2^32). */
export interface Qdisc {
  ifindex: number;
  /** "pfifo", "tbf", "noqueue", "mq", ... */
  kind: string;
  handle: number;
  parent: number;
  drops: number;
  requeues: number;
  overlimits: number;
}

/** The RTM_GETQDISC dump request: nlmsghdr + an all-zero tcmsg (every device). */
export function getQdiscDumpRequest(seq: number): Buffer {
  return dumpRequest(RTM_GETQDISC, TCMSG_LEN, seq);
}

/** tcmsg + attributes of one RTM_NEWQDISC message in buf[start, end); undefined without queue statistics. */
export function parseNewQdisc(buf: Buffer, start: number, end: number): Qdisc | undefined {
  if (start + TCMSG_LEN > end) return undefined;
  const ifindex = buf.readInt32LE(start + 4);
  const handle = buf.readUInt32LE(start + 8);
  const parent = buf.readUInt32LE(start + 12);
  let kind: string | undefined;
  let queue: { drops: number; requeues: number; overlimits: number } | undefined;
  for (const a = new Attributes(buf, start + TCMSG_LEN, end); a.next();) {
    if (a.type === TCA_KIND) kind = cString(buf, a.from, a.to);
    else if (a.type === TCA_STATS2) queue = queueStats(buf, a.from, a.to);
  }
  return kind === undefined || queue === undefined ? undefined : { ifindex, kind, handle, parent, ...queue };
}

/** TCA_STATS_QUEUE inside TCA_STATS2's nested attributes. */
function queueStats(buf: Buffer, start: number, end: number): { drops: number; requeues: number; overlimits: number } | undefined {
  for (const a = new Attributes(buf, start, end); a.next();) {
    if (a.type !== TCA_STATS_QUEUE || a.to - a.from < GNET_STATS_QUEUE_LEN) continue;
    // struct gnet_stats_queue { qlen; backlog; drops; requeues; overlimits; }
    return { drops: buf.readUInt32LE(a.from + 8), requeues: buf.readUInt32LE(a.from + 12), overlimits: buf.readUInt32LE(a.from + 16) };
  }
  return undefined;
}

export const QDISC_DUMP: DumpKind<Qdisc> = {
  name: 'RTM_GETQDISC',
  request: getQdiscDumpRequest,
  replyType: RTM_NEWQDISC,
  parse: parseNewQdisc,
};
