// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Kernel drops: every skb freed through kfree_skb_reason() (not consumed) is
 * counted by (drop reason, direction, kernel location, endpoint) into a
 * per-CPU counter slot.
 *
 * Hook: the BTF-typed tracepoint tp_btf/kfree_skb. It attaches through
 * BPF_RAW_TRACEPOINT_OPEN with the tracepoint's BTF id, so no tracefs is
 * needed (the perf-event tracepoint needs tracefs for its id), and the
 * arguments are typed: skb is a trusted kernel pointer whose fields are read
 * directly (CO-RE relocated), not with probe reads. Arguments by position:
 * (skb, location, reason[5.17+], rx_sk[6.11+], ...); later ones are never read.
 *
 * direction: a received skb carries the ifindex it arrived on (skb_iif), so
 * skb_iif != 0 means ingress; a locally sent skb has no skb_iif but an owning
 * socket, so egress; neither means unknown.
 * endpoint: for a received packet, the destination pod when it is one (its
 * ingress drop); otherwise the source pod when it is one, and then it is that
 * pod's egress drop (a pod's packet dropped while forwarded by the node). For
 * a locally sent packet, the source pod.
 */
#include "include/kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "include/packet.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Puts struct drop_event in the object's BTF (a ring buffer has no value
 * type), where the contract test reads its layout. */
struct drop_event *drop_event_layout __attribute__((unused));

/* An endpoint address on the stack, aligned so it compares as two words. */
typedef struct endpoint_addr addr_t __attribute__((aligned(8)));

/* What the network header says, as far as it was read. */
struct l3_summary {
	unsigned char *l4;  /* where the transport header starts (a kernel address) */
	__s64 l4_bytes;     /* bytes of the packet from there on */
	__u8 version;       /* 4 or 6 */
	__u8 protocol;
};

/* bpf_rdonly_cast (kernel 6.2+): a kernel address as a read-only pointer to
 * a BTF type, whose loads the JIT emits as plain loads that may fault
 * (BPF_PROBE_MEM, 0 on a fault), not as a helper call. Weak: on a kernel
 * without it libbpf leaves it unresolved, and user space loads
 * count_kernel_drop_probe instead of the program that calls it. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* The network header's fields the program uses. */
struct l3_fields {
	__u8 version;
	__u8 ihl;      /* IPv4: header length in 4-byte words */
	__u8 protocol; /* IPv4 protocol or IPv6 first next header */
};

/* Reads the network header at nh_addr: with typed loads through
 * bpf_rdonly_cast (typed), or with one probe read (two for IPv6) where the
 * kernel has no such cast. skb->head is memory the verifier does not trust in
 * tp_btf either way. False when no IPv4/IPv6 header is there (or, for IPv6,
 * the bytes for one). */
