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

/* An endpoint address on the stack, aligned so it compares as two words. */
typedef struct endpoint_addr addr_t __attribute__((aligned(8)));

/* The pod end's address of the packet: source for pod egress, destination
 * for pod ingress. False for non-IP or truncated packets. */
static __always_inline bool pod_addr(struct __sk_buff *skb, int dir, addr_t *a)
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
		endpoint_addr_v4((struct endpoint_addr *)a, dir == DIR_EGRESS ? ip->saddr : ip->daddr);
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

static __always_inline bool addr_eq(const addr_t *a, const addr_t *b)
{
	const __u64 *x = (const __u64 *)a->addr;
	const __u64 *y = (const __u64 *)b->addr;

	return x[0] == y[0] && x[1] == y[1];
}

/* The endpoint slot of the pod end's address: from this CPU's entry for the
 * interface when it holds that address (and is of the current generation),
 * else from the endpoints hash, remembered for the next packet. */
static __always_inline __u32 pod_slot(struct __sk_buff *skb, const addr_t *a)
{
	__u32 ifindex = skb->ifindex, entry = ifindex % FORWARD_CACHE_ENTRIES, zero = 0, gen, slot;
	struct forward_cache_entry *cache = bpf_map_lookup_elem(&forward_cache, &entry);
	__u32 *generation = bpf_map_lookup_elem(&drop_cache_gen, &zero);

	if (!cache || !generation)
		return endpoint_slot((const struct endpoint_addr *)a);
	gen = *generation;
	if (cache->generation == gen && cache->ifindex == ifindex && addr_eq((const addr_t *)&cache->addr, a))
		return cache->slot;
	slot = endpoint_slot((const struct endpoint_addr *)a);
	/* Tagged with the generation read before the lookup: a bump in
	 * between leaves this entry already stale. */
	cache->generation = gen;
	cache->ifindex = ifindex;
	cache->addr = *(const struct endpoint_addr *)a;
	cache->slot = slot;
	return slot;
}

static __always_inline void count_forward(struct __sk_buff *skb, int dir, __u32 line)
{
	addr_t a;
	struct site_counter *c;
	__u32 idx;

	if (!pod_addr(skb, dir, &a))
		return;
	idx = FORWARD_INDEX(pod_slot(skb, &a), dir);
	c = bpf_map_lookup_elem(&forward_counts, &idx);
	if (!c)
		return;
	c->packets++;
	c->bytes += skb->len - ETH_HLEN; /* the IP packet, as for drops */
	/* The site is the same for every packet of a cell: written once, then
	 * only read (a load of the line the counters are on, not two stores). */
	if (c->line != line) {
		c->file = FILE_ID_FORWARD;
		c->line = line;
	}
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
