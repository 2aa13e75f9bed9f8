// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-pod traffic: tc programs on the host side of pod interfaces count the
 * packets and bytes each pod sends and receives, by endpoint slot (from the
 * pod IP in the header) and the pod's direction:
 *   host-side ingress = packets leaving the pod  = the pod's egress (source IP)
 *   host-side egress  = packets entering the pod = the pod's ingress (dest IP)
 * They only observe: TC_ACT_UNSPEC lets the next program or the stack go on
 * (tcx reads it as TCX_NEXT), and no packet is ever changed.
 */
#include "include/kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "include/packet.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The pod end's address of the packet: source for pod egress, destination
 * for pod ingress. False for non-IP or truncated packets. */
static __always_inline bool pod_addr(struct __sk_buff *skb, int dir, struct endpoint_addr *a)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return false;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return false;
		endpoint_addr_v4(a, dir == DIR_EGRESS ? ip->saddr : ip->daddr);
		return true;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return false;
		__builtin_memcpy(a->addr, dir == DIR_EGRESS ? ip6->saddr : ip6->daddr, 16);
		return true;
	}
	return false;
}

static __always_inline void count_forward(struct __sk_buff *skb, int dir, __u32 line)
{
	struct endpoint_addr a;
	struct site_counter *c;
	__u32 idx;

	if (!pod_addr(skb, dir, &a))
		return;
	idx = FORWARD_INDEX(endpoint_slot(&a), dir);
	c = bpf_map_lookup_elem(&forward_counts, &idx);
	if (!c)
		return;
	c->packets++;
	c->bytes += skb->len - ETH_HLEN; /* the IP packet, as for drops */
	c->file = FILE_ID_FORWARD;
	c->line = line;
}

SEC("tc")
int count_host_ingress(struct __sk_buff *skb)
{
	count_forward(skb, DIR_EGRESS, __LINE__);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int count_host_egress(struct __sk_buff *skb)
{
	count_forward(skb, DIR_INGRESS, __LINE__);
	return TC_ACT_UNSPEC;
}
