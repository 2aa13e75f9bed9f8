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
} as const;

/** An endpoint slot: index into the endpoint half of the counter arrays. */
export type EndpointSlot = number & { readonly __brand: 'EndpointSlot' };
/** A counter slot of drop_counts. */
export type DropSlot = number & { readonly __brand: 'DropSlot' };

/** struct endpoint_addr: 16 bytes, IPv4 stored IPv4-mapped. */
export const ENDPOINT_ADDR_SIZE = 16;

/** struct drop_key: 24 bytes. */
export const DROP_KEY_SIZE = 24;
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
    location: buf.readBigUInt64LE(offset),
    reason: buf.readUInt32LE(offset + 8),
    endpoint: buf.readUInt32LE(offset + 12) as EndpointSlot,
    direction: DIRECTION_CODES[buf.readUInt8(offset + 16)] ?? 'unknown',
  };
}

export function encodeDropKey(key: DropKey, buf: Buffer = Buffer.alloc(DROP_KEY_SIZE), offset = 0): Buffer {
  buf.fill(0, offset, offset + DROP_KEY_SIZE);
  buf.writeBigUInt64LE(key.location, offset);
  buf.writeUInt32LE(key.reason, offset + 8);
  buf.writeUInt32LE(key.endpoint, offset + 12);
  buf.writeUInt8(DIRECTION_CODES.indexOf(key.direction), offset + 16);
  return buf;
}

/** struct counter: two u64, summed over CPUs by the reader. */
export const COUNTER_SIZE = 16;
export interface Counter {
  packets: bigint;
  bytes: bigint;
}

/** forward_counts index of (endpoint slot, pod direction); FORWARD_INDEX in C. */
export function forwardIndex(slot: EndpointSlot, direction: 'ingress' | 'egress'): number {
  return slot * 2 + (direction === 'egress' ? 1 : 0);
}
export const FORWARD_CELLS = (ENDPOINT_SLOTS + 1) * 2;
