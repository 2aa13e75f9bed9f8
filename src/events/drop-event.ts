// A drop event as people and tools see it (GET /api/v1/drops, `observe`):
// the kernel's raw event named — reason, kernel function, addresses, ports,
// and the pods at both ends as they were at the time of the drop.
import { decodeEndpointAddr, type Direction, DROP_EVENT_F_ICMP, DROP_EVENT_F_PORTS, type RawDropEvent } from '../bpf/contract.js';
import type { DropReasonNames } from '../bpf/drop-reasons.js';
import type { Kallsyms } from '../collect/kallsyms.js';
import type { PodLabelResolver } from '../export/pod-labels.js';

/** Drop events per second for the node unless --drop-events-rate says otherwise. */
export const DEFAULT_DROP_EVENTS_RATE = 1000;

/** One end of a dropped packet. */
export interface DropEventPeer {
  /** Absent when the packet had no IP header that could be read. */
  ip?: string;
  /** TCP or UDP port. */
  port?: number;
  /** The pod that has this address on this node, when one does. */
  namespace?: string;
  pod?: string;
}

export interface DropEvent {
  /** RFC 3339, nanoseconds, UTC. */
  time: string;
  /** Unix time in nanoseconds (as a string: beyond a double's precision). */
  timeUnixNano: string;
  reason: string;
  /** The kernel function that freed the packet. */
  location: string;
  /** As counted: seen from the pod the drop was counted to (see README, direction). */
  direction: Direction;
  /** The interface it arrived on, else its device; 0 when none. */
  ifindex: number;
  /** TCP, UDP, ICMP, ICMPv6, another protocol's number, or "" when unknown. */
  protocol: string;
  ipVersion: 0 | 4 | 6;
  source: DropEventPeer;
  destination: DropEventPeer;
  icmp?: { type: number; code: number };
  /** The IP packet's size in bytes (what the counters add). */
  length: number;
}

const PROTOCOLS: Readonly<Record<number, string>> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 132: 'SCTP' };

/** Turns raw events into DropEvents: names from BTF, kallsyms and the pod table. */
export class DropEventNamer {
  /** CLOCK_MONOTONIC -> Unix time, both in ns (Node's hrtime is CLOCK_MONOTONIC). */
  private readonly monoToUnixNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

  constructor(
    private readonly reasons: DropReasonNames,
    private readonly kallsyms: Kallsyms,
    private readonly pods: () => PodLabelResolver,
  ) {}

  name(raw: RawDropEvent): DropEvent {
    const unixNs = raw.timeNs + this.monoToUnixNs;
    const ms = Number(unixNs / 1_000_000n);
    const sub = (unixNs % 1_000_000_000n).toString().padStart(9, '0');
    const sym = this.kallsyms.resolve(raw.location);
    const ip = raw.ipVersion === 4 || raw.ipVersion === 6;
    const ports = (raw.flags & DROP_EVENT_F_PORTS) !== 0;
    const pods = this.pods();
    const peer = (addr: Buffer, slot: RawDropEvent['srcEndpoint'], port: number): DropEventPeer => {
      if (!ip) return {};
      const labels = pods.labelsOf(slot);
      return {
        ip: decodeEndpointAddr(addr),
        ...(ports ? { port } : {}),
        ...(labels ? { namespace: labels.namespace, pod: labels.pod } : {}),
      };
    };
    return {
      time: `${new Date(ms).toISOString().slice(0, 19)}.${sub}Z`,
      timeUnixNano: unixNs.toString(),
      reason: this.reasons.name(raw.reason),
      location: sym?.name ?? `0x${raw.location.toString(16)}`,
      direction: raw.direction,
      ifindex: raw.ifindex,
      protocol: ip ? (PROTOCOLS[raw.protocol] ?? String(raw.protocol)) : '',
      ipVersion: ip ? (raw.ipVersion as 4 | 6) : 0,
      source: peer(raw.src, raw.srcEndpoint, raw.sport),
      destination: peer(raw.dst, raw.dstEndpoint, raw.dport),
      ...((raw.flags & DROP_EVENT_F_ICMP) !== 0 ? { icmp: { type: raw.sport, code: raw.dport } } : {}),
      length: raw.ipLength,
    };
  }
}
