// The network interfaces of this network namespace, from the kernel itself:
// an rtnetlink RTM_GETLINK dump (what `ip link show` does) over a
// NETLINK_ROUTE socket of our own, in-process. Used every poll to find pod
// interfaces, so no child process is spawned per poll. Only the few fields
// the agent needs are parsed: index, name, link kind (IFLA_INFO_KIND), the
// bridge it is a port of (IFLA_MASTER) and the loss counters of
// IFLA_STATS64 (what `ip -s -s link` prints).
//
// Wire format (include/uapi/linux/netlink.h, rtnetlink.h, if_link.h), all
// host byte order (little-endian here):
//   struct nlmsghdr  { u32 len; u16 type; u16 flags; u32 seq; u32 pid; }   16 B
//   struct ifinfomsg { u8 family; u8 pad; u16 type; s32 index; u32 flags; u32 change; }  16 B
//   struct nlattr    { u16 len; u16 type; } + payload, padded to 4 B
import { constants } from 'node:os';
import { closeSocket, lastErrno, libc as sockets, type SocketFd } from './libc.js';

const AF_NETLINK = 16;
export const AF_UNSPEC = 0;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;

export const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = 2;
const NLMSG_DONE = 3;
const NLMSG_OVERRUN = 4;
export const NLM_F_REQUEST = 0x1;
const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_DUMP = 0x300; // NLM_F_ROOT | NLM_F_MATCH

const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const IFINFOMSG_LEN = 16;
const IFLA_IFNAME = 3;
const IFLA_MASTER = 10;
const IFLA_LINKINFO = 18;
const IFLA_STATS64 = 23;
const IFLA_INFO_KIND = 1;
/** nla_type without NLA_F_NESTED / NLA_F_NET_BYTEORDER. */
export const NLA_TYPE_MASK = 0x3fff;

const SOCKADDR_NL_LEN = 12; // { u16 family; u16 pad; u32 pid; u32 groups; }

/** One network interface as the kernel reports it in an RTM_NEWLINK message. */
export interface Link {
  ifindex: number;
  /** IFLA_IFNAME, e.g. "lxc12ab" or "veth0". */
  name: string;
  /** IFLA_INFO_KIND of IFLA_LINKINFO ("veth", "bridge", ...); undefined for a device without one (a NIC, lo). */
  kind: string | undefined;
  /** IFLA_MASTER: the device (a bridge, a bond) this one is a port of; undefined for none. */
  master: number | undefined;
  /** The loss counters of IFLA_STATS64; undefined when the kernel sent none. */
  stats: LinkLossStats | undefined;
}

/**
 * The loss counters of struct rtnl_link_stats64 (include/uapi/linux/if_link.h),
 * named as the kernel's fields are. Kept as numbers: exact below 2^53.
 */
export interface LinkLossStats {
  rx_dropped: number;
  tx_dropped: number;
  rx_over_errors: number;
  rx_fifo_errors: number;
  rx_missed_errors: number;
  tx_fifo_errors: number;
  rx_nohandler: number;
}

/** Each counter's index among the u64 fields of struct rtnl_link_stats64. */
export const LINK_LOSS_FIELDS: Readonly<Record<keyof LinkLossStats, number>> = {
  rx_dropped: 6,
  tx_dropped: 7,
  rx_over_errors: 11,
  rx_fifo_errors: 14,
  rx_missed_errors: 15,
  tx_fifo_errors: 18,
  rx_nohandler: 23,
};

/** A netlink error the kernel answered with (NLMSG_ERROR, or a failed dump's NLMSG_DONE). */
export class NetlinkError extends Error {
  constructor(
    readonly errno: number,
    what: string,
  ) {
    super(`${what}: errno ${errno}`);
  }
}

/** Netlink messages and attributes are padded to 4 bytes. */
export const align4 = (n: number) => (n + 3) & ~3;

/**
 * The attributes in buf[start, end), one at a time: `next()` moves to the
 * next one (false at the end or at a malformed one), then `type` (flags
 * masked off) and the payload's bounds [from, to) describe it. One cursor per
 * walk and no object per attribute: a link carries ~40 of them and a node
 * hundreds of links, every poll.
 */
