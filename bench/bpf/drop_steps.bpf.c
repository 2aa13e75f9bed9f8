// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Where count_kernel_drop's nanoseconds go: the same functions as the
 * product's program (drops.bpf.c is included, not copied), stopped after
 * each step, each a program of its own on the same hook so that bench 1
 * measures them side by side in one run:
 *   step_reads     the typed reads: reason, direction, length
 *   step_header    + the IP header (typed loads, as count_kernel_drop)
 *   step_no_cache  + both hash lookups (endpoints, drop key) and the count:
 *                  the product's program without its cache (its
 *                  cache-miss path)
 * The bench loads this object under a pin directory of its own, so these
 * programs count into maps apart from the product's.
 */
#include "../../bpf/drops.bpf.c"

/* A sink the compiler cannot drop the reads into. */
volatile __u64 sink;

static __always_inline __u8 skb_direction(struct sk_buff *skb)
{
	return skb->skb_iif ? DIR_INGRESS : skb->sk ? DIR_EGRESS : DIR_UNKNOWN;
}

static __always_inline __u32 skb_reason(__u64 *ctx)
{
	if (bpf_core_type_exists(enum skb_drop_reason))
		return (__u32)ctx[2];
	return DROP_REASON_ABSENT;
}

SEC("tp_btf/kfree_skb")
int step_reads(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];

	sink += ctx[1] + skb_reason(ctx) + skb_direction(skb) + skb->len;
	return 0;
}

SEC("tp_btf/kfree_skb")
int step_header(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	addr_t src = {}, dst = {};
	struct l3_summary l3 = {};
	__u64 bytes = 0;

	read_addrs(skb, &src, &dst, &bytes, &l3, true);
	sink += ctx[1] + skb_reason(ctx) + skb_direction(skb) + bytes + dst.addr[15];
	return 0;
}

SEC("tp_btf/kfree_skb")
int step_no_cache(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	addr_t src = {}, dst = {};
	struct l3_summary l3 = {};
	struct drop_key key = {
		.location = ctx[1],
		.reason = skb_reason(ctx),
		.direction = skb_direction(skb),
	};
	__u64 bytes;
	__u32 slot;

	if (!read_addrs(skb, &src, &dst, &bytes, &l3, true))
		bytes = skb->len;
	key.endpoint = attribute(&key.direction, &src, &dst);
	slot = drop_slot(&key);
	count(bpf_map_lookup_elem(&drop_counts, &slot), bytes);
	return 0;
}
