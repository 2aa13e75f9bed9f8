// The kernel side of drop events for the agent: drains the ring buffer on a
// short timer (never blocking the event loop), names each event and hands it
// to the buffer, re-divides the node's event budget over the CPUs by their
// demand as it goes (event-budget.ts says how and why), and reads how many
// events the kernel could not send (budget spent, ring full).
import {
  decodeDropEvent,
  DROP_EVENT_LOST,
  DROP_EVENT_SIZE,
  DROP_EVENT_TOKENS_SIZE,
  type DropEventLostCause,
  dropEventTokens,
} from '../bpf/contract.js';
import { type BpfMap, perCpuStride, u32Key } from '../bpf/map.js';
import { RingBuffer } from '../bpf/ring-buffer.js';
import type { Logger } from '../log/logger.js';
import type { DropReasonNames } from '../bpf/drop-reasons.js';
import type { Kallsyms } from '../collect/kallsyms.js';
import type { PodLabelResolver } from '../k8s/pod-labels.js';
import { type DropEvent, DropEventNamer } from './drop-event.js';
import { type CpuEventUse, EventBudget } from './event-budget.js';
import type { DropEventBuffer } from './event-buffer.js';

/** How often the ring is drained: events reach readers within this. */
export const DRAIN_INTERVAL_MS = 100;
/** Events handed on at once; the rest of a drain follows on the next turn of the event loop, so sockets flush between. */
const DRAIN_BATCH = 1000;

export interface DropEventMaps {
  events: BpfMap;
  /** Per CPU: events granted in all (the agent writes it). */
  tokens: BpfMap;
  /** Per CPU: events sent in all (the kernel writes it). */
  spent: BpfMap;
  lost: BpfMap;
}

export interface DropEventReaderOptions {
  maps: DropEventMaps;
  cpus: number;
  reasons: DropReasonNames;
  kallsyms: Kallsyms;
  /** The pod table of the moment (events name pods by their slot at the time). */
  pods: () => PodLabelResolver;
  buffer: DropEventBuffer;
  /** Events per second for the node; 0: none. */
  rate: number;
  log: Logger;
}

export class DropEventReader {
  /** Sets the kernel's rate (0 switches a pinned earlier setting off too) and, with a rate, starts draining. */
  static open(o: DropEventReaderOptions): DropEventReader {
    const reader = new DropEventReader(o.maps, o.cpus, new DropEventNamer(o.reasons, o.kallsyms, o.pods), o.buffer, o.log);
    reader.configure(o.rate);
    if (o.rate > 0) reader.start();
    return reader;
  }

  private ring: RingBuffer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly zero = u32Key(0);
  private readonly rateKey = u32Key(DROP_EVENT_LOST.rate);
  private readonly tokens: Buffer;
  private readonly spentValues: Buffer;
  private readonly refusedValues: Buffer;
  private budget: EventBudget | undefined;
  private enabled = false;
  /** Per CPU, as last written (the agent is the only writer of grants). */
  private readonly granted: number[];
  /** Per CPU at the last refill: events sent, events refused for want of budget. */
  private readonly spentBefore: number[];
  private readonly refusedBefore: number[];
  /** performance.now() of the last refill: a monotonic clock. */
  private refilledAt = 0;

  constructor(
    private readonly maps: DropEventMaps,
    private readonly cpus: number,
    private readonly namer: DropEventNamer,
    private readonly buffer: DropEventBuffer,
    private readonly log: Logger,
  ) {
    this.tokens = Buffer.alloc(perCpuStride(DROP_EVENT_TOKENS_SIZE, cpus));
    this.spentValues = Buffer.alloc(perCpuStride(8, cpus));
    this.refusedValues = Buffer.alloc(perCpuStride(8, cpus));
    this.granted = new Array<number>(cpus).fill(0);
    this.spentBefore = new Array<number>(cpus).fill(0);
    this.refusedBefore = new Array<number>(cpus).fill(0);
  }

