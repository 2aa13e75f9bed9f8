// Source "cilium": Cilium's own datapath counters, read from the map Cilium
// pins (cilium_metrics). The map is Cilium's: it is only ever opened
// read-only and read (see pinned-map.ts: absent, re-pinned and refused maps).
import { BatchRead, type MapInfo, perCpuStride } from '../../bpf/map.js';
import type { Logger } from '../../log/logger.js';
import { PerCpuCells } from '../counters.js';
import type { CounterSource } from '../rows.js';
import { type CiliumRow, ciliumRow } from './cilium-row.js';
import { CILIUM_METRICS_KEY_SIZE, CILIUM_METRICS_MAP_TYPE, CILIUM_METRICS_VALUE_SIZE, decodeCiliumMetricsKey } from './metrics-key.js';
import { CiliumPinnedMap } from './pinned-map.js';
import type { CiliumRelease } from './source-files.js';

export interface CiliumMetricsSourceOptions {
  /** The pinned map, normally CILIUM_METRICS_PIN. */
  path: string;
  /** Which Cilium runs: names its file ids. */
  release: CiliumRelease;
  /** libbpf_num_possible_cpus(). */
  cpus: number;
  log: Logger;
}

export class CiliumMetricsSource implements CounterSource {
  readonly name = 'cilium';
  private readonly pinned: CiliumPinnedMap<BatchRead>;

  constructor(private readonly opts: CiliumMetricsSourceOptions) {
    this.pinned = new CiliumPinnedMap({
      path: opts.path,
      name: 'cilium_metrics',
      words: {
        map: "Cilium's metrics map",
        missing: 'Cilium counters',
        neverThere: 'no Cilium metrics map (Cilium not running on this node?): no Cilium counters until it appears',
      },
      layoutProblem,
      reader: (map, info) =>
        new BatchRead(map, CILIUM_METRICS_KEY_SIZE, perCpuStride(CILIUM_METRICS_VALUE_SIZE, opts.cpus), info.maxEntries),
      fields: { release: opts.release },
      log: opts.log,
    });
  }

  read(): CiliumRow[] {
    const batch = this.pinned.current();
    return batch ? this.readMap(batch) : [];
  }

  /** Closes the map's fd (the map itself stays, it is Cilium's). */
  close(): void {
    this.pinned.close();
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
}

/** Why a map is not Cilium's metrics map as this reader knows it; undefined when it is. */
function layoutProblem(info: MapInfo): string | undefined {
  if (info.type !== CILIUM_METRICS_MAP_TYPE) return `map type ${info.type}, expected ${CILIUM_METRICS_MAP_TYPE} (per-CPU hash)`;
  if (info.keySize !== CILIUM_METRICS_KEY_SIZE || info.valueSize !== CILIUM_METRICS_VALUE_SIZE) {
    return `key ${info.keySize} B / value ${info.valueSize} B, expected key ${CILIUM_METRICS_KEY_SIZE} B / value ${CILIUM_METRICS_VALUE_SIZE} B (an unknown Cilium layout)`;
  }
  return undefined;
}
