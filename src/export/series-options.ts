// The choices of what the datapath series carry (--granularity) and how many
// there may be (--max-series): constants only, so the command line can name
// them without loading the OTel SDK.

/**
 * What per-pod series carry: `pod` (namespace, pod and its workload),
 * `workload` (one series per workload: the sum of its pods), `namespace`, or
 * `node` (no pod labels at all).
 */
export const GRANULARITIES = ['pod', 'workload', 'namespace', 'node'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

/** Label sets per datapath metric by default: above the ~24.6k series of a node at the maximum. */
export const DEFAULT_MAX_SERIES = 50_000;

/** The label value of the series that label sets past the cap fold into (`source` of a datapath metric; a node family's first label). */
export const SERIES_OVERFLOW = 'overflow';
