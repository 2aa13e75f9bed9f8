// The layout of Cilium's endpoint map (cilium_lxc, pinned by Cilium at
// /sys/fs/bpf/tc/globals/cilium_lxc): a hash of every local endpoint's
// address to the endpoint, 65535 entries. Facts from Cilium's
// bpf/lib/common.h and later bpf/lib/eps.h (struct endpoint_key, struct
// endpoint_info, ENDPOINT_F_*) and pkg/maps/lxcmap/lxcmap.go.
//
//   key, 20 bytes (packed)               value, 20 + 28 = 48 bytes
//   0  16 B address: IPv4 in bytes 0-3   0  u32 ifindex  host side of the endpoint's
//          (network order, 4-15 zero),                   interface (the lxc veth)
//          or IPv6                       4  u16 unused
//   16 u8  family 1 IPv4, 2 IPv6         6  u16 lxc_id   Cilium's endpoint id
//          (ENDPOINT_KEY_IPV4/6)         8  u32 flags    ENDPOINT_F_*
//   17 u8  key (encryption; 0)           12 4 B padding  (mac_t is a u64)
//   18 u16 cluster_id  } older releases: 16 u64 mac, 24 u64 node_mac
//                      } u8 cluster_id   32 u32 sec_id
//                      } + u8 pad, the   36 u32 parent_ifindex (later
//                      } same bytes         releases; before: pad)
//                                        40 pad to 48
//
// Every layout seen keeps the sizes and the offsets of the fields read here
// (address, family, ifindex, flags), so one decoder reads them all; a map of
// other sizes is refused (endpoint-map.ts).
//
// Entries that are not a pod's veth: Cilium writes the node's own addresses
// (cilium_host's router IP among them) as host entries, flags
// ENDPOINT_F_HOST and ifindex 0 (lxcmap AddHostEntry), and endpoints that
// live in the host's network namespace carry ENDPOINT_F_ATHOSTNS: neither
// has a veth of its own, and neither may name an interface.
import { addressText } from '../../os/address-text.js';

export const CILIUM_ENDPOINTS_PIN = '/sys/fs/bpf/tc/globals/cilium_lxc';
export const CILIUM_ENDPOINTS_MAP_TYPE = 1; // BPF_MAP_TYPE_HASH
export const CILIUM_ENDPOINT_KEY_SIZE = 20;
export const CILIUM_ENDPOINT_VALUE_SIZE = 48;

const ENDPOINT_KEY_IPV4 = 1;
const ENDPOINT_KEY_IPV6 = 2;
export const ENDPOINT_F_HOST = 1;
export const ENDPOINT_F_ATHOSTNS = 2;
const NOT_A_POD = ENDPOINT_F_HOST | ENDPOINT_F_ATHOSTNS;

export interface CiliumEndpoint {
  /** As the netlink dumps write addresses (address-text.ts). */
  address: string;
  ifindex: number;
  flags: number;
  /** Cilium's endpoint id. */
  lxcId: number;
}

/** One entry from its key and value bytes; undefined for a family that is neither IPv4 nor IPv6. */
export function decodeCiliumEndpoint(keys: Buffer, keyOffset: number, values: Buffer, valueOffset: number): CiliumEndpoint | undefined {
  const family = keys.readUInt8(keyOffset + 16);
  const length = family === ENDPOINT_KEY_IPV4 ? 4 : family === ENDPOINT_KEY_IPV6 ? 16 : 0;
  const address = length === 0 ? undefined : addressText(keys, keyOffset, length);
  if (address === undefined) return undefined;
  return {
    address,
    ifindex: values.readUInt32LE(valueOffset),
    flags: values.readUInt32LE(valueOffset + 8),
    lxcId: values.readUInt16LE(valueOffset + 6),
  };
}

/** The interface an entry puts its address behind: a pod endpoint's veth; undefined for host entries. */
export function podInterfaceOf(endpoint: CiliumEndpoint): number | undefined {
  if ((endpoint.flags & NOT_A_POD) !== 0 || endpoint.ifindex === 0) return undefined;
  return endpoint.ifindex;
}
