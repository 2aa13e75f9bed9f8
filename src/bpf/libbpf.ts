// The one place that declares libbpf's C API for koffi. Every FFI signature
// the agent uses is here, with types that say what a value is; the rest of
// the code calls these through the small wrappers in src/bpf/.
//
// libbpf 1.x conventions: pointer-returning calls return NULL and set errno;
// int-returning calls return a negative errno. Pointers arrive as bigint
// (koffi 3): an opaque handle, never dereferenced here except through the
// decode helpers below.
import koffi from 'koffi';
import { lastErrno, libc } from '../os/libc.js';
import { lazyBinding } from '../os/lazy-binding.js';

// errno after a libbpf call is libc's errno: callers of libbpf read it from here.
export { lastErrno };

/** Opaque libbpf handles (struct bpf_object *, struct bpf_map *, ...). */
export type BpfObjectPtr = bigint & { readonly __brand: 'bpf_object' };
export type BpfMapPtr = bigint & { readonly __brand: 'bpf_map' };
export type BpfProgramPtr = bigint & { readonly __brand: 'bpf_program' };
export type BpfLinkPtr = bigint & { readonly __brand: 'bpf_link' };
export type BtfPtr = bigint & { readonly __brand: 'btf' };
export type RingBufferPtr = bigint & { readonly __brand: 'ring_buffer' };
/** A callback registered with koffi.register (a native function pointer). */
export type CallbackPtr = bigint & { readonly __brand: 'callback' };
/** const struct btf_type * inside a loaded BTF. */
export type BtfTypePtr = bigint & { readonly __brand: 'btf_type' };
/** A file descriptor of a BPF object (map, program, link). */
export type Fd = number & { readonly __brand: 'fd' };

export const LIBBPF_SONAME = 'libbpf.so.1';

// int (*libbpf_print_fn_t)(enum libbpf_print_level level, const char *, va_list ap)
// A va_list argument arrives as a pointer on x86-64 (an array type, so it
// decays) and on arm64 (AAPCS64: a struct over 16 bytes is passed by reference
// to the caller's copy); the pointer is handed on to vsnprintf as it came.
const PrintFn = koffi.proto('int libbpf_print_fn_t(int level, const char *fmt, void *ap)');
// int (*ring_buffer_sample_fn)(void *ctx, void *data, size_t size)
export const RingBufferSampleFn = koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');

