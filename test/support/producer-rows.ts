// What the unit tests of the producer feed it: rows as a poll hands them over
// (kind, source, direction, site, endpoint slot, counts), and a slot -> pod
// table that the tests change between polls as the pod watch changes
// EndpointSlots.
import type { EndpointSlot } from '../../src/bpf/contract.js';
import type { DatapathRow } from '../../src/collect/rows.js';
import type { PodLabelResolver, PodLabels } from '../../src/k8s/pod-labels.js';

export class Pods implements PodLabelResolver {
  readonly bySlot = new Map<number, PodLabels>();
  labelsOf(slot: EndpointSlot): PodLabels | undefined {
    return this.bySlot.get(slot);
  }
  labelsOfAddress(): PodLabels | undefined {
    return undefined;
  }
}

/** A tc forward row of `packets` (100 bytes each) in one direction of one slot. */
export function forwardRow(slot: number, packets: number, direction: 'ingress' | 'egress' = 'ingress'): DatapathRow {
  return {
    kind: 'forward',
    source: 'tc',
    reason: '',
    direction,
    site: { file: 'forward.bpf.c', line: 1 },
    location: 'forward.bpf.c:1',
    endpoint: slot as EndpointSlot,
    packets: BigInt(packets),
    bytes: BigInt(packets * 100),
  };
}
