// --metrics-auth kubernetes: what kube-rbac-proxy and controller-runtime's
// metrics filter do, inside the agent. A scrape's bearer token is checked by
// the API server (TokenReview), then the user it names must be allowed `get`
// on the non-resource URL /metrics (SubjectAccessReview).
//
// Decisions are cached per token (keyed by its SHA-256, never the token
// itself) for a short time: allowed for allowedTtlMs, unauthenticated or
// denied for deniedTtlMs, in a bounded map (the oldest entry goes first).
// Concurrent scrapes with one token share one review. While the API server
// cannot answer, scrapes are refused with 503 (fail closed; nothing is cached)
// and the change of state is logged once each way.
//
// Loaded (import()) only when this mode is on.
import { createHash } from 'node:crypto';
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '#kubernetes-client';
import type { AccessDecision } from './metrics-auth.js';

export interface KubernetesAuthOptions {
  allowedTtlMs: number;
  deniedTtlMs: number;
  /** Most tokens remembered at once. */
  maxEntries?: number;
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

export class KubernetesAuthorizer {
  private readonly authn: AuthenticationV1Api;
  private readonly authz: AuthorizationV1Api;
  private readonly cache = new Map<string, Entry>();
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
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      if (cached.expiresAt > now) return cached.decision;
      this.cache.delete(key);
    }
    let pending = this.inflight.get(key);
    if (pending === undefined) {
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
        this.opts.log.error({ err: errorText(err) }, 'cannot review scrape tokens with the Kubernetes API: refusing /metrics (503) until it answers');
      }
      return { allowed: false, status: 503, message: 'the Kubernetes API cannot review the token now' };
    }
    if (this.apiDown) {
      this.apiDown = false;
      this.opts.log.info({}, 'the Kubernetes API reviews scrape tokens again');
    }
    const ttl = decision.allowed ? this.opts.allowedTtlMs : this.opts.deniedTtlMs;
    if (ttl > 0) this.remember(key, { decision, expiresAt: Date.now() + ttl });
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

  private remember(key: string, entry: Entry): void {
    this.cache.delete(key);
    while (this.cache.size >= (this.opts.maxEntries ?? 1024)) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
    this.cache.set(key, entry);
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

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return `${err.message.split('\n', 1)[0]}${code !== undefined ? ` (${String(code)})` : ''}`;
  }
  return String(err);
}