/** libbpf's functions, bound at the first call (importing this module loads no library). */
export const libbpf = lazyBinding(() => {
  const lib = koffi.load(LIBBPF_SONAME);
  return {
    libbpf_set_print: lib.func('void *libbpf_set_print(libbpf_print_fn_t *fn)') as (fn: bigint | null) => bigint,
    libbpf_num_possible_cpus: lib.func('int libbpf_num_possible_cpus(void)') as () => number,

    bpf_object__open_file: lib.func('void *bpf_object__open_file(const char *path, void *opts)') as (
      path: string,
      opts: null,
    ) => BpfObjectPtr | null,
    bpf_object__load: lib.func('int bpf_object__load(void *obj)') as (obj: BpfObjectPtr) => number,
    bpf_object__close: lib.func('void bpf_object__close(void *obj)') as (obj: BpfObjectPtr) => void,
    bpf_object__find_map_by_name: lib.func('void *bpf_object__find_map_by_name(void *obj, const char *name)') as (
      obj: BpfObjectPtr,
      name: string,
    ) => BpfMapPtr | null,
    bpf_object__next_map: lib.func('void *bpf_object__next_map(void *obj, void *prev)') as (
      obj: BpfObjectPtr,
      prev: BpfMapPtr | null,
    ) => BpfMapPtr | null,
    bpf_object__find_program_by_name: lib.func('void *bpf_object__find_program_by_name(void *obj, const char *name)') as (
      obj: BpfObjectPtr,
      name: string,
    ) => BpfProgramPtr | null,

    bpf_map__name: lib.func('const char *bpf_map__name(void *map)') as (map: BpfMapPtr) => string,
    bpf_map__fd: lib.func('int bpf_map__fd(void *map)') as (map: BpfMapPtr) => Fd,
    bpf_map__set_pin_path: lib.func('int bpf_map__set_pin_path(void *map, const char *path)') as (map: BpfMapPtr, path: string) => number,
    bpf_map__type: lib.func('int bpf_map__type(void *map)') as (map: BpfMapPtr) => number,
    bpf_map__key_size: lib.func('uint32_t bpf_map__key_size(void *map)') as (map: BpfMapPtr) => number,
    bpf_map__value_size: lib.func('uint32_t bpf_map__value_size(void *map)') as (map: BpfMapPtr) => number,
    bpf_map__max_entries: lib.func('uint32_t bpf_map__max_entries(void *map)') as (map: BpfMapPtr) => number,
    bpf_map__map_flags: lib.func('uint32_t bpf_map__map_flags(void *map)') as (map: BpfMapPtr) => number,
    bpf_map__is_internal: lib.func('bool bpf_map__is_internal(void *map)') as (map: BpfMapPtr) => boolean,

    bpf_program__fd: lib.func('int bpf_program__fd(void *prog)') as (prog: BpfProgramPtr) => Fd,
    bpf_program__set_autoload: lib.func('int bpf_program__set_autoload(void *prog, bool autoload)') as (
      prog: BpfProgramPtr,
      autoload: boolean,
    ) => number,
    bpf_program__attach: lib.func('void *bpf_program__attach(void *prog)') as (prog: BpfProgramPtr) => BpfLinkPtr | null,
    bpf_link__destroy: lib.func('int bpf_link__destroy(void *link)') as (link: BpfLinkPtr) => number,

    // Low-level (fd-based) API.
    bpf_obj_get: lib.func('int bpf_obj_get(const char *path)') as (path: string) => Fd | number,
    // opts: struct bpf_obj_get_opts { size_t sz; __u32 file_flags; } (16 bytes)
    bpf_obj_get_opts: lib.func('int bpf_obj_get_opts(const char *path, const void *opts)') as (path: string, opts: Buffer) => Fd | number,
    bpf_obj_pin: lib.func('int bpf_obj_pin(int fd, const char *path)') as (fd: Fd, path: string) => number,
    bpf_link_create: lib.func('int bpf_link_create(int prog_fd, int target_fd, int attach_type, void *opts)') as (
      progFd: Fd,
      targetFd: number,
      attachType: number,
      opts: Buffer | null,
    ) => Fd | number,
    bpf_link_update: lib.func('int bpf_link_update(int link_fd, int new_prog_fd, const void *opts)') as (
      linkFd: Fd,
      newProgFd: Fd,
      opts: null,
    ) => number,
    bpf_map_lookup_elem: lib.func('int bpf_map_lookup_elem(int fd, const void *key, _Out_ void *value)') as (
      fd: Fd,
      key: Buffer | null,
      value: Buffer,
    ) => number,
    bpf_map_update_elem: lib.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)') as (
      fd: Fd,
      key: Buffer | null,
      value: Buffer,
      flags: number,
    ) => number,
    bpf_map_delete_elem: lib.func('int bpf_map_delete_elem(int fd, const void *key)') as (fd: Fd, key: Buffer) => number,
    bpf_map_lookup_and_delete_elem: lib.func('int bpf_map_lookup_and_delete_elem(int fd, const void *key, _Out_ void *value)') as (
      fd: Fd,
      key: Buffer | null,
      value: Buffer,
    ) => number,
    // in_batch/out_batch are opaque cursors of the map's key size (4 bytes
    // for arrays); count is in/out.
    bpf_map_lookup_batch: lib.func(
      'int bpf_map_lookup_batch(int fd, void *in_batch, _Out_ void *out_batch, _Out_ void *keys, _Out_ void *values, _Inout_ uint32_t *count, const void *opts)',
    ) as (fd: Fd, inBatch: Buffer | null, outBatch: Buffer, keys: Buffer, values: Buffer, count: [number], opts: null) => number,
    bpf_obj_get_info_by_fd: lib.func('int bpf_obj_get_info_by_fd(int fd, _Out_ void *info, _Inout_ uint32_t *len)') as (
      fd: Fd,
      info: Buffer,
      len: [number],
    ) => number,
    bpf_enable_stats: lib.func('int bpf_enable_stats(int type)') as (type: number) => Fd | number,
    bpf_prog_test_run_opts: lib.func('int bpf_prog_test_run_opts(int prog_fd, void *opts)') as (progFd: Fd, opts: Buffer) => number,

    // BPF ring buffers (drop events): consumed without blocking, from a timer.
    ring_buffer__new: lib.func('void *ring_buffer__new(int map_fd, ring_buffer_sample_fn *sample_cb, void *ctx, const void *opts)') as (
      mapFd: Fd,
      sampleCb: CallbackPtr,
      ctx: null,
      opts: null,
    ) => RingBufferPtr | null,
    ring_buffer__consume: lib.func('int ring_buffer__consume(void *rb)') as (rb: RingBufferPtr) => number,
    ring_buffer__free: lib.func('void ring_buffer__free(void *rb)') as (rb: RingBufferPtr) => void,

    // tc (clsact) attachment, for kernels without tcx.
    bpf_tc_hook_create: lib.func('int bpf_tc_hook_create(void *hook)') as (hook: Buffer) => number,
    bpf_tc_attach: lib.func('int bpf_tc_attach(const void *hook, _Inout_ void *opts)') as (hook: Buffer, opts: Buffer) => number,
    bpf_tc_detach: lib.func('int bpf_tc_detach(const void *hook, const void *opts)') as (hook: Buffer, opts: Buffer) => number,

    // BTF of the running kernel.
    btf__load_vmlinux_btf: lib.func('void *btf__load_vmlinux_btf(void)') as () => BtfPtr | null,
    btf__free: lib.func('void btf__free(void *btf)') as (btf: BtfPtr) => void,
    btf__find_by_name_kind: lib.func('int btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)') as (
      btf: BtfPtr,
      name: string,
      kind: number,
    ) => number,
    btf__type_by_id: lib.func('const void *btf__type_by_id(void *btf, uint32_t id)') as (btf: BtfPtr, id: number) => BtfTypePtr | null,
    btf__name_by_offset: lib.func('const char *btf__name_by_offset(void *btf, uint32_t offset)') as (
      btf: BtfPtr,
      offset: number,
    ) => string | null,
  };
});

