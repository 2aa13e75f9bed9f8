// A BPF ring buffer map read through libbpf's ring_buffer__* API. Reading is
// non-blocking (ring_buffer__consume): the caller drives it from a timer, so
// the event loop never waits on the kernel.
import koffi from 'koffi';
import { BpfError } from './errors.js';
import { type CallbackPtr, lastErrno, libbpf, readMemory, RingBufferSampleFn, type RingBufferPtr } from './libbpf.js';
import type { BpfMap } from './map.js';

/** What the sample callback returns to stop consuming (libbpf passes a negative value through). */
const STOP = -0x7ff;

export class RingBuffer {
  private rb: RingBufferPtr | undefined;
  private readonly callback: CallbackPtr;
  private sink: ((sample: Buffer) => void) | undefined;
  private budget = 0;

  constructor(map: BpfMap) {
    // One callback for the ring's lifetime; it hands each sample (copied out
    // of the ring, which libbpf reuses once the callback returns) to the sink.
    this.callback = koffi.register((_ctx: unknown, data: bigint, size: number | bigint): number => {
      this.sink?.(readMemory(data, Number(size)));
      return --this.budget > 0 ? 0 : STOP;
    }, koffi.pointer(RingBufferSampleFn)) as CallbackPtr;
    const rb = libbpf.ring_buffer__new(map.fd, this.callback, null, null);
    if (rb === null) {
      koffi.unregister(this.callback);
      throw BpfError.fromErrno(`open ring buffer ${map.name}`, lastErrno());
    }
    this.rb = rb;
  }

  /**
   * Hands the samples in the ring to `onSample`, at most `max` of them (a
   * producer that keeps writing would otherwise keep this call going); true
   * when it stopped at `max` with more possibly waiting.
   */
  consume(onSample: (sample: Buffer) => void, max: number): boolean {
    if (this.rb === undefined) return false;
    this.sink = onSample;
    this.budget = max;
    try {
      const n = libbpf.ring_buffer__consume(this.rb);
      if (n === STOP) return true;
      if (n < 0) throw BpfError.fromErrno('consume ring buffer', -n);
      return false;
    } finally {
      this.sink = undefined;
    }
  }

  close(): void {
    if (this.rb === undefined) return;
    libbpf.ring_buffer__free(this.rb);
    this.rb = undefined;
    koffi.unregister(this.callback);
  }
}
