// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-pod TCP retransmissions and resets: BTF-typed tracepoints count, by
 * the endpoint slot of the socket's local address, the segments a pod
 * retransmits and the resets it sends and receives. Loss anywhere on the
 * path (another node, the network) shows here as the sender's
 * retransmissions, which no drop reason on this node can show.
 *
 * tcp_counts: per CPU, TCP_CELLS (= (ENDPOINT_SLOTS + 1) x TCP_EVENTS) __u64
 * cells indexed TCP_INDEX(slot, event); 98,328 B per possible CPU. The
 * endpoints map is the one drops.bpf.o pins (reused by pin path).
 *
 * Arguments are read by position so one object fits every kernel:
 *   tcp_retransmit_skb (sk, skb) before 6.16, (sk, skb, err) since
 *   tcp_send_reset     (sk, skb) before 6.10, (sk, skb, reason) since;
 *                      sk is NULL for a reset to a segment of no socket (a
 *                      closed port) and skb NULL for an active reset
 *   tcp_receive_reset  (sk)
 *   tcp_v4_send_reset / tcp_v6_send_reset (sk, skb), fentry, loaded only
 *                      where tcp_send_reset has no reason (before 6.10):
 *                      there the tracepoint fires only for a full socket,
 *                      so these count the resets it misses (below)
 *   tcp_retransmit_synack (sk, req): a listener's SYN-ACK sent again
 *                      (tcp_rtx_synack, counted in TcpRetransSegs only when
 *                      it went out, as the tracepoint fires); attributed by
 *                      the request's local address, since the listener's
 *                      may be the wildcard
 * The programs only observe: they return 0 and change nothing.
 */
#include "include/kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "include/packet.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCP_CELLS);
	__type(key, __u32);
	__type(value, __u64);
} tcp_counts SEC(".maps");

/* The local address of a socket or request (a pod's own: the pod's IP). */
static __always_inline bool common_local_addr(struct sock_common *c, struct endpoint_addr *a)
{
	unsigned short family = BPF_CORE_READ(c, skc_family);

	if (family == AF_INET) {
		endpoint_addr_v4(a, BPF_CORE_READ(c, skc_rcv_saddr));
		return true;
	}
	if (family == AF_INET6) {
		/* An IPv4-mapped address is the IPv4 key already. */
		return bpf_core_read(a->addr, 16, &c->skc_v6_rcv_saddr) == 0;
	}
	return false;
}

static __always_inline bool sock_local_addr(struct sock *sk, struct endpoint_addr *a)
{
	return common_local_addr(&sk->__sk_common, a);
}

/* The destination of a received segment: the end that answers it with a reset. */
static __always_inline bool skb_dst_addr(struct sk_buff *skb, struct endpoint_addr *a)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u8 first;

	if (bpf_probe_read_kernel(&first, 1, head + nh))
		return false;
	if (first >> 4 == 4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return false;
		endpoint_addr_v4(a, ip.daddr);
		return true;
	}
	if (first >> 4 == 6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return false;
		__builtin_memcpy(a->addr, ip6.daddr, 16);
		return true;
	}
	return false;
}

static __always_inline void count_tcp(const struct endpoint_addr *a, bool known, __u32 event, __u64 n)
{
	__u32 idx = TCP_INDEX(known ? endpoint_slot(a) : ENDPOINT_UNATTRIBUTED, event);
	__u64 *c = bpf_map_lookup_elem(&tcp_counts, &idx);

	if (c)
		*c += n;
}

static __always_inline void count_retransmit(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	struct sk_buff *skb = (struct sk_buff *)ctx[1];
	struct endpoint_addr a;
	struct tcp_skb_cb *cb;
	__u16 segs;

	if (!sk || !skb)
		return;
	cb = (struct tcp_skb_cb *)&skb->cb[0];
	segs = BPF_CORE_READ(cb, tcp_gso_segs);
	count_tcp(&a, sock_local_addr(sk, &a), TCP_RETRANSMIT, segs ? segs : 1);
}

/* Before 6.16 the tracepoint fires only for a retransmission that went out. */
SEC("tp_btf/tcp_retransmit_skb")
int count_tcp_retransmit(__u64 *ctx)
{
	count_retransmit(ctx);
	return 0;
}

/* Since 6.16 (sk, skb, err) it also fires for one that never reached the
 * point where the kernel counts it in TcpRetransSegs: -EBUSY (the original
 * still in a host queue) and -EAGAIN (nothing to send yet) leave before it.
 * User space loads this variant when the tracepoint has the err argument. */
#define EBUSY 16
#define EAGAIN 11
SEC("tp_btf/tcp_retransmit_skb")
int count_tcp_retransmit_err(__u64 *ctx)
{
	int err = (int)ctx[2];

	if (err != -EBUSY && err != -EAGAIN)
		count_retransmit(ctx);
	return 0;
}

/* A SYN-ACK retransmission: the same family as tcp_retransmit_skb's, as
 * the kernel counts both in TcpRetransSegs. One segment each. */