/**
 * sizeof(va_list) by process.arch: x86-64's struct __va_list_tag (gp_offset,
 * fp_offset, overflow_arg_area, reg_save_area) and AAPCS64's struct __va_list
 * (__stack, __gr_top, __vr_top, __gr_offs, __vr_offs). On an arch not listed
 * the va_list is used once, uncopied: a message longer than the buffer is cut.
 */
export const VA_LIST_BYTES: Readonly<Partial<Record<NodeJS.Architecture, number>>> = { x64: 24, arm64: 32 };
const VA_LIST_SIZE = VA_LIST_BYTES[process.arch];

/** Closes a file descriptor that libbpf handed out. */
export function close(fd: Fd): void {
  libc.close(fd);
}

/** Reads `len` bytes at a native address (BTF records, libbpf-owned memory). */
export function readMemory(ptr: bigint, len: number): Buffer {
  return Buffer.from(koffi.view(ptr, len));
}

export type LibbpfPrintLevel = 'warn' | 'info' | 'debug';
const PRINT_LEVELS: readonly LibbpfPrintLevel[] = ['warn', 'info', 'debug'];

let registeredPrint: bigint | undefined;

/** How many of the verifier's last lines a rejected program keeps. */
const VERIFIER_TAIL = 20;
let verifierTail: string[] | undefined;

/**
 * The last lines of the verifier's log of the latest program the kernel
 * rejected (captured from libbpf's messages while a print sink is set), once.
 */
export function takeVerifierLog(): string[] | undefined {
  const tail = verifierTail;
  verifierTail = undefined;
  return tail;
}

// libbpf prints a rejected program's verifier log between these markers, and
// the load failure around it: all of it is detail for debugging, not a warning
// (the caller turns the failure into one line).
const VERIFIER_LOG = /-- BEGIN PROG LOAD LOG --\n?([\s\S]*?)-- END PROG LOAD LOG --/;
const LOAD_FAILURE = /-- BEGIN PROG LOAD LOG --|BPF program load failed|failed to load/;

/** Routes libbpf's own messages to `sink` (the agent's logger). */
export function setLibbpfPrint(sink: (level: LibbpfPrintLevel, message: string) => void): void {
  let buf = Buffer.alloc(65536);
  const callback = (level: number, fmt: string, ap: bigint): number => {
    // A verifier log comes in one message and can be megabytes: a message
    // longer than buf is formatted again into a buffer of its size. A va_list
    // is read once, so each vsnprintf gets a copy of it (va_copy: `ap` points
    // at the VA_LIST_SIZE-byte struct).
    const saved = VA_LIST_SIZE === undefined ? undefined : Buffer.from(koffi.decode(ap, koffi.array('uint8_t', VA_LIST_SIZE)) as number[]);
    let n = saved ? libc.vsnprintf(buf, buf.length, fmt, Buffer.from(saved)) : libc.vsnprintf(buf, buf.length, fmt, ap);
    if (n >= buf.length && saved) {
      buf = Buffer.alloc(n + 1);
      n = libc.vsnprintf(buf, buf.length, fmt, Buffer.from(saved));
    }
    const text = buf
      .subarray(0, Math.max(0, Math.min(n, buf.length - 1)))
      .toString('utf8')
      .trimEnd();
    if (buf.length > 65536) buf = Buffer.alloc(65536); // a long log's buffer is not kept
    const log = VERIFIER_LOG.exec(text);
    if (log) verifierTail = (log[1] ?? '').trimEnd().split('\n').slice(-VERIFIER_TAIL);
    if (text.length > 0) sink(LOAD_FAILURE.test(text) ? 'debug' : (PRINT_LEVELS[level] ?? 'debug'), text);
    return n;
  };
  const registered = koffi.register(callback, koffi.pointer(PrintFn));
  libbpf.libbpf_set_print(registered);
  if (registeredPrint !== undefined) koffi.unregister(registeredPrint);
  registeredPrint = registered;
}
