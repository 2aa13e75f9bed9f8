// --max-series for the node's loss families, as for the datapath ones: at
// most N label sets per family; those published before keep their places,
// new ones get one while there is room, the rest are summed into the
// family's one overflow series (its first label "overflow", the others "").
// A folded label set stays folded while it exists, so no series jumps out
// of the overflow. A counter's overflow stays monotonic: what a folded
// series had counted is carried when it goes (an interface deleted) or
// goes down (a device re-created under the same name).
import type { NodeFamily, NodeSample } from '../collect/node/node-samples.js';
import type { Logger } from '../log/logger.js';
import { SERIES_OVERFLOW } from './series-options.js';

interface FamilyState {
  /** The samples published at the last apply (their label sets hold their places). */
  published: readonly NodeSample[];
  /** Folded label sets and their last values. */
  folded: Map<string, number>;
  /** What folded series that went away (or reset) had counted (a counter's; a level carries nothing). */
  carried: number;
}

const idOf = (s: NodeSample) => JSON.stringify(s.labels);

export class NodeSeriesCap {
  private readonly families = new Map<NodeFamily, FamilyState>();
  private warned = false;

  constructor(
    private readonly maxSeries: number,
    private readonly log?: Logger,
  ) {}

  /** Label sets folded at the last apply, by family name. */
  get folded(): Readonly<Record<string, number>> {
    return Object.fromEntries([...this.families].map(([f, s]) => [f.name, s.folded.size]));
  }

  /** One poll's samples, capped. */
  apply(samples: readonly NodeSample[]): NodeSample[] {
    const byFamily = new Map<NodeFamily, NodeSample[]>();
    for (const s of samples) {
      const list = byFamily.get(s.family);
      if (list) list.push(s);
      else byFamily.set(s.family, [s]);
    }
    const out: NodeSample[] = [];
    for (const family of [...this.families.keys()]) if (!byFamily.has(family)) this.families.delete(family); // the family is gone
    for (const [family, list] of byFamily) {
      let state = this.families.get(family);
      if (!state) this.families.set(family, (state = { published: [], folded: new Map(), carried: 0 }));
      out.push(...this.capFamily(family, list, state));
    }
    this.warnOnce();
    return out;
  }

  private capFamily(family: NodeFamily, list: readonly NodeSample[], state: FamilyState): NodeSample[] {
    // Every poll, far below the cap: all are published, nothing to fold or carry (no label set made into a key).
    if (list.length <= this.maxSeries && state.folded.size === 0 && state.carried === 0) {
      state.published = list;
      return [...list];
    }
    const published = new Set(state.published.map(idOf));
    const present = new Set(list.map(idOf));
    let used = 0;
    for (const id of published) if (present.has(id)) used++;
    const kept: NodeSample[] = [];
    const folded = new Map<string, number>();
    let overflow = 0;
    for (const s of list) {
      const id = idOf(s);
      if (published.has(id) || (!state.folded.has(id) && used < this.maxSeries)) {
        if (!published.has(id)) used++;
        kept.push(s);
        continue;
      }
      const last = state.folded.get(id);
      if (family.type === 'counter' && last !== undefined && s.value < last) state.carried += last; // reset: keep what it had
      folded.set(id, s.value);
      overflow += s.value;
    }
    if (family.type === 'counter') {
      for (const [id, last] of state.folded) if (!present.has(id)) state.carried += last;
    }
    state.published = [...kept]; // before the overflow series joins kept: it holds no place
    state.folded = folded;
    if (folded.size === 0 && state.carried === 0) return kept;
    const keys = Object.keys(list[0]?.labels ?? {}); // every sample of a family has the same label names
    const labels = Object.fromEntries(keys.map((k, i) => [k, i === 0 ? SERIES_OVERFLOW : '']));
    kept.push({ family, labels, value: overflow + state.carried });
    return kept;
  }

  private warnOnce(): void {
    const folded = this.folded;
    const any = Object.values(folded).some((n) => n > 0);
    if (any && !this.warned) {
      this.warned = true;
      this.log?.warn(
        { maxSeries: this.maxSeries, folded },
        `more node loss series than --max-series: new ones are summed into each family's "${SERIES_OVERFLOW}" series (see datapath_exporter_folded_label_sets)`,
      );
    } else if (!any) {
      this.warned = false;
    }
  }
}