SEC("tp_btf/tcp_retransmit_synack")
int count_tcp_retransmit_synack(__u64 *ctx)
{
	struct request_sock *req = (struct request_sock *)ctx[1];
	struct endpoint_addr a;

	if (!req)
		return 0;
	count_tcp(&a, common_local_addr(&req->__req_common, &a), TCP_RETRANSMIT, 1);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int count_tcp_reset_sent(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	struct sk_buff *skb = (struct sk_buff *)ctx[1];
	struct endpoint_addr a;
	bool known = false;

	if (sk)
		known = sock_local_addr(sk, &a);
	else if (skb)
		known = skb_dst_addr(skb, &a);
	count_tcp(&a, known, TCP_RESET_SENT, 1);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int count_tcp_reset_received(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	struct endpoint_addr a;

	if (!sk)
		return 0;
	count_tcp(&a, sock_local_addr(sk, &a), TCP_RESET_RECEIVED, 1);
	return 0;
}

/*
 * Before 6.10 tcp_v4_send_reset and tcp_v6_send_reset fire tcp_send_reset
 * only when sk is a full socket: a reset to a segment of no socket (sk NULL,
 * a closed port) or of a TIME_WAIT socket is sent without it. These count
 * those, on entry, by the checks the functions make before they send:
 *   th->rst                     never a reset to a reset;
 *   !sk and the route not local the segment was not addressed to this host
 *                               (v4 rt_type != RTN_LOCAL, v6 no RTF_LOCAL);
 *   a TCP-MD5 option            the reset goes out only when a listener on
 *                               the port has a key for the peer and the
 *                               segment's hash verifies: not decidable here,
 *                               so such segments are not counted.
 * Every other call sends (and counts TcpOutRsts), as 6.10+'s tracepoint
 * counts it. Attribution as the tracepoint's: the socket's local address,
 * or the segment's destination when there is no socket.
 */
#define TCP_TIME_WAIT 6
#define TCP_NEW_SYN_RECV 12
#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MD5SIG 19
#define TCPOLEN_MD5SIG 18
#define TCP_OPTIONS_MAX 40
#define TCP_FLAG_RST 0x04

static __always_inline bool sk_fullsock(struct sock *sk)
{
	unsigned char state = BPF_CORE_READ(sk, __sk_common.skc_state);

	return !((1 << state) & ((1 << TCP_TIME_WAIT) | (1 << TCP_NEW_SYN_RECV)));
}

/* tcp_parse_md5sig_option's walk: whether the options hold an MD5 signature.
 * opt has OPT_BUF bytes: indices are masked into it for the verifier. */
#define OPT_BUF 64
static __always_inline bool has_md5_option(const __u8 *opt, int length)
{
	int i = 0;

	for (int n = 0; n < TCP_OPTIONS_MAX && length >= TCPOLEN_MD5SIG; n++) {
		__u8 code, size;

		if (i < 0 || i >= TCP_OPTIONS_MAX - 1)
			return false;
		code = opt[i & (OPT_BUF - 1)];
		if (code == TCPOPT_EOL)
			return false;
		if (code == TCPOPT_NOP) {
			i++;
			length--;
			continue;
		}
		size = opt[(i + 1) & (OPT_BUF - 1)];
		if (size < 2 || size > length)
			return false;
		if (code == TCPOPT_MD5SIG)
			return size == TCPOLEN_MD5SIG;
		i += size;
		length -= size;
	}
	return false;
}

/* Whether a reset to skb from a socket that is not a full one goes out (see above). */
static __always_inline bool untraced_reset_sent(struct sock *sk, struct sk_buff *skb, bool v6)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 th_off = BPF_CORE_READ(skb, transport_header);
	__u8 th[20], opt[OPT_BUF] = {};
	unsigned int length;

	if (bpf_probe_read_kernel(th, sizeof(th), head + th_off))
		return false;
	if (th[13] & TCP_FLAG_RST)
		return false;
	if (!sk) {
		unsigned long dst = BPF_CORE_READ(skb, _skb_refdst) & ~1UL;

		if (v6) {
			if (!(BPF_CORE_READ((struct rt6_info *)dst, rt6i_flags) & RTF_LOCAL))
				return false;
		} else if (BPF_CORE_READ((struct rtable *)dst, rt_type) != RTN_LOCAL) {
			return false;
		}
	}
	length = (th[12] >> 4) * 4;
	length = length > 20 ? length - 20 : 0;
	if (length > TCP_OPTIONS_MAX)
		return false; /* doff is 15 at most: cannot happen */
	if (length && bpf_probe_read_kernel(opt, length, head + th_off + 20))
		return false;
	return !has_md5_option(opt, length);
}

static __always_inline void count_untraced_reset(struct sock *sk, struct sk_buff *skb, bool v6)
{
	struct endpoint_addr a;
	bool known;

	if (sk && sk_fullsock(sk))
		return; /* tcp_send_reset counts it */
	if (!untraced_reset_sent(sk, skb, v6))
		return;
	known = sk ? sock_local_addr(sk, &a) : skb_dst_addr(skb, &a);
	count_tcp(&a, known, TCP_RESET_SENT, 1);
}

SEC("fentry/tcp_v4_send_reset")
int count_tcp_v4_untraced_reset(__u64 *ctx)
{
	count_untraced_reset((struct sock *)ctx[0], (struct sk_buff *)ctx[1], false);
	return 0;
}

SEC("fentry/tcp_v6_send_reset")
int count_tcp_v6_untraced_reset(__u64 *ctx)
{
	count_untraced_reset((struct sock *)ctx[0], (struct sk_buff *)ctx[1], true);
	return 0;
}
