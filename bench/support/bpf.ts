// BPF helpers of the benchmarks only: a pin directory of their own, program
// run-time statistics (bpf_stats), BPF_PROG_TEST_RUN, and the one libbpf
// call the product does not need (bpf_map__set_max_entries, to try a larger
// endpoint map than the compiled one). The product's FFI declarations stay in
// src/bpf/libbpf.ts; this file only adds what measuring needs.
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { BpfError } from '../../src/bpf/errors.js';
import { type BpfMapPtr, type BpfObjectPtr, close, type Fd, lastErrno, libbpf, LIBBPF_SONAME } from '../../src/bpf/libbpf.js';
import { onCleanup } from './cleanup.js';
import { benchId } from './netns.js';

/** A path in the repository (dist/bench/support/ -> the package root). */
export function repoPath(rel: string): string {
  return fileURLToPath(new URL(`../../../${rel}`, import.meta.url));
}

/** A bpffs directory of the benchmark's own, removed (with every pin in it) at cleanup. */
export function benchPinDir(name: string): string {
  const dir = `/sys/fs/bpf/dpx-bench-${benchId}-${name}`;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  onCleanup(`pin dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const BPF_STATS_RUN_TIME = 0;

/**
 * Turns on the kernel's per-program run-time statistics for as long as the
 * returned fd is open (bpf_enable_stats; no sysctl is changed).
 */
export function enableRunTimeStats(): Fd {
  const fd = libbpf.bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (fd < 0) throw BpfError.fromErrno('bpf_enable_stats(BPF_STATS_RUN_TIME)', lastErrno());
  onCleanup('bpf_stats fd', () => close(fd as Fd));
  return fd as Fd;
}

export interface ProgStats {
  id: number;
  name: string;
  runTimeNs: bigint;
  runCnt: bigint;
}

// struct bpf_prog_info (linux/bpf.h, x86-64): id at 4, name[16] at 64,
// run_time_ns at 192, run_cnt at 200, 232 bytes in all (checked with
// offsetof against /usr/include/linux/bpf.h and with `bpftool prog show`).
const PROG_INFO_SIZE = 232;

export function progStats(fd: Fd): ProgStats {
  const info = Buffer.alloc(PROG_INFO_SIZE);
  const len: [number] = [info.length];
  const err = libbpf.bpf_obj_get_info_by_fd(fd, info, len);
  if (err < 0) throw BpfError.fromErrno('bpf_obj_get_info_by_fd(prog)', -err);
  if (len[0] < 208) throw new Error(`kernel returned a bpf_prog_info of ${len[0]} bytes, too old for run_time_ns`);
  const name = info.subarray(64, 80);
  const nul = name.indexOf(0);
  return {
    id: info.readUInt32LE(4),
    name: name.subarray(0, nul < 0 ? 16 : nul).toString('latin1'),
    runTimeNs: info.readBigUInt64LE(192),
    runCnt: info.readBigUInt64LE(200),
  };
}

export interface TestRun {
  retval: number;
  /** Average nanoseconds per repetition, as the kernel measured it. */
  durationNs: number;
}

/**
 * BPF_PROG_TEST_RUN through libbpf's bpf_prog_test_run_opts: runs the
 * program `repeat` times on `packet` in the kernel.
 *
 * struct bpf_test_run_opts (libbpf 1.1, 80 bytes): sz@0, data_in@8,
 * data_out@16, data_size_in@24, data_size_out@28, ctx_in@32, ctx_out@40,
 * ctx_size_in@48, ctx_size_out@52, retval@56, repeat@60, duration@64,
 * flags@68, cpu@72, batch_size@76.
 */
export function testRun(progFd: Fd, packet: Buffer, repeat: number): TestRun {
  const out = Buffer.alloc(packet.length + 256);
  const opts = Buffer.alloc(80);
  opts.writeBigUInt64LE(80n, 0);
  opts.writeBigUInt64LE(koffi.address(packet), 8);
  opts.writeBigUInt64LE(koffi.address(out), 16);
  opts.writeUInt32LE(packet.length, 24);
  opts.writeUInt32LE(out.length, 28);
  opts.writeInt32LE(repeat, 60);
  const err = libbpf.bpf_prog_test_run_opts(progFd, opts);
  if (err < 0) throw BpfError.fromErrno('bpf_prog_test_run_opts', lastErrno());
  // packet and out must stay alive until here: the kernel read and wrote them.
  void packet.length;
  void out.length;
  return { retval: opts.readInt32LE(56), durationNs: opts.readUInt32LE(64) };
}

const lib = koffi.load(LIBBPF_SONAME);
const bpf_map__set_max_entries = lib.func('int bpf_map__set_max_entries(void *map, uint32_t max_entries)') as (
  map: BpfMapPtr,
  n: number,
) => number;

/**
 * Opens and loads a BPF object without pinning anything, with chosen maps
 * resized first (bpf_map__set_max_entries): a variant of the shipped object
 * that exists only in this process. Closed at cleanup.
 */
export function loadResized(
  path: string,
  sizes: Record<string, number>,
): { obj: BpfObjectPtr; mapFd(name: string): Fd; progFd(name: string): Fd } {
  const obj = libbpf.bpf_object__open_file(path, null);
  if (obj === null) throw BpfError.fromErrno(`open ${path}`, lastErrno());
  onCleanup(`bpf object ${path} (resized)`, () => libbpf.bpf_object__close(obj));
  for (const [name, n] of Object.entries(sizes)) {
    const map = libbpf.bpf_object__find_map_by_name(obj, name);
    if (map === null) throw new Error(`map ${name} not in ${path}`);
    const err = bpf_map__set_max_entries(map, n);
    if (err < 0) throw BpfError.fromErrno(`resize ${name}`, -err);
  }
  const err = libbpf.bpf_object__load(obj);
  if (err < 0) throw BpfError.fromErrno(`load ${path}`, -err);
  return {
    obj,
    mapFd(name) {
      const map = libbpf.bpf_object__find_map_by_name(obj, name);
      if (map === null) throw new Error(`map ${name} not in ${path}`);
      return libbpf.bpf_map__fd(map);
    },
    progFd(name) {
      const prog = libbpf.bpf_object__find_program_by_name(obj, name);
      if (prog === null) throw new Error(`program ${name} not in ${path}`);
      return libbpf.bpf_program__fd(prog);
    },
  };
}
