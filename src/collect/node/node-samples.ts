// What the node's own loss counters hand on: samples of metric families the
// kernel keeps outside the drop tracepoint (interfaces, softnet, conntrack,
// qdiscs), already named and labelled. One poll's samples are a snapshot that
// both doors publish; a series (an interface) gone from it is gone.

/** counter: a kernel total, published as a cumulative monotonic sum; gauge: a level. */
export type NodeMetricType = 'counter' | 'gauge';

export interface NodeFamily {
  /** Without `_total`: the Prometheus door adds it to a counter. */
  readonly name: string;
  readonly help: string;
  readonly type: NodeMetricType;
  /** UCUM unit for the OTLP door ('{packet}', '{entry}', '1'). */
  readonly unit: string;
}

export interface NodeSample {
  readonly family: NodeFamily;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** A source of node samples, read once per poll (a failed read keeps its last samples). */
export interface NodeSource {
  readonly name: string;
  /** Every family it can publish (the README table lists them). */
  readonly families: readonly NodeFamily[];
  read(): NodeSample[];
}
