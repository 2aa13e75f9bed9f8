// An in-memory BPF map with the kernel's semantics for the operations the
// bookkeeping uses (src/bpf/map.ts MapAccess): arrays (every index present,
// zeroed, never deleted), hashes (bounded, E2BIG when full) and queues. The
// unit tier plays the BPF program's part on it (taking a free slot, counting
// into per-CPU cells) and checks what the user-space bookkeeping does.
import { constants } from 'node:os';
import type { MapAccess } from '../../src/bpf/map.js';

const { E2BIG, EINVAL } = constants.errno;

export class MapErrno extends Error {
  constructor(
    readonly errno: number,
    what: string,
  ) {
    super(`${what}: errno ${errno}`);
  }
}

export type MemoryMapKind = 'array' | 'hash' | 'queue';

export interface MemoryMapSpec {
  name: string;
  kind: MemoryMapKind;
  /** 4 for arrays, 0 for queues. */
  keySize: number;
  /** Bytes per entry as user space sees them (per-CPU maps: perCpuStride). */
  valueSize: number;
  maxEntries: number;
}

export class MemoryMap implements MapAccess {
  readonly name: string;
  /** Entries by key bytes (hex), in insertion order (the batch order of a hash). */
  private readonly entries = new Map<string, Buffer>();
  private readonly queue: Buffer[] = [];
  /** Every call, for tests that count syscalls or check an order. */
  readonly calls: string[] = [];

  constructor(readonly spec: MemoryMapSpec) {
    this.name = spec.name;
    if (spec.kind === 'array') {
      for (let i = 0; i < spec.maxEntries; i++) this.entries.set(indexKey(i), Buffer.alloc(spec.valueSize));
    }
  }

  lookup(key: Buffer | null, value: Buffer): boolean {
    this.calls.push('lookup');
    const v = this.entries.get(this.keyOf(key));
    if (!v) return false;
    v.copy(value);
    return true;
  }

  update(key: Buffer | null, value: Buffer, flags = 0): void {
    this.calls.push('update');
    if (this.spec.kind === 'queue') {
      if (this.queue.length >= this.spec.maxEntries) throw new MapErrno(E2BIG, `push to ${this.name}`);
      this.queue.push(Buffer.from(value.subarray(0, this.spec.valueSize)));
      return;
    }
    const k = this.keyOf(key);
    if (this.spec.kind === 'array' && !this.entries.has(k)) throw new MapErrno(E2BIG, `update of ${this.name}`);
    if (flags !== 0) throw new MapErrno(EINVAL, `update flags ${flags} (not modelled)`);
    if (!this.entries.has(k) && this.entries.size >= this.spec.maxEntries) throw new MapErrno(E2BIG, `update of ${this.name}`);
    this.entries.set(k, Buffer.from(value.subarray(0, this.spec.valueSize)));
  }

  delete(key: Buffer): boolean {
    this.calls.push('delete');
    if (this.spec.kind === 'array') throw new MapErrno(EINVAL, `delete from array ${this.name}`);
    return this.entries.delete(this.keyOf(key));
  }

  push(value: Buffer): void {
    this.update(null, value);
  }

  pop(value: Buffer): boolean {
    this.calls.push('pop');
    const v = this.queue.shift();
    if (!v) return false;
    v.copy(value);
    return true;
  }

  lookupBatch(cursor: Buffer | null, next: Buffer, keys: Buffer, values: Buffer, count: [number]): boolean {
    this.calls.push('lookupBatch');
    if (this.spec.kind === 'queue') throw new MapErrno(EINVAL, `batch lookup of queue ${this.name}`);
    const all = [...this.entries];
    const start = cursor ? cursor.readUInt32LE(0) : 0;
    const n = Math.min(count[0], all.length - start);
    for (let i = 0; i < n; i++) {
      const [k, v] = all[start + i] as [string, Buffer];
      Buffer.from(k, 'hex').copy(keys, i * this.spec.keySize);
      v.copy(values, i * this.spec.valueSize);
    }
    count[0] = n;
    next.writeUInt32LE(start + n, 0); // the cursor is opaque to callers: here, the next position
    return start + n < all.length;
  }

  // ---- the BPF program's side ----

  /** The value at a key (a copy), or undefined. */
  get(key: Buffer | number): Buffer | undefined {
    const v = this.entries.get(typeof key === 'number' ? indexKey(key) : key.toString('hex'));
    return v && Buffer.from(v);
  }

  /** Writes a value as the program would (no user-space call recorded). */
  set(key: Buffer | number, value: Buffer): void {
    this.entries.set(typeof key === 'number' ? indexKey(key) : key.toString('hex'), Buffer.from(value));
  }

  /** Pops a queue entry as the program would; undefined when empty. */
  take(): Buffer | undefined {
    return this.queue.shift();
  }

  /** Queue entries, oldest first. */
  queued(): Buffer[] {
    return this.queue.map((b) => Buffer.from(b));
  }

  get size(): number {
    return this.spec.kind === 'queue' ? this.queue.length : this.entries.size;
  }

  keys(): Buffer[] {
    return [...this.entries.keys()].map((k) => Buffer.from(k, 'hex'));
  }

  private keyOf(key: Buffer | null): string {
    if (!key) throw new MapErrno(EINVAL, `null key for ${this.spec.kind} ${this.name}`);
    if (key.length < this.spec.keySize) throw new MapErrno(EINVAL, `key of ${key.length} bytes for ${this.name}`);
    return key.subarray(0, this.spec.keySize).toString('hex');
  }
}

function indexKey(i: number): string {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(i);
  return b.toString('hex');
}

/** Writes one CPU's struct counter {packets, bytes} into a per-CPU cell buffer. */
export function writeCounter(cell: Buffer, cpu: number, stride: number, packets: bigint, bytes: bigint): void {
  cell.writeBigUInt64LE(packets, cpu * stride);
  cell.writeBigUInt64LE(bytes, cpu * stride + 8);
}
