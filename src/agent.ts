// The agent: wires the stages of the flow together (bpf -> collect -> k8s ->
// export) and runs the poll loop. Each stage lives in its own folder; this
// file only composes them.
import { hostname } from 'node:os';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { DROP_SLOTS } from './bpf/contract.js';
import { DropReasonNames } from './bpf/drop-reasons.js';
import { KernelDropProgram } from './bpf/kernel-drop-program.js';
import { libbpf } from './bpf/libbpf.js';
import { PinDir } from './bpf/pin-dir.js';
import { DropTable } from './collect/drop-table.js';
import { Kallsyms } from './collect/kallsyms.js';
import { KernelDropSource } from './collect/kernel-drops.js';
import { Poller } from './collect/poller.js';
import { DatapathProducer } from './export/datapath-producer.js';
import { HealthMetrics } from './export/health-metrics.js';
import { type ListenAddress, MetricsServer } from './export/http-server.js';
import { NO_PODS } from './export/pod-labels.js';
import type { Logger } from './log/logger.js';
import { VERSION } from './version.js';

export interface AgentOptions {
  metricsAddr: ListenAddress;
  pollIntervalMs: number;
  bpffs: string;
  nodeName?: string;
}

export class Agent {
  private timer: NodeJS.Timeout | undefined;
  private lastPollAt = 0;
  private polledOnce = false;
  private stopped = false;

  private constructor(
    private readonly opts: AgentOptions,
    private readonly log: Logger,
    private readonly pinDir: PinDir,
    private readonly drops: KernelDropProgram,
    private readonly poller: Poller,
    private readonly producer: DatapathProducer,
    private readonly health: HealthMetrics,
    private readonly meterProvider: MeterProvider,
    private readonly server: MetricsServer,
    readonly listening: ListenAddress,
  ) {}

  static async start(opts: AgentOptions, log: Logger): Promise<Agent> {
    const cleanup: Array<() => unknown> = [];
    try {
      // Export side first: a taken port fails before anything is attached.
      const nodeName = opts.nodeName ?? hostname();
      const resource = resourceFromAttributes({ 'service.name': 'datapath-exporter', 'host.name': nodeName });
      const producer = new DatapathProducer(resource, NO_PODS);
      const exporter = new PrometheusExporter({
        preventServerStart: true,
        withoutScopeInfo: true,
        withoutTargetInfo: true,
        metricProducers: [producer],
      });
      const meterProvider = new MeterProvider({ resource, readers: [exporter] });
      const health = new HealthMetrics(meterProvider.getMeter('datapath-exporter'), { version: VERSION, node: nodeName });
      health.state.slotsCapacity.drop_keys = DROP_SLOTS;
      let agent: Agent | undefined;
      const server = new MetricsServer(exporter, {
        live: () => agent !== undefined && Date.now() - agent.lastPollAt < 3 * opts.pollIntervalMs + 5000,
        ready: () => agent?.polledOnce === true,
      });
      const listening = await server.listen(opts.metricsAddr);
      cleanup.unshift(() => server.close());

      const pinDir = PinDir.acquire(opts.bpffs);
      cleanup.unshift(() => pinDir.release());
      const drops = KernelDropProgram.load(opts.bpffs);
      cleanup.unshift(() => drops.close());
      const cpus = libbpf.libbpf_num_possible_cpus();
      const table = new DropTable(drops.maps, cpus);
      // No program of ours is attached yet: safe to rebuild the free-slot queue.
      const free = table.rebuildFreeQueue();
      const reasons = DropReasonNames.fromRunningKernel();
      if (!reasons.fromKernel) {
        log.warn('this kernel names no drop reasons (enum skb_drop_reason needs 5.17+): drops are counted as NOT_SPECIFIED');
      }
      drops.attach();
      log.info({ pinDir: opts.bpffs, freeDropSlots: free, reasons: reasons.size, cpus }, 'kernel drop program attached');

      const source = new KernelDropSource(table, reasons, new Kallsyms());
      const poller = new Poller([source], log);
      agent = new Agent(opts, log, pinDir, drops, poller, producer, health, meterProvider, server, listening);
      const a = agent;
      a.pollOnce(source);
      a.timer = setInterval(() => a.pollOnce(source), opts.pollIntervalMs);
      log.info({ addr: `${listening.host}:${listening.port}`, pollIntervalMs: opts.pollIntervalMs }, 'serving /metrics');
      return a;
    } catch (err) {
      for (const undo of cleanup) await undo();
      throw err;
    }
  }

  private pollOnce(kernel: KernelDropSource): void {
    const result = this.poller.poll();
    for (const name of result.failed) this.health.pollFailed(name);
    this.health.pollDone(result.seconds);
    this.health.state.slotsUsed.drop_keys = kernel.last.used;
    this.health.state.slotOverflowPackets.drop_keys = Number(kernel.last.overflow.packets);
    this.producer.update(result.rows);
    this.lastPollAt = Date.now();
    if (result.failed.length === 0) this.polledOnce = true;
  }

  /** Detaches every program and stops serving; pinned maps keep the counts. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.drops.close();
    this.pinDir.release();
    await this.server.close();
    await this.meterProvider.shutdown().catch(() => undefined);
    this.log.info('stopped: programs detached, counters kept in pinned maps');
  }
}
