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
  /** Its series can be a pod's (see NodeSample.podAddresses): every one carries the pod labels, "" where none. */
  readonly perPod?: boolean;
}

export interface NodeSample {
  readonly family: NodeFamily;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  /**
   * The addresses of the pod this sample is about (a pod's veth: the
   * addresses behind it), for the export to name the pod; undefined for a
   * sample of no pod. Families with it carry pod labels on every series.
   */
  readonly podAddresses?: readonly string[];
}

/** A source of node samples, read once per poll (a failed read keeps its last samples). */
export interface NodeSource {
  readonly name: string;
  /** Every family it can publish (the README table lists them). */
  readonly families: readonly NodeFamily[];
  read(): NodeSample[];
}
