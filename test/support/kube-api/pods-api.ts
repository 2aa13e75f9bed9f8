// The pods list/watch protocol: a store with resourceVersions and history,
// field selectors, pages, watches from a resourceVersion (410 Gone once
// compacted), bookmarks; and the watch faults a test injects (expiry, closed
// or cut streams, refused or held watches).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import { type FieldSelector, inScope, matchPodsPath, parseFieldSelector, podKey } from './pod-objects.js';
import { sendJson, sendStatus } from './responses.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One request the server answered (or refused), for tests to assert on. */
export interface SeenRequest {
  kind: 'list' | 'watch';
  path: string;
  fieldSelector?: string;
  resourceVersion?: string;
  allowWatchBookmarks: boolean;
  authorized: boolean;
  userAgent?: string;
  /** The HTTP status answered (200 for a watch that streams, even if it then sends ERROR). */
  status?: number;
}

export interface ExpireOptions {
  /** 'error-event' (default): ERROR 410 event, then the stream ends. 'keep': untouched. */
  openWatches?: 'error-event' | 'keep';
  /** How a new watch from an expired resourceVersion is refused; default 'error-event'. */
  newWatches?: 'error-event' | 'http-410';
}

interface HistoryEntry {
  rv: number;
  type: WatchEventType;
  pod: V1Pod;
  /** The object before a MODIFIED, to turn selector transitions into ADDED/DELETED. */
  before?: V1Pod;
}

interface OpenWatch {
  res: ServerResponse;
  selector: FieldSelector;
  namespace?: string;
  bookmarks: boolean;
}

export class PodsApi {
  readonly requests: SeenRequest[] = [];
  private readonly watches = new Set<OpenWatch>();
  private readonly pods = new Map<string, V1Pod>();
  private history: HistoryEntry[] = [];
  private rv = 1;
  /** Watches from a resourceVersion below this get 410 Gone. */
  private oldestValidRv = 1;
  private newWatchGone: ExpireOptions['newWatches'] = 'error-event';
  private failWatchStatus: number | undefined;
  /** Watch requests parked by holdWatchResponses(), answered on release. */
  private heldWatches: Array<() => void> | undefined;

  constructor(
    private readonly token: string,
    /** The status every request fails with while the server is told to fail (failRequestsWith). */
    private readonly failStatus: () => number | undefined,
  ) {}

  /** A GET of /api/v1/pods or /api/v1/namespaces/NS/pods: list or watch. */
  handle(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const route = matchPodsPath(url.pathname);
    if (req.method !== 'GET' || route === undefined) {
      sendStatus(res, 404, 'NotFound', `the test API server does not serve ${req.method} ${url.pathname}`);
      return;
    }
    const q = url.searchParams;
    const isWatch = q.get('watch') === 'true' || q.get('watch') === '1';
    const authorized = req.headers.authorization === `Bearer ${this.token}`;
    const seen: SeenRequest = {
      kind: isWatch ? 'watch' : 'list',
      path: url.pathname,
      fieldSelector: q.get('fieldSelector') ?? undefined,
      resourceVersion: q.get('resourceVersion') ?? undefined,
      allowWatchBookmarks: q.get('allowWatchBookmarks') === 'true',
      authorized,
      userAgent: req.headers['user-agent'],
    };
    this.requests.push(seen);
    this.answer(res, seen, route.namespace, q);
    if (res.headersSent) seen.status = res.statusCode;
  }

  /** An outage: open watches are gone with their connections. */
  forgetWatches(): void {
    this.watches.clear();
  }

  /** The current resourceVersion of the store. */
  get resourceVersion(): string {
    return String(this.rv);
  }

  listRequests(): SeenRequest[] {
    return this.requests.filter((r) => r.kind === 'list');
  }

  watchRequests(): SeenRequest[] {
    return this.requests.filter((r) => r.kind === 'watch');
  }

  openWatchCount(): number {
    return this.watches.size;
  }

  // ---- pods ---------------------------------------------------------------

  addPod(pod: V1Pod): V1Pod {
    const key = podKey(pod);
    if (this.pods.has(key)) throw new Error(`pod ${key} already exists`);
    const stored = this.store(pod);
    this.pods.set(key, stored);
    this.record({ rv: this.rv, type: 'ADDED', pod: stored });
    return stored;
  }

  /** Replaces a pod (matched by namespace/name) with a new version of it. */
  updatePod(pod: V1Pod): V1Pod {
    const key = podKey(pod);
    const before = this.pods.get(key);
    if (before === undefined) throw new Error(`pod ${key} does not exist`);
    const stored = this.store(pod);
    this.pods.set(key, stored);
    this.record({ rv: this.rv, type: 'MODIFIED', pod: stored, before });
    return stored;
  }

