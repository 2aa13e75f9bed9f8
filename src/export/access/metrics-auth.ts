// Who may read /metrics, composed from the web config (TLS, basic auth,
// headers) and --metrics-auth (none or kubernetes). The HTTP server asks this
// for every request to /metrics (and /api/v1/drops); /healthz and /readyz
// never ask for basic auth or a token (the kubelet's probes carry no
// credentials). Client certificates are another matter: they are checked at
// the TLS layer, before any path is known, so with client_auth_type
// RequireAndVerifyClientCert (refused in the handshake) or
// RequireAnyClientCert (closed right after it) the kubelet's probes, which
// present no certificate, are refused too; VerifyClientCertIfGiven lets them
// in. --metrics-auth kubernetes without TLS is allowed but warned about once
// at start: the scrapers' bearer tokens would cross the network in cleartext.
import type { IncomingMessage } from 'node:http';
import type { KubeConfig } from '#kubernetes-client';
import { BasicAuth } from './basic-auth.js';
import { TlsContext, type TlsLog } from './tls-context.js';
import { loadWebConfig, WebConfigError } from './web-config.js';
import type { AccessDecision } from './access-decision.js';
import type { MetricsAuthMode } from './metrics-auth-mode.js';

/** The listener's protection; the default (no web config, no auth) is plain HTTP, open. */
export interface MetricsAccess {
  tls?: TlsContext;
  /** Response headers on every answer (http_server_config.headers). */
  headers: Record<string, string>;
  /** undefined: every request may read /metrics. */
  authorize?: (req: IncomingMessage) => Promise<AccessDecision>;
  /** The WWW-Authenticate challenge with a 401. */
  challenge?: string;
  /** For the start-up log line. */
  summary: { tls: boolean; clientAuth?: string; auth: 'none' | 'basic' | 'kubernetes' };
}

export const OPEN_ACCESS: MetricsAccess = { headers: {}, summary: { tls: false, auth: 'none' } };

/**
 * Paths the kubelet probes: never asked for basic auth or a bearer token. (A
 * TLS client_auth_type that requires a client certificate still refuses a
 * connection without one, probes included: see the file's header.)
 */
export const UNGUARDED_PATHS: readonly string[] = ['/healthz', '/readyz'];

export interface MetricsAccessOptions {
  webConfigFile?: string;
  auth: MetricsAuthMode;
  /** Needed for auth 'kubernetes'. */
  kubeConfig?: KubeConfig;
  allowedTtlMs: number;
  deniedTtlMs: number;
  log: TlsLog & { error(obj: object, msg: string): void };
}

/**
 * Builds the access policy; throws WebConfigError (one line, a usage error)
 * for a web config that is wrong or a combination that cannot work.
 */
export async function buildMetricsAccess(opts: MetricsAccessOptions): Promise<MetricsAccess> {
  const web = opts.webConfigFile === undefined ? undefined : loadWebConfig(opts.webConfigFile);
  let tls: TlsContext | undefined;
  if (web?.tls !== undefined) {
    try {
      tls = new TlsContext(web.tls, opts.log);
    } catch (err) {
      const reason = err instanceof Error ? err.message.split('\n', 1)[0] : String(err);
      throw new WebConfigError(
        `web config ${web.path}: cannot use ${web.tls.certFile} and ${web.tls.keyFile}${web.tls.clientCaFile ? ` and ${web.tls.clientCaFile}` : ''}: ${reason}`,
      );
    }
  }
  const access: MetricsAccess = {
    tls,
    headers: web?.headers ?? {},
    summary: { tls: tls !== undefined, clientAuth: tls?.config.clientAuthType, auth: 'none' },
  };
  const users = web?.basicAuthUsers ?? new Map<string, string>();
  if (opts.auth === 'kubernetes') {
    if (users.size > 0) {
      throw new WebConfigError(
        `web config ${web?.path ?? ''}: basic_auth_users and --metrics-auth kubernetes both want the Authorization header; use one`,
      );
    }
    if (opts.kubeConfig === undefined) {
      throw new WebConfigError('--metrics-auth kubernetes needs a Kubernetes configuration (in-cluster, --kubeconfig or $KUBECONFIG)');
    }
    const { KubernetesAuthorizer } = await import('./kubernetes-auth.js');
    const k8s = new KubernetesAuthorizer(opts.kubeConfig, {
      allowedTtlMs: opts.allowedTtlMs,
      deniedTtlMs: opts.deniedTtlMs,
      log: opts.log,
    });
    access.authorize = (req) => k8s.authorize(req.headers.authorization);
    access.challenge = 'Bearer realm="datapath-exporter"';
    access.summary.auth = 'kubernetes';
    if (tls === undefined) {
      opts.log.warn(
        { webConfigFile: opts.webConfigFile },
        "--metrics-auth kubernetes over plain HTTP: scrapers send their ServiceAccount tokens (Prometheus's) in cleartext, and anyone who sees one can use it against the API server as that ServiceAccount; serve TLS with a web config (--web-config-file with tls_server_config)",
      );
    }
  } else if (users.size > 0) {
    const basic = new BasicAuth(users);
    access.authorize = async (req) =>
      (await basic.check(req.headers.authorization))
        ? { allowed: true }
        : { allowed: false, status: 401, message: 'user name or password not accepted' };
    access.challenge = 'Basic realm="datapath-exporter", charset="UTF-8"';
    access.summary.auth = 'basic';
  }
  return access;
}