export class Attributes {
  type = 0;
  from = 0;
  to = 0;
  private at: number;

  constructor(
    private readonly buf: Buffer,
    start: number,
    private readonly end: number,
  ) {
    this.at = start;
  }

  next(): boolean {
    const off = this.at;
    if (off + 4 > this.end) return false;
    const len = this.buf.readUInt16LE(off);
    if (len < 4 || off + len > this.end) return false;
    this.type = this.buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    this.from = off + 4;
    this.to = off + len;
    this.at = off + align4(len);
    return true;
  }
}

/** The RTM_GETLINK dump request: nlmsghdr + an all-zero ifinfomsg (every family, every link). */
export function getLinkDumpRequest(seq: number): Buffer {
  return dumpRequest(RTM_GETLINK, IFINFOMSG_LEN, seq);
}

/**
 * A dump request of any rtnetlink family: nlmsghdr + an all-zero family
 * header of `headerLen` bytes but its family (AF_UNSPEC: every family,
 * every device).
 */
export function dumpRequest(type: number, headerLen: number, seq: number, family = AF_UNSPEC): Buffer {
  const buf = Buffer.alloc(NLMSG_HDRLEN + headerLen);
  buf.writeUInt32LE(buf.length, 0);
  buf.writeUInt16LE(type, 4);
  buf.writeUInt16LE(NLM_F_REQUEST | NLM_F_DUMP, 6);
  buf.writeUInt32LE(seq >>> 0, 8);
  buf.writeUInt32LE(0, 12); // to the kernel
  buf.writeUInt8(family, NLMSG_HDRLEN);
  return buf;
}

/** What one datagram of a dump held. */
export interface DumpChunk {
  links: Link[];
  /** NLMSG_DONE seen: the dump is complete. */
  done: boolean;
  /** NLM_F_DUMP_INTR seen: links changed during the dump; it may be inconsistent. */
  interrupted: boolean;
}

/** One kind of rtnetlink dump: its request, the message type of its answers and how one is read. */
export interface DumpKind<T> {
  /** For errors: "RTM_GETLINK". */
  readonly name: string;
  request(seq: number): Buffer;
  readonly replyType: number;
  /** One answer's payload (after nlmsghdr) in buf[start, end); undefined: not one to keep. */
  parse(buf: Buffer, start: number, end: number): T | undefined;
}

export const LINK_DUMP: DumpKind<Link> = { name: 'RTM_GETLINK', request: getLinkDumpRequest, replyType: RTM_NEWLINK, parse: parseNewLink };

/**
 * Parses one received datagram of an RTM_GETLINK dump (several netlink
 * messages back to back). Messages of another sequence number (left over
 * from an earlier, abandoned dump) are skipped. Throws NetlinkError when the
 * kernel answered with an error.
 */
export function parseLinkDump(buf: Buffer, length: number, seq: number): DumpChunk {
  const { items, done, interrupted } = parseDumpChunk(LINK_DUMP, buf, length, seq);
  return { links: items, done, interrupted };
}