  deletePod(namespace: string, name: string): V1Pod {
    const key = `${namespace}/${name}`;
    const before = this.pods.get(key);
    if (before === undefined) throw new Error(`pod ${key} does not exist`);
    this.pods.delete(key);
    // The DELETED event carries the final state at a new resourceVersion.
    const gone = this.store(before);
    this.record({ rv: this.rv, type: 'DELETED', pod: gone });
    return gone;
  }

  /** Every pod the server holds, of every node. */
  listPods(): V1Pod[] {
    return [...this.pods.values()];
  }

  getPod(namespace: string, name: string): V1Pod | undefined {
    return this.pods.get(`${namespace}/${name}`);
  }

  /**
   * Compacts history past every resourceVersion handed out so far, so that a
   * watch from any of them is 410 Gone. By default open watches get an ERROR
   * event with a 410 Status and are closed, and new watches from an old
   * resourceVersion get the same ERROR event (what the real API server does).
   * `openWatches: 'keep'` leaves open watches alone (they learn nothing until
   * they reconnect); `newWatches: 'http-410'` refuses them with HTTP 410.
   */
  expireResourceVersions(opts: ExpireOptions = {}): void {
    this.newWatchGone = opts.newWatches ?? 'error-event';
    this.rv += 1;
    this.oldestValidRv = this.rv;
    this.history = [];
    if (opts.openWatches === 'keep') return;
    for (const watch of [...this.watches]) {
      this.writeEvent(watch, goneEvent(this.oldestValidRv));
      this.endWatch(watch);
    }
  }

  /** Ends every open watch cleanly, as the server does when a watch times out. */
  closeWatches(): void {
    for (const watch of [...this.watches]) this.endWatch(watch);
  }

  /** Cuts every open watch connection mid-stream (a network blip). */
  dropWatches(): void {
    for (const watch of [...this.watches]) {
      this.watches.delete(watch);
      watch.res.socket?.destroy();
    }
  }

  /** Sends a BOOKMARK to every open watch that asked for bookmarks. */
  sendBookmarks(): void {
    for (const watch of this.watches) {
      if (!watch.bookmarks) continue;
      this.writeEvent(watch, {
        type: 'BOOKMARK',
        object: { apiVersion: 'v1', kind: 'Pod', metadata: { resourceVersion: String(this.rv) } },
      });
    }
  }

  /** While set, watch requests (only) are answered with this HTTP status: list but no watch permission. */
  failWatchesWith(status: number | undefined): void {
    this.failWatchStatus = status;
  }

  /**
   * Parks new watch requests unanswered (no response headers) until
   * releaseWatchResponses(): a watch that is still connecting.
   */
  holdWatchResponses(): void {
    this.heldWatches ??= [];
  }

  releaseWatchResponses(): void {
    const held = this.heldWatches ?? [];
    this.heldWatches = undefined;
    for (const answer of held) answer();
  }

