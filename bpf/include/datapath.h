/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The kernel side of the kernel-to-user contract: map sizes, key and value
 * layouts, direction codes. Its user-space twin is src/bpf/contract.ts; the
 * test test/bpf/contract.test.ts reads the compiled objects' BTF and checks
 * the two agree, so change both together.
 *
 * Memory (per possible CPU, values rounded up to 8 bytes):
 *   drop_counts    (DROP_SLOTS + 1) x 16 B    = 65,552 B
 *   forward_counts (ENDPOINT_SLOTS + 1) x 2 x 24 B = 196,656 B
 *   drop_cache     DROP_CACHE_ENTRIES x 56 B  = 3,584 B
 *   forward_cache  FORWARD_CACHE_ENTRIES x 32 B = 2,048 B
 *   tcp_counts     (ENDPOINT_SLOTS + 1) x 3 x 8 B = 98,328 B (tcp.bpf.o only)
 *   drop_event_tokens 1 x 16 B, drop_event_spent 1 x 8 B, drop_event_lost 2 x 8 B
 * plus the drop event ring buffer (DROP_EVENT_RING_BYTES, shared, not per CPU)
 * plus the shared (not per-CPU) hash tables: drop_slot_of
 * DROP_SLOTS x (24 B key + 4 B value + overhead), endpoints ENDPOINT_SLOTS x
 * (16 B key + 4 B value + overhead).
 */
#ifndef DATAPATH_CONTRACT_H
#define DATAPATH_CONTRACT_H

/* Distinct (reason, direction, location, endpoint) drop keys counted at once.
 * A key that finds no free slot is counted in DROP_OVERFLOW_SLOT. */
#define DROP_SLOTS 4096
#define DROP_OVERFLOW_SLOT DROP_SLOTS

/* Pod IPs the agent attributes traffic to. Traffic of no known endpoint is
 * counted under ENDPOINT_UNATTRIBUTED. User space assigns slots. */
#define ENDPOINT_SLOTS 4096
#define ENDPOINT_UNATTRIBUTED ENDPOINT_SLOTS

/* Direction as seen from the pod (from the node when no pod is known). */
#define DIR_UNKNOWN 0
#define DIR_INGRESS 1
#define DIR_EGRESS 2
#define DIRECTIONS 3

/* reason value stored when the running kernel's tracepoint has no reason
 * field (before 5.17); user space names it NOT_SPECIFIED. */
#define DROP_REASON_ABSENT 0xffffffffu

/* An IPv4 or IPv6 address; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d). */
struct endpoint_addr {
	__u8 addr[16];
};

struct drop_key {
	__u64 location;  /* kernel text address that freed the skb */
	__u32 reason;    /* enum skb_drop_reason value, as the kernel passes it */
	__u32 endpoint;  /* endpoint slot, or ENDPOINT_UNATTRIBUTED */
	__u8 direction;  /* DIR_* */
	__u8 pad[7];
};

/* The per-CPU cache of the drop program: DROP_CACHE_ENTRIES recent drops'
 * raw inputs (location, reason, direction before attribution, addresses) and
 * the counter slot they resolved to, direct-mapped by a hash of those inputs.
 * A hit skips both hash lookups (endpoints, drop_slot_of); several entries
 * keep the hits when drops of different keys interleave, as on a node (one
 * entry lost them as soon as two kinds of drop alternated). An entry is valid
 * only while its generation equals drop_cache_gen[0]: user space bumps that
 * after every change that could make a cached slot wrong (an endpoint added
 * or removed, a drop key retired), always after the change itself, so no CPU
 * can cache a slot that was already retired. */
#define DROP_CACHE_BITS 6
#define DROP_CACHE_ENTRIES 64 /* 1 << DROP_CACHE_BITS */
struct drop_cache_entry {
	__u64 location;
	__u32 reason;
	__u32 generation;
	struct endpoint_addr src;
	struct endpoint_addr dst;
	__u8 direction;  /* DIR_* from the skb, before pod attribution */
	__u8 counted_direction; /* DIR_* after it: the key's */
	__u8 pad[2];
	__u32 slot;      /* drop_counts slot the key resolved to */
};

/* The per-CPU cache of the tc programs: the pod a host-side interface last
 * counted for, by ifindex (direct-mapped: ifindex modulo the entries). The
 * agent gives each pod its own veth, so the pod end's address on an interface
 * seldom changes and a hit skips the endpoints hash lookup; the address is
 * still compared (a veth that carries several pods' addresses, or an ifindex
 * reused, only misses). Valid while its generation equals drop_cache_gen[0],
 * which user space bumps after every endpoint change (as for drop_cache). */
#define FORWARD_CACHE_ENTRIES 64
struct forward_cache_entry {
	struct endpoint_addr addr;
	__u32 ifindex;
	__u32 generation;
	__u32 slot;      /* endpoint slot of addr, or ENDPOINT_UNATTRIBUTED */
	__u32 pad;
};

