import { isIPv4, isIPv6 } from 'node:net';

// The user-space side of the kernel-to-user contract. Its kernel twin is
// bpf/include/datapath.h (and maps.h); test/bpf/contract.test.ts checks both
// against the compiled objects' BTF. Change them together.

/** Distinct (reason, direction, location, endpoint) drop keys counted at once. */
export const DROP_SLOTS = 4096;
/** Counter slot of drops whose key found no free slot. */
export const DROP_OVERFLOW_SLOT = DROP_SLOTS;
/** Pod IPs the agent attributes traffic to. */
export const ENDPOINT_SLOTS = 4096;
/** Endpoint slot of traffic that belongs to no known pod. */
export const ENDPOINT_UNATTRIBUTED = ENDPOINT_SLOTS;
/** `reason` stored when the kernel's tracepoint has no reason field (< 5.17). */
export const DROP_REASON_ABSENT = 0xffffffff;

/** Direction codes in keys (DIR_* in datapath.h), as seen from the pod. */
export const DIRECTION_CODES = ['unknown', 'ingress', 'egress'] as const;
export type Direction = (typeof DIRECTION_CODES)[number];

/** Map names, pinned under the agent's bpffs directory by these names. */
export const MAP_NAMES = {
  endpoints: 'endpoints',
  dropSlotOf: 'drop_slot_of',
  dropFreeSlots: 'drop_free_slots',
  dropCounts: 'drop_counts',
  forwardCounts: 'forward_counts',
  tcpCounts: 'tcp_counts',
  endpointNames: 'endpoint_names',
  dropCache: 'drop_cache',
  dropCacheGen: 'drop_cache_gen',
  forwardCache: 'forward_cache',
  dropEvents: 'drop_events',
  dropEventTokens: 'drop_event_tokens',
  dropEventSpent: 'drop_event_spent',
  dropEventLost: 'drop_event_lost',
} as const;

/** An endpoint slot: index into the endpoint half of the counter arrays. */
export type EndpointSlot = number & { readonly __brand: 'EndpointSlot' };
/** A counter slot of drop_counts. */
export type DropSlot = number & { readonly __brand: 'DropSlot' };

/**
 * Byte layouts of the shared structs: size, every member's offset (padding
 * members too) and every member's size, used by the codecs below and checked
 * member for member against the objects' BTF by the contract test, so that a
 * member added, moved, resized or put into padding on one side fails it.
 */
export const LAYOUTS = {
  drop_key: {
    size: 24,
    members: { location: 0, reason: 8, endpoint: 12, direction: 16, pad: 17 },
    sizes: { location: 8, reason: 4, endpoint: 4, direction: 1, pad: 7 },
  },
  counter: { size: 16, members: { packets: 0, bytes: 8 }, sizes: { packets: 8, bytes: 8 } },
  site_counter: {
    size: 24,
    members: { packets: 0, bytes: 8, file: 16, line: 20 },
    sizes: { packets: 8, bytes: 8, file: 4, line: 4 },
  },
  endpoint_addr: { size: 16, members: { addr: 0 }, sizes: { addr: 16 } },
  endpoint_name: { size: 320, members: { namespace_: 0, pod: 64 }, sizes: { namespace_: 64, pod: 256 } },
  drop_cache_entry: {
    size: 56,
    members: { location: 0, reason: 8, generation: 12, src: 16, dst: 32, direction: 48, counted_direction: 49, pad: 50, slot: 52 },
    sizes: { location: 8, reason: 4, generation: 4, src: 16, dst: 16, direction: 1, counted_direction: 1, pad: 2, slot: 4 },
  },
  drop_event: {
    size: 80,
    // prettier-ignore
    members: {
      time_ns: 0, location: 8, reason: 16, ifindex: 20, src_endpoint: 24, dst_endpoint: 28, src: 32, dst: 48,
      ip_len: 64, sport: 68, dport: 70, direction: 72, ip_version: 73, protocol: 74, flags: 75, pad: 76,
    },
    // prettier-ignore
    sizes: {
      time_ns: 8, location: 8, reason: 4, ifindex: 4, src_endpoint: 4, dst_endpoint: 4, src: 16, dst: 16,
      ip_len: 4, sport: 2, dport: 2, direction: 1, ip_version: 1, protocol: 1, flags: 1, pad: 4,
    },
  },
  drop_event_tokens: { size: 16, members: { granted: 0, enabled: 8, pad: 12 }, sizes: { granted: 8, enabled: 4, pad: 4 } },
  forward_cache_entry: {
    size: 32,
    members: { addr: 0, ifindex: 16, generation: 20, slot: 24, pad: 28 },
    sizes: { addr: 16, ifindex: 4, generation: 4, slot: 4, pad: 4 },
  },
} as const;

