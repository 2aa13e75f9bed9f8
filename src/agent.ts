// The agent: wires the stages of the flow together (bpf -> collect -> k8s ->
// export) and runs the poll loop. Each stage lives in its own folder; this
// file only composes them.
import type { KubeConfig } from '#kubernetes-client';
import { DROP_SLOTS } from './bpf/contract.js';
import { DatapathPrograms, type TcModeOption } from './bpf/datapath-programs.js';
import { setLibbpfPrint } from './bpf/libbpf.js';
import { closePodInterfaces, listPodInterfaces } from './os/pod-interfaces.js';
import { CiliumMetricsSource } from './collect/cilium/cilium-source.js';
import type { CiliumRelease } from './collect/cilium/source-files.js';
import { DropTable } from './collect/drop-table.js';
import { ForwardSource } from './collect/forward-table.js';
import { TcpSource } from './collect/tcp-table.js';
import { Kallsyms } from './collect/kallsyms.js';
import { KernelDropSource } from './collect/kernel-drops.js';
import { NodeLoss } from './collect/node/node-loss.js';
import { Poller } from './collect/poller.js';
import type { CounterSource } from './collect/rows.js';
import type { ListenAddress } from './export/pull/http-server.js';
import { type OutputOptions, Outputs } from './export/outputs.js';
import { NO_PODS } from './k8s/pod-labels.js';
import { DropEventReader } from './events/drop-event-reader.js';
import { DropEventBuffer } from './events/event-buffer.js';
import type { NamespaceFilter } from './k8s/namespace-filter.js';
import type { PodAttribution } from './k8s/pod-attribution.js';
import { forgetEndpoints } from './k8s/endpoint-slots.js';
import type { Logger } from './log/logger.js';

export interface AgentOptions extends OutputOptions {
  pollIntervalMs: number;
  bpffs: string;
  /** Interface name globs to attach to; undefined = every veth. */
  interfaces?: string[];
  tcMode: TcModeOption;
  /** undefined: no Kubernetes, node-level counters only. */
  kubeConfig?: KubeConfig;
  maxEndpoints: number;
  deletedPodGraceMs: number;
  /** Pods of which namespaces get endpoint slots (the rest count as node-level); undefined: all. */
  namespaces?: NamespaceFilter;
  /** undefined: Cilium's map is not read. */
  cilium?: { path: string; release: CiliumRelease };
  /** Cilium's endpoint map (names the pods behind its lxc interfaces); undefined: not read. */
  ciliumEndpointMap?: string;
  /** Drop events per second for the node (0: none). */
  dropEventsRate: number;
}

export class Agent {
  private timer: NodeJS.Timeout | undefined;
  private lastPollAt = 0;
  private polledOnce = false;
  private stopped = false;
  private programs: DatapathPrograms | undefined;
  private pods: PodAttribution | undefined;
  private cilium: CiliumMetricsSource | undefined;
  private kernel: KernelDropSource | undefined;
  private forward: ForwardSource | undefined;
  private tcp: TcpSource | undefined;
  private poller: Poller | undefined;
  /** The node's loss counters kfree_skb cannot show: read in the same poll, each failing alone. */
  private nodeLoss: NodeLoss | undefined;
  private events: DropEventReader | undefined;
  /** The last drop events, served at /api/v1/drops. */
  readonly dropEvents = new DropEventBuffer();
  private outputs!: Outputs;

  private constructor(
    private readonly opts: AgentOptions,
    private readonly log: Logger,
  ) {}

  /** Where /metrics is served; undefined with pull off. */
  get listening(): ListenAddress | undefined {
    return this.outputs.listening;
  }

  static async start(opts: AgentOptions, log: Logger): Promise<Agent> {
    const agent = new Agent(opts, log);
    // Export side first: a taken port fails before anything is attached.
    agent.outputs = await Outputs.open(
      opts,
      {
        live: () => Date.now() - agent.lastPollAt < 3 * opts.pollIntervalMs + 5000,
        ready: () => agent.polledOnce,
      },
      agent.dropEvents,
      log,
    );
    try {
      await agent.loadAndAttach();
    } catch (err) {
      agent.discardPrograms();
      await agent.stop();
      throw err;
    }
    agent.safeCycle();
    await agent.outputs.startPush(opts.pollIntervalMs);
    agent.timer = setInterval(() => agent.safeCycle(), opts.pollIntervalMs);
    return agent;
  }

