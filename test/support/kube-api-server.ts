// The test suite's own Kubernetes API server, for the real
// @kubernetes/client-node to run against through a kubeconfig. It serves two
// things, each in a file of its own under kube-api/: the pods list/watch
// protocol with its faults (pods-api.ts) and TokenReview/SubjectAccessReview
// (reviews-api.ts); this file is the HTTP listener, the routing between them,
// the one fault both share (failRequestsWith), and the kubeconfig.
// Plain HTTP on 127.0.0.1 only; state lives in memory and survives stop() /
// restart(), so a test can change pods "while the API server is down".
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { PodsApi, type ExpireOptions, type SeenRequest } from './kube-api/pods-api.js';
import { ReviewsApi, type ReviewedUser, type SeenAccessReview } from './kube-api/reviews-api.js';

export { makePod, type PodSpecOptions } from './kube-api/pod-objects.js';
export type { ExpireOptions, SeenRequest, WatchEventType } from './kube-api/pods-api.js';
export type { ReviewedUser, SeenAccessReview } from './kube-api/reviews-api.js';

export class KubeApiServer {
  readonly token = 'test-token-of-the-suite';
  private failStatus: number | undefined;
  private readonly podsApi = new PodsApi(this.token, () => this.failStatus);
  private readonly reviewsApi = new ReviewsApi(this.token, () => this.failStatus);

  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
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

  // ---- pods (kube-api/pods-api.ts) -----------------------------------------

  get requests(): SeenRequest[] {
    return this.podsApi.requests;
  }
  /** The current resourceVersion of the store. */
  get resourceVersion(): string {
    return this.podsApi.resourceVersion;
  }
  listRequests(): SeenRequest[] {
    return this.podsApi.listRequests();
  }
  watchRequests(): SeenRequest[] {
    return this.podsApi.watchRequests();
  }
  openWatchCount(): number {
    return this.podsApi.openWatchCount();
  }
  addPod(pod: V1Pod): V1Pod {
    return this.podsApi.addPod(pod);
  }
  /** Replaces a pod (matched by namespace/name) with a new version of it. */
  updatePod(pod: V1Pod): V1Pod {
    return this.podsApi.updatePod(pod);
  }
  deletePod(namespace: string, name: string): V1Pod {
    return this.podsApi.deletePod(namespace, name);
  }
  /** Every pod the server holds, of every node. */
  listPods(): V1Pod[] {
    return this.podsApi.listPods();
  }
  getPod(namespace: string, name: string): V1Pod | undefined {
    return this.podsApi.getPod(namespace, name);
  }
  /** See PodsApi.expireResourceVersions. */
  expireResourceVersions(opts: ExpireOptions = {}): void {
    this.podsApi.expireResourceVersions(opts);
  }
  /** Ends every open watch cleanly, as the server does when a watch times out. */
  closeWatches(): void {
    this.podsApi.closeWatches();
  }
  /** Cuts every open watch connection mid-stream (a network blip). */
  dropWatches(): void {
    this.podsApi.dropWatches();
  }
  /** Sends a BOOKMARK to every open watch that asked for bookmarks. */
  sendBookmarks(): void {
    this.podsApi.sendBookmarks();
  }
  /** While set, watch requests (only) are answered with this HTTP status: list but no watch permission. */
  failWatchesWith(status: number | undefined): void {
    this.podsApi.failWatchesWith(status);
  }
  /** Parks new watch requests unanswered until releaseWatchResponses(): a watch still connecting. */
  holdWatchResponses(): void {
    this.podsApi.holdWatchResponses();
  }
  releaseWatchResponses(): void {
    this.podsApi.releaseWatchResponses();
  }

  // ---- reviews (kube-api/reviews-api.ts) -----------------------------------

  /** TokenReviews answered (authenticated or not). */
  get tokenReviews(): number {
    return this.reviewsApi.tokenReviews;
  }
  /** SubjectAccessReviews answered, in order. */
  get accessReviews(): SeenAccessReview[] {
    return this.reviewsApi.accessReviews;
  }
  /** A bearer token that TokenReview accepts, and the user it names. */
  addUser(token: string, user: ReviewedUser): void {
    this.reviewsApi.addUser(token, user);
  }
  /** Lets a user or a group `verb` the non-resource URL path (a ClusterRole + binding). */
  allowNonResource(subject: { user?: string; group?: string }, path: string, verb: string): void {
    this.reviewsApi.allowNonResource(subject, path, verb);
  }
  /** Parks new reviews unread and unanswered (not counted yet) until releaseReviews(): a slow API server. */
  holdReviews(): void {
    this.reviewsApi.holdReviews();
  }
  /** Reviews parked by holdReviews() and not answered yet. */
  get heldReviewCount(): number {
    return this.reviewsApi.heldReviewCount;
  }
  releaseReviews(): void {
    this.reviewsApi.releaseReviews();
  }

  // ---- the server ----------------------------------------------------------

  /** While set, every request is answered with this HTTP status (e.g. 403, 503). */
  failRequestsWith(status: number | undefined): void {
    this.failStatus = status;
  }

  /** An API outage: closes the listener and every connection. State is kept. */
  async stop(): Promise<void> {
    this.podsApi.forgetWatches();
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
    if (this.reviewsApi.serves(req.method, url.pathname)) this.reviewsApi.handle(req, res, url.pathname);
    else this.podsApi.handle(req, res, url);
  }
}
