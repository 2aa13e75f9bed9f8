/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map definitions shared by the programs. Every map is pinned by name under
 * the agent's bpffs directory (user space sets the pin path), so a restarted
 * agent and every program object see the same counters.
 */
#ifndef DATAPATH_MAPS_H
#define DATAPATH_MAPS_H

#include "datapath.h"

/* pod IP -> endpoint slot, written by user space from the Kubernetes API. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ENDPOINT_SLOTS);
	__type(key, struct endpoint_addr);
	__type(value, __u32);
} endpoints SEC(".maps");

/* Interning of sparse drop keys into dense counter slots. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DROP_SLOTS);
	__type(key, struct drop_key);
	__type(value, __u32);
} drop_slot_of SEC(".maps");

/* Free drop slots. User space fills it at start (all slots not in
 * drop_slot_of) and returns a slot once its key is retired and zeroed. */
struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, DROP_SLOTS);
	__uint(key_size, 0);
	__uint(value_size, sizeof(__u32));
} drop_free_slots SEC(".maps");

/* Drop events (see struct drop_event): the ring, each CPU's event budget
 * (granted by the agent, spent by the CPU: struct drop_event_tokens), and the
 * events lost to the budget or to a full ring. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, DROP_EVENT_RING_BYTES);
} drop_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct drop_event_tokens);
} drop_event_tokens SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drop_event_spent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} drop_event_lost SEC(".maps");

/* The drop program's recent-key cache (see struct drop_cache_entry) and its
 * generation, which user space bumps to invalidate every CPU's entries. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_CACHE_ENTRIES);
	__type(key, __u32);
	__type(value, struct drop_cache_entry);
} drop_cache SEC(".maps");

/* The tc programs' interface cache (see struct forward_cache_entry); it
 * shares drop_cache_gen, bumped on every endpoint change. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FORWARD_CACHE_ENTRIES);
	__type(key, __u32);
	__type(value, struct forward_cache_entry);
} forward_cache SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} drop_cache_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DROP_SLOTS + 1);
	__type(key, __u32);
	__type(value, struct counter);
} drop_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FORWARD_CELLS);
	__type(key, __u32);
	__type(value, struct site_counter);
} forward_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ENDPOINT_SLOTS);
	__type(key, __u32);
	__type(value, struct endpoint_name);
} endpoint_names SEC(".maps");

#endif
