// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark floors for tcp.bpf.o's retransmission programs: attached to the
 * same hooks (tp_btf/tcp_retransmit_skb, tp_btf/tcp_retransmit_synack), do
 * nothing.
 */
#include "../../bpf/include/kernel.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/tcp_retransmit_skb")
int empty_tcp_retransmit(void *ctx)
{
	return 0;
}

SEC("tp_btf/tcp_retransmit_synack")
int empty_tcp_retransmit_synack(void *ctx)
{
	return 0;
}
