// The pods of this node, from ONE list+watch with
// fieldSelector=spec.nodeName=<node> (never a cluster-wide pod watch from
// every node), turned into endpoint events for the datapath.
//
// client-node's ListWatch relists by itself on 410 Gone, but any other error
// (API down, connection reset, 403, ...) stops it for good. So every
// (re)start here builds a fresh ListWatch after an exponential backoff, and
// its first list is reconciled against the endpoints known so far: pods that
// vanished meanwhile get onDelete, new or changed ones onUpsert. Until then
// the last-known pods stay as they are (an outage deletes nothing), and
// status().synced says false.
//
// ListWatch caches what it is handed; it is handed slim records
// (slim-pods.ts), never whole Pod objects.
import { CoreV1Api, ListWatch, type KubeConfig, type KubernetesListObject } from '#kubernetes-client';
import type { Logger } from '../log/logger.js';
import { describeApiError } from './api-error.js';
import { slimPod, SlimPodWatch, type SlimPod } from './slim-pods.js';
import { Backoff, DEFAULT_BACKOFF, type BackoffOptions } from '../backoff.js';
import { podEndpoint, sameEndpoint, type PodEndpoint } from './pod-endpoint.js';

export type { PodEndpoint } from './pod-endpoint.js';

const PODS_PATH = '/api/v1/pods';
/** Pods per list request (kubectl's page size). */
const LIST_PAGE = 500;

export interface PodWatcherOptions {
  kubeConfig: KubeConfig;
  /** This node's name (NODE_NAME from the downward API). */
  nodeName: string;
  logger: Logger;
  /** Delay between restarts of a failed watch; default 0.5 s doubling to 30 s. */
  backoff?: BackoffOptions;
}

export interface PodWatcherStatus {
  /** True while the last list succeeded and no watch error has happened since. */
  synced: boolean;
  /** When the pods of this node were last listed successfully. */
  lastSyncTime?: Date;
  /** How many times the informer was restarted after an error. */
  restarts: number;
  lastError?: string;
}

type EndpointListener = (pod: PodEndpoint) => void;

export class PodWatcher {
  private readonly kubeConfig: KubeConfig;
  private readonly api: CoreV1Api;
  private readonly fieldSelector: string;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  /** Last-known endpoints by namespace/name, the key the API and ListWatch use. */
  private readonly endpoints = new Map<string, PodEndpoint>();
  private readonly upsertListeners: EndpointListener[] = [];
  private readonly deleteListeners: EndpointListener[] = [];
  private informer: ListWatch<SlimPod> | undefined;
  private watch: SlimPodWatch | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private running = false;
  private health: PodWatcherStatus = { synced: false, restarts: 0 };

  constructor(opts: PodWatcherOptions) {
    if (opts.nodeName === '') {
      throw new Error('PodWatcher needs this node name (set NODE_NAME from spec.nodeName)');
    }
    this.kubeConfig = opts.kubeConfig;
    this.api = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.fieldSelector = `spec.nodeName=${opts.nodeName}`;
    this.log = opts.logger.child({ component: 'pod-watcher', node: opts.nodeName });
    this.backoff = new Backoff(opts.backoff ?? DEFAULT_BACKOFF);
  }

  /** Called for a new pod endpoint and whenever one changes (IPs, or a new pod under the same name). */
  onUpsert(cb: EndpointListener): void {
    this.upsertListeners.push(cb);
  }

  /** Called once per endpoint that is gone: pod deleted, finished (Succeeded/Failed), or replaced. */
  onDelete(cb: EndpointListener): void {
    this.deleteListeners.push(cb);
  }

