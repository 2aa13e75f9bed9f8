// The test suite's own Kubernetes API server: just enough of the pods
// list/watch protocol (resourceVersions, field selectors, 410 Gone, bookmarks)
// for the real @kubernetes/client-node to run against it through a kubeconfig,
// and TokenReview / SubjectAccessReview (create) for the agent's /metrics
// authorization: tokens it knows (addUser) and a tiny RBAC of non-resource
// URL grants (allowNonResource), with a count of the reviews it answered.
// Plain HTTP on 127.0.0.1 only; state lives in memory and survives stop() /
// restart(), so a test can change pods "while the API server is down".
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A user as a TokenReview reports it. */
export interface ReviewedUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** A SubjectAccessReview's spec as the server received it. */
export interface SeenAccessReview {
  user?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
  nonResourceAttributes?: { path?: string; verb?: string };
  resourceAttributes?: unknown;
  allowed: boolean;
}

interface NonResourceGrant {
  subject: { user?: string; group?: string };
  path: string;
  verb: string;
}

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

export interface PodSpecOptions {
  name: string;
  namespace?: string;
  nodeName?: string;
  ips?: string[];
  hostNetwork?: boolean;
  phase?: string;
  uid?: string;
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

type Requirement = { field: string; value: string; equal: boolean };
type FieldSelector = Requirement[];

// The pod fields the real API server accepts in a field selector.
const POD_SELECTABLE_FIELDS = new Set([
  'metadata.name',
  'metadata.namespace',
  'spec.nodeName',
  'spec.restartPolicy',
  'spec.schedulerName',
  'spec.serviceAccountName',
  'spec.hostNetwork',
  'status.phase',
  'status.podIP',
  'status.nominatedNodeName',
]);

let uidCounter = 0;

/** A pod object as the API server would store it (resourceVersion is set by the server). */
export function makePod(opts: PodSpecOptions): V1Pod {
  const ips = opts.ips ?? [];
  const status: NonNullable<V1Pod['status']> = { phase: opts.phase ?? 'Running' };
  if (ips.length > 0) {
    status.podIP = ips[0];
    status.podIPs = ips.map((ip) => ({ ip }));
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: opts.name,
      namespace: opts.namespace ?? 'default',
      uid: opts.uid ?? `uid-${opts.name}-${++uidCounter}`,
    },
    spec: {
      nodeName: opts.nodeName,
      hostNetwork: opts.hostNetwork,
      containers: [{ name: 'main', image: 'registry.example/app:1' }],
    },
    status,
  };
}

export class KubeApiServer {
  readonly token = 'test-token-of-the-suite';
  readonly requests: SeenRequest[] = [];
  /** TokenReviews answered (authenticated or not). */
  tokenReviews = 0;
  /** SubjectAccessReviews answered, in order. */
  readonly accessReviews: SeenAccessReview[] = [];

  private readonly users = new Map<string, ReviewedUser>();
  private readonly grants: NonResourceGrant[] = [];

  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<OpenWatch>();
  private readonly pods = new Map<string, V1Pod>();
  private history: HistoryEntry[] = [];
  private rv = 1;
  /** Watches from a resourceVersion below this get 410 Gone. */
  private oldestValidRv = 1;
  private newWatchGone: ExpireOptions['newWatches'] = 'error-event';
  private failStatus: number | undefined;
  private failWatchStatus: number | undefined;
  /** Watch requests parked by holdWatchResponses(), answered on release. */
  private heldWatches: Array<() => void> | undefined;
  /** TokenReview / SubjectAccessReview requests parked by holdReviews(), answered on release. */
  private heldReviews: Array<() => void> | undefined;
  private boundPort = 0;

