// Which dashboard panels should show data when Prometheus scrapes the agent
// in the lab (network namespaces as pods, real traffic and kernel drops), and
// why the others may stay empty there. A test keeps this table in step with
// the dashboards: every panel is listed, and nothing else.

export interface LabExpectation {
  /** Dashboard uid. */
  dashboard: string;
  /** Panel title. */
  panel: string;
  /** Every query of the panel returns at least one series in the lab. */
  expectData: boolean;
  /** What the lab must do for the panel to have data, or why it may not. */
  note: string;
}

const POD_ATTRIBUTION = "needs pod attribution: the agent run with a kubeconfig to the test suite's pods API";

export const LAB_EXPECTATIONS: readonly LabExpectation[] = [
  {
    dashboard: 'datapath-overview',
    panel: 'Drops by reason and direction',
    expectData: true,
    note: 'kernel drops (NO_SOCKET, NETFILTER_DROP)',
  },
  { dashboard: 'datapath-overview', panel: 'Dropped bytes by reason', expectData: true, note: 'kernel drops' },
  { dashboard: 'datapath-overview', panel: 'Top pods by drops', expectData: true, note: `drops of a pod; ${POD_ATTRIBUTION}` },
  { dashboard: 'datapath-overview', panel: 'Top namespaces by drops', expectData: true, note: `drops of a pod; ${POD_ATTRIBUTION}` },
  { dashboard: 'datapath-overview', panel: 'Drop locations', expectData: true, note: 'kernel drop locations (kernel functions)' },
  {
    dashboard: 'datapath-overview',
    panel: 'Forwarded packets per pod (in / out)',
    expectData: true,
    note: `pod traffic through the tc programs; ${POD_ATTRIBUTION}`,
  },
  {
    dashboard: 'datapath-overview',
    panel: 'Forwarded bytes per pod (in / out)',
    expectData: true,
    note: `pod traffic through the tc programs; ${POD_ATTRIBUTION}`,
  },
  { dashboard: 'datapath-overview', panel: 'Drop ratio per pod', expectData: true, note: `a pod that drops; ${POD_ATTRIBUTION}` },
  {
    dashboard: 'datapath-overview',
    panel: 'Top workloads by drops',
    expectData: true,
    note: `drops of a pod, named by its workload; ${POD_ATTRIBUTION}`,
  },
  {
    dashboard: 'datapath-overview',
    panel: 'Forwarded packets per workload (in / out)',
    expectData: true,
    note: `pod traffic, by workload; ${POD_ATTRIBUTION}`,
  },
  {
    dashboard: 'datapath-overview',
    panel: 'Drop ratio per workload',
    expectData: true,
    note: `a workload whose pod drops; ${POD_ATTRIBUTION}`,
  },
  {
    dashboard: 'datapath-overview',
    panel: 'Cilium drops by reason',
    expectData: false,
    note: 'no Cilium in the lab (source="cilium" comes from Cilium\'s pinned metrics map)',
  },
  { dashboard: 'datapath-overview', panel: 'Cilium drop locations', expectData: false, note: 'no Cilium in the lab' },

  {
    dashboard: 'datapath-loss',
    panel: 'Pod drops by source and reason',
    expectData: true,
    note: `drops of a pod (NO_SOCKET); ${POD_ATTRIBUTION}`,
  },
  {
    dashboard: 'datapath-loss',
    panel: 'Pod TCP retransmissions and resets',
    expectData: false,
    note: 'needs TCP loss or refused connections of a pod; the lab sends UDP (test/tcp/tcp.test.ts checks the counts)',
  },
  {
    dashboard: 'datapath-loss',
    panel: 'Pod interface loss',
    expectData: true,
    note: "every pod's veth has its counters, lost packets or not, under its pod's labels (the lab routes a /32 to each pod through its veth)",
  },
  { dashboard: 'datapath-loss', panel: 'Kernel drops by reason (node)', expectData: true, note: 'kernel drops' },
  {
    dashboard: 'datapath-loss',
    panel: 'Interface loss',
    expectData: true,
    note: "every interface of the agent's namespace has its counters, lost packets or not",
  },
  {
    dashboard: 'datapath-loss',
    panel: 'Qdisc drops and overlimits',
    expectData: true,
    note: 'every interface has a root qdisc (noqueue on a veth) with counters',
  },
  {
    dashboard: 'datapath-loss',
    panel: 'Softnet backlog drops and squeezes per CPU',
    expectData: true,
    note: '/proc/net/softnet_stat, one line per CPU',
  },
  {
    dashboard: 'datapath-loss',
    panel: 'Conntrack table fill',
    expectData: false,
    note: 'only on a node with conntrack (nf_conntrack loaded); without it the agent publishes no conntrack series',
  },
  { dashboard: 'datapath-loss', panel: 'Conntrack events', expectData: false, note: 'only on a node with conntrack' },

  { dashboard: 'datapath-exporter-health', panel: 'Agents and versions', expectData: true, note: 'build_info' },
  {
    dashboard: 'datapath-exporter-health',
    panel: 'Scrape status',
    expectData: true,
    note: 'up of job datapath-exporter (the test Prometheus uses that job name)',
  },
  {
    dashboard: 'datapath-exporter-health',
    panel: 'Kubernetes API sync',
    expectData: true,
    note: "the lab runs the agent against the test suite's pods API (absent without Kubernetes)",
  },
  {
    dashboard: 'datapath-exporter-health',
    panel: 'Poll duration',
    expectData: true,
    note: 'a few polls (5 s interval) within the rate window',
  },
  {
    dashboard: 'datapath-exporter-health',
    panel: 'Poll errors',
    expectData: false,
    note: 'a healthy agent may export no error series at all',
  },
  { dashboard: 'datapath-exporter-health', panel: 'Slots used vs capacity', expectData: true, note: 'drop_keys and endpoints tables' },
  { dashboard: 'datapath-exporter-health', panel: 'Slot overflow', expectData: false, note: 'only after a table fills up' },
  { dashboard: 'datapath-exporter-health', panel: 'Attached interfaces', expectData: true, note: "the lab's pod veths" },
  { dashboard: 'datapath-exporter-health', panel: 'Exported series', expectData: true, note: 'any datapath series' },
  {
    dashboard: 'datapath-exporter-health',
    panel: 'Scrape duration',
    expectData: true,
    note: 'scrape_duration_seconds of job datapath-exporter',
  },
  {
    dashboard: 'datapath-exporter-health',
    panel: 'Kubernetes watch restarts',
    expectData: true,
    note: 'exported from 0 when the agent runs with Kubernetes, as in the lab',
  },
];
