// The agent's own health, as ordinary OTel instruments (their label sets are
// few and fixed, so the SDK's remember-everything behaviour is harmless here).
import type { Meter } from '@opentelemetry/api';

export interface HealthState {
  slotsUsed: Record<string, number>;
  slotsCapacity: Record<string, number>;
  slotOverflowPackets: Record<string, number>;
  attachedInterfaces: number;
  /** Pods that found no free endpoint slot (their traffic is unattributed). */
  unplacedPods?: number;
  kubernetes?: { synced: boolean; restarts: number };
  /** Drop events the kernel did not send, by cause (bucket empty, ring full). */
  dropEventsSuppressed?: Record<string, number>;
  /** Label sets counted in the overflow series (past --max-series), by metric kind (drop, forward). */
  foldedLabelSets?: () => Readonly<Record<string, number>>;
}

export class HealthMetrics {
  readonly state: HealthState = { slotsUsed: {}, slotsCapacity: {}, slotOverflowPackets: {}, attachedInterfaces: 0 };
  private readonly pollDuration;
  private readonly pollErrors;
  private readonly otlpFailures;

  constructor(meter: Meter, info: { version: string; node: string }) {
    this.pollDuration = meter.createHistogram('datapath_exporter_poll_duration_seconds', {
      description: 'Time to read all counter maps once.',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1] },
    });
    this.pollErrors = meter.createCounter('datapath_exporter_poll_errors', {
      description: 'Failed reads of a counter source.',
    });
    meter
      .createObservableGauge('datapath_exporter_build_info', { description: 'Version and node of this agent (value 1).' })
      .addCallback((r) => r.observe(1, info));
    meter.createObservableGauge('datapath_exporter_slots_used', { description: 'Counter slots in use, by table.' }).addCallback((r) => {
      for (const [table, v] of Object.entries(this.state.slotsUsed)) r.observe(v, { table });
    });
    meter
      .createObservableGauge('datapath_exporter_slots_capacity', { description: 'Counter slots available, by table.' })
      .addCallback((r) => {
        for (const [table, v] of Object.entries(this.state.slotsCapacity)) r.observe(v, { table });
      });
    meter
      .createObservableCounter('datapath_exporter_slot_overflow_packets', {
        description: "Packets counted in a table's overflow slot because no slot was free.",
      })
      .addCallback((r) => {
        for (const [table, v] of Object.entries(this.state.slotOverflowPackets)) r.observe(v, { table });
      });
    meter
      .createObservableGauge('datapath_exporter_attached_interfaces', { description: 'Interfaces with the tc programs attached.' })
      .addCallback((r) => r.observe(this.state.attachedInterfaces));
    meter
      .createObservableGauge('datapath_exporter_unplaced_pods', {
        description: 'Pods that found no free endpoint slot; their traffic is counted unattributed (raise --max-endpoints).',
      })
      .addCallback((r) => {
        if (this.state.unplacedPods !== undefined) r.observe(this.state.unplacedPods);
      });
    meter
      .createObservableGauge('datapath_exporter_kubernetes_synced', {
        description: '1 while the pod watch is in sync with the API server; absent without Kubernetes.',
      })
      .addCallback((r) => {
        if (this.state.kubernetes) r.observe(this.state.kubernetes.synced ? 1 : 0);
      });
    meter
      .createObservableCounter('datapath_exporter_kubernetes_watch_restarts', {
        description: 'Restarts of the pod watch after errors.',
      })
      .addCallback((r) => {
        if (this.state.kubernetes) r.observe(this.state.kubernetes.restarts);
      });
    meter
      .createObservableCounter('datapath_exporter_drop_events_suppressed', {
        description:
          'Drop events not sent: cause="rate" (the event rate of the node was spent), "ring_full" (the agent read too slowly). Counters are exact regardless.',
      })
      .addCallback((r) => {
        for (const [cause, v] of Object.entries(this.state.dropEventsSuppressed ?? {})) r.observe(v, { cause });
      });
    meter
      .createObservableGauge('datapath_exporter_folded_label_sets', {
        description: 'Label sets over --max-series, counted in the source="overflow" series instead of their own, by kind (drop, forward).',
      })
      .addCallback((r) => {
        for (const [kind, v] of Object.entries(this.state.foldedLabelSets?.() ?? {})) r.observe(v, { kind });
      });
    this.otlpFailures = meter.createCounter('datapath_exporter_otlp_export_failures', {
      description: "OTLP export requests that failed (after the exporter's own retries); 0 without OTLP push.",
    });
    // Seen from the first scrape on, so rate() and alerts have a zero to start from.
    this.pollErrors.add(0, { source: 'kernel' });
    this.otlpFailures.add(0);
  }

  pollDone(seconds: number): void {
    this.pollDuration.record(seconds);
  }

  pollFailed(source: string): void {
    this.pollErrors.add(1, { source });
  }

  otlpExportFailed(): void {
    this.otlpFailures.add(1);
  }
}