/** BPF_MAP_TYPE_* (linux/bpf.h) of the map types the objects declare. */
export const BPF_MAP_TYPE = { hash: 1, array: 2, percpu_array: 6, queue: 22, ringbuf: 27 } as const;

export interface MapSpec {
  type: (typeof BPF_MAP_TYPE)[keyof typeof BPF_MAP_TYPE];
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

/** struct drop_cache_entry: the drop program's per-CPU recent-key cache (only the kernel reads it). */
export const DROP_CACHE_ENTRY_SIZE = LAYOUTS.drop_cache_entry.size;
export const DROP_CACHE_ENTRIES = 64;
/** struct forward_cache_entry: the tc programs' per-CPU interface cache (only the kernel reads it). */
export const FORWARD_CACHE_ENTRY_SIZE = LAYOUTS.forward_cache_entry.size;
export const FORWARD_CACHE_ENTRIES = 64;

/** Drop events: ring size, drop_event_lost indexes, drop_event.flags (datapath.h). */
export const DROP_EVENT_RING_BYTES = 256 * 1024;
export const DROP_EVENT_LOST = { rate: 0, ring_full: 1 } as const;
export type DropEventLostCause = keyof typeof DROP_EVENT_LOST;
export const DROP_EVENT_F_PORTS = 1;
export const DROP_EVENT_F_ICMP = 2;
export const DROP_EVENT_SIZE = LAYOUTS.drop_event.size;
export const DROP_EVENT_TOKENS_SIZE = LAYOUTS.drop_event_tokens.size;

/** struct drop_event as it comes out of the ring (addresses still raw). */
export interface RawDropEvent {
  /** CLOCK_MONOTONIC nanoseconds. */
  timeNs: bigint;
  location: bigint;
  reason: number;
  ifindex: number;
  srcEndpoint: EndpointSlot;
  dstEndpoint: EndpointSlot;
  /** 16-byte endpoint addresses (IPv4-mapped for IPv4). */
  src: Buffer;
  dst: Buffer;
  ipLength: number;
  sport: number;
  dport: number;
  direction: Direction;
  /** 4, 6, or 0 when no IP header could be read. */
  ipVersion: number;
  protocol: number;
  flags: number;
}

export function decodeDropEvent(buf: Buffer, offset = 0): RawDropEvent {
  const m = LAYOUTS.drop_event.members;
  const at = (o: number) => offset + o;
  return {
    timeNs: buf.readBigUInt64LE(at(m.time_ns)),
    location: buf.readBigUInt64LE(at(m.location)),
    reason: buf.readUInt32LE(at(m.reason)),
    ifindex: buf.readUInt32LE(at(m.ifindex)),
    srcEndpoint: buf.readUInt32LE(at(m.src_endpoint)) as EndpointSlot,
    dstEndpoint: buf.readUInt32LE(at(m.dst_endpoint)) as EndpointSlot,
    src: Buffer.from(buf.subarray(at(m.src), at(m.src) + ENDPOINT_ADDR_SIZE)),
    dst: Buffer.from(buf.subarray(at(m.dst), at(m.dst) + ENDPOINT_ADDR_SIZE)),
    ipLength: buf.readUInt32LE(at(m.ip_len)),
    sport: buf.readUInt16LE(at(m.sport)),
    dport: buf.readUInt16LE(at(m.dport)),
    direction: DIRECTION_CODES[buf.readUInt8(at(m.direction))] ?? 'unknown',
    ipVersion: buf.readUInt8(at(m.ip_version)),
    protocol: buf.readUInt8(at(m.protocol)),
    flags: buf.readUInt8(at(m.flags)),
  };
}

/**
 * struct drop_event_tokens of one CPU, in a per-CPU value buffer: the events
 * the agent granted the CPU in all (cumulative, compared with the CPU's
 * drop_event_spent). Numbers, not BigInt: at the flag's most, 10^6 events a
 * second, 2^53 is 285 years away.
 */
export const dropEventTokens = {
  read: (buf: Buffer, cpu: number): { granted: number; enabled: boolean } => ({
    granted: Number(buf.readBigUInt64LE(cpu * DROP_EVENT_TOKENS_SIZE + LAYOUTS.drop_event_tokens.members.granted)),
    enabled: buf.readUInt32LE(cpu * DROP_EVENT_TOKENS_SIZE + LAYOUTS.drop_event_tokens.members.enabled) !== 0,
  }),
  write: (buf: Buffer, cpu: number, granted: number, enabled: boolean): void => {
    const at = cpu * DROP_EVENT_TOKENS_SIZE;
    buf.writeBigUInt64LE(BigInt(granted), at + LAYOUTS.drop_event_tokens.members.granted);
    buf.writeUInt32LE(enabled ? 1 : 0, at + LAYOUTS.drop_event_tokens.members.enabled);
    buf.writeUInt32LE(0, at + LAYOUTS.drop_event_tokens.members.pad);
  },
};

/** struct endpoint_addr: 16 bytes, IPv4 stored IPv4-mapped. */
export const ENDPOINT_ADDR_SIZE = LAYOUTS.endpoint_addr.size;

/** struct drop_key: 24 bytes. */
export const DROP_KEY_SIZE = LAYOUTS.drop_key.size;
const DK = LAYOUTS.drop_key.members;
export interface DropKey {
  /** Kernel text address that freed the skb. */
  location: bigint;
  /** Raw enum skb_drop_reason value (or DROP_REASON_ABSENT). */
  reason: number;
  endpoint: EndpointSlot;
  direction: Direction;
}

export function decodeDropKey(buf: Buffer, offset = 0): DropKey {
  return {
    location: buf.readBigUInt64LE(offset + DK.location),
    reason: buf.readUInt32LE(offset + DK.reason),
    endpoint: buf.readUInt32LE(offset + DK.endpoint) as EndpointSlot,
    direction: DIRECTION_CODES[buf.readUInt8(offset + DK.direction)] ?? 'unknown',
  };
}

export function encodeDropKey(key: DropKey, buf: Buffer = Buffer.alloc(DROP_KEY_SIZE), offset = 0): Buffer {
  buf.fill(0, offset, offset + DROP_KEY_SIZE);
  buf.writeBigUInt64LE(key.location, offset + DK.location);
  buf.writeUInt32LE(key.reason, offset + DK.reason);
  buf.writeUInt32LE(key.endpoint, offset + DK.endpoint);
  buf.writeUInt8(DIRECTION_CODES.indexOf(key.direction), offset + DK.direction);
  return buf;
}

/** struct counter: two u64, summed over CPUs by the reader. */
export const COUNTER_SIZE = LAYOUTS.counter.size;
export interface Counter {
  packets: bigint;
  bytes: bigint;
}

/** struct site_counter: a counter with the file id and line that counted it. */
export const SITE_COUNTER_SIZE = LAYOUTS.site_counter.size;
export interface SiteCounter extends Counter {
  file: number;
  line: number;
}

/** The agent's own BPF source files by id (FILE_ID_* in datapath.h). */
export const AGENT_FILES: Readonly<Record<number, string>> = { 1: 'drops.bpf.c', 2: 'forward.bpf.c' };

/** struct endpoint_name: namespace[64], pod[256], NUL-padded. */
export const NAMESPACE_LEN = 64;
export const POD_NAME_LEN = 256;
export const ENDPOINT_NAME_SIZE = LAYOUTS.endpoint_name.size;

export function encodeEndpointName(namespace: string, pod: string): Buffer {
  const buf = Buffer.alloc(ENDPOINT_NAME_SIZE);
  buf.write(namespace, 0, NAMESPACE_LEN - 1, 'utf8');
  buf.write(pod, NAMESPACE_LEN, POD_NAME_LEN - 1, 'utf8');
  return buf;
}

export function decodeEndpointName(buf: Buffer, offset = 0): { namespace: string; pod: string } {
  const str = (start: number, len: number) => {
    const b = buf.subarray(offset + start, offset + start + len);
    const nul = b.indexOf(0);
    return b.subarray(0, nul < 0 ? len : nul).toString('utf8');
  };
  return { namespace: str(0, NAMESPACE_LEN), pod: str(NAMESPACE_LEN, POD_NAME_LEN) };
}

/** struct endpoint_addr of an IPv4 or IPv6 address string. */
export function encodeEndpointAddr(ip: string): Buffer {
  const buf = Buffer.alloc(ENDPOINT_ADDR_SIZE);
  if (isIPv4(ip)) {
    buf[10] = 0xff;
    buf[11] = 0xff;
    ip.split('.').forEach((octet, i) => (buf[12 + i] = Number(octet)));
    return buf;
  }
  if (!isIPv6(ip)) throw new Error(`not an IP address: ${ip}`);
  const [head = '', tail = ''] = ip.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const h = groups(head);
  const t = groups(tail);
  const all = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  all.forEach((g, i) => buf.writeUInt16BE(parseInt(g, 16), i * 2));
  return buf;
}

/** The address of a struct endpoint_addr, as text: dotted IPv4 when IPv4-mapped, else IPv6 (RFC 5952). */
export function decodeEndpointAddr(buf: Buffer, offset = 0): string {
  const b = buf.subarray(offset, offset + ENDPOINT_ADDR_SIZE);
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2));
  // The longest run of two or more zero groups becomes "::".
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (best.at < 0) return hex(groups);
  return `${hex(groups.slice(0, best.at))}::${hex(groups.slice(best.at + best.len))}`;
}