/* Drop events: one per drop, into a ring buffer, as many as the CPU's
 * budget allows (struct drop_event_tokens). The program spends one per
 * event; the agent re-divides the node's rate over the CPUs by their demand
 * each time it drains the ring (so no clock is read per drop, and an agent
 * that stops reading stops the events too). Events are a sample for people
 * to look at: the counters never depend on them. What the budget refuses and
 * what the full ring refuses is counted per CPU in
 * drop_event_lost[DROP_EVENT_LOST_RATE / _RING_FULL]. */
#define DROP_EVENT_RING_BYTES 262144 /* 256 KiB, a power of 2 pages */
#define DROP_EVENT_LOST_RATE 0
#define DROP_EVENT_LOST_RING_FULL 1

/* drop_event.flags */
#define DROP_EVENT_F_PORTS 1  /* sport/dport hold TCP/UDP ports */
#define DROP_EVENT_F_ICMP 2   /* sport/dport hold ICMP type/code */

struct drop_event {
	__u64 time_ns;       /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 location;      /* kernel text address that freed the skb */
	__u32 reason;        /* as in struct drop_key */
	__u32 ifindex;       /* the interface it arrived on, else its device */
	__u32 src_endpoint;  /* endpoint slot of the source address, or ENDPOINT_UNATTRIBUTED */
	__u32 dst_endpoint;  /* of the destination address */
	struct endpoint_addr src;
	struct endpoint_addr dst;
	__u32 ip_len;        /* the IP packet's size, as counted; skb->len when not IP */
	__u16 sport;         /* see flags */
	__u16 dport;
	__u8 direction;      /* DIR_*, as counted (seen from the pod it was counted to) */
	__u8 ip_version;     /* 4, 6, or 0 when no IP header could be read */
	__u8 protocol;       /* IP protocol number (IPv6: the first next header) */
	__u8 flags;          /* DROP_EVENT_F_* */
	__u32 pad;
};

/* A CPU's event budget, written only by the agent: the CPU may send events
 * while its drop_event_spent (written only by the CPU) is below granted. Two
 * maps, one writer each, so the agent can move budget between CPUs without
 * racing the CPUs' spending (a per-CPU value is written whole).
 * enabled == 0: events are off (nothing is counted lost). */
struct drop_event_tokens {
	__u64 granted; /* events this CPU may have sent in all, cumulative */
	__u32 enabled;
	__u32 pad;
};

/* One counter cell. Per-CPU, so the programs add without atomics; user space
 * sums the CPUs. bytes are the IP packet's size (link-layer header excluded). */
struct counter {
	__u64 packets;
	__u64 bytes;
};

/* A counter that also says where it was counted (Cilium's __MAGIC_FILE__ /
 * __MAGIC_LINE__ idea): the program stores its file id and __LINE__ with
 * each count, so `list` can print FILE and LINE for every row. */
struct site_counter {
	__u64 packets;
	__u64 bytes;
	__u32 file;  /* FILE_ID_* */
	__u32 line;
};

/* The agent's own BPF source files, by id. */
#define FILE_ID_DROPS 1   /* drops.bpf.c */
#define FILE_ID_FORWARD 2 /* forward.bpf.c */

/* Namespace and pod of an endpoint slot. No program reads it: it is pinned
 * beside the counters so that `datapath-exporter list` can name pods. */
#define NAMESPACE_LEN 64 /* a namespace name is at most 63 bytes */
#define POD_NAME_LEN 256 /* a pod name is at most 253 bytes */
struct endpoint_name {
	char namespace_[NAMESPACE_LEN];
	char pod[POD_NAME_LEN];
};

/* forward_counts index: endpoint slot x direction (ingress/egress of the pod). */
#define FORWARD_INDEX(slot, dir) ((slot) * 2 + ((dir) == DIR_EGRESS ? 1 : 0))
#define FORWARD_CELLS ((ENDPOINT_SLOTS + 1) * 2)

/* tcp_counts (tcp.bpf.o): one __u64 per endpoint slot x TCP event, the last
 * slot (ENDPOINT_UNATTRIBUTED) for sockets of no known pod. Retransmissions
 * count segments (tcp_skb_pcount, as TcpRetransSegs), resets one each. */
#define TCP_RETRANSMIT 0      /* tp_btf/tcp_retransmit_skb: segments */
#define TCP_RESET_SENT 1      /* tp_btf/tcp_send_reset */
#define TCP_RESET_RECEIVED 2  /* tp_btf/tcp_receive_reset */
#define TCP_EVENTS 3
#define TCP_INDEX(slot, event) ((slot) * TCP_EVENTS + (event))
#define TCP_CELLS ((ENDPOINT_SLOTS + 1) * TCP_EVENTS)

#endif