  private constructor() {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(): Promise<KubeApiServer> {
    const api = new KubeApiServer();
    await api.listen(0);
    return api;
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `http://127.0.0.1:${this.boundPort}`;
  }

  get listening(): boolean {
    return this.server.listening;
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

  // ---- authentication and authorization -----------------------------------

  /** A bearer token that TokenReview accepts, and the user it names. */
  addUser(token: string, user: ReviewedUser): void {
    this.users.set(token, user);
  }

  /** Lets a user or a group `verb` the non-resource URL path (a ClusterRole + binding). */
  allowNonResource(subject: { user?: string; group?: string }, path: string, verb: string): void {
    this.grants.push({ subject, path, verb });
  }

  // ---- faults -------------------------------------------------------------

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

  /**
   * Parks new TokenReview and SubjectAccessReview requests unread and
   * unanswered (not counted yet) until releaseReviews(): a slow API server.
   */
  holdReviews(): void {
    this.heldReviews ??= [];
  }

  /** Reviews parked by holdReviews() and not answered yet. */
  get heldReviewCount(): number {
    return this.heldReviews?.length ?? 0;
  }

  releaseReviews(): void {
    const held = this.heldReviews ?? [];
    this.heldReviews = undefined;
    for (const answer of held) answer();
  }

  /** While set, every request is answered with this HTTP status (e.g. 403, 503). */
  failRequestsWith(status: number | undefined): void {
    this.failStatus = status;
  }

  /** An API outage: closes the listener and every connection. State is kept. */
  async stop(): Promise<void> {
    this.watches.clear();
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  /** Comes back on the same port after stop(). */
  async restart(): Promise<void> {
    if (this.server.listening) return;
    await this.listen(this.boundPort);
  }

  /** Writes a kubeconfig for this server (token user) into dir and returns its path. */
  writeKubeconfig(dir: string, fileName = 'kubeconfig.yaml'): string {
    const path = join(dir, fileName);
    const config = [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: test-api',
      '  cluster:',
      `    server: ${this.url}`,
      // client-node refuses plain http unless TLS verification is off.
      '    insecure-skip-tls-verify: true',
      'users:',
      '- name: test-user',
      '  user:',
      `    token: ${this.token}`,
      'contexts:',
      '- name: test',
      '  context:',
      '    cluster: test-api',
      '    user: test-user',
      'current-context: test',
      '',
    ].join('\n');
    writeFileSync(path, config);
    return path;
  }

  // ---- HTTP ---------------------------------------------------------------

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('test API server has no TCP address');
    this.boundPort = address.port;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method === 'POST' && (url.pathname === TOKEN_REVIEWS || url.pathname === ACCESS_REVIEWS)) {
      if (this.heldReviews !== undefined) {
        this.heldReviews.push(() => {
          if (!res.destroyed) this.handleReview(req, res, url.pathname);
        });
        return;
      }
      this.handleReview(req, res, url.pathname);
      return;
    }
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

  /** POST of a TokenReview or SubjectAccessReview: answered in its status, like the real server. */
  private handleReview(req: IncomingMessage, res: ServerResponse, path: string): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
        return;
      }
      if (this.failStatus !== undefined) {
        sendStatus(res, this.failStatus, 'Failure', `the test API server fails every request with ${this.failStatus}`);
        return;
      }
      let body: { apiVersion?: string; kind?: string; spec?: Record<string, unknown> };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof body;
      } catch {
        sendStatus(res, 400, 'BadRequest', 'the body is not JSON');
        return;
      }
      const spec = body.spec ?? {};
      if (path === TOKEN_REVIEWS) {
        if (body.kind !== 'TokenReview' || body.apiVersion !== 'authentication.k8s.io/v1') {
          sendStatus(res, 400, 'BadRequest', `expected an authentication.k8s.io/v1 TokenReview, got ${body.apiVersion}/${body.kind}`);
          return;
        }
        this.tokenReviews += 1;
        const user = typeof spec.token === 'string' ? this.users.get(spec.token) : undefined;
        const status = user === undefined ? { authenticated: false, error: 'invalid bearer token' } : { authenticated: true, user, audiences: [] };
        sendJson(res, 201, { apiVersion: body.apiVersion, kind: body.kind, metadata: { creationTimestamp: null }, spec, status });
        return;
      }
      if (body.kind !== 'SubjectAccessReview' || body.apiVersion !== 'authorization.k8s.io/v1') {
        sendStatus(res, 400, 'BadRequest', `expected an authorization.k8s.io/v1 SubjectAccessReview, got ${body.apiVersion}/${body.kind}`);
        return;
      }
      const seen = spec as Omit<SeenAccessReview, 'allowed'>;
      const nr = seen.nonResourceAttributes;
      const allowed =
        nr !== undefined &&
        this.grants.some(
          (g) =>
            g.path === nr.path &&
            g.verb === nr.verb &&
            ((g.subject.user !== undefined && g.subject.user === seen.user) ||
              (g.subject.group !== undefined && (seen.groups ?? []).includes(g.subject.group))),
        );
      this.accessReviews.push({ ...seen, allowed });
      const status = allowed ? { allowed: true, reason: 'granted by the test API server' } : { allowed: false };
      sendJson(res, 201, { apiVersion: body.apiVersion, kind: body.kind, metadata: { creationTimestamp: null }, spec, status });
    });
  }

  private answer(
    res: ServerResponse,
    seen: SeenRequest,
    namespace: string | undefined,
    q: URLSearchParams,
  ): void {
    if (!seen.authorized) {
      sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    if (this.failStatus !== undefined) {
      sendStatus(res, this.failStatus, 'Failure', `the test API server fails every request with ${this.failStatus}`);
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
    const all = [...this.pods.entries()].filter(([, pod]) => inScope(pod, namespace, selector)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const limit = Number(q.get('limit') ?? '0');
    const token = q.get('continue');
    const from = token ? (JSON.parse(Buffer.from(token, 'base64url').toString()) as { rv: number; after: string }) : { rv: this.rv, after: '' };
    const rest = all.filter(([key]) => key > from.after);
    const page = limit > 0 ? rest.slice(0, limit) : rest;
    const last = page[page.length - 1]?.[0];
    const more = limit > 0 && rest.length > limit && last !== undefined;
    sendJson(res, 200, {
      apiVersion: 'v1',
      kind: 'PodList',
      metadata: { resourceVersion: String(from.rv), ...(more ? { continue: Buffer.from(JSON.stringify({ rv: from.rv, after: last })).toString('base64url') } : {}) },
      items: page.map(([, pod]) => pod),
    });
  }

  private serveWatch(
    res: ServerResponse,
    namespace: string | undefined,
    selector: FieldSelector,
    q: URLSearchParams,
  ): void {
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

const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
const ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

function podKey(pod: V1Pod): string {
  const name = pod.metadata?.name;
  if (name === undefined || name === '') throw new Error('pod has no metadata.name');
  return `${pod.metadata?.namespace ?? 'default'}/${name}`;
}

function matchPodsPath(pathname: string): { namespace?: string } | undefined {
  if (pathname === '/api/v1/pods') return {};
  const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(pathname);
  return m?.[1] !== undefined ? { namespace: decodeURIComponent(m[1]) } : undefined;
}

function parseFieldSelector(text: string): FieldSelector {
  if (text === '') return [];
  return text.split(',').map((term) => {
    const m = /^([a-zA-Z.]+)\s*(==|!=|=)\s*(.*)$/.exec(term.trim());
    if (m === null || m[1] === undefined || m[2] === undefined || m[3] === undefined) {
      throw new Error(`invalid field selector term "${term}"`);
    }
    if (!POD_SELECTABLE_FIELDS.has(m[1])) {
      throw new Error(`"${m[1]}" is not a known field selector: only ${[...POD_SELECTABLE_FIELDS].join(', ')}`);
    }
    return { field: m[1], value: m[3], equal: m[2] !== '!=' };
  });
}

function inScope(pod: V1Pod, namespace: string | undefined, selector: FieldSelector): boolean {
  if (namespace !== undefined && pod.metadata?.namespace !== namespace) return false;
  return selector.every((req) => (fieldValue(pod, req.field) === req.value) === req.equal);
}

function fieldValue(pod: V1Pod, field: string): string {
  let value: unknown = pod;
  for (const part of field.split('.')) {
    value = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[part] : undefined;
  }
  if (value === undefined || value === null) return field === 'spec.hostNetwork' ? 'false' : '';
  return String(value);
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

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
}