/** forward_counts index of (endpoint slot, pod direction); FORWARD_INDEX in C. */
export function forwardIndex(slot: EndpointSlot, direction: 'ingress' | 'egress'): number {
  return slot * 2 + (direction === 'egress' ? 1 : 0);
}
export const FORWARD_CELLS = (ENDPOINT_SLOTS + 1) * 2;

/** The TCP events tcp.bpf.o counts per endpoint slot, by their code (TCP_RETRANSMIT, TCP_RESET_SENT, TCP_RESET_RECEIVED). */
export const TCP_EVENTS = ['retransmit', 'reset_sent', 'reset_received'] as const;
export type TcpEvent = (typeof TCP_EVENTS)[number];
/** tcp_counts index of (endpoint slot, event); TCP_INDEX in C. */
export function tcpIndex(slot: EndpointSlot, event: TcpEvent): number {
  return slot * TCP_EVENTS.length + TCP_EVENTS.indexOf(event);
}
export const TCP_CELLS = (ENDPOINT_SLOTS + 1) * TCP_EVENTS.length;

/**
 * Every map of the agent's objects as user space reads it (bpf/include/maps.h
 * is the kernel side; the contract test compares both the objects' ELF and
 * the maps the kernel creates). Per-CPU values are read CPUs x round_up(size, 8).
 */
