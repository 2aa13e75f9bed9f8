// The kernel side of drop events for the agent: drains the ring buffer on a
// short timer (never blocking the event loop), names each event and hands it
// to the buffer, refills every CPU's token bucket at the configured rate as it
// goes, and reads how many events the kernel could not send (bucket empty,
// ring full).
import { cpus as onlineCpus } from 'node:os';
import {
  decodeDropEvent,
  DROP_EVENT_LOST,
  DROP_EVENT_SIZE,
  DROP_EVENT_TOKENS_SIZE,
  type DropEventLostCause,
  dropEventTokens,
} from '../bpf/contract.js';
import { type BpfMap, perCpuStride } from '../bpf/map.js';
import { RingBuffer } from '../bpf/ring-buffer.js';
import type { Logger } from '../log/logger.js';
import type { DropReasonNames } from '../bpf/drop-reasons.js';
import type { Kallsyms } from '../collect/kallsyms.js';
import type { PodLabelResolver } from '../export/pod-labels.js';
import { type DropEvent, DropEventNamer } from './drop-event.js';
import type { DropEventBuffer } from './event-buffer.js';

/** How often the ring is drained: events reach readers within this. */
export const DRAIN_INTERVAL_MS = 100;
/** Events handed on at once; the rest of a drain follows on the next turn of the event loop, so sockets flush between. */
const DRAIN_BATCH = 1000;

export interface DropEventMaps {
  events: BpfMap;
  tokens: BpfMap;
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
  private readonly zero = Buffer.alloc(4);
  private readonly tokens: Buffer;
  /** Tokens per CPU per millisecond, and the most a CPU's bucket holds. */
  private perCpuPerMs = 0;
  private burstPerCpu = 0;
  private refilledAt = 0;
  /** Fractions of a token carried from one refill to the next. */
  private carry = 0;

  constructor(
    private readonly maps: DropEventMaps,
    private readonly cpus: number,
    private readonly namer: DropEventNamer,
    private readonly buffer: DropEventBuffer,
    private readonly log: Logger,
  ) {
    this.tokens = Buffer.alloc(perCpuStride(DROP_EVENT_TOKENS_SIZE, cpus));
  }

  /**
   * Sets the node's rate (events per second; 0 turns events off, also for a
   * pinned bucket of an earlier run). Each online CPU gets an equal share and
   * may hold one second of it, so the node sends at most `rate` per second
   * plus a burst of `rate`. Buckets start full.
   */
  configure(rate: number): void {
    const online = Math.max(1, onlineCpus().length);
    this.perCpuPerMs = rate / online / 1000;
    this.burstPerCpu = Math.ceil(rate / online);
    for (let cpu = 0; cpu < this.cpus; cpu++) dropEventTokens.write(this.tokens, cpu, this.burstPerCpu, rate > 0);
    this.maps.tokens.update(this.zero, this.tokens);
    this.refilledAt = Date.now();
  }

  /** Adds the tokens earned since the last refill to every CPU's bucket (one read, one write). */
  refill(now = Date.now()): void {
    const earned = (now - this.refilledAt) * this.perCpuPerMs + this.carry;
    const whole = Math.floor(earned);
    this.carry = earned - whole;
    this.refilledAt = now;
    if (whole === 0) return;
    this.maps.tokens.lookup(this.zero, this.tokens);
    for (let cpu = 0; cpu < this.cpus; cpu++) {
      const { tokens, enabled } = dropEventTokens.read(this.tokens, cpu);
      dropEventTokens.write(this.tokens, cpu, Math.min(this.burstPerCpu, tokens + whole), enabled);
    }
    // A CPU may spend a token between the read and this write: it gets it
    // back, so the node may send a few events over its rate, never a flood.
    this.maps.tokens.update(this.zero, this.tokens);
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