static __always_inline bool read_l3(unsigned char *nh_addr, __s64 l3_len, addr_t *src, addr_t *dst,
				    struct l3_fields *f, const bool typed)
{
	if (typed) {
		const struct iphdr *ip = bpf_rdonly_cast(nh_addr, bpf_core_type_id_kernel(struct iphdr));
		const struct ipv6hdr *ip6;
		__u8 first = ip->ihl_version;

		f->version = first >> 4;
		if (f->version == 4) {
			f->ihl = first & 0xf;
			f->protocol = ip->protocol;
			endpoint_addr_v4((struct endpoint_addr *)src, ip->saddr);
			endpoint_addr_v4((struct endpoint_addr *)dst, ip->daddr);
			return true;
		}
		if (f->version != 6 || l3_len < (__s64)sizeof(struct ipv6hdr))
			return false;
		ip6 = bpf_rdonly_cast(nh_addr, bpf_core_type_id_kernel(struct ipv6hdr));
		f->protocol = ip6->nexthdr;
		((__u64 *)src->addr)[0] = *(const __u64 *)&ip6->saddr[0];
		((__u64 *)src->addr)[1] = *(const __u64 *)&ip6->saddr[8];
		((__u64 *)dst->addr)[0] = *(const __u64 *)&ip6->daddr[0];
		((__u64 *)dst->addr)[1] = *(const __u64 *)&ip6->daddr[8];
		return true;
	} else {
		union {
			struct iphdr v4;
			struct ipv6hdr v6;
		} h;

		if (bpf_probe_read_kernel(&h.v4, sizeof(h.v4), nh_addr))
			return false;
		f->version = h.v4.ihl_version >> 4;
		if (f->version == 4) {
			f->ihl = h.v4.ihl_version & 0xf;
			f->protocol = h.v4.protocol;
			endpoint_addr_v4((struct endpoint_addr *)src, h.v4.saddr);
			endpoint_addr_v4((struct endpoint_addr *)dst, h.v4.daddr);
			return true;
		}
		/* The first 20 bytes are in h already; the addresses end at 40. */
		if (f->version != 6 || l3_len < (__s64)sizeof(h.v6) ||
		    bpf_probe_read_kernel((char *)&h + sizeof(h.v4), sizeof(h.v6) - sizeof(h.v4),
					  nh_addr + sizeof(h.v4)))
			return false;
		f->protocol = h.v6.nexthdr;
		__builtin_memcpy(src->addr, h.v6.saddr, 16);
		__builtin_memcpy(dst->addr, h.v6.daddr, 16);
		return true;
	}
}

/* Reads the network header's addresses (see read_l3). False when the skb has
 * no network header that parses. */
static __always_inline bool read_addrs(struct sk_buff *skb, addr_t *src, addr_t *dst, __u64 *l3_bytes,
				       struct l3_summary *l3, const bool typed)
{
	unsigned char *head = skb->head;
	unsigned char *data = skb->data;
	__u16 nh = skb->network_header;
	__u32 len = skb->len;
	struct l3_fields f;

	/* network_header is an offset from head, 0 when never set (__alloc_skb
	 * zeroes it; only mac_header and transport_header start at ~0): head + 0
	 * is headroom, not a header. The bytes from it to the packet's end: a
	 * header cut short is not parsed (what lies past the end is not this
	 * packet's). */
	__s64 l3_len = (__s64)len + (data - (head + nh));

