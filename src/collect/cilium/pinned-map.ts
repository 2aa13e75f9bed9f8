// A map that Cilium pins and the agent only reads (cilium_metrics,
// cilium_lxc): opened read-only, never created, written, pinned or unpinned.
//
// Cilium may start after the agent, restart, or re-create its maps, so each
// read first stat()s the pin (no syscall into BPF): absent -> nothing; a new
// pin (another inode) -> the old fd is dropped and the new map opened and
// checked. A map whose layout is not one this agent knows is refused with
// one warning and never decoded; the rest of the agent goes on.
import { constants } from 'node:os';
import { type Stats, statSync } from 'node:fs';
import { BpfError } from '../../bpf/errors.js';
import { BpfMap, type MapInfo } from '../../bpf/map.js';
import type { Logger } from '../../log/logger.js';

const { ENOENT } = constants.errno;

/** How the log names the map and what is missing while it is not read. */
export interface PinnedMapWords {
  /** "Cilium's metrics map" */
  map: string;
  /** "Cilium counters" */
  missing: string;
  /** The line logged while the map was never there. */
  neverThere: string;
}

export interface CiliumPinnedMapOptions<Reader> {
  path: string;
  /** The map's name, for errors. */
  name: string;
  words: PinnedMapWords;
  /** Why a map is not the layout this reader knows; undefined when it is. */
  layoutProblem: (info: MapInfo) => string | undefined;
  /** What reads an accepted map (buffers sized by its info), kept while the pin stays the same. */
  reader: (map: BpfMap, info: MapInfo) => Reader;
  /** More fields for the "reading" log line. */
  fields?: Record<string, unknown>;
  log: Logger;
}

/** The pin a map was opened from: bpffs gives every pinned object its own inode. */
interface PinIdentity {
  dev: number;
  ino: number;
}

type State<Reader> =
  { kind: 'absent' } | { kind: 'open'; pin: PinIdentity; map: BpfMap; reader: Reader } | { kind: 'refused'; pin: PinIdentity };

export class CiliumPinnedMap<Reader> {
  private state: State<Reader> = { kind: 'absent' };
  private saidAbsent = false;

  constructor(private readonly opts: CiliumPinnedMapOptions<Reader>) {}

  /** The reader of the map pinned now; undefined while there is none or it is refused. */
  current(): Reader | undefined {
    const pin = this.pinIdentity();
    if (pin === undefined) {
      this.becomeAbsent();
      return undefined;
    }
    if (this.state.kind === 'absent' || !samePin(this.state.pin, pin)) this.open(pin);
    return this.state.kind === 'open' ? this.state.reader : undefined;
  }

  /** Closes the map's fd (the map itself stays, it is Cilium's). */
  close(): void {
    if (this.state.kind === 'open') this.state.map.close();
    this.state = { kind: 'absent' };
  }

  private open(pin: PinIdentity): void {
    const { path, name, words, log } = this.opts;
    const wasOpen = this.state.kind === 'open';
    this.close();
    let map: BpfMap;
    try {
      map = BpfMap.fromPinReadOnly(path, name);
    } catch (err) {
      // Unpinned between stat() and open: absent, look again next poll.
      if (err instanceof BpfError && err.errno === ENOENT) return;
      throw err;
    }
    const info = map.info();
    const problem = this.opts.layoutProblem(info);
    if (problem !== undefined) {
      map.close();
      this.state = { kind: 'refused', pin };
      log.warn(
        { path, mapId: info.id, type: info.type, keySize: info.keySize, valueSize: info.valueSize },
        `not reading ${words.map}: ${problem}; ${words.missing} are disabled until the map is re-created, the rest of the agent goes on`,
      );
      return;
    }
    this.state = { kind: 'open', pin, map, reader: this.opts.reader(map, info) };
    this.saidAbsent = false;
    log.info(
      { path, mapId: info.id, ...this.opts.fields },
      wasOpen ? `${words.map} was re-created: reading the new one` : `reading ${words.map} (read-only)`,
    );
  }

  private becomeAbsent(): void {
    const wasOpen = this.state.kind === 'open';
    this.close();
    if (this.saidAbsent) return;
    this.saidAbsent = true;
    const { path, words } = this.opts;
    this.opts.log.info({ path }, wasOpen ? `${words.map} is gone (unpinned): no ${words.missing} until it is back` : words.neverThere);
  }

  private pinIdentity(): PinIdentity | undefined {
    let st: Stats | undefined;
    try {
      st = statSync(this.opts.path, { throwIfNoEntry: false });
    } catch (err) {
      // A missing directory on the way (ENOTDIR) is as absent as a missing pin.
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw err;
    }
    return st === undefined ? undefined : { dev: st.dev, ino: st.ino };
  }
}

function samePin(a: PinIdentity, b: PinIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}
