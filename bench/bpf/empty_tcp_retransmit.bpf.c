// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark floor for tcp.bpf.o's retransmission program: attached to the
 * same hook (tp_btf/tcp_retransmit_skb), does nothing.
 */
#include "../../bpf/include/kernel.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/tcp_retransmit_skb")
int empty_tcp_retransmit(void *ctx)
{
	return 0;
}