	if (nh == 0 || nh == (__u16)~0U || l3_len < (__s64)sizeof(struct iphdr))
		return false;
	if (!read_l3(head + nh, l3_len, src, dst, &f, typed))
		return false;
	l3->version = f.version;
	l3->protocol = f.protocol;
	if (f.version == 4) {
		l3->l4 = head + nh + f.ihl * 4;
		l3->l4_bytes = l3_len - f.ihl * 4;
	} else {
		l3->l4 = head + nh + sizeof(struct ipv6hdr);
		l3->l4_bytes = l3_len - (__s64)sizeof(struct ipv6hdr);
	}
	/* The IP packet's size, whatever layer freed it (udp_rcv has already
	 * pulled the IP header; the bytes from the network header on do not
	 * change). */
	*l3_bytes = l3_len;
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

/* The pod a drop belongs to, and its direction as seen from that pod (see the
 * top of this file). */
static __always_inline __u32 attribute(__u8 *direction, const addr_t *src, const addr_t *dst)
{
	__u32 endpoint;

	if (*direction == DIR_INGRESS) {
		endpoint = endpoint_slot(dst);
		if (endpoint != ENDPOINT_UNATTRIBUTED)
			return endpoint;
		endpoint = endpoint_slot(src);
		if (endpoint != ENDPOINT_UNATTRIBUTED)
			*direction = DIR_EGRESS;
		return endpoint;
	}
	if (*direction == DIR_EGRESS)
		return endpoint_slot(src);
	return ENDPOINT_UNATTRIBUTED;
}

/* Whether this CPU may send an event: it has spent less than the agent
 * granted it (the agent moves the node's budget to the CPUs that drop, see
 * src/events/event-budget.ts); counts the refusal when not. Three inlined
 * per-CPU array lookups at most, no clock, no atomics: each CPU writes only
 * its own spent, the agent only the grants. */
static __always_inline bool take_event_token(void)
{
	__u32 zero = 0, cause = DROP_EVENT_LOST_RATE;
	struct drop_event_tokens *b = bpf_map_lookup_elem(&drop_event_tokens, &zero);
	__u64 *spent, *lost;

	if (!b || !b->enabled)
		return false;
	spent = bpf_map_lookup_elem(&drop_event_spent, &zero);
	if (spent && *spent < b->granted) {
		(*spent)++;
		return true;
	}
	lost = bpf_map_lookup_elem(&drop_event_lost, &cause);
	if (lost)
		(*lost)++;
	return false;
}

/* The transport header's first 4 bytes (ports, or ICMP type and code), when
 * the packet has them: typed loads through bpf_rdonly_cast (as read_l3), or
 * one probe read where the kernel has no such cast. The typed variant calls
 * no probe-read helper at all, so it loads where those helpers are refused
 * (kernel lockdown in confidentiality mode). */
static __always_inline bool read_l4_start(const struct l3_summary *l3, __u8 l4[4], const bool typed)
{
	if (l3->l4_bytes < 4)
		return false;
	if (typed) {
		const struct udphdr *h = bpf_rdonly_cast(l3->l4, bpf_core_type_id_kernel(struct udphdr));
		__be16 first = h->source, second = h->dest;

		__builtin_memcpy(&l4[0], &first, 2);
		__builtin_memcpy(&l4[2], &second, 2);
		return true;
	}
	return bpf_probe_read_kernel(l4, 4, l3->l4) == 0;
}

/* One event for this drop into the ring (this CPU had budget to spend). */
static __always_inline void emit_event(struct sk_buff *skb, __u64 location, __u32 reason, __u8 direction,
				       const addr_t *src, const addr_t *dst, __u64 bytes,
				       const struct l3_summary *l3, const bool typed)
{
	struct drop_event *e = bpf_ringbuf_reserve(&drop_events, sizeof(*e), 0);
	__u8 l4[4];

	if (!e) {
		__u32 cause = DROP_EVENT_LOST_RING_FULL;
		__u64 *lost = bpf_map_lookup_elem(&drop_event_lost, &cause);
		if (lost)
			(*lost)++;
		return;
	}
	e->time_ns = bpf_ktime_get_ns();
	e->location = location;
	e->reason = reason;
	e->ifindex = skb->skb_iif;
	if (!e->ifindex && skb->dev)
		e->ifindex = skb->dev->ifindex;
	e->src = *(struct endpoint_addr *)src;
	e->dst = *(struct endpoint_addr *)dst;
	e->ip_len = bytes;
	e->ip_version = l3->version;
	e->protocol = l3->protocol;
	e->sport = 0;
	e->dport = 0;
	e->flags = 0;
	e->pad = 0;
	e->direction = direction;
	if (l3->version) {
		e->src_endpoint = endpoint_slot(src);
		e->dst_endpoint = endpoint_slot(dst);
		/* The transport header's first 4 bytes: ports, or ICMP type/code. */
		if (read_l4_start(l3, l4, typed)) {
			if (l3->protocol == IPPROTO_TCP || l3->protocol == IPPROTO_UDP) {
				e->sport = (l4[0] << 8) | l4[1];
				e->dport = (l4[2] << 8) | l4[3];
				e->flags = DROP_EVENT_F_PORTS;
			} else if (l3->protocol == IPPROTO_ICMP || l3->protocol == IPPROTO_ICMPV6) {
				e->sport = l4[0];
				e->dport = l4[1];
				e->flags = DROP_EVENT_F_ICMP;
			}
		}
	} else {
		e->src_endpoint = ENDPOINT_UNATTRIBUTED;
		e->dst_endpoint = ENDPOINT_UNATTRIBUTED;
	}
	bpf_ringbuf_submit(e, 0);
}

static __always_inline bool addr_eq(const addr_t *a, const addr_t *b)
{
	const __u64 *x = (const __u64 *)a->addr;
	const __u64 *y = (const __u64 *)b->addr;

	return x[0] == y[0] && x[1] == y[1];
}

/* Which cache entry a drop's raw inputs map to: a multiplicative hash of
 * them, its top DROP_CACHE_BITS bits (a few ALU instructions, no helper). */
static __always_inline __u32 drop_cache_index(__u64 location, __u32 reason, __u8 direction, const addr_t *src,
					      const addr_t *dst)
{
	const __u64 *s = (const __u64 *)src->addr;
	const __u64 *d = (const __u64 *)dst->addr;
	__u64 h = location ^ ((__u64)reason << 40) ^ ((__u64)direction << 32);

	h = (h ^ s[0] ^ s[1]) * 0x9e3779b97f4a7c15ULL;
	h = (h ^ d[0] ^ d[1]) * 0x9e3779b97f4a7c15ULL;
	return h >> (64 - DROP_CACHE_BITS);
}

static __always_inline int count_drop(__u64 *ctx, const bool typed)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	__u64 location = ctx[1];
	__u32 reason = DROP_REASON_ABSENT;
	addr_t src = {}, dst = {};
	struct l3_summary l3 = {};
	struct drop_cache_entry *cache;
	__u32 zero = 0, *generation, gen, slot, entry;
	__u8 direction, counted_direction;
	__u64 bytes;