/** parseLinkDump for any kind of dump. */
export function parseDumpChunk<T>(
  kind: DumpKind<T>,
  buf: Buffer,
  length: number,
  seq: number,
): { items: T[]; done: boolean; interrupted: boolean } {
  const chunk = { items: [] as T[], done: false, interrupted: false };
  let off = 0;
  while (off + NLMSG_HDRLEN <= length) {
    const len = buf.readUInt32LE(off);
    const type = buf.readUInt16LE(off + 4);
    const flags = buf.readUInt16LE(off + 6);
    const msgSeq = buf.readUInt32LE(off + 8);
    if (len < NLMSG_HDRLEN || off + len > length) throw new Error(`malformed netlink message (length ${len} at ${off} of ${length})`);
    if (msgSeq === seq >>> 0) {
      if (flags & NLM_F_DUMP_INTR) chunk.interrupted = true;
      if (type === NLMSG_DONE) {
        // A dump that failed part-way ends with DONE carrying -errno.
        const err = len >= NLMSG_HDRLEN + 4 ? buf.readInt32LE(off + NLMSG_HDRLEN) : 0;
        if (err < 0) throw new NetlinkError(-err, `${kind.name} dump failed`);
        chunk.done = true;
        return chunk;
      }
      if (type === NLMSG_ERROR) {
        const err = buf.readInt32LE(off + NLMSG_HDRLEN);
        if (err < 0) throw new NetlinkError(-err, `${kind.name} refused`);
      } else if (type === NLMSG_OVERRUN) {
        throw new Error(`netlink overrun: ${kind.name} dump lost data`);
      } else if (type === kind.replyType) {
        const item = kind.parse(buf, off + NLMSG_HDRLEN, off + len);
        if (item !== undefined) chunk.items.push(item);
      } // NLMSG_NOOP and anything else: nothing a dump needs.
    }
    off += align4(len);
  }
  return chunk;
}

/** ifinfomsg + attributes of one RTM_NEWLINK message in buf[start, end). */
function parseNewLink(buf: Buffer, start: number, end: number): Link | undefined {
  if (start + IFINFOMSG_LEN > end) return undefined;
  const ifindex = buf.readInt32LE(start + 4);
  let name: string | undefined;
  let kind: string | undefined;
  let master: number | undefined;
  let stats: LinkLossStats | undefined;
  for (const a = new Attributes(buf, start + IFINFOMSG_LEN, end); a.next();) {
    if (a.type === IFLA_IFNAME) name = cString(buf, a.from, a.to);
    else if (a.type === IFLA_LINKINFO) kind = linkKind(buf, a.from, a.to);
    else if (a.type === IFLA_STATS64) stats = lossStats(buf, a.from, a.to);
    else if (a.type === IFLA_MASTER && a.to - a.from >= 4) master = buf.readUInt32LE(a.from);
  }
  return name === undefined ? undefined : { ifindex, name, kind, master, stats };
}

/** The loss counters of an IFLA_STATS64 payload in buf[start, end); fields an older kernel's struct lacks read 0. */
function lossStats(buf: Buffer, start: number, end: number): LinkLossStats {
  const u64 = (index: number) => (start + index * 8 + 8 <= end ? Number(buf.readBigUInt64LE(start + index * 8)) : 0);
  return {
    rx_dropped: u64(LINK_LOSS_FIELDS.rx_dropped),
    tx_dropped: u64(LINK_LOSS_FIELDS.tx_dropped),
    rx_over_errors: u64(LINK_LOSS_FIELDS.rx_over_errors),
    rx_fifo_errors: u64(LINK_LOSS_FIELDS.rx_fifo_errors),
    rx_missed_errors: u64(LINK_LOSS_FIELDS.rx_missed_errors),
    tx_fifo_errors: u64(LINK_LOSS_FIELDS.tx_fifo_errors),
    rx_nohandler: u64(LINK_LOSS_FIELDS.rx_nohandler),
  };
}

/** IFLA_INFO_KIND inside IFLA_LINKINFO's nested attributes in buf[start, end). */
function linkKind(buf: Buffer, start: number, end: number): string | undefined {
  for (const a = new Attributes(buf, start, end); a.next();) if (a.type === IFLA_INFO_KIND) return cString(buf, a.from, a.to);
  return undefined;
}

/** A NUL-terminated string attribute. */
export function cString(buf: Buffer, from: number, to: number): string {
  const nul = buf.indexOf(0, from);
  return buf.toString('utf8', from, nul >= from && nul < to ? nul : to);
}

/** Dumps tried before an interrupted one's result is taken as it is (the next poll looks again). */
const DUMP_ATTEMPTS = 3;
/** Replies come at once; a recv that waits this long means something is wrong. */
const RECV_TIMEOUT_S = 2;
const { EINTR } = constants.errno;
/** recv flag: return a datagram's real length even when it did not fit. */
const MSG_TRUNC = 0x20;

/** A datagram larger than our buffer arrived; its tail is lost, so the dump is redone. */
class TruncatedDatagram extends Error {}

