// One compiled BPF object (bpf/NAME.bpf.o) opened and loaded by libbpf, with
// its maps pinned by name under the agent's bpffs directory: a map pinned by
// an earlier run (or by another of the agent's objects) is reused, so
// counters survive restarts and objects share the endpoint map.
import { existsSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { BpfError } from './errors.js';
import { kernelLockdown } from '../os/kernel-lockdown.js';
import {
  type BpfLinkPtr,
  type BpfMapPtr,
  type BpfObjectPtr,
  type BpfProgramPtr,
  type Fd,
  lastErrno,
  libbpf,
  takeVerifierLog,
} from './libbpf.js';
import { BpfMap } from './map.js';

/** A map as an object file declares it (read by libbpf from its ELF and BTF, before any load). */
export interface DeclaredMap {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

/** The maps `path` declares, without loading anything into the kernel (no privileges needed). */
export function declaredMaps(path: string): DeclaredMap[] {
  const obj = libbpf.bpf_object__open_file(path, null);
  if (obj === null) throw BpfError.fromErrno(`open ${path}`, lastErrno());
  try {
    const maps: DeclaredMap[] = [];
    for (let map = libbpf.bpf_object__next_map(obj, null); map !== null; map = libbpf.bpf_object__next_map(obj, map)) {
      if (libbpf.bpf_map__is_internal(map)) continue;
      maps.push({
        name: libbpf.bpf_map__name(map),
        type: libbpf.bpf_map__type(map),
        keySize: libbpf.bpf_map__key_size(map),
        valueSize: libbpf.bpf_map__value_size(map),
        maxEntries: libbpf.bpf_map__max_entries(map),
        flags: libbpf.bpf_map__map_flags(map),
      });
    }
    return maps;
  } finally {
    libbpf.bpf_object__close(obj);
  }
}

export class BpfObject {
  private closed = false;
  private readonly links: BpfLinkPtr[] = [];

  private constructor(
    readonly path: string,
    private readonly obj: BpfObjectPtr,
  ) {}

  /**
   * Opens and loads `path`, pinning (or reusing) its maps under `pinDir`.
   * Programs named in `notLoaded` are left out (variants for other kernels).
   */
  static load(path: string, pinDir: string, onLayoutChange?: (map: string) => void, notLoaded: readonly string[] = []): BpfObject {
    if (!existsSync(path)) throw new BpfError(`BPF object ${path} not found (run the build: npm run build)`, 2);
    const obj = libbpf.bpf_object__open_file(path, null);
    if (obj === null) throw BpfError.fromErrno(`open ${path}`, lastErrno());
    const loaded = new BpfObject(path, obj);
    try {
      for (let map = libbpf.bpf_object__next_map(obj, null); map !== null; map = libbpf.bpf_object__next_map(obj, map)) {
        if (libbpf.bpf_map__is_internal(map)) continue; // .rodata/.bss belong to the object
        const name = libbpf.bpf_map__name(map);
        const pin = join(pinDir, name);
        if (existsSync(pin) && !pinnedMatches(pin, map)) {
          // A map pinned by an agent of another layout (an upgrade): libbpf
          // would refuse it. Start that map afresh and say so.
          onLayoutChange?.(name);
          unlinkSync(pin);
        }
        const err = libbpf.bpf_map__set_pin_path(map, pin);
        if (err < 0) throw BpfError.fromErrno(`set pin path of ${name}`, -err);
      }
      for (const name of notLoaded) {
        const err = libbpf.bpf_program__set_autoload(loaded.program(name), false);
        if (err < 0) throw BpfError.fromErrno(`leave out program ${name}`, -err);
      }
      takeVerifierLog(); // a stale one from an earlier object
      const err = libbpf.bpf_object__load(obj);
      if (err < 0) {
        const verifierLog = takeVerifierLog();
        if (verifierLog === undefined) throw BpfError.fromErrno(`load ${path}`, -err);
        throw BpfError.verifierRejected(basename(path), -err, verifierLog, kernelLockdown());
      }
    } catch (e) {
      loaded.close();
      throw e;
    }
    return loaded;
  }

  map(name: string): BpfMap {
    const map = libbpf.bpf_object__find_map_by_name(this.obj, name);
    if (map === null) throw new BpfError(`map ${name} not in ${this.path}`, 2);
    return new BpfMap(name, libbpf.bpf_map__fd(map));
  }

  program(name: string): BpfProgramPtr {
    const prog = libbpf.bpf_object__find_program_by_name(this.obj, name);
    if (prog === null) throw new BpfError(`program ${name} not in ${this.path}`, 2);
    return prog;
  }

  programFd(name: string): Fd {
    return libbpf.bpf_program__fd(this.program(name));
  }

  /** Attaches a program where its SEC() says (tracepoints); detached on close. */
  attach(name: string): void {
    const link = libbpf.bpf_program__attach(this.program(name));
    if (link === null) throw BpfError.fromErrno(`attach ${name}`, lastErrno());
    this.links.push(link);
  }

  /** Detaches the attached programs and frees the object (pins stay). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.splice(0)) libbpf.bpf_link__destroy(link);
    libbpf.bpf_object__close(this.obj);
  }
}

/** Whether the map pinned at `pin` has the type, sizes and flags `map` declares (what libbpf requires to reuse it). */
function pinnedMatches(pin: string, map: BpfMapPtr): boolean {
  let pinned: BpfMap;
  try {
    pinned = BpfMap.fromPin(pin);
  } catch {
    return false;
  }
  try {
    const info = pinned.info();
    return (
      info.type === libbpf.bpf_map__type(map) &&
      info.keySize === libbpf.bpf_map__key_size(map) &&
      info.valueSize === libbpf.bpf_map__value_size(map) &&
      info.maxEntries === libbpf.bpf_map__max_entries(map) &&
      info.flags === libbpf.bpf_map__map_flags(map)
    );
  } finally {
    pinned.close();
  }
}
