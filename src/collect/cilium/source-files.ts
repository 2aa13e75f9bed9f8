// Cilium's BPF source file ids (the `file` byte of a cilium_metrics key):
// __MAGIC_FILE__ in Cilium's BPF code, named by pkg/monitor/api/files.go.
// Ids of the .c files are stable; header ids were renumbered between
// releases, so there is one table per release and the user says which
// Cilium runs (the metrics map carries no version). Keys carry file ids
// since Cilium 1.16; earlier releases store 0, which no table names.

/** Where Cilium pins its metrics map. */
export const CILIUM_METRICS_PIN = '/sys/fs/bpf/tc/globals/cilium_metrics';

export const CILIUM_RELEASES = ['1.16', '1.17', '1.18'] as const;
export type CiliumRelease = (typeof CILIUM_RELEASES)[number];
/** The newest release known here; its table also fits later main branches seen. */
export const DEFAULT_CILIUM_RELEASE: CiliumRelease = '1.18';

export function isCiliumRelease(value: string): value is CiliumRelease {
  return (CILIUM_RELEASES as readonly string[]).includes(value);
}

const SOURCES_1_16: ReadonlyArray<[number, string]> = [
  [1, 'bpf_host.c'],
  [2, 'bpf_lxc.c'],
  [3, 'bpf_overlay.c'],
  [4, 'bpf_xdp.c'],
  [5, 'bpf_sock.c'],
  [6, 'bpf_network.c'],
];
const SOURCES_1_17: ReadonlyArray<[number, string]> = [...SOURCES_1_16, [7, 'bpf_wireguard.c']];

const HEADERS_1_16: ReadonlyArray<[number, string]> = [
  [101, 'arp.h'],
  [102, 'drop.h'],
  [103, 'srv6.h'],
  [104, 'icmp6.h'],
  [105, 'nodeport.h'],
  [106, 'lb.h'],
  [107, 'mcast.h'],
  [108, 'ipv4.h'],
  [109, 'conntrack.h'],
  [110, 'l3.h'],
  [111, 'trace.h'],
  [112, 'encap.h'],
  [113, 'encrypt.h'],
];
const HEADERS_1_17: ReadonlyArray<[number, string]> = [...HEADERS_1_16, [114, 'host_firewall.h'], [115, 'nodeport_egress.h']];
// 1.18 dropped arp.h from the list and renumbered every header.
const HEADERS_1_18: ReadonlyArray<[number, string]> = [
  [101, 'drop.h'],
  [102, 'srv6.h'],
  [103, 'icmp6.h'],
  [104, 'nodeport.h'],
  [105, 'lb.h'],
  [106, 'mcast.h'],
  [107, 'ipv4.h'],
  [108, 'conntrack.h'],
  [109, 'local_delivery.h'],
  [110, 'trace.h'],
  [111, 'encap.h'],
  [112, 'host_firewall.h'],
  [113, 'nodeport_egress.h'],
  [114, 'ipv6.h'],
  [115, 'classifiers.h'],
];

const TABLES: Readonly<Record<CiliumRelease, ReadonlyMap<number, string>>> = {
  '1.16': new Map([...SOURCES_1_16, ...HEADERS_1_16]),
  '1.17': new Map([...SOURCES_1_17, ...HEADERS_1_17]),
  '1.18': new Map([...SOURCES_1_17, ...HEADERS_1_18]),
};

/** The file a Cilium release numbered `id` ("bpf_lxc.c"), or "unknown(ID)" as Cilium prints it. */
export function ciliumFileName(release: CiliumRelease, id: number): string {
  return TABLES[release].get(id) ?? `unknown(${id})`;
}
