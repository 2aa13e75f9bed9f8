/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The few kernel types the programs touch, declared by hand with
 * preserve_access_index: libbpf relocates every field access against the
 * running kernel's BTF (CO-RE), so these need only name the fields used, not
 * match any kernel's layout. This replaces a multi-megabyte vmlinux.h and
 * keeps the build independent of the build machine's kernel.
 */
#ifndef DATAPATH_KERNEL_H
#define DATAPATH_KERNEL_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
#define true 1
#define false 0

/* Map and program types, attach flags, return codes (uapi values, stable). */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_HASH = 5,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_QUEUE = 22,
	BPF_MAP_TYPE_RINGBUF = 27,
};
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_F_NO_PREALLOC (1U << 0)
#define TC_ACT_UNSPEC (-1)
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_HLEN 14
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58

/* The socket's addresses (the TCP hooks attribute by them). In the kernel
 * skc_daddr/skc_rcv_saddr sit in an anonymous union: CO-RE matches them
 * through it. */
struct in6_addr {
	__u8 s6_addr[16];
};
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	unsigned short skc_family;
	/* TCP_TIME_WAIT and TCP_NEW_SYN_RECV mark a socket that is not a full one (sk_fullsock). */
	volatile unsigned char skc_state;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));
struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));
/* A connection not yet accepted (SYN_RECV): its own addresses, not the
 * listener's (which may be the wildcard). */
struct request_sock {
	struct sock_common __req_common;
} __attribute__((preserve_access_index));
#define AF_INET 2
#define AF_INET6 10
struct net_device {
	int ifindex;
} __attribute__((preserve_access_index));

struct sk_buff {
	unsigned int len;
	int skb_iif;
	__be16 protocol;
	__u16 network_header;
	__u16 transport_header;
	/* The route (low bit: SKB_DST_NOREF), in an anonymous union CO-RE matches through. */
	unsigned long _skb_refdst;
	unsigned char *head;
	unsigned char *data;
	char cb[48];
	struct sock *sk;
	struct net_device *dev;
} __attribute__((preserve_access_index));

/* A received segment's route: whether it was addressed to this host
 * (rtable's rt_type RTN_LOCAL, rt6_info's RTF_LOCAL flag). */
struct rtable {
	__u16 rt_type;
} __attribute__((preserve_access_index));
struct rt6_info {
	__u32 rt6i_flags;
} __attribute__((preserve_access_index));
#define RTN_LOCAL 2
#define RTF_LOCAL 0x80000000

/* TCP's control block in skb->cb: tcp_gso_segs is tcp_skb_pcount(), the
 * segments a retransmission counts in TcpRetransSegs. */
struct tcp_skb_cb {
	__u32 seq;
	__u32 end_seq;
	__u16 tcp_gso_segs;
} __attribute__((preserve_access_index));

/* enum skb_drop_reason exists since 5.17, together with the `reason`
 * argument of the kfree_skb tracepoint: bpf_core_type_exists() on it tells
 * whether that argument may be read. CO-RE matches an enum only against an
 * enum, so it is declared as one; its values come from the kernel's BTF in
 * user space. */
enum skb_drop_reason {
	SKB_DROP_REASON_NOT_SPECIFIED_LOCAL,
};

/* The program-visible skb of tc programs (uapi, fixed layout). */
struct __sk_buff {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
	__u32 tc_index;
	__u32 cb[5];
	__u32 hash;
	__u32 tc_classid;
	__u32 data;
	__u32 data_end;
};

struct iphdr {
	__u8 ihl_version; /* ihl:4 (low), version:4 (high) on little endian */
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 protocol;
	__u16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ipv6hdr {
	__u8 priority_version;
	__u8 flow_lbl[3];
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* The first 4 bytes of any transport header, read typed: TCP's ports sit
 * where UDP's do, ICMP's and ICMPv6's type and code in the first 2. */
struct udphdr {
	__be16 source;
	__be16 dest;
	__be16 len;
	__u16 check;
};

struct ethhdr {
	__u8 h_dest[6];
	__u8 h_source[6];
	__be16 h_proto;
};

#endif
