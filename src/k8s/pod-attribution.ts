// Pods of this node -> endpoint slots: the pod watch feeding the slot table,
// and the health the agent reports about it.
import type { KubeConfig } from '#kubernetes-client';
import type { Logger } from '../log/logger.js';
import { type EndpointMaps, EndpointSlots } from './endpoint-slots.js';
import type { NamespaceFilter } from './namespace-filter.js';
import { PodWatcher, type PodWatcherStatus } from './pod-watcher.js';

export interface PodAttributionOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  maps: EndpointMaps;
  maxEndpoints: number;
  deletedPodGraceMs: number;
  namespaces?: NamespaceFilter;
  log: Logger;
}

export class PodAttribution {
  private claimedRestored = false;

  private constructor(
    readonly slots: EndpointSlots,
    private readonly watcher: PodWatcher,
  ) {}

  static start(opts: PodAttributionOptions): PodAttribution {
    const slots = new EndpointSlots(opts.maps, opts.maxEndpoints, opts.deletedPodGraceMs, opts.log, opts.namespaces);
    slots.restore();
    const watcher = new PodWatcher({ kubeConfig: opts.kubeConfig, nodeName: opts.nodeName, logger: opts.log });
    watcher.onUpsert((pod) => slots.upsert(pod));
    watcher.onDelete((pod) => slots.delete(pod));
    void watcher.start();
    return new PodAttribution(slots, watcher);
  }

  /** Once the first full list is in, slots of pods gone while we were down can go. */
  afterSync(): void {
    if (this.claimedRestored || !this.watcher.status().synced) return;
    this.claimedRestored = true;
    this.slots.releaseUnclaimed();
  }

  status(): PodWatcherStatus {
    return this.watcher.status();
  }

  stop(): Promise<void> {
    return this.watcher.stop();
  }
}
