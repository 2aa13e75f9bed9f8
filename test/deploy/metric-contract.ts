// The metric names the agent exports (the contract in design.md and the
// issue), so that a rule or a panel naming a metric that does not exist
// (a typo, a renamed metric) fails a test instead of charting nothing.
export const AGENT_METRICS: readonly string[] = [
  'datapath_drop_packets_total',
  'datapath_drop_bytes_total',
  'datapath_forward_packets_total',
  'datapath_forward_bytes_total',
  'datapath_tcp_retransmit_segments_total',
  'datapath_tcp_resets_sent_total',
  'datapath_tcp_resets_received_total',
  'datapath_interface_drop_packets_total',
  'datapath_qdisc_drop_packets_total',
  'datapath_qdisc_overlimits_total',
  'datapath_qdisc_requeue_packets_total',
  'datapath_softnet_processed_packets_total',
  'datapath_softnet_drop_packets_total',
  'datapath_softnet_time_squeezes_total',
  'datapath_softnet_flow_limit_packets_total',
  'datapath_conntrack_entries',
  'datapath_conntrack_entries_limit',
  'datapath_conntrack_events_total',
  'datapath_exporter_poll_duration_seconds_bucket',
  'datapath_exporter_poll_duration_seconds_sum',
  'datapath_exporter_poll_duration_seconds_count',
  'datapath_exporter_poll_errors_total',
  'datapath_exporter_slots_used',
  'datapath_exporter_slots_capacity',
  'datapath_exporter_slot_overflow_packets_total',
  'datapath_exporter_kubernetes_synced',
  'datapath_exporter_unplaced_pods',
  'datapath_exporter_kubernetes_watch_restarts_total',
  'datapath_exporter_build_info',
  'datapath_exporter_attached_interfaces',
  'datapath_exporter_folded_label_sets',
];

/** Names that look like the agent's (datapath_...) in a PromQL text; not
 * the middle of a recording rule's name (level:datapath_...:operation). */
export function datapathMetricNames(expr: string): string[] {
  return [...expr.matchAll(/(?<![\w:])(datapath_[a-z0-9_]+)(?![\w:])/g)].map((m) => m[1] ?? '');
}

/** datapath_* names in expr that are neither the agent's nor one of `recorded`. */
export function unknownMetrics(expr: string, recorded: readonly string[] = []): string[] {
  return datapathMetricNames(expr).filter((name) => !AGENT_METRICS.includes(name) && !recorded.includes(name));
}
