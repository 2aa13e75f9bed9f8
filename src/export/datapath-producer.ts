// The datapath counters as an OTel MetricProducer: each collection publishes
// the series of the last poll's rows, so a series the agent stops reporting
// (a deleted pod's, after its grace period) is gone from the next scrape —
// which observable instruments, remembering every label set, cannot do.
// Values are the kernel's cumulative totals (monotonic sums), so rate() works
// and a restart with pinned maps shows no reset; what a slot under a series'
// labels had counted before it was released or zeroed is carried, so a pod
// recreated under the same name does not read as a reset either, and a
// workload's or namespace's sum keeps what its deleted pods had counted.
// Series past --max-series fold into one overflow series per metric.
import { type Attributes, type HrTime, ValueType } from '@opentelemetry/api';
import { hrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  type CollectionResult,
  type DataPoint,
  DataPointType,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { DatapathRow, RowKind } from '../collect/rows.js';
import type { NodeSample } from '../collect/node/node-samples.js';
import { nodeMetrics } from './node-metrics.js';
import { NodeSeriesCap } from './node-series-cap.js';
import { ENDPOINT_UNATTRIBUTED, type EndpointSlot } from '../bpf/contract.js';
import type { Logger } from '../log/logger.js';
import { NO_POD_LABELS, type PodLabelResolver, type PodLabels } from '../k8s/pod-labels.js';
import { addPodAttributes, coarsen, type Naming, PROMETHEUS_NAMING } from './pod-naming.js';
import { DEFAULT_MAX_SERIES, type Granularity, SERIES_OVERFLOW } from './series-options.js';

const NO_POD = NO_POD_LABELS;

export interface ProducerOptions {
  granularity: Granularity;
  /** Label sets per metric; past it, new ones fold into the overflow series. */
  maxSeries: number;
  /**
   * How long a series that names no pod (a workload's, a namespace's, the
   * node's) stays published with its last total once it has no rows: a
   * rollout that replaces every pod, whose new pods have not counted yet,
   * must not read as a reset. Default 5 minutes (Prometheus' staleness).
   */
  lingerMs?: number;
  log?: Logger;
}

const DEFAULT_LINGER_MS = 5 * 60_000;

/** otlpUnit: the family's UCUM unit where a door names units and the count is not of packets or bytes. */
const FAMILIES: ReadonlyArray<{ kind: RowKind; unit: 'packets' | 'bytes'; name: string; help: string; otlpUnit?: string }> = [
  {
    kind: 'drop',
    unit: 'packets',
    name: 'datapath_drop_packets',
    help: 'Packets dropped, by source, reason, direction, location and pod.',
  },
  {
    kind: 'drop',
    unit: 'bytes',
    name: 'datapath_drop_bytes',
    help: 'Bytes (IP packet size) dropped, by source, reason, direction, location and pod.',
  },
  {
    kind: 'forward',
    unit: 'packets',
    name: 'datapath_forward_packets',
    help: 'Packets forwarded to or from a pod, by source, direction, location and pod.',
  },
  {
    kind: 'forward',
    unit: 'bytes',
    name: 'datapath_forward_bytes',
    help: 'Bytes (IP packet size) forwarded to or from a pod, by source, direction, location and pod.',
  },
  {
    kind: 'tcp_retransmit',
    unit: 'packets',
    name: 'datapath_tcp_retransmit_segments',
    help: 'TCP segments a pod retransmitted (tcp_retransmit_skb, tcp_retransmit_synack), by pod.',
    otlpUnit: '{segment}',
  },
  {
    kind: 'tcp_reset_sent',
    unit: 'packets',
    name: 'datapath_tcp_resets_sent',
    help: 'TCP resets a pod sent (tcp_send_reset), by pod.',
    otlpUnit: '{reset}',
  },
  {
    kind: 'tcp_reset_received',
    unit: 'packets',
    name: 'datapath_tcp_resets_received',
    help: 'TCP resets a pod received (tcp_receive_reset), by pod.',
    otlpUnit: '{reset}',
  },
];

/** The TCP kinds: counts of a pod's sockets, with no direction or location. */
const TCP_KINDS: ReadonlySet<RowKind> = new Set(['tcp_retransmit', 'tcp_reset_sent', 'tcp_reset_received']);

/** A record with one value per kind of row. */
function perKind<T>(make: () => T): Record<RowKind, T> {
  return Object.fromEntries(FAMILIES.map((f) => [f.kind, make()])) as Record<RowKind, T>;
}

/**
 * Totals as doubles: exact below 2^53 (9 PB of bytes), which is what every
 * door publishes anyway, and no allocation per addition (a poll sums 24k
 * rows; BigInt sums were most of its garbage under --optimize-for-size).
 */
interface Counts {
  packets: number;
  bytes: number;
}

/** One output series of a kind, under labels before any door renames them. */
interface Series extends Counts {
  source: string;
  reason: string;
  direction: string;
  location: string;
  /** NO_POD itself for traffic of no pod (OTLP leaves its pod attributes out). */
  pod: PodLabels;
}

/**
 * One slot's part of a series (rows of no pod share NO_SLOT), while one pod
 * holds it: a slot released and given to another pod of the same series
 * between two builds (a workload's next pod) is another part, so the first
 * pod's counts are carried even when the second's have already passed them.
 */
interface SlotPart extends Counts {
  slot: number;
  /** The holding pod's uid ("" for no pod). */
  holder: string;
}

/**
 * What a series remembers between polls: each slot's last part (almost
 * always one: a list, not a map, keeps a poll of 24k series cheap) and what
 * vanished slots had counted.
 */
interface SeriesState {
  kind: RowKind;
  /** The series as last published (labels and value), for one that lingers without rows. */
  series: Series;
  parts: SlotPart[];
  carried: Counts;
  /** When the series last had rows (ms). */
  seenAt: number;
}

const ZERO: Counts = { packets: 0, bytes: 0 };

/** The slot key of rows of no pod (no endpoint, or unattributed). */
const NO_SLOT = -1;

const NO_FOLDS: Readonly<Record<RowKind, number>> = perKind(() => 0);

export class DatapathProducer implements MetricProducer {
  private series: Record<RowKind, Series[]> = perKind((): Series[] => []);
  private state = new Map<string, SeriesState>();
  /** Label sets folded into the overflow series: they stay folded while they exist (no series jumps out of it). */
  private folded = new Set<string>();
  private foldedCount: Record<RowKind, number> = { ...NO_FOLDS };
  private warnedFold = false;
  /** The last poll's rows, built into series at the first collect after it (once for every door). */
  private rows: readonly DatapathRow[] = [];
  private built = true;
  /** The last poll's node loss samples (interfaces, softnet, conntrack, qdiscs), capped, published beside the rows. */
  private nodeSamples: readonly NodeSample[] = [];
  private readonly nodeCap: NodeSeriesCap;
  private readonly startTime: HrTime = hrTime();

  constructor(
    private readonly resource: Resource,
    private pods: PodLabelResolver,
    private readonly opts: ProducerOptions = { granularity: 'pod', maxSeries: DEFAULT_MAX_SERIES },
  ) {
    this.nodeCap = new NodeSeriesCap(opts.maxSeries, opts.log);
  }

  /** Label sets folded into the overflow series at the last build, per kind of datapath metric and per node family. */
  get foldedLabelSets(): Readonly<Record<string, number>> {
    this.build();
    return { ...this.foldedCount, ...this.nodeCap.folded };
  }

  /**
   * Called after each poll with every row to publish. The rows are built into
   * series (and compensated) at the first collect after it, once for every
   * door and under door-independent labels, so both doors read the same
   * numbers however often they collect; not here: a poll comes every few
   * seconds, a scrape or an export less often, and building 24k series costs
   * more than the poll itself. The carry sees the slots as of each build: a
   * released slot's last counts are carried exactly as long as some door
   * collects within the deleted-pod grace period (60 s by default; a scrape
   * every 30 s does).
   */
  update(rows: readonly DatapathRow[], pods: PodLabelResolver = this.pods): void {
    this.rows = rows;
    this.pods = pods;
    this.built = false;
  }

  /** Called after each poll with the node's loss samples: every door publishes them, under --max-series (node-metrics.ts). */
  updateNode(samples: readonly NodeSample[]): void {
    this.nodeSamples = this.nodeCap.apply(samples);
  }

  private build(): void {
    if (this.built) return;
    this.built = true;
    const now = Date.now();
    const current = this.fold(this.aggregate(this.rows), now);
    const next = new Map<string, SeriesState>();
    const series: Record<RowKind, Series[]> = perKind((): Series[] => []);
    for (const [id, { kind, series: s, parts }] of current) {
      // A slot whose counts went away (released) or down (zeroed, reused)
      // would read as a reset: carry what it had counted. A series no longer
      // published is left out of `next`, forgotten with its carry (after
      // lingering, for one that names no pod: see lingerAfter).
      const prev = this.state.get(id);
      let carried = prev?.carried ?? ZERO;
      for (const last of prev?.parts ?? []) {
        const now = parts.find((p) => p.slot === last.slot && p.holder === last.holder);
        if (now === undefined || now.packets < last.packets || now.bytes < last.bytes) {
          carried = { packets: carried.packets + last.packets, bytes: carried.bytes + last.bytes };
        }
      }
      next.set(id, { kind, series: s, parts, carried, seenAt: now });
      if (carried !== ZERO) {
        s.packets += carried.packets;
        s.bytes += carried.bytes;
      }
      series[kind].push(s);
    }
    this.lingerAfter(next, series, now);
    this.state = next;
    this.series = series;
  }

  /**
   * A series that names no pod and has no rows now (every pod of a workload
   * replaced, the new ones not counted yet; slots zeroed after the grace)
   * keeps its last total, all of it carried, for lingerMs; then it goes.
   * A series of one pod goes at once: its pod is gone.
   */
  private lingerAfter(next: Map<string, SeriesState>, series: Record<RowKind, Series[]>, now: number): void {
    for (const [id, prev] of this.state) {
      if (next.has(id) || !this.lingers(prev, now)) continue;
      let carried = prev.carried;
      for (const part of prev.parts) carried = { packets: carried.packets + part.packets, bytes: carried.bytes + part.bytes };
      const s: Series = { ...prev.series, packets: carried.packets, bytes: carried.bytes };
      next.set(id, { kind: prev.kind, series: s, parts: [], carried, seenAt: prev.seenAt });
      series[prev.kind].push(s);
    }
  }

  /** A series that names no pod, seen within lingerMs, stays published without rows. */
  private lingers(prev: SeriesState, now: number): boolean {
    return prev.series.pod.pod === '' && now - prev.seenAt < (this.opts.lingerMs ?? DEFAULT_LINGER_MS);
  }

  /** The Prometheus door (the PrometheusExporter's metricProducers). */
  async collect(): Promise<CollectionResult> {
    return this.collectAs(PROMETHEUS_NAMING);
  }

  /** Another door onto the same rows, under its own names (the OTLP reader's). */
  as(naming: Naming): MetricProducer {
    return { collect: async () => this.collectAs(naming) };
  }

  private collectAs(naming: Naming): CollectionResult {
    this.build();
    const now = hrTime();
    const metrics: MetricData[] = FAMILIES.map((f) => ({
      descriptor: {
        name: f.name,
        description: f.help,
        unit: f.otlpUnit && naming.units[f.unit] !== '' ? f.otlpUnit : naming.units[f.unit],
        valueType: ValueType.DOUBLE,
      },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints: this.series[f.kind].map((s): DataPoint<number> => ({
        startTime: this.startTime,
        endTime: now,
        attributes: attributesOf(f.kind, s, naming),
        value: f.unit === 'packets' ? s.packets : s.bytes,
      })),
    }));
    const node = { naming, granularity: this.opts.granularity, pods: this.pods };
    metrics.push(...nodeMetrics(this.nodeSamples, node, this.startTime, now));
    return {
      resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: { name: 'datapath-exporter' }, metrics }] },
      errors: [],
    };
  }

  /**
   * Rows with the same labels are summed (e.g. two offsets in one function,
   * or the pods of one workload), keeping each slot's part apart for the
   * carry in build().
   */
  private aggregate(rows: readonly DatapathRow[]): Map<string, Aggregate> {
    const out = new Map<string, Aggregate>();
    for (const row of rows) {
      const noSlot = row.endpoint === undefined || row.endpoint === ENDPOINT_UNATTRIBUTED;
      const holder = noSlot ? NO_POD : this.pods.labelsOf(row.endpoint as EndpointSlot);
      // A slot with no known pod (restored before the first sync): its
      // counts stay in the kernel and are published once the pod is known.
      if (holder === undefined) continue;
      let pod = coarsen(holder, this.opts.granularity);
      // A restored slot no pod claimed is labelled "": the no-pod series (one
      // id for both doors, which Prometheus's "" labels would merge anyway).
      if (pod.namespace === '' && pod.pod === '') pod = NO_POD;
      const reason = row.kind === 'drop' ? row.reason : '';
      const podKey = pod === NO_POD ? '\u0001' : `${pod.namespace}\u0000${pod.pod}\u0000${pod.workload}\u0000${pod.workloadKind}`;
      const id = `${row.kind}\u0000${row.source}\u0000${reason}\u0000${row.direction}\u0000${row.location}\u0000${podKey}`;
      let agg = out.get(id);
      if (!agg) {
        const series: Series = { source: row.source, reason, direction: row.direction, location: row.location, pod, packets: 0, bytes: 0 };
        agg = { kind: row.kind, series, parts: [] };
        out.set(id, agg);
      }
      addPart(agg, noSlot ? NO_SLOT : (row.endpoint as number), holder.uid, Number(row.packets), Number(row.bytes));
    }
    return out;
  }

  /**
   * At most --max-series label sets per metric: those published at the last
   * build keep their series, new ones get one while there is room, the rest
   * are summed into the metric's overflow series (its own id, so the
   * compensation keeps it monotonic as they come and go). A folded label set
   * stays folded while it exists, so no series jumps out of the overflow.
   */
  private fold(current: Map<string, Aggregate>, now: number): Map<string, Aggregate> {
    const { maxSeries } = this.opts;
    const used: Record<RowKind, number> = perKind(() => 0);
    // Series published last time hold their places: those with rows now, and those that linger.
    for (const [id, prev] of this.state) {
      if (prev.series.source !== SERIES_OVERFLOW && (current.has(id) || this.lingers(prev, now))) used[prev.kind]++;
    }
    const folded = new Set<string>();
    const out = new Map<string, Aggregate>();
    for (const [id, agg] of current) {
      const published = this.state.has(id);
      if (published || (!this.folded.has(id) && used[agg.kind] < maxSeries)) {
        if (!published) used[agg.kind]++;
        out.set(id, agg);
        continue;
      }
      folded.add(id);
      const overflowId = `${agg.kind}\u0000${SERIES_OVERFLOW}`;
      let overflow = out.get(overflowId);
      if (!overflow) {
        const series: Series = { source: SERIES_OVERFLOW, reason: '', direction: '', location: '', pod: NO_POD, packets: 0, bytes: 0 };
        overflow = { kind: agg.kind, series, parts: [] };
        out.set(overflowId, overflow);
      }
      for (const part of agg.parts) addPart(overflow, part.slot, part.holder, part.packets, part.bytes);
    }
    this.noteFolds(folded);
    return out;
  }

  private noteFolds(folded: Set<string>): void {
    this.folded = folded;
    const count: Record<RowKind, number> = perKind(() => 0);
    for (const id of folded) count[id.slice(0, id.indexOf('\u0000')) as RowKind]++;
    this.foldedCount = count;
    if (folded.size > 0 && !this.warnedFold) {
      this.warnedFold = true;
      this.opts.log?.warn(
        { maxSeries: this.opts.maxSeries, folded: count },
        `more label sets than --max-series: new ones are counted in the source="${SERIES_OVERFLOW}" series (see datapath_exporter_folded_label_sets)`,
      );
    } else if (folded.size === 0) {
      this.warnedFold = false;
    }
  }
}

interface Aggregate {
  kind: RowKind;
  series: Series;
  parts: SlotPart[];
}

function addPart(agg: Aggregate, slot: number, holder: string, packets: number, bytes: number): void {
  agg.series.packets += packets;
  agg.series.bytes += bytes;
  const part = agg.parts.find((p) => p.slot === slot && p.holder === holder);
  if (part) {
    part.packets += packets;
    part.bytes += bytes;
  } else {
    agg.parts.push({ slot, holder, packets, bytes });
  }
}

/** A series' attributes under one door's names. */
function attributesOf(kind: RowKind, s: Series, naming: Naming): Attributes {
  const attributes: Record<string, string> = { source: s.source };
  if (kind === 'drop') attributes.reason = s.reason;
  if (!TCP_KINDS.has(kind)) {
    attributes.direction = s.direction;
    attributes.location = s.location;
  }
  return addPodAttributes(attributes, s.pod, naming);
}
