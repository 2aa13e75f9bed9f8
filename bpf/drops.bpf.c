// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kernel drops: every skb freed through kfree_skb_reason() (not consumed) is
 * counted by (drop reason, direction, kernel location, endpoint) into a
 * per-CPU counter slot.
 *
 * direction: a received skb carries the ifindex it arrived on (skb_iif), so
 * skb_iif != 0 means ingress; a locally sent skb has no skb_iif but an owning
 * socket, so egress; neither means unknown.
 * endpoint: the destination's slot for ingress, the source's for egress.
 */
#include "include/kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "include/packet.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Reads the network header of skb; false when the skb has none that parses. */
static __always_inline bool read_addrs(struct sk_buff *skb, struct endpoint_addr *src,
				       struct endpoint_addr *dst, __u64 *l3_len)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	unsigned char *data = BPF_CORE_READ(skb, data);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u32 len = BPF_CORE_READ(skb, len);
	__u8 first;

	/* network_header is an offset from head; ~0 when never set. */
	if (nh == (__u16)~0U || head + nh > data + len)
		return false;
	if (bpf_probe_read_kernel(&first, 1, head + nh))
		return false;

	if ((first >> 4) == 4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return false;
		endpoint_addr_v4(src, ip.saddr);
		endpoint_addr_v4(dst, ip.daddr);
	} else if ((first >> 4) == 6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return false;
		__builtin_memcpy(src->addr, ip6.saddr, 16);
		__builtin_memcpy(dst->addr, ip6.daddr, 16);
	} else {
		return false;
	}
	/* The IP packet's size, whatever layer freed it (udp_rcv has already
	 * pulled the IP header; the bytes from the network header on do not
	 * change). */
	*l3_len = len + (data - (head + nh));
	return true;
}

/* The slot that counts key: its interned slot, a fresh one from the free
 * queue, or the overflow slot when none is left. */
static __always_inline __u32 drop_slot(struct drop_key *key)
{
	__u32 *found = bpf_map_lookup_elem(&drop_slot_of, key);
	__u32 slot;

	if (found)
		return *found;
	if (bpf_map_pop_elem(&drop_free_slots, &slot))
		return DROP_OVERFLOW_SLOT;
	if (bpf_map_update_elem(&drop_slot_of, key, &slot, BPF_NOEXIST) == 0)
		return slot;
	/* Another CPU interned the same key first (or the table is full):
	 * give the slot back and use theirs. */
	bpf_map_push_elem(&drop_free_slots, &slot, 0);
	found = bpf_map_lookup_elem(&drop_slot_of, key);
	return found ? *found : DROP_OVERFLOW_SLOT;
}

SEC("tracepoint/skb/kfree_skb")
int count_kernel_drop(struct trace_event_raw_kfree_skb *ctx)
{
	struct sk_buff *skb = ctx->skbaddr;
	struct endpoint_addr src, dst;
	struct drop_key key = {};
	__u64 bytes;
	__u32 slot;

	key.location = (__u64)ctx->location;
	key.reason = DROP_REASON_ABSENT;
	if (bpf_core_field_exists(ctx->reason))
		key.reason = ctx->reason;

	if (BPF_CORE_READ(skb, skb_iif))
		key.direction = DIR_INGRESS;
	else if (BPF_CORE_READ(skb, sk))
		key.direction = DIR_EGRESS;
	else
		key.direction = DIR_UNKNOWN;

	key.endpoint = ENDPOINT_UNATTRIBUTED;
	if (read_addrs(skb, &src, &dst, &bytes)) {
		if (key.direction == DIR_INGRESS)
			key.endpoint = endpoint_slot(&dst);
		else if (key.direction == DIR_EGRESS)
			key.endpoint = endpoint_slot(&src);
	} else {
		bytes = BPF_CORE_READ(skb, len);
	}

	slot = drop_slot(&key);
	count(bpf_map_lookup_elem(&drop_counts, &slot), bytes);
	return 0;
}
