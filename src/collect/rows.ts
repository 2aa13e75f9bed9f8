// What the collect stage hands on: one row per kernel counter cell, decoded
// (reason names, locations) but not yet labelled with pods.
import type { Direction, EndpointSlot } from '../bpf/contract.js';

/** Which counter a row comes from, so one drop seen twice is never summed twice. */
export type Source = 'kernel' | 'tc' | 'cilium';
/** tcp_*: a pod's TCP events (tcp.bpf.o), the count in `packets`. */
export type RowKind = 'drop' | 'forward' | 'tcp_retransmit' | 'tcp_reset_sent' | 'tcp_reset_received';

/** Where a count was made: a kernel function and offset, or a BPF file and line. */
export interface Site {
  file: string;
  line: number;
}

export interface DatapathRow {
  kind: RowKind;
  source: Source;
  /** UPPER_SNAKE reason; '' for forwarded traffic. */
  reason: string;
  direction: Direction;
  site: Site;
  /** The `location` label: kernel function, or "file.c:LINE". */
  location: string;
  /** Endpoint slot the row belongs to, when the source attributes pods. */
  endpoint?: EndpointSlot;
  packets: bigint;
  bytes: bigint;
}

/** A source of counters, read once per poll. */
export interface CounterSource {
  readonly name: string;
  read(): DatapathRow[];
}

/** Reason of the rows that carry counts whose key found no free slot. */
export const SLOT_OVERFLOW_REASON = 'SLOT_OVERFLOW';