  private answer(res: ServerResponse, seen: SeenRequest, namespace: string | undefined, q: URLSearchParams): void {
    if (!seen.authorized) {
      sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    const failStatus = this.failStatus();
    if (failStatus !== undefined) {
      sendStatus(res, failStatus, 'Failure', `the test API server fails every request with ${failStatus}`);
      return;
    }
    if (seen.kind === 'watch' && this.failWatchStatus !== undefined) {
      sendStatus(res, this.failWatchStatus, 'Failure', `the test API server refuses watches with ${this.failWatchStatus}`);
      return;
    }
    if (q.has('labelSelector')) {
      sendStatus(res, 400, 'BadRequest', 'the test API server does not implement labelSelector');
      return;
    }
    let selector: FieldSelector;
    try {
      selector = parseFieldSelector(q.get('fieldSelector') ?? '');
    } catch (err) {
      sendStatus(res, 400, 'BadRequest', (err as Error).message);
      return;
    }
    if (seen.kind === 'watch' && this.heldWatches !== undefined) {
      this.heldWatches.push(() => {
        if (res.destroyed) return;
        this.serveWatch(res, namespace, selector, q);
        seen.status = res.statusCode;
      });
    } else if (seen.kind === 'watch') {
      this.serveWatch(res, namespace, selector, q);
    } else {
      this.serveList(res, namespace, selector, q);
    }
  }

  /**
   * A list, in pages when the client asks (`limit`, then `continue`): the
   * pages come in key order, and every page carries the first page's
   * resourceVersion, as the real server's do. (Unlike the real server's, a
   * later page shows the store as it is then, not as it was at that version;
   * a watch from that version replays what changed, so a client converges.)
   */
  private serveList(res: ServerResponse, namespace: string | undefined, selector: FieldSelector, q: URLSearchParams): void {
    const all = [...this.pods.entries()]
      .filter(([, pod]) => inScope(pod, namespace, selector))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const limit = Number(q.get('limit') ?? '0');
    const token = q.get('continue');
    const from = token
      ? (JSON.parse(Buffer.from(token, 'base64url').toString()) as { rv: number; after: string })
      : { rv: this.rv, after: '' };
    const rest = all.filter(([key]) => key > from.after);
    const page = limit > 0 ? rest.slice(0, limit) : rest;
    const last = page[page.length - 1]?.[0];
    const more = limit > 0 && rest.length > limit && last !== undefined;
    sendJson(res, 200, {
      apiVersion: 'v1',
      kind: 'PodList',
      metadata: {
        resourceVersion: String(from.rv),
        ...(more ? { continue: Buffer.from(JSON.stringify({ rv: from.rv, after: last })).toString('base64url') } : {}),
      },
      items: page.map(([, pod]) => pod),
    });
  }

  private serveWatch(res: ServerResponse, namespace: string | undefined, selector: FieldSelector, q: URLSearchParams): void {
    const rvParam = q.get('resourceVersion') ?? '';
    const fromRv = rvParam === '' || rvParam === '0' ? undefined : Number(rvParam);
    if (fromRv !== undefined && (!Number.isInteger(fromRv) || fromRv < 0)) {
      sendStatus(res, 400, 'BadRequest', `invalid resourceVersion ${rvParam}`);
      return;
    }
    const expired = fromRv !== undefined && fromRv < this.oldestValidRv;
    if (expired && this.newWatchGone === 'http-410') {
      sendStatus(res, 410, 'Expired', `too old resource version: ${fromRv} (${this.oldestValidRv})`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const watch: OpenWatch = { res, selector, namespace, bookmarks: q.get('allowWatchBookmarks') === 'true' };
    if (expired) {
      this.writeEvent(watch, goneEvent(this.oldestValidRv));
      res.end();
      return;
    }
    this.watches.add(watch);
    res.on('close', () => this.watches.delete(watch));
    if (fromRv === undefined) {
      // No resourceVersion: the current state as synthetic ADDED events first.
      for (const pod of this.pods.values()) {
        if (inScope(pod, namespace, selector)) this.writeEvent(watch, { type: 'ADDED', object: pod });
      }
    } else {
      for (const entry of this.history) {
        if (entry.rv > fromRv) this.deliver(watch, entry);
      }
    }
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? '0');
    if (timeoutSeconds > 0) {
      const timer = setTimeout(() => this.endWatch(watch), timeoutSeconds * 1000);
      res.on('close', () => clearTimeout(timer));
    }
  }

  private record(entry: HistoryEntry): void {
    this.history.push(entry);
    for (const watch of this.watches) this.deliver(watch, entry);
  }

  /** Sends one change as this watch sees it through its selector. */
  private deliver(watch: OpenWatch, entry: HistoryEntry): void {
    const now = inScope(entry.pod, watch.namespace, watch.selector);
    if (entry.type !== 'MODIFIED') {
      if (now) this.writeEvent(watch, { type: entry.type, object: entry.pod });
      return;
    }
    const before = entry.before !== undefined && inScope(entry.before, watch.namespace, watch.selector);
    if (before && now) this.writeEvent(watch, { type: 'MODIFIED', object: entry.pod });
    else if (now) this.writeEvent(watch, { type: 'ADDED', object: entry.pod });
    else if (before) this.writeEvent(watch, { type: 'DELETED', object: entry.pod });
  }

  private writeEvent(watch: OpenWatch, event: { type: string; object: unknown }): void {
    if (!watch.res.writableEnded) watch.res.write(`${JSON.stringify(event)}\n`);
  }

  private endWatch(watch: OpenWatch): void {
    this.watches.delete(watch);
    if (!watch.res.writableEnded) watch.res.end();
  }

  private store(pod: V1Pod): V1Pod {
    this.rv += 1;
    const copy = structuredClone(pod);
    copy.metadata = { ...copy.metadata, resourceVersion: String(this.rv) };
    return copy;
  }
}

function goneEvent(oldestValidRv: number): { type: string; object: unknown } {
  return {
    type: 'ERROR',
    object: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `too old resource version: (${oldestValidRv})`,
      reason: 'Expired',
      code: 410,
    },
  };
}
