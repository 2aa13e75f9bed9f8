// Where the agent finds the Kubernetes API, in this order:
//   1. --kubeconfig, when given: an explicit flag beats the environment;
//   2. in-cluster (a pod: KUBERNETES_SERVICE_HOST and a service-account token);
//   3. KUBECONFIG (one or more paths, like kubectl);
//   4. none: undefined, and the agent runs node-level without pod labels.
// A kubeconfig that is named but missing, broken or unusable (an http server
// the client refuses) is an error, never a silent fall back to node-level.
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { isIPv6 } from 'node:net';
import { KubeConfig } from '#kubernetes-client';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConfigOptions {
  /** Path of a kubeconfig file (the --kubeconfig flag). */
  kubeconfig?: string;
}

export function loadKubeConfig(
  opts: KubeConfigOptions,
  env: NodeJS.ProcessEnv = process.env,
  serviceAccountDir: string = SERVICE_ACCOUNT_DIR,
): KubeConfig | undefined {
  if (opts.kubeconfig !== undefined && opts.kubeconfig !== '') {
    return fromFiles([opts.kubeconfig], '--kubeconfig');
  }
  const host = env.KUBERNETES_SERVICE_HOST;
  if (host !== undefined && host !== '' && existsSync(join(serviceAccountDir, 'token'))) {
    return inCluster(host, env.KUBERNETES_SERVICE_PORT ?? '443', serviceAccountDir);
  }
  const fromEnv = (env.KUBECONFIG ?? '').split(delimiter).filter((p) => p !== '');
  if (fromEnv.length > 0) return fromFiles(fromEnv, 'KUBECONFIG');
  return undefined;
}

/** Loads the files in order; on a name clash the first file wins, as with kubectl. */
function fromFiles(paths: string[], source: string): KubeConfig {
  const merged = new KubeConfig();
  merged.loadFromOptions({ clusters: [], users: [], contexts: [], currentContext: '' });
  for (const path of paths) {
    const kc = readKubeconfig(path, source);
    for (const cluster of kc.clusters) if (!merged.getCluster(cluster.name)) merged.addCluster(cluster);
    for (const user of kc.users) if (!merged.getUser(user.name)) merged.addUser(user);
    for (const ctx of kc.contexts) if (!merged.getContextObject(ctx.name)) merged.addContext(ctx);
    if (!merged.currentContext) merged.currentContext = kc.currentContext;
  }
  const problem = unusable(merged);
  if (problem !== undefined) throw new Error(`kubeconfig from ${source} (${paths.join(delimiter)}): ${problem}`);
  return merged;
}

function readKubeconfig(path: string, source: string): KubeConfig {
  if (!existsSync(path)) throw new Error(`kubeconfig ${path} (from ${source}) does not exist`);
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n', 1)[0] : String(err);
    throw new Error(`kubeconfig ${path} (from ${source}) is not a valid kubeconfig: ${reason}`, { cause: err });
  }
  return kc;
}

function unusable(kc: KubeConfig): string | undefined {
  if (!kc.currentContext) return 'no current-context';
  if (kc.getContextObject(kc.currentContext) === null) return `current-context "${kc.currentContext}" is not defined`;
  const cluster = kc.getCurrentCluster();
  if (cluster === null) return `the cluster of context "${kc.currentContext}" is not defined`;
  if (cluster.server === undefined || cluster.server === '') return `cluster "${cluster.name}" has no server`;
  // client-node's own rule (config.js, createAgent): plain http without
  // skipTLSVerify and without a proxy-url fails every request, so the pod
  // watch would retry forever. Say so once, at start.
  if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify && !cluster.proxyUrl) {
    return (
      `cluster "${cluster.name}" has an http:// server (${cluster.server}) without insecure-skip-tls-verify, ` +
      'which the Kubernetes client refuses; for a kubectl proxy set insecure-skip-tls-verify: true on that cluster, ' +
      'otherwise use the https:// server'
    );
  }
  return undefined;
}

// Built here rather than with KubeConfig.loadFromCluster(), which reads
// process.env itself. The token is read through the tokenFile provider,
// which rereads it, so projected (rotating) tokens keep working.
function inCluster(host: string, port: string, serviceAccountDir: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'in-cluster',
        server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
        caFile: join(serviceAccountDir, 'ca.crt'),
        skipTLSVerify: false,
      },
    ],
    users: [
      {
        name: 'service-account',
        authProvider: { name: 'tokenFile', config: { tokenFile: join(serviceAccountDir, 'token') } },
      },
    ],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'service-account' }],
    currentContext: 'in-cluster',
  });
  return kc;
}
