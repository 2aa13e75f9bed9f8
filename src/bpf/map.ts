// A BPF map by file descriptor: the few operations the agent needs, each one
// syscall through libbpf. Reads of whole maps use bpf_map_lookup_batch, one
// syscall per map per poll (per 4k entries for hash maps), never one per key.
import { close, type Fd, lastErrno, libbpf } from './libbpf.js';
import { constants } from 'node:os';
import { BpfError } from './errors.js';
import { KERNEL_STRUCTS, LIBBPF_STRUCTS, offsetOf, optsBuffer, structBuffer } from './libbpf-structs.js';

const { ENOENT } = constants.errno;
const BPF_F_RDONLY = 1 << 3;
const MAP_INFO = KERNEL_STRUCTS.bpf_map_info;
const NAME_LEN = 16;

export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
}

/**
 * The map operations the agent's bookkeeping uses (slots, drop table, forward
 * table, cache generation): a BpfMap in the agent, an in-memory map in the
 * unit tests (test/support/memory-map.ts), so that bookkeeping is tested
 * without root. Semantics are the kernel's: see each BpfMap method.
 */
export interface MapAccess {
  readonly name: string;
  lookup(key: Buffer | null, value: Buffer): boolean;
  update(key: Buffer | null, value: Buffer, flags?: number): void;
  delete(key: Buffer): boolean;
  push(value: Buffer): void;
  pop(value: Buffer): boolean;
  /**
   * One bpf_map_lookup_batch step from `cursor` (null: the start): up to
   * count[0] entries into keys and values, count[0] set to how many, the next
   * cursor into `next`. False when the map has no entries after these.
   */
  lookupBatch(cursor: Buffer | null, next: Buffer, keys: Buffer, values: Buffer, count: [number]): boolean;
}

/**
 * Every entry of a map in as few syscalls as the kernel allows. Returns the
 * raw key and value bytes side by side; `valueStride` is the bytes per entry
 * in `values` (for per-CPU maps: CPUs x round_up(value_size, 8)). For a map
 * read every poll, keep a BatchRead instead.
 */
export function lookupAll(
  map: MapAccess,
  keySize: number,
  valueStride: number,
  maxEntries: number,
): { count: number; keys: Buffer; values: Buffer } {
  const batch = new BatchRead(map, keySize, valueStride, maxEntries);
  const count = batch.read();
  return { count, keys: batch.keys, values: batch.values };
}

export class BpfMap implements MapAccess {
  constructor(
    readonly name: string,
    readonly fd: Fd,
    private readonly ownsFd = false,
  ) {}

  /** Opens a pinned map by path (for `list` and for reading foreign maps). */
  static fromPin(path: string, name = path): BpfMap {
    const fd = libbpf.bpf_obj_get(path);
    if (fd < 0) throw BpfError.fromErrno(`open pinned map ${path}`, lastErrno());
    return new BpfMap(name, fd as Fd, true);
  }

  /**
   * Opens a pinned map read-only (BPF_F_RDONLY): for maps that belong to
   * someone else (Cilium's), which the agent must never change.
   */
  static fromPinReadOnly(path: string, name = path): BpfMap {
    const opts = optsBuffer(LIBBPF_STRUCTS.bpf_obj_get_opts, { file_flags: BPF_F_RDONLY });
    const fd = libbpf.bpf_obj_get_opts(path, opts);
    if (fd < 0) throw BpfError.fromErrno(`open pinned map ${path} read-only`, lastErrno());
    return new BpfMap(name, fd as Fd, true);
  }

  info(): MapInfo {
    const buf = structBuffer(MAP_INFO);
    const len: [number] = [buf.length];
    const err = libbpf.bpf_obj_get_info_by_fd(this.fd, buf, len);
    if (err < 0) throw BpfError.fromErrno(`map info of ${this.name}`, -err);
    const u32 = (member: string) => buf.readUInt32LE(offsetOf(MAP_INFO, member));
    const nameAt = offsetOf(MAP_INFO, 'name');
    const nameBytes = buf.subarray(nameAt, nameAt + NAME_LEN);
    const nul = nameBytes.indexOf(0);
    return {
      type: u32('type'),
      id: u32('id'),
      keySize: u32('key_size'),
      valueSize: u32('value_size'),
      maxEntries: u32('max_entries'),
      flags: u32('map_flags'),
      name: nameBytes.subarray(0, nul < 0 ? NAME_LEN : nul).toString('latin1'),
    };
  }