/**
 * Link dumps over one NETLINK_ROUTE socket, kept open across dumps (not
 * one socket per poll; the kernel also sizes its dump datagrams to our
 * receive buffer after the first recv). The socket belongs to the network
 * namespace the process is in when it is opened. Any failure mid-dump
 * closes it, since a netlink socket runs one dump at a time and the rest of
 * an abandoned one would still be queued; the next dump opens a new one.
 */
export class RtnetlinkSocket {
  private fd: SocketFd | undefined;
  private seq = 0;
  // The kernel fills dump datagrams up to ~32 KiB; 64 KiB leaves room for
  // a single larger message, and the buffer grows if one is larger still.
  private buf = Buffer.alloc(64 * 1024);

  /** Every link of the namespace, in the kernel's order. */
  dumpLinks(): Link[] {
    return this.dump(LINK_DUMP);
  }

  /** Every answer of one kind of dump, in the kernel's order. */
  dump<T>(kind: DumpKind<T>): T[] {
    for (let attempt = 1; ; attempt++) {
      let result: { items: T[]; interrupted: boolean };
      try {
        result = this.dumpOnce(kind, this.fd ?? this.open());
      } catch (err) {
        this.close();
        if (err instanceof TruncatedDatagram && attempt < DUMP_ATTEMPTS) continue;
        throw err;
      }
      if (!result.interrupted || attempt >= DUMP_ATTEMPTS) return result.items;
    }
  }

  /** Closes the socket (a later dump opens another). */
  close(): void {
    if (this.fd === undefined) return;
    closeSocket(this.fd);
    this.fd = undefined;
  }

  private open(): SocketFd {
    const ret = sockets.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (ret < 0) throw new NetlinkError(lastErrno(), 'socket(AF_NETLINK, NETLINK_ROUTE)');
    const fd = ret as SocketFd;
    this.fd = fd;
    const addr = Buffer.alloc(SOCKADDR_NL_LEN);
    addr.writeUInt16LE(AF_NETLINK, 0); // pid 0: the kernel picks our port id
    if (sockets.bind(fd, addr, addr.length) !== 0) throw new NetlinkError(lastErrno(), 'bind(AF_NETLINK)');
    const timeout = Buffer.alloc(16); // struct timeval { s64 sec; s64 usec; }
    timeout.writeBigInt64LE(BigInt(RECV_TIMEOUT_S), 0);
    if (sockets.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, timeout.length) !== 0) {
      throw new NetlinkError(lastErrno(), 'setsockopt(SO_RCVTIMEO)');
    }
    return fd;
  }

  private dumpOnce<T>(kind: DumpKind<T>, fd: SocketFd): { items: T[]; interrupted: boolean } {
    this.seq = (this.seq + 1) >>> 0 || 1;
    const req = kind.request(this.seq);
    const kernel = Buffer.alloc(SOCKADDR_NL_LEN);
    kernel.writeUInt16LE(AF_NETLINK, 0);
    if (sockets.sendto(fd, req, req.length, 0, kernel, kernel.length) !== req.length) {
      throw new NetlinkError(lastErrno(), `sendto(${kind.name})`);
    }
    const items: T[] = [];
    let interrupted = false;
    for (;;) {
      const n = sockets.recv(fd, this.buf, this.buf.length, MSG_TRUNC);
      if (n < 0) {
        const errno = lastErrno();
        if (errno === EINTR) continue;
        throw new NetlinkError(errno, `recv(${kind.name} dump)`);
      }
      if (n === 0) throw new Error(`netlink socket closed during a ${kind.name} dump`);
      if (n > this.buf.length) {
        this.buf = Buffer.alloc(align4(n) * 2);
        throw new TruncatedDatagram(`${kind.name} dump datagram of ${n} bytes exceeded the receive buffer`);
      }
      const chunk = parseDumpChunk(kind, this.buf, n, this.seq);
      for (const item of chunk.items) items.push(item);
      interrupted ||= chunk.interrupted;
      if (chunk.done) return { items, interrupted };
    }
  }
}
