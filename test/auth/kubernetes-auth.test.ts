// --metrics-auth kubernetes against the suite's own API server, through a
// kubeconfig and the real @kubernetes/client-node: TokenReview then
// SubjectAccessReview for get on /metrics, cached decisions, fail closed
// while the API server is away, a flood of bad tokens (it cannot evict an
// allowed decision, and only a few reviews run at once), and the warning
// that tokens travel in cleartext without TLS.
import assert from 'node:assert/strict';
import { loadKubeConfig } from '../../src/k8s/kube-config.js';
import { KubeApiServer } from '../support/kube-api-server.js';
import { LOCALHOST_SANS, makeCa, makeCert } from '../support/certs.js';
import { bearer, httpGet, serve, tempDir, writeWebConfig, type Served } from './serve.js';

describe('Kubernetes authorization of /metrics (TokenReview + SubjectAccessReview)', function () {
  const tmp = tempDir('dpx-k8sauth-');
  let api: KubeApiServer;
  let served: Served | undefined;

  const PROMETHEUS = {
    username: 'system:serviceaccount:monitoring:prometheus-k8s',
    uid: 'uid-prom',
    groups: ['system:serviceaccounts', 'system:authenticated'],
    extra: { 'authentication.kubernetes.io/pod-name': ['prometheus-k8s-0'] },
  };
  const INTRUDER = {
    username: 'system:serviceaccount:default:curious',
    uid: 'uid-curious',
    groups: ['system:serviceaccounts', 'system:authenticated'],
  };

  beforeEach(async function () {
    api = await KubeApiServer.start();
    api.addUser('prometheus-token', PROMETHEUS);
    api.addUser('intruder-token', INTRUDER);
    api.allowNonResource({ user: PROMETHEUS.username }, '/metrics', 'get');
  });

  afterEach(async function () {
    await served?.stop();
    served = undefined;
    await api.stop();
  });

  after(function () {
    tmp.remove();
  });

  async function start(ttl: { allowedTtlMs?: number; deniedTtlMs?: number } = {}): Promise<Served> {
    const kubeConfig = loadKubeConfig({ kubeconfig: api.writeKubeconfig(tmp.dir) });
    served = await serve({
      auth: 'kubernetes',
      kubeConfig,
      allowedTtlMs: ttl.allowedTtlMs ?? 600_000,
      deniedTtlMs: ttl.deniedTtlMs ?? 600_000,
    });
    return served;
  }

  it('serves a token whose user may get /metrics, passing the user, uid, groups and extra to the SubjectAccessReview', async function () {
    const { port } = await start();
    const a = await httpGet(port, '/metrics', bearer('prometheus-token'));
    assert.equal(a.status, 200);
    assert.match(a.body, /^test_scrapes_total 1$/m);
    assert.equal(api.tokenReviews, 1);
    assert.deepEqual(
      api.accessReviews.map(({ user, uid, groups, extra, nonResourceAttributes, resourceAttributes, allowed }) => ({
        user,
        uid,
        groups,
        extra,
        nonResourceAttributes,
        resourceAttributes,
        allowed,
      })),
      [
        {
          user: PROMETHEUS.username,
          uid: PROMETHEUS.uid,
          groups: PROMETHEUS.groups,
          extra: PROMETHEUS.extra,
          nonResourceAttributes: { path: '/metrics', verb: 'get' },
          resourceAttributes: undefined,
          allowed: true,
        },
      ],
    );
  });

  it('answers 403 to a valid token whose user may not get /metrics', async function () {
    const { port } = await start();
    const a = await httpGet(port, '/metrics', bearer('intruder-token'));
    assert.equal(a.status, 403);
    assert.doesNotMatch(a.body, /test_scrapes/);
    assert.equal(api.accessReviews.length, 1);
  });

  it('allows through a group grant too', async function () {
    api.allowNonResource({ group: 'system:serviceaccounts' }, '/metrics', 'get');
    const { port } = await start();
    assert.equal((await httpGet(port, '/metrics', bearer('intruder-token'))).status, 200);
  });

  it('answers 401 with a Bearer challenge to an unknown token, and to no token (without asking the API)', async function () {
    const { port } = await start();
    const unknown = await httpGet(port, '/metrics', bearer('made-up'));
    assert.equal(unknown.status, 401);
    assert.match(String(unknown.headers['www-authenticate']), /^Bearer /);
    assert.equal(api.tokenReviews, 1);
    assert.equal(api.accessReviews.length, 0, 'no SubjectAccessReview for a token that names no one');
    assert.equal((await httpGet(port, '/metrics')).status, 401);
    assert.equal((await httpGet(port, '/metrics', { authorization: 'Basic cHJvbTpwcm9t' })).status, 401);
    assert.equal(api.tokenReviews, 1);
  });

  it('answers /healthz and /readyz without a token', async function () {
    const { port } = await start();
    for (const path of ['/healthz', '/readyz']) assert.equal((await httpGet(port, path)).status, 200, path);
    assert.equal(api.tokenReviews, 0);
  });

  it('reviews a token once for N scrapes within the cache time, allowed or denied, even when they come at once', async function () {
    const { port } = await start();
    for (let i = 0; i < 5; i++) assert.equal((await httpGet(port, '/metrics', bearer('prometheus-token'))).status, 200);
    const together = await Promise.all(Array.from({ length: 5 }, () => httpGet(port, '/metrics', bearer('intruder-token'))));
    assert.deepEqual(
      together.map((a) => a.status),
      [403, 403, 403, 403, 403],
    );
    for (let i = 0; i < 3; i++) assert.equal((await httpGet(port, '/metrics', bearer('made-up'))).status, 401);
    assert.equal(api.tokenReviews, 3, 'one TokenReview per token');
    assert.equal(api.accessReviews.length, 2, 'one SubjectAccessReview per authenticated token');
  });

  it('asks every time with a cache time of 0', async function () {
    const { port } = await start({ allowedTtlMs: 0, deniedTtlMs: 0 });
    for (let i = 0; i < 3; i++) assert.equal((await httpGet(port, '/metrics', bearer('prometheus-token'))).status, 200);
    assert.equal(api.tokenReviews, 3);
  });

  it('fails closed (503) while the API server is down, logs it once, and serves again when it is back', async function () {
    const { port, log } = await start({ allowedTtlMs: 0 });
    assert.equal((await httpGet(port, '/metrics', bearer('prometheus-token'))).status, 200);
    await api.stop();
    for (let i = 0; i < 3; i++) {
      const a = await httpGet(port, '/metrics', bearer('prometheus-token'));
      assert.equal(a.status, 503);
      assert.doesNotMatch(a.body, /test_scrapes/);
    }
    await api.restart();
    assert.equal((await httpGet(port, '/metrics', bearer('prometheus-token'))).status, 200);
    assert.deepEqual(
      log.lines.filter((l) => l.level !== 'warn').map((l) => `${l.level}: ${l.msg}`),
      [
        'error: cannot review scrape tokens with the Kubernetes API: refusing /metrics (503) until it answers',
        'info: the Kubernetes API reviews scrape tokens again',
      ],
    );
  });

  it('fails closed (503) when the API server refuses the agent itself (no RBAC for tokenreviews)', async function () {
    const { port } = await start();
    api.failRequestsWith(403);
    assert.equal((await httpGet(port, '/metrics', bearer('prometheus-token'))).status, 503);
    api.failRequestsWith(undefined);
    assert.equal((await httpGet(port, '/metrics', bearer('prometheus-token'))).status, 200);
  });

  it('keeps an allowed token through a flood of 2,000 distinct bad tokens: no new review for it', async function () {
    this.timeout(120_000);
    const { port } = await start();
    assert.equal((await httpGet(port, '/metrics', bearer('prometheus-token'))).status, 200);
    assert.equal(api.tokenReviews, 1);
    // In batches no larger than the in-flight bound, so every one is reviewed (and denied).
    for (let i = 0; i < 2000; i += 8) {
      const batch = await Promise.all(Array.from({ length: 8 }, (_, j) => httpGet(port, '/metrics', bearer(`flood-${i + j}`))));
      assert.deepEqual(new Set(batch.map((a) => a.status)), new Set([401]));
    }
    assert.equal(api.tokenReviews, 2001);
    const again = await httpGet(port, '/metrics', bearer('prometheus-token'));
    assert.equal(again.status, 200);
    assert.equal(api.tokenReviews, 2001, 'the allowed decision was still cached');
    assert.equal(api.accessReviews.length, 1);
  });

  it('reviews at most 8 different tokens at once: past that 503 without asking the API; one token still shares one review', async function () {
    const { port } = await start();
    api.holdReviews();
    const held = Array.from({ length: 8 }, (_, i) => httpGet(port, '/metrics', bearer(`burst-${i}`)));
    const deadline = Date.now() + 10_000;
    while (api.heldReviewCount < 8 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(api.heldReviewCount, 8, 'reviews the API server holds');
    // 12 more tokens while those 8 are under review: refused at once, the API is not asked.
    const over = await Promise.all(Array.from({ length: 12 }, (_, i) => httpGet(port, '/metrics', bearer(`burst-${8 + i}`))));
    for (const a of over) {
      assert.equal(a.status, 503);
      assert.equal(a.body, 'too many token reviews in flight\n');
    }
    // A token already under review joins its review.
    const sameToken = Array.from({ length: 3 }, () => httpGet(port, '/metrics', bearer('burst-0')));
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(api.heldReviewCount, 8, 'no review past the bound');
    assert.equal(api.tokenReviews, 0);
    api.releaseReviews();
    const reviewed = await Promise.all([...held, ...sameToken]);
    assert.deepEqual(
      reviewed.map((a) => a.status),
      Array.from({ length: 11 }, () => 401),
    );
    assert.equal(api.tokenReviews, 8);
    // The slots are free again once the reviews are done.
    assert.equal((await httpGet(port, '/metrics', bearer('prometheus-token'))).status, 200);
    assert.equal(api.tokenReviews, 9);
  });

  it('warns once at start that tokens travel in cleartext without TLS, and not with TLS', async function () {
    const { log } = await start();
    const warnings = log.lines.filter((l) => l.level === 'warn');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]?.msg ?? '', /cleartext/);
    assert.match(warnings[0]?.msg ?? '', /tls_server_config/);
    await served?.stop();
    served = undefined;

    const ca = makeCa(tmp.dir, 'ca');
    const cert = makeCert(tmp.dir, 'server', ca, { cn: 'localhost', sans: LOCALHOST_SANS });
    const webConfigFile = writeWebConfig(tmp.dir, { tls_server_config: { cert_file: cert.cert, key_file: cert.key } });
    const kubeConfig = loadKubeConfig({ kubeconfig: api.writeKubeconfig(tmp.dir) });
    served = await serve({ auth: 'kubernetes', kubeConfig, webConfigFile });
    assert.deepEqual(
      served.log.lines.filter((l) => l.level === 'warn'),
      [],
    );
  });
});