  /**
   * Sets the node's rate (events per second; 0 turns events off, also for a
   * pinned budget of an earlier run). The node may send `rate` per second
   * plus a burst of one second's worth, whichever CPUs drop; it starts with
   * the full burst, spread over the CPUs.
   */
  configure(rate: number, now = performance.now()): void {
    this.budget = rate > 0 ? new EventBudget(rate, this.cpus) : undefined;
    this.enabled = rate > 0;
    // Counts pinned by an earlier run carry on: budgets are relative to them.
    this.readUse(this.spentBefore, this.refusedBefore);
    const fresh = this.budget?.initial() ?? new Array<number>(this.cpus).fill(0);
    this.grant(fresh);
    this.refilledAt = now;
  }

  /** Re-divides the node's budget over the CPUs by their demand since the last refill (two reads, one write). */
  refill(now = performance.now()): void {
    if (!this.budget) return;
    const spent = new Array<number>(this.cpus).fill(0);
    const refused = new Array<number>(this.cpus).fill(0);
    this.readUse(spent, refused);
    const use: CpuEventUse[] = spent.map((s, cpu) => ({
      unspent: (this.granted[cpu] ?? 0) - s,
      demand: s - (this.spentBefore[cpu] ?? 0) + (refused[cpu] ?? 0) - (this.refusedBefore[cpu] ?? 0),
    }));
    const next = this.budget.next(now - this.refilledAt, use);
    this.refilledAt = now;
    spent.forEach((s, cpu) => (this.spentBefore[cpu] = s));
    refused.forEach((r, cpu) => (this.refusedBefore[cpu] = r));
    this.grant(next);
  }

  /** Each CPU may send `budget[cpu]` more events than it has sent so far (as last read). */
  private grant(budget: readonly number[]): void {
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      // A CPU that sent more since the read pays for it out of this budget
      // (its spent is past the read value); the kernel side is never written here.
      const granted = (this.spentBefore[cpu] ?? 0) + (budget[cpu] ?? 0);
      this.granted[cpu] = granted;
      dropEventTokens.write(this.tokens, cpu, granted, this.enabled);
    }
    this.maps.tokens.update(this.zero, this.tokens);
  }

  /** Per CPU: events sent and events refused for want of budget, cumulative. */
  private readUse(spent: number[], refused: number[]): void {
    this.maps.spent.lookup(this.zero, this.spentValues);
    this.maps.lost.lookup(this.rateKey, this.refusedValues);
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      spent[cpu] = Number(this.spentValues.readBigUInt64LE(cpu * 8));
      refused[cpu] = Number(this.refusedValues.readBigUInt64LE(cpu * 8));
    }
  }

  /** Drains the ring every DRAIN_INTERVAL_MS. */
  start(): void {
    this.ring ??= new RingBuffer(this.maps.events);
    this.timer ??= setInterval(() => this.drainSafely(), DRAIN_INTERVAL_MS);
  }

  /** Takes up to DRAIN_BATCH events from the ring into the buffer; true when more may wait. */
  drain(): boolean {
    if (!this.ring) return false;
    const events: DropEvent[] = [];
    const more = this.ring.consume((sample) => {
      if (sample.length >= DROP_EVENT_SIZE) events.push(this.namer.name(decodeDropEvent(sample)));
    }, DRAIN_BATCH);
    this.buffer.push(events);
    return more;
  }

  /** Events the kernel did not send, cumulative (summed over CPUs). */
  lost(): Record<DropEventLostCause, number> {
    const stride = perCpuStride(8, this.cpus);
    const { values } = this.maps.lost.lookupAll(4, stride, Object.keys(DROP_EVENT_LOST).length);
    const sum = (index: number) => {
      let n = 0n;
      for (let cpu = 0; cpu < this.cpus; cpu++) n += values.readBigUInt64LE(index * stride + cpu * 8);
      return Number(n);
    };
    return { rate: sum(DROP_EVENT_LOST.rate), ring_full: sum(DROP_EVENT_LOST.ring_full) };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.drainSafely(); // what arrived since the last drain
    this.ring?.close();
    this.ring = undefined;
  }

  private drainSafely(): void {
    try {
      if (this.drain()) setImmediate(() => this.drainSafely());
      else if (this.timer) this.refill();
    } catch (err) {
      this.log.warn({ err: String(err) }, 'reading drop events failed');
    }
  }
}
