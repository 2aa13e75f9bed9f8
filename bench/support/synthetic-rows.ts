// Synthetic rows for the scrape benchmarks (4: bench/scrape.ts, 6:
// bench/scrape-secure.ts): the series a busy node exports, with pod labels.
import { ENDPOINT_UNATTRIBUTED, type EndpointSlot } from '../../src/bpf/contract.js';
import type { DatapathRow } from '../../src/collect/rows.js';
import type { PodLabelResolver, PodLabels } from '../../src/k8s/pod-labels.js';

// Rows as a busy node would have them: per pod, forwarded traffic in both
// directions and two kinds of kernel drops; 4 rows -> 8 series per pod.
const NAMESPACES = Array.from({ length: 20 }, (_, i) => `team-${i}-prod`);
const DROPS = [
  { reason: 'NO_SOCKET', direction: 'ingress' as const, location: '__udp4_lib_rcv' },
  { reason: 'NETFILTER_DROP', direction: 'egress' as const, location: 'nf_hook_slow' },
];

export function syntheticRows(series: number): { rows: DatapathRow[]; pods: PodLabelResolver } {
  const podCount = Math.ceil(series / 8);
  const labels = new Map<number, PodLabels>();
  const rows: DatapathRow[] = [];
  for (let i = 0; i < podCount; i++) {
    const slot = i >= ENDPOINT_UNATTRIBUTED ? i + 1 : i; // the unattributed slot means "no pod"
    labels.set(slot, {
      namespace: NAMESPACES[i % NAMESPACES.length] ?? '',
      pod: `checkout-api-7d9f8c6b5-${i.toString(36).padStart(5, 'x')}`,
      workload: 'checkout-api',
      workloadKind: 'Deployment',
      uid: `uid-${i}`,
    });
    for (const direction of ['ingress', 'egress'] as const) {
      rows.push({
        kind: 'forward',
        source: 'tc',
        reason: '',
        direction,
        site: { file: 'forward.bpf.c', line: direction === 'ingress' ? 76 : 69 },
        location: `forward.bpf.c:${direction === 'ingress' ? 76 : 69}`,
        endpoint: slot as EndpointSlot,
        packets: BigInt(1_000_000 + i),
        bytes: BigInt(1_500_000_000 + i),
      });
    }
    for (const d of DROPS) {
      rows.push({
        kind: 'drop',
        source: 'kernel',
        reason: d.reason,
        direction: d.direction,
        site: { file: d.location, line: 0x1a4 },
        location: d.location,
        endpoint: slot as EndpointSlot,
        packets: BigInt(100 + i),
        bytes: BigInt(12_800 + i),
      });
    }
  }
  return { rows, pods: { labelsOf: (slot) => labels.get(slot), labelsOfAddress: () => undefined } };
}
