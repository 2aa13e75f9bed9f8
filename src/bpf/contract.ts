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
  endpointNames: 'endpoint_names',
  dropCache: 'drop_cache',
  dropCacheGen: 'drop_cache_gen',
} as const;

/** An endpoint slot: index into the endpoint half of the counter arrays. */
export type EndpointSlot = number & { readonly __brand: 'EndpointSlot' };
/** A counter slot of drop_counts. */
export type DropSlot = number & { readonly __brand: 'DropSlot' };

/**
 * Byte layouts of the shared structs: size and member offsets, used by the
 * codecs below and checked against the objects' BTF by the contract test.
 */
export const LAYOUTS = {
  drop_key: { size: 24, members: { location: 0, reason: 8, endpoint: 12, direction: 16 } },
  counter: { size: 16, members: { packets: 0, bytes: 8 } },
  site_counter: { size: 24, members: { packets: 0, bytes: 8, file: 16, line: 20 } },
  endpoint_addr: { size: 16, members: { addr: 0 } },
  endpoint_name: { size: 320, members: { namespace_: 0, pod: 64 } },
  drop_cache_entry: { size: 56, members: { location: 0, reason: 8, generation: 12, src: 16, dst: 32, direction: 48, slot: 52 } },
} as const;

/** struct drop_cache_entry: the drop program's per-CPU last-key cache (only the kernel reads it). */
export const DROP_CACHE_ENTRY_SIZE = LAYOUTS.drop_cache_entry.size;

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

/** forward_counts index of (endpoint slot, pod direction); FORWARD_INDEX in C. */
export function forwardIndex(slot: EndpointSlot, direction: 'ingress' | 'egress'): number {
  return slot * 2 + (direction === 'egress' ? 1 : 0);
}
export const FORWARD_CELLS = (ENDPOINT_SLOTS + 1) * 2;
