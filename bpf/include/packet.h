/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Endpoint lookup shared by the programs: an address from a packet header to
 * the endpoint slot user space assigned it. */
#ifndef DATAPATH_PACKET_H
#define DATAPATH_PACKET_H

#include "maps.h"

static __always_inline void endpoint_addr_v4(struct endpoint_addr *a, __be32 ip)
{
	__builtin_memset(a, 0, sizeof(*a));
	a->addr[10] = 0xff;
	a->addr[11] = 0xff;
	__builtin_memcpy(&a->addr[12], &ip, 4);
}

static __always_inline __u32 endpoint_slot(const struct endpoint_addr *a)
{
	__u32 *slot = bpf_map_lookup_elem(&endpoints, a);

	return slot ? *slot : ENDPOINT_UNATTRIBUTED;
}

static __always_inline void count(struct counter *c, __u64 bytes)
{
	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
}

#endif