	/* Dead code, removed at load, where the kernel has no reason argument. */
	if (bpf_core_type_exists(enum skb_drop_reason))
		reason = (__u32)ctx[2];

	if (skb->skb_iif)
		direction = DIR_INGRESS;
	else if (skb->sk)
		direction = DIR_EGRESS;
	else
		direction = DIR_UNKNOWN;

	if (!read_addrs(skb, &src, &dst, &bytes, &l3, typed))
		bytes = skb->len;

	entry = drop_cache_index(location, reason, direction, &src, &dst);
	cache = bpf_map_lookup_elem(&drop_cache, &entry);
	generation = bpf_map_lookup_elem(&drop_cache_gen, &zero);
	if (!cache || !generation)
		return 0;
	gen = *generation;
	if (cache->generation == gen && cache->location == location && cache->reason == reason &&
	    cache->direction == direction && addr_eq((addr_t *)&cache->src, &src) &&
	    addr_eq((addr_t *)&cache->dst, &dst)) {
		slot = cache->slot;
		counted_direction = cache->counted_direction;
	} else {
		struct drop_key key = {
			.location = location,
			.reason = reason,
			.direction = direction,
		};

		key.endpoint = attribute(&key.direction, &src, &dst);
		slot = drop_slot(&key);
		counted_direction = key.direction;
		/* Tagged with the generation read before the lookups: a bump
		 * in between leaves this entry already stale. */
		cache->generation = gen;
		cache->location = location;
		cache->reason = reason;
		cache->direction = direction;
		cache->src = src;
		cache->dst = dst;
		cache->slot = slot;
		cache->counted_direction = counted_direction;
	}
	count(bpf_map_lookup_elem(&drop_counts, &slot), bytes);
	if (take_event_token())
		emit_event(skb, location, reason, counted_direction, &src, &dst, bytes, &l3, typed);
	return 0;
}

/* The program user space loads where the kernel has bpf_rdonly_cast. */
SEC("tp_btf/kfree_skb")
int count_kernel_drop(__u64 *ctx)
{
	return count_drop(ctx, true);
}

/* The same with probe reads of the IP header, for kernels before 6.2. */
SEC("tp_btf/kfree_skb")
int count_kernel_drop_probe(__u64 *ctx)
{
	return count_drop(ctx, false);
}