export const MAP_SPECS: Readonly<Record<(typeof MAP_NAMES)[keyof typeof MAP_NAMES], MapSpec>> = {
  endpoints: { type: BPF_MAP_TYPE.hash, keySize: ENDPOINT_ADDR_SIZE, valueSize: 4, maxEntries: ENDPOINT_SLOTS, flags: 0 },
  drop_slot_of: { type: BPF_MAP_TYPE.hash, keySize: DROP_KEY_SIZE, valueSize: 4, maxEntries: DROP_SLOTS, flags: 0 },
  drop_free_slots: { type: BPF_MAP_TYPE.queue, keySize: 0, valueSize: 4, maxEntries: DROP_SLOTS, flags: 0 },
  drop_counts: { type: BPF_MAP_TYPE.percpu_array, keySize: 4, valueSize: COUNTER_SIZE, maxEntries: DROP_SLOTS + 1, flags: 0 },
  forward_counts: { type: BPF_MAP_TYPE.percpu_array, keySize: 4, valueSize: SITE_COUNTER_SIZE, maxEntries: FORWARD_CELLS, flags: 0 },
  tcp_counts: { type: BPF_MAP_TYPE.percpu_array, keySize: 4, valueSize: 8, maxEntries: TCP_CELLS, flags: 0 },
  endpoint_names: { type: BPF_MAP_TYPE.array, keySize: 4, valueSize: ENDPOINT_NAME_SIZE, maxEntries: ENDPOINT_SLOTS, flags: 0 },
  drop_cache: { type: BPF_MAP_TYPE.percpu_array, keySize: 4, valueSize: DROP_CACHE_ENTRY_SIZE, maxEntries: DROP_CACHE_ENTRIES, flags: 0 },
  forward_cache: {
    type: BPF_MAP_TYPE.percpu_array,
    keySize: 4,
    valueSize: FORWARD_CACHE_ENTRY_SIZE,
    maxEntries: FORWARD_CACHE_ENTRIES,
    flags: 0,
  },
  drop_cache_gen: { type: BPF_MAP_TYPE.array, keySize: 4, valueSize: 4, maxEntries: 1, flags: 0 },
  drop_events: { type: BPF_MAP_TYPE.ringbuf, keySize: 0, valueSize: 0, maxEntries: DROP_EVENT_RING_BYTES, flags: 0 },
  drop_event_tokens: { type: BPF_MAP_TYPE.percpu_array, keySize: 4, valueSize: DROP_EVENT_TOKENS_SIZE, maxEntries: 1, flags: 0 },
  drop_event_spent: { type: BPF_MAP_TYPE.percpu_array, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0 },
  drop_event_lost: {
    type: BPF_MAP_TYPE.percpu_array,
    keySize: 4,
    valueSize: 8,
    maxEntries: Object.keys(DROP_EVENT_LOST).length,
    flags: 0,
  },
};