  /**
   * Starts watching and resolves at once, without waiting for the API server:
   * the agent serves node-level metrics meanwhile, and status().synced tells
   * when pod metadata is there. Failures are retried with backoff, forever.
   */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.launch();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    await this.dropInformer();
  }

  status(): PodWatcherStatus {
    return { ...this.health };
  }

  /** The last-known endpoints (kept through API outages). */
  pods(): PodEndpoint[] {
    return [...this.endpoints.values()];
  }

  private launch(): void {
    // Backoff resets once a watch is up, not on a mere list: an API that lists
    // but refuses watches (RBAC without "watch") must not be relisted every 0.5 s.
    const watch: SlimPodWatch = new SlimPodWatch(this.kubeConfig, () => {
      if (this.watch === watch) this.backoff.reset();
    });
    const informer: ListWatch<SlimPod> = new ListWatch<SlimPod>(
      PODS_PATH,
      watch,
      () => this.list(informer),
      false,
      undefined,
      this.fieldSelector,
    );
    // A replaced informer may still call back (an abort reports an error);
    // only the current one may change state.
    informer.on('add', (pod) => this.isCurrent(informer) && this.apply(pod));
    informer.on('update', (pod) => this.isCurrent(informer) && this.apply(pod));
    informer.on('delete', (pod) => this.isCurrent(informer) && this.remove(pod));
    informer.on('error', (err: unknown) => this.failed(informer, err));
    this.informer = informer;
    this.watch = watch;
    informer.start().catch((err: unknown) => this.failed(informer, err));
  }

  private isCurrent(informer: ListWatch<SlimPod>): boolean {
    return this.running && this.informer === informer;
  }

  /**
   * Lists in pages of LIST_PAGE pods, each slimmed before the next is asked
   * for: a whole list of a full node is tens of MB of JSON and objects at
   * once, which the agent's heap would keep the size of afterwards. All pages
   * share the first one's resourceVersion (the API server's rule), and a
   * continue token that expired meanwhile fails the list (410), which
   * restarts the watch from a fresh list.
   */
  private async list(informer: ListWatch<SlimPod>): Promise<KubernetesListObject<SlimPod>> {
    const items: SlimPod[] = [];
    let resourceVersion: string | undefined;
    let next: string | undefined;
    do {
      const page = await this.api.listPodForAllNamespaces({ fieldSelector: this.fieldSelector, limit: LIST_PAGE, _continue: next });
      // Throwing makes a stopped or replaced ListWatch end here instead of opening a watch.
      if (!this.isCurrent(informer)) throw new Error('pod watcher stopped');
      resourceVersion ??= page.metadata?.resourceVersion;
      for (const pod of page.items) items.push(slimPod(pod));
      next = page.metadata?._continue || undefined;
    } while (next !== undefined);
    this.reconcile(items);
    return { metadata: { resourceVersion }, items };
  }

  /** A successful list is the whole truth: applied before ListWatch sees it, so its own add events are no-ops. */
  private reconcile(pods: SlimPod[]): void {
    const listed = new Set(pods.map(keyOf));
    for (const [key, endpoint] of this.endpoints) {
      if (listed.has(key)) continue;
      this.endpoints.delete(key);
      this.emit(this.deleteListeners, endpoint);
    }
    for (const pod of pods) this.apply(pod);
    const recovered = !this.health.synced;
    this.health = { ...this.health, synced: true, lastSyncTime: new Date() };
    if (recovered) this.log.info({ pods: this.endpoints.size }, 'pods of this node listed; watching');
  }

  private apply(pod: SlimPod): void {
    const key = keyOf(pod);
    const known = this.endpoints.get(key);
    const next = podEndpoint(pod);
    if (known !== undefined && (next === undefined || known.uid !== next.uid)) {
      this.endpoints.delete(key);
      this.emit(this.deleteListeners, known);
    }
    if (next !== undefined && !(known !== undefined && sameEndpoint(known, next))) {
      this.endpoints.set(key, next);
      this.emit(this.upsertListeners, next);
    }
  }

  private remove(pod: SlimPod): void {
    const key = keyOf(pod);
    const known = this.endpoints.get(key);
    const uid = pod.metadata.uid;
    // A late delete of an older pod with the same name must not drop its successor.
    if (known === undefined || (uid !== '' && uid !== known.uid)) return;
    this.endpoints.delete(key);
    this.emit(this.deleteListeners, known);
  }

  private failed(informer: ListWatch<SlimPod>, err: unknown): void {
    if (!this.isCurrent(informer)) return;
    void this.dropInformer();
    const delayMs = this.backoff.next();
    const message = describeApiError(err);
    this.health = { ...this.health, synced: false, lastError: message };
    this.log.warn(
      { err: message, retryInMs: delayMs, keptPods: this.endpoints.size },
      'pod watch failed; keeping last-known pods until it is back',
    );
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.health = { ...this.health, restarts: this.health.restarts + 1 };
      this.launch();
    }, delayMs);
  }

  /** Stops the current informer, including a watch request still connecting. */
  private async dropInformer(): Promise<void> {
    const { informer, watch } = this;
    this.informer = undefined;
    this.watch = undefined;
    watch?.close();
    await informer?.stop();
  }

  private emit(listeners: EndpointListener[], endpoint: PodEndpoint): void {
    for (const listener of listeners) {
      try {
        listener(endpoint);
      } catch (err) {
        // A failing consumer must not break the informer's event loop.
        this.log.error({ err, pod: `${endpoint.namespace}/${endpoint.name}` }, 'pod endpoint listener threw');
      }
    }
  }
}

function keyOf(pod: SlimPod): string {
  return `${pod.metadata.namespace}/${pod.metadata.name}`;
}
