// The qdiscs of this network namespace and their queue statistics, from an
// rtnetlink RTM_GETQDISC dump (what `tc -s qdisc show` does), in-process over
// the same kind of NETLINK_ROUTE socket as the link dump: no `tc` child.
//
// Wire format (include/uapi/linux/rtnetlink.h, pkt_sched.h, gen_stats.h):
//   struct tcmsg { u8 family; u8 pad1; u16 pad2; s32 ifindex; u32 handle; u32 parent; u32 info; }   20 B
//   TCA_KIND (string), TCA_STATS2 (nested) { TCA_STATS_QUEUE: struct gnet_stats_queue
//     { u32 qlen; u32 backlog; u32 drops; u32 requeues; u32 overlimits; } }
import { align4, cString, type DumpKind, dumpRequest, NLA_TYPE_MASK } from './rtnetlink.js';

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
  for (let off = start + TCMSG_LEN; off + 4 <= end;) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > end) break;
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (type === TCA_KIND) kind = cString(buf, off + 4, off + len);
    else if (type === TCA_STATS2) queue = queueStats(buf, off + 4, off + len);
    off += align4(len);
  }
  return kind === undefined || queue === undefined ? undefined : { ifindex, kind, handle, parent, ...queue };
}

/** TCA_STATS_QUEUE inside TCA_STATS2's nested attributes. */
function queueStats(buf: Buffer, start: number, end: number): { drops: number; requeues: number; overlimits: number } | undefined {
  for (let off = start; off + 4 <= end;) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > end) break;
    if ((buf.readUInt16LE(off + 2) & NLA_TYPE_MASK) === TCA_STATS_QUEUE && len >= 4 + GNET_STATS_QUEUE_LEN) {
      return { drops: buf.readUInt32LE(off + 12), requeues: buf.readUInt32LE(off + 16), overlimits: buf.readUInt32LE(off + 20) };
    }
    off += align4(len);
  }
  return undefined;
}

export const QDISC_DUMP: DumpKind<Qdisc> = {
  name: 'RTM_GETQDISC',
  request: getQdiscDumpRequest,
  replyType: RTM_NEWQDISC,
  parse: parseNewQdisc,
};
