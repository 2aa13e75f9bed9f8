// Where the agent finds the Kubernetes API: flag, in-cluster, KUBECONFIG, none.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { HttpMethod, KubeConfig, RequestContext } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../src/k8s/kube-config.js';
import { runCli } from '../support/exporter.js';

function kubeconfigText(server: string, context = 'ctx', token = 't0ken'): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${context}-cluster`,
    '  cluster:',
    `    server: ${server}`,
    'users:',
    `- name: ${context}-user`,
    '  user:',
    `    token: ${token}`,
    'contexts:',
    `- name: ${context}`,
    '  context:',
    `    cluster: ${context}-cluster`,
    `    user: ${context}-user`,
    `current-context: ${context}`,
    '',
  ].join('\n');
}

async function authorizationOf(kc: KubeConfig): Promise<string | undefined> {
  const ctx = new RequestContext(`${kc.getCurrentCluster()?.server ?? ''}/api/v1/pods`, HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  return ctx.getHeaders()['Authorization'];
}

describe('loadKubeConfig', function () {
  let dir: string;
  let serviceAccount: string;

  beforeEach(function () {
    dir = mkdtempSync(join(tmpdir(), 'kube-config-'));
    serviceAccount = join(dir, 'serviceaccount');
  });

  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  function fakeServiceAccount(): void {
    mkdirSync(serviceAccount, { recursive: true });
    writeFileSync(join(serviceAccount, 'token'), 'service-account-token');
    writeFileSync(join(serviceAccount, 'ca.crt'), 'not checked until a connection is made');
  }

  it('returns undefined without any Kubernetes (the agent runs node-level)', function () {
    assert.equal(loadKubeConfig({}, {}, serviceAccount), undefined);
    assert.equal(loadKubeConfig({ kubeconfig: '' }, { KUBECONFIG: '' }, serviceAccount), undefined);
  });

  it('loads the --kubeconfig file', async function () {
    const path = file('config', kubeconfigText('https://flag.example:6443', 'flag', 'flag-token'));
    const kc = loadKubeConfig({ kubeconfig: path }, {}, serviceAccount);
    assert.equal(kc?.getCurrentCluster()?.server, 'https://flag.example:6443');
    assert.equal(kc !== undefined ? await authorizationOf(kc) : undefined, 'Bearer flag-token');
  });

  it('fails clearly when the --kubeconfig path does not exist', function () {
    const missing = join(dir, 'nope.yaml');
    assert.throws(
      () => loadKubeConfig({ kubeconfig: missing }, {}, serviceAccount),
      (err: Error) => err.message === `kubeconfig ${missing} (from --kubeconfig) does not exist`,
    );
  });

  it('fails clearly when the kubeconfig does not parse', function () {
    const broken = file('broken', 'clusters: [ {name: x\n');
    assert.throws(
      () => loadKubeConfig({ kubeconfig: broken }, {}, serviceAccount),
      new RegExp(`^Error: kubeconfig ${broken} \\(from --kubeconfig\\) is not a valid kubeconfig: `),
    );
    const empty = file('empty', '');
    assert.throws(() => loadKubeConfig({ kubeconfig: empty }, {}, serviceAccount), /is not a valid kubeconfig/);
  });

  it('fails clearly when the kubeconfig has no usable context', function () {
    const prose = file('prose', 'just some text\n');
    assert.throws(() => loadKubeConfig({ kubeconfig: prose }, {}, serviceAccount), /no current-context/);
    const dangling = file('dangling', kubeconfigText('https://x:6443').replace('current-context: ctx', 'current-context: other'));
    assert.throws(() => loadKubeConfig({ kubeconfig: dangling }, {}, serviceAccount), /current-context "other" is not defined/);
  });

  it('fails clearly on an http server without insecure-skip-tls-verify (a kubectl proxy), which the client refuses', async function () {
    const proxy = file('proxy', kubeconfigText('http://127.0.0.1:8001'));
    assert.throws(
      () => loadKubeConfig({ kubeconfig: proxy }, {}, serviceAccount),
      (err: Error) =>
        err.message ===
        `kubeconfig from --kubeconfig (${proxy}): cluster "ctx-cluster" has an http:// server (http://127.0.0.1:8001) ` +
          'without insecure-skip-tls-verify, which the Kubernetes client refuses; ' +
          'for a kubectl proxy set insecure-skip-tls-verify: true on that cluster, otherwise use the https:// server',
    );
    assert.throws(
      () => loadKubeConfig({}, { KUBECONFIG: proxy }, serviceAccount),
      /from KUBECONFIG .*http:\/\/ server .*insecure-skip-tls-verify: true/,
    );
    const explicitFalse = file(
      'proxy-false',
      kubeconfigText('http://127.0.0.1:8001').replace('    server:', '    insecure-skip-tls-verify: false\n    server:'),
    );
    assert.throws(() => loadKubeConfig({ kubeconfig: explicitFalse }, {}, serviceAccount), /http:\/\/ server/);
    // The same file loaded by the client alone fails every request: what the watch retried forever.
    const raw = new KubeConfig();
    raw.loadFromFile(proxy);
    await assert.rejects(authorizationOf(raw), /HTTP protocol is not allowed when skipTLSVerify is not set or false/);
  });

  it('accepts an http server with insecure-skip-tls-verify: true, and the client builds requests to it', async function () {
    const proxy = file(
      'proxy',
      kubeconfigText('http://127.0.0.1:8001').replace('    server:', '    insecure-skip-tls-verify: true\n    server:'),
    );
    const kc = loadKubeConfig({ kubeconfig: proxy }, {}, serviceAccount);
    assert.equal(kc?.getCurrentCluster()?.server, 'http://127.0.0.1:8001');
    // The check the client makes for every request, passed.
    assert.equal(kc !== undefined ? await authorizationOf(kc) : undefined, 'Bearer t0ken');
  });

  it('run exits 2 with one line for that kubeconfig, before loading anything', function () {
    const proxy = file('proxy', kubeconfigText('http://127.0.0.1:8001'));
    const r = runCli(['run', '--kubeconfig', proxy, '--metrics-addr', '127.0.0.1:0', '--bpffs', join(dir, 'never')]);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.split('\n').filter((l) => l !== '').length, 1, r.stderr);
    assert.match(r.stderr, /^datapath-exporter: kubeconfig from --kubeconfig .*http:\/\/ server .*set insecure-skip-tls-verify: true/);
  });

  it('uses KUBECONFIG when there is no flag and no service account', function () {
    const path = file('env-config', kubeconfigText('https://env.example:6443'));
    const kc = loadKubeConfig({}, { KUBECONFIG: path }, serviceAccount);
    assert.equal(kc?.getCurrentCluster()?.server, 'https://env.example:6443');
  });

  it('merges a KUBECONFIG list, the first file winning', function () {
    const first = file('first', kubeconfigText('https://first.example', 'one'));
    const second = file('second', kubeconfigText('https://second.example', 'two'));
    const kc = loadKubeConfig({}, { KUBECONFIG: [first, second].join(delimiter) }, serviceAccount);
    assert.equal(kc?.getCurrentContext(), 'one');
    assert.deepEqual(
      kc?.getContexts().map((c) => c.name),
      ['one', 'two'],
    );
  });

  it('fails clearly when KUBECONFIG names a missing file', function () {
    const missing = join(dir, 'gone');
    assert.throws(() => loadKubeConfig({}, { KUBECONFIG: missing }, serviceAccount), /\(from KUBECONFIG\) does not exist/);
  });

  it('uses the service account in a pod', async function () {
    fakeServiceAccount();
    const kc = loadKubeConfig({}, { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccount);
    const cluster = kc?.getCurrentCluster();
    assert.equal(cluster?.server, 'https://10.96.0.1:443');
    assert.equal(cluster?.caFile, join(serviceAccount, 'ca.crt'));
    assert.equal(kc !== undefined ? await authorizationOf(kc) : undefined, 'Bearer service-account-token');
  });

  it('brackets an IPv6 service host', function () {
    fakeServiceAccount();
    const kc = loadKubeConfig({}, { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccount);
    assert.equal(kc?.getCurrentCluster()?.server, 'https://[fd00::1]:443');
  });

  it('prefers in-cluster to KUBECONFIG, and --kubeconfig to both', function () {
    fakeServiceAccount();
    const envPath = file('env-config', kubeconfigText('https://env.example:6443'));
    const flagPath = file('flag-config', kubeconfigText('https://flag.example:6443'));
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: envPath };
    assert.equal(loadKubeConfig({}, env, serviceAccount)?.getCurrentCluster()?.server, 'https://10.96.0.1:443');
    assert.equal(loadKubeConfig({ kubeconfig: flagPath }, env, serviceAccount)?.getCurrentCluster()?.server, 'https://flag.example:6443');
  });

  it('is not in-cluster without a service-account token', function () {
    const envPath = file('env-config', kubeconfigText('https://env.example:6443'));
    const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    assert.equal(loadKubeConfig({}, env, serviceAccount), undefined);
    assert.equal(
      loadKubeConfig({}, { ...env, KUBECONFIG: envPath }, serviceAccount)?.getCurrentCluster()?.server,
      'https://env.example:6443',
    );
  });
});
