// TokenReview and SubjectAccessReview (create), for the agent's /metrics
// authorization: tokens it knows (addUser) and a tiny RBAC of non-resource
// URL grants (allowNonResource), with a count of the reviews it answered, and
// a fault: reviews held unanswered (a slow API server).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, sendStatus } from './responses.js';

export const TOKEN_REVIEWS = '/apis/authentication.k8s.io/v1/tokenreviews';
export const ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

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

export class ReviewsApi {
  /** TokenReviews answered (authenticated or not). */
  tokenReviews = 0;
  /** SubjectAccessReviews answered, in order. */
  readonly accessReviews: SeenAccessReview[] = [];
  private readonly users = new Map<string, ReviewedUser>();
  private readonly grants: NonResourceGrant[] = [];
  /** Requests parked by holdReviews(), answered on release. */
  private heldReviews: Array<() => void> | undefined;

  constructor(
    private readonly token: string,
    /** The status every request fails with while the server is told to fail (failRequestsWith). */
    private readonly failStatus: () => number | undefined,
  ) {}

  serves(method: string | undefined, pathname: string): boolean {
    return method === 'POST' && (pathname === TOKEN_REVIEWS || pathname === ACCESS_REVIEWS);
  }

  handle(req: IncomingMessage, res: ServerResponse, pathname: string): void {
    if (this.heldReviews !== undefined) {
      this.heldReviews.push(() => {
        if (!res.destroyed) this.review(req, res, pathname);
      });
      return;
    }
    this.review(req, res, pathname);
  }

  /** A bearer token that TokenReview accepts, and the user it names. */
  addUser(token: string, user: ReviewedUser): void {
    this.users.set(token, user);
  }

  /** Lets a user or a group `verb` the non-resource URL path (a ClusterRole + binding). */
  allowNonResource(subject: { user?: string; group?: string }, path: string, verb: string): void {
    this.grants.push({ subject, path, verb });
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

  /** POST of a TokenReview or SubjectAccessReview: answered in its status, like the real server. */
  private review(req: IncomingMessage, res: ServerResponse, path: string): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.headers.authorization !== `Bearer ${this.token}`) {
        sendStatus(res, 401, 'Unauthorized', 'Unauthorized');
        return;
      }
      if (this.failStatus() !== undefined) {
        sendStatus(res, this.failStatus() ?? 500, 'Failure', `the test API server fails every request with ${this.failStatus()}`);
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
        const status =
          user === undefined ? { authenticated: false, error: 'invalid bearer token' } : { authenticated: true, user, audiences: [] };
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
}
