// --metrics-auth kubernetes: what kube-rbac-proxy and controller-runtime's
// metrics filter do, inside the agent. A scrape's bearer token is checked by
// the API server (TokenReview), then the user it names must be allowed `get`
// on the non-resource URL /metrics (SubjectAccessReview).
//
// Decisions are cached per token (keyed by its SHA-256, never the token
// itself) for a short time: allowed for allowedTtlMs, unauthenticated or
// denied for deniedTtlMs. Allowed and denied decisions live in two separate
// bounded maps (in each, the oldest entry goes first), so a client sending
// any number of made-up tokens only ever evicts other denied entries, never
// Prometheus's allowed one.
//
// Anyone who can reach the port can make the agent ask the API server, so
// reviews are bounded too: at most maxInFlight different tokens are under
// review at once; a scrape that would need one more is refused with 503
// ("too many token reviews in flight") without asking the API. Concurrent
// scrapes with one token share one review (and one slot). A slot is held
// until the review is answered or reviewTimeoutMs passes (the API request
// itself is not cancelled then; it is only no longer waited for).
//
// While the API server cannot answer, scrapes are refused with 503 (fail
// closed; nothing is cached) and the change of state is logged once each way.
//
// Loaded (import()) only when this mode is on.
import { createHash } from 'node:crypto';
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '#kubernetes-client';
import type { AccessDecision } from './access-decision.js';

export interface KubernetesAuthOptions {
  allowedTtlMs: number;
  deniedTtlMs: number;
  /** Most allowed tokens remembered at once (default 1024). */
  maxEntries?: number;
  /** Most denied or unknown tokens remembered at once (default 1024); kept apart from the allowed ones. */
  maxDeniedEntries?: number;
  /** Most different tokens under review at once (default 8); past that, 503 without a review. */
  maxInFlight?: number;
  /** How long one review may take before the scrape is refused (503). */
  reviewTimeoutMs?: number;
  log: {
    info(obj: object, msg: string): void;
    error(obj: object, msg: string): void;
  };
}

interface Entry {
  decision: AccessDecision;
  expiresAt: number;
}

export const METRICS_PATH = '/metrics';

export const TOO_MANY_REVIEWS = 'too many token reviews in flight';

export class KubernetesAuthorizer {
  private readonly authn: AuthenticationV1Api;
  private readonly authz: AuthorizationV1Api;
  private readonly allowed = new Map<string, Entry>();
  private readonly denied = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<AccessDecision>>();
  private apiDown = false;

  constructor(
    kubeConfig: KubeConfig,
    private readonly opts: KubernetesAuthOptions,
  ) {
    this.authn = kubeConfig.makeApiClient(AuthenticationV1Api);
    this.authz = kubeConfig.makeApiClient(AuthorizationV1Api);
  }

  async authorize(authorization: string | undefined): Promise<AccessDecision> {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    const token = m?.[1];
    if (token === undefined) return { allowed: false, status: 401, message: 'a bearer token is required' };
    const key = createHash('sha256').update(token).digest('base64');
    const now = Date.now();
    for (const cache of [this.allowed, this.denied]) {
      const cached = cache.get(key);
      if (cached === undefined) continue;
      if (cached.expiresAt > now) return cached.decision;
      cache.delete(key);
    }
    let pending = this.inflight.get(key);
    if (pending === undefined) {
      if (this.inflight.size >= (this.opts.maxInFlight ?? 8)) return { allowed: false, status: 503, message: TOO_MANY_REVIEWS };
      pending = this.review(token, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private async review(token: string, key: string): Promise<AccessDecision> {
    let decision: AccessDecision;
    try {
      decision = await this.withTimeout(this.decide(token));
    } catch (err) {
      if (!this.apiDown) {
        this.apiDown = true;
        this.opts.log.error(
          { err: errorText(err) },
          'cannot review scrape tokens with the Kubernetes API: refusing /metrics (503) until it answers',
        );
      }
      return { allowed: false, status: 503, message: 'the Kubernetes API cannot review the token now' };
    }
    if (this.apiDown) {
      this.apiDown = false;
      this.opts.log.info({}, 'the Kubernetes API reviews scrape tokens again');
    }
    if (decision.allowed) {
      this.denied.delete(key);
      if (this.opts.allowedTtlMs > 0)
        remember(this.allowed, this.opts.maxEntries ?? 1024, key, { decision, expiresAt: Date.now() + this.opts.allowedTtlMs });
    } else {
      this.allowed.delete(key);
      if (this.opts.deniedTtlMs > 0)
        remember(this.denied, this.opts.maxDeniedEntries ?? 1024, key, { decision, expiresAt: Date.now() + this.opts.deniedTtlMs });
    }
    return decision;
  }

  private async decide(token: string): Promise<AccessDecision> {
    const tr = await this.authn.createTokenReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    const user = tr.status?.user;
    if (tr.status?.authenticated !== true || user === undefined) {
      return { allowed: false, status: 401, message: 'the token is not valid' };
    }
    const sar = await this.authz.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: user.username,
          groups: user.groups,
          uid: user.uid,
          extra: user.extra,
          nonResourceAttributes: { path: METRICS_PATH, verb: 'get' },
        },
      },
    });
    if (sar.status?.allowed === true) return { allowed: true };
    return { allowed: false, status: 403, message: `${user.username ?? 'this user'} may not get ${METRICS_PATH}` };
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    const ms = this.opts.reviewTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }
}

/** Adds an entry to a bounded map, the oldest going first when it is full. */
function remember(cache: Map<string, Entry>, max: number, key: string, entry: Entry): void {
  cache.delete(key);
  while (cache.size >= max) {
    const oldest = cache.keys().next().value;
    if (oldest === undefined) break;
    cache.delete(oldest);
  }
  cache.set(key, entry);
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${err.message.split('\n', 1)[0]}${code !== undefined ? ` (${String(code)})` : ''}`;
  }
  return String(err);
}
