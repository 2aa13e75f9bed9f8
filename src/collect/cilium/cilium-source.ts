// Source "cilium": Cilium's own datapath counters, read from the map Cilium
// pins (cilium_metrics). The map is Cilium's: it is only ever opened
// read-only and read, never created, written, pinned or unpinned.
//
// Cilium may start after the agent, restart, or re-create its map, so each
// poll first stat()s the pin (no syscall into BPF): absent -> no rows; a new
// pin (another inode) -> the old fd is dropped and the new map opened and
// checked. A map whose layout is not Cilium's known one is refused with one
// warning and never decoded; the rest of the agent goes on.
import { constants } from 'node:os';
import { type Stats, statSync } from 'node:fs';
import { BpfError } from '../../bpf/errors.js';
import { BatchRead, BpfMap, type MapInfo, perCpuStride } from '../../bpf/map.js';
import type { Logger } from '../../log/logger.js';
import { PerCpuCells } from '../counters.js';
import type { CounterSource } from '../rows.js';
import { type CiliumRow, ciliumRow } from './cilium-row.js';
import { CILIUM_METRICS_KEY_SIZE, CILIUM_METRICS_MAP_TYPE, CILIUM_METRICS_VALUE_SIZE, decodeCiliumMetricsKey } from './metrics-key.js';
import type { CiliumRelease } from './source-files.js';

/** Where Cilium pins its metrics map. */

const { ENOENT } = constants.errno;

export interface CiliumMetricsSourceOptions {
  /** The pinned map, normally CILIUM_METRICS_PIN. */
  path: string;
  /** Which Cilium runs: names its file ids. */
  release: CiliumRelease;
  /** libbpf_num_possible_cpus(). */
  cpus: number;
  log: Logger;
}

/** The pin a map was opened from: bpffs gives every pinned object its own inode. */
interface PinIdentity {
  dev: number;
  ino: number;
}

type State = { kind: 'absent' } | { kind: 'open'; pin: PinIdentity; map: BpfMap; batch: BatchRead } | { kind: 'refused'; pin: PinIdentity };

export class CiliumMetricsSource implements CounterSource {
  readonly name = 'cilium';
  private state: State = { kind: 'absent' };
  private saidAbsent = false;

  constructor(private readonly opts: CiliumMetricsSourceOptions) {}

  read(): CiliumRow[] {
    const pin = this.pinIdentity();
    if (pin === undefined) {
      this.becomeAbsent();
      return [];
    }
    if (this.state.kind === 'absent' || !samePin(this.state.pin, pin)) this.open(pin);
    return this.state.kind === 'open' ? this.readMap(this.state.batch) : [];
  }

  /** Closes the map's fd (the map itself stays, it is Cilium's). */
  close(): void {
    if (this.state.kind === 'open') this.state.map.close();
    this.state = { kind: 'absent' };
  }

  private readMap(batch: BatchRead): CiliumRow[] {
    const { cpus, release } = this.opts;
    const count = batch.read();
    const { keys, values } = batch;
    const cells = new PerCpuCells(values, CILIUM_METRICS_VALUE_SIZE, cpus);
    const rows: CiliumRow[] = [];
    for (let i = 0; i < count; i++) {
      const key = decodeCiliumMetricsKey(keys, i * CILIUM_METRICS_KEY_SIZE);
      rows.push(ciliumRow(key, cells.counter(i), release));
    }
    return rows;
  }

  private open(pin: PinIdentity): void {
    const { path, log } = this.opts;
    const wasOpen = this.state.kind === 'open';
    this.close();
    let map: BpfMap;
    try {
      map = BpfMap.fromPinReadOnly(path, 'cilium_metrics');
    } catch (err) {
      // Unpinned between stat() and open: absent, look again next poll.
      if (err instanceof BpfError && err.errno === ENOENT) return;
      throw err;
    }
    const info = map.info();
    const problem = layoutProblem(info);
    if (problem !== undefined) {
      map.close();
      this.state = { kind: 'refused', pin };
      log.warn(
        { path, mapId: info.id, type: info.type, keySize: info.keySize, valueSize: info.valueSize },
        `not reading Cilium's metrics map: ${problem}; Cilium counters are disabled until the map is re-created, the rest of the agent goes on`,
      );
      return;
    }
    const batch = new BatchRead(map, CILIUM_METRICS_KEY_SIZE, perCpuStride(CILIUM_METRICS_VALUE_SIZE, this.opts.cpus), info.maxEntries);
    this.state = { kind: 'open', pin, map, batch };
    this.saidAbsent = false;
    log.info(
      { path, mapId: info.id, release: this.opts.release },
      wasOpen ? "Cilium's metrics map was re-created: reading the new one" : "reading Cilium's metrics map (read-only)",
    );
  }

  private becomeAbsent(): void {
    const wasOpen = this.state.kind === 'open';
    this.close();
    if (this.saidAbsent) return;
    this.saidAbsent = true;
    this.opts.log.info(
      { path: this.opts.path },
      wasOpen
        ? "Cilium's metrics map is gone (unpinned): no Cilium counters until it is back"
        : 'no Cilium metrics map (Cilium not running on this node?): no Cilium counters until it appears',
    );
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

/** Why a map is not Cilium's metrics map as this reader knows it; undefined when it is. */
function layoutProblem(info: MapInfo): string | undefined {
  if (info.type !== CILIUM_METRICS_MAP_TYPE) return `map type ${info.type}, expected ${CILIUM_METRICS_MAP_TYPE} (per-CPU hash)`;
  if (info.keySize !== CILIUM_METRICS_KEY_SIZE || info.valueSize !== CILIUM_METRICS_VALUE_SIZE) {
    return `key ${info.keySize} B / value ${info.valueSize} B, expected key ${CILIUM_METRICS_KEY_SIZE} B / value ${CILIUM_METRICS_VALUE_SIZE} B (an unknown Cilium layout)`;
  }
  return undefined;
}