  private async loadAndAttach(): Promise<void> {
    const { opts, log } = this;
    // libbpf's own messages join the agent's log; its debug chatter stays at trace.
    setLibbpfPrint((level, message) => (level === 'warn' ? log.warn({ libbpf: true }, message) : log.trace({ libbpf: true }, message)));
    const programs = DatapathPrograms.load(opts.bpffs, opts.tcMode, log);
    this.programs = programs;
    const table = new DropTable(programs.drops.maps, programs.cpus);
    // No program of ours is attached yet: safe to rebuild the free-slot queue.
    const freeDropSlots = table.rebuildFreeQueue();
    if (!programs.reasons.fromKernel) {
      log.warn('this kernel names no drop reasons (enum skb_drop_reason needs 5.17+): drops are counted as NOT_SPECIFIED');
    }
    const kallsyms = new Kallsyms();
    if (!kallsyms.addressesVisible()) {
      log.warn('/proc/kallsyms shows no addresses (needs CAP_SYSLOG, or kernel.kptr_restrict=0): drop locations are raw addresses');
    }
    this.kernel = new KernelDropSource(table, programs.reasons, kallsyms);
    this.events = DropEventReader.open({
      maps: programs.drops.maps.events,
      cpus: programs.cpus,
      reasons: programs.reasons,
      kallsyms,
      pods: () => this.pods?.slots ?? NO_PODS,
      buffer: this.dropEvents,
      rate: opts.dropEventsRate,
      log,
    });
    this.forward = new ForwardSource(programs.forward.counts, programs.cpus);
    const sources: CounterSource[] = [this.kernel, this.forward];
    if (programs.tcp) {
      this.tcp = new TcpSource(programs.tcp.counts, programs.cpus);
      sources.push(this.tcp);
    }
    if (opts.cilium) {
      this.cilium = new CiliumMetricsSource({ ...opts.cilium, cpus: programs.cpus, log });
      sources.push(this.cilium);
    }
    this.poller = new Poller(sources, log);
    this.nodeLoss = new NodeLoss(log, { ciliumEndpointMap: opts.ciliumEndpointMap });

    const { endpoints, names, cacheGeneration } = programs.drops.maps;
    const endpointMaps = { endpoints, names, cacheGeneration };
    if (opts.kubeConfig) {
      // Loaded only with Kubernetes: the client library is a third of the agent's memory.
      const { PodAttribution } = await import('./k8s/pod-attribution.js');
      this.pods = PodAttribution.start({
        kubeConfig: opts.kubeConfig,
        nodeName: opts.nodeName,
        maps: endpointMaps,
        maxEndpoints: opts.maxEndpoints,
        deletedPodGraceMs: opts.deletedPodGraceMs,
        namespaces: opts.namespaces,
        log,
      });
      this.outputs.health.state.slotsCapacity.endpoints = opts.maxEndpoints;
      // A free slot may hold what an earlier run left (a pod deleted within its
      // grace just before a restart): cleared before any pod can claim it (the
      // watch delivers no pod before this turn of the event loop ends).
      const stale = new Set(this.pods.slots.freeSlots());
      this.kernel.table.retireEndpoints(stale);
      for (const slot of stale) {
        this.forward.zeroSlot(slot);
        this.tcp?.zeroSlot(slot);
      }
    } else {
      // Endpoints pinned by an earlier run with Kubernetes would keep
      // counting into slots no one publishes: all traffic is unattributed now.
      forgetEndpoints(endpointMaps);
      log.info('no Kubernetes configuration (in-cluster or --kubeconfig): node-level counters only, no pod labels');
    }
    this.outputs.health.state.slotsCapacity.drop_keys = DROP_SLOTS;

    const present = listPodInterfaces(opts.interfaces);
    programs.tc.pruneStaleLinks((ifindex) => present.some((i) => i.ifindex === ifindex));
    programs.attachAtStart(present);
    programs.drops.attach();
    programs.tcp?.attach();
    log.info(
      {
        pinDir: opts.bpffs,
        freeDropSlots,
        reasons: programs.reasons.size,
        cpus: programs.cpus,
        tc: programs.tc.mode,
        interfaces: programs.tc.count,
      },
      'programs attached',
    );
  }

  /** A failed start leaves nothing attached, and nothing pinned that it pinned afresh. */
  private discardPrograms(): void {
    this.programs?.discard();
    this.programs = undefined;
  }

  /** A cycle that fails is logged and counted; the next one runs as usual. */
  private safeCycle(): void {
    try {
      this.cycle();
    } catch (err) {
      this.outputs.health.pollFailed('agent');
      this.log.error({ err: String(err) }, 'poll cycle failed');
    }
  }

  /** One poll interval: interfaces, expired pods, counters, publication. */
  private cycle(): void {
    const { programs, kernel, forward, poller, nodeLoss } = this;
    if (!programs || !kernel || !forward || !poller || !nodeLoss) return;
    try {
      programs.syncInterfaces(listPodInterfaces(this.opts.interfaces));
    } catch (err) {
      this.log.warn({ err: String(err) }, 'listing interfaces failed');
    }
    if (this.pods) {
      this.pods.afterSync();
      // Zero a deleted pod's counters only after its grace period, so its
      // final counts were published; then its slot may serve another pod.
      const expired = new Set(this.pods.slots.expired());
      kernel.table.retireEndpoints(expired);
      for (const slot of expired) {
        forward.zeroSlot(slot);
        this.tcp?.zeroSlot(slot);
        this.pods.slots.release(slot);
      }
    }
    const result = poller.poll();
    const node = nodeLoss.poll(); // after the interface listing: it reads the same link dump
    for (const name of [...result.failed, ...node.failed]) this.outputs.health.pollFailed(name);
    this.outputs.health.pollDone(result.seconds + node.seconds);
    const state = this.outputs.health.state;
    state.slotsUsed.drop_keys = kernel.last.used;
    state.slotOverflowPackets.drop_keys = Number(kernel.last.overflow.packets);
    state.attachedInterfaces = programs.tc.count;
    if (this.events) state.dropEventsSuppressed = this.events.lost();
    if (this.pods) {
      state.slotsUsed.endpoints = this.pods.slots.used;
      state.unplacedPods = this.pods.slots.unplaced;
      const k = this.pods.status();
      state.kubernetes = { synced: k.synced, restarts: k.restarts };
    }
    this.outputs.producer.update(result.rows, this.pods?.slots ?? NO_PODS);
    this.outputs.producer.updateNode(node.rows);
    this.lastPollAt = Date.now();
    if (result.failed.length === 0) this.polledOnce = true;
  }

  /** Detaches every program and stops serving; pinned maps keep the counts. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const wasRunning = this.timer !== undefined;
    if (this.timer) clearInterval(this.timer);
    await this.pods?.stop();
    this.cilium?.close();
    this.events?.stop();
    this.programs?.close();
    closePodInterfaces(); // the netlink socket of the interface listing
    this.nodeLoss?.close();
    await this.outputs.close();
    if (wasRunning) this.log.info('stopped: programs detached, counters kept in pinned maps');
  }
}