  /** See lookupAll(). */
  lookupAll(keySize: number, valueStride: number, maxEntries: number): { count: number; keys: Buffer; values: Buffer } {
    return lookupAll(this, keySize, valueStride, maxEntries);
  }

  lookupBatch(cursor: Buffer | null, next: Buffer, keys: Buffer, values: Buffer, count: [number]): boolean {
    const err = libbpf.bpf_map_lookup_batch(this.fd, cursor, next, keys, values, count, null);
    if (err === 0) return true;
    const errno = lastErrno();
    if (errno === ENOENT) return false; // no more entries; count says how many came with it
    throw BpfError.fromErrno(`batch lookup of ${this.name}`, errno);
  }

  lookup(key: Buffer | null, value: Buffer): boolean {
    const err = libbpf.bpf_map_lookup_elem(this.fd, key, value);
    if (err === 0) return true;
    const errno = lastErrno();
    if (errno === ENOENT) return false;
    throw BpfError.fromErrno(`lookup in ${this.name}`, errno);
  }

  update(key: Buffer | null, value: Buffer, flags = 0): void {
    const err = libbpf.bpf_map_update_elem(this.fd, key, value, flags);
    if (err < 0) throw BpfError.fromErrno(`update of ${this.name}`, lastErrno());
  }

  /** Deletes key; false when it was not there. */
  delete(key: Buffer): boolean {
    const err = libbpf.bpf_map_delete_elem(this.fd, key);
    if (err === 0) return true;
    const errno = lastErrno();
    if (errno === ENOENT) return false;
    throw BpfError.fromErrno(`delete from ${this.name}`, errno);
  }

  /** Queue maps: push a value. */
  push(value: Buffer): void {
    this.update(null, value, 0);
  }

  /** Queue maps: pop a value into `value`; false when empty. */
  pop(value: Buffer): boolean {
    const err = libbpf.bpf_map_lookup_and_delete_elem(this.fd, null, value);
    if (err === 0) return true;
    const errno = lastErrno();
    if (errno === ENOENT) return false;
    throw BpfError.fromErrno(`pop from ${this.name}`, errno);
  }

  close(): void {
    if (this.ownsFd) close(this.fd);
  }
}

/** Bytes per entry of a per-CPU map's value buffer. */
export function perCpuStride(valueSize: number, cpus: number): number {
  return cpus * Math.ceil(valueSize / 8) * 8;
}

/** A 4-byte key (array index, slot) as the kernel reads it. */
export function u32Key(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

/**
 * Whole-map batch reads into buffers kept from one read to the next: a poll
 * reads the same maps every interval, and the per-CPU tables are large
 * (forward_counts is 8,194 cells x 24 bytes x CPUs: 12.6 MB at 64 CPUs).
 */
export class BatchRead {
  readonly keys: Buffer;
  readonly values: Buffer;
  // The batch cursor is a bucket index for hash maps, a key for arrays.
  private readonly cursor: Buffer;
  private readonly next: Buffer;
  private readonly count: [number] = [0];

  constructor(
    private readonly map: MapAccess,
    private readonly keySize: number,
    private readonly valueStride: number,
    readonly maxEntries: number,
  ) {
    this.keys = Buffer.alloc(keySize * maxEntries);
    this.values = Buffer.alloc(valueStride * maxEntries);
    this.cursor = Buffer.alloc(Math.max(keySize, 8));
    this.next = Buffer.alloc(this.cursor.length);
  }

  /** Reads every entry (at most maxEntries) into keys and values, overwriting the last read; returns how many. */
  read(): number {
    let total = 0;
    let first = true;
    while (total < this.maxEntries) {
      this.count[0] = this.maxEntries - total;
      const more = this.map.lookupBatch(
        first ? null : this.cursor,
        this.next,
        this.keys.subarray(total * this.keySize),
        this.values.subarray(total * this.valueStride),
        this.count,
      );
      total += this.count[0];
      if (!more) break;
      this.next.copy(this.cursor);
      first = false;
    }
    return total;
  }
}
