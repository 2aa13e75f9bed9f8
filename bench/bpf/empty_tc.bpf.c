// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark floor for the tc programs: a tc program that only returns
 * TC_ACT_UNSPEC (tcx: TCX_NEXT), as count_host_ingress/count_host_egress do
 * after counting. BPF_PROG_TEST_RUN of this program is the cost of running
 * any tc program at all.
 */
#include "../../bpf/include/kernel.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tc")
int empty_tc(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}
