// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark floor for the kernel-drops program: attached to the same hook
 * (tp_btf/kfree_skb) as count_kernel_drop, does nothing. Its bpf_stats run
 * time is what any program on this hook costs (the call into the program
 * plus the kernel's own run-time accounting).
 */
#include "../../bpf/include/kernel.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/kfree_skb")
int empty_kfree_skb(void *ctx)
{
	return 0;
}
