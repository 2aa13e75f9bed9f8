// TLS on the metrics listener from a web config, with real handshakes and
// certificates made here by openssl: plain HTTP refused, every
// client_auth_type, TLS versions and cipher suites, response headers, and a
// certificate replaced on disk presented by the next handshake.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOCALHOST_SANS, makeCa, makeCert, type KeyPair } from '../support/certs.js';
import { httpGet, httpsGet, refused, serve, tempDir, writeWebConfig, type Served } from './serve.js';

describe('metrics over TLS (web config tls_server_config)', function () {
  const tmp = tempDir('dpx-tls-');
  let ca: KeyPair;
  let otherCa: KeyPair;
  let server: KeyPair;
  let client: KeyPair;
  let strangerClient: KeyPair;
  let served: Served | undefined;

  before(function () {
    ca = makeCa(tmp.dir, 'ca');
    otherCa = makeCa(tmp.dir, 'other-ca');
    server = makeCert(tmp.dir, 'server', ca, { cn: 'localhost', sans: LOCALHOST_SANS });
    client = makeCert(tmp.dir, 'client', ca, { cn: 'prometheus', client: true });
    strangerClient = makeCert(tmp.dir, 'stranger', otherCa, { cn: 'stranger', client: true });
  });

  afterEach(async function () {
    await served?.stop();
    served = undefined;
  });

  after(function () {
    tmp.remove();
  });

  async function start(tlsServerConfig: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<Served> {
    const webConfigFile = writeWebConfig(tmp.dir, {
      tls_server_config: { cert_file: server.cert, key_file: server.key, ...tlsServerConfig },
      ...extra,
    });
    served = await serve({ webConfigFile });
    return served;
  }

  const trustCa = () => ({ ca: readFileSync(ca.cert) });
  const withCert = (pair: KeyPair) => ({ ...trustCa(), cert: readFileSync(pair.cert), key: readFileSync(pair.key) });

  it('serves /metrics over TLS with the configured certificate, and refuses plain HTTP on that port', async function () {
    const { port } = await start({});
    const ok = await httpsGet(port, '/metrics', trustCa());
    assert.equal(ok.status, 200);
    assert.match(ok.body, /^test_scrapes_total 1$/m);
    assert.equal(ok.serverFingerprint, server.fingerprint);
    await refused(httpGet(port, '/metrics'));
  });

  it('is not trusted by a client that trusts another CA', async function () {
    const { port } = await start({});
    const err = await refused(httpsGet(port, '/metrics', { ca: readFileSync(otherCa.cert) }));
    assert.match(err.message, /self-signed|unable to verify|certificate/i);
  });

  describe('RequireAndVerifyClientCert', function () {
    beforeEach(async function () {
      await start({ client_auth_type: 'RequireAndVerifyClientCert', client_ca_file: ca.cert });
    });

    it('refuses a client without a certificate', async function () {
      await refused(httpsGet(served!.port, '/metrics', trustCa()));
    });

    it('refuses a client certificate of another CA', async function () {
      await refused(httpsGet(served!.port, '/metrics', withCert(strangerClient)));
    });

    it('serves a client certificate of the client CA', async function () {
      const a = await httpsGet(served!.port, '/metrics', withCert(client));
      assert.equal(a.status, 200);
      assert.match(a.body, /^test_scrapes_total 1$/m);
    });
  });

  describe('VerifyClientCertIfGiven (what the probes need when client certificates are in use)', function () {
    beforeEach(async function () {
      await start({ client_auth_type: 'VerifyClientCertIfGiven', client_ca_file: ca.cert });
    });

    it('serves a client without a certificate (the kubelet probes)', async function () {
      assert.equal((await httpsGet(served!.port, '/healthz', trustCa())).status, 200);
    });

    it('refuses a certificate of another CA and serves one of the client CA', async function () {
      await refused(httpsGet(served!.port, '/metrics', withCert(strangerClient)));
      assert.equal((await httpsGet(served!.port, '/metrics', withCert(client))).status, 200);
    });
  });

  it('RequireAnyClientCert: refuses a client without a certificate, accepts any certificate', async function () {
    const { port } = await start({ client_auth_type: 'RequireAnyClientCert' });
    await refused(httpsGet(port, '/metrics', trustCa()));
    assert.equal((await httpsGet(port, '/metrics', withCert(strangerClient))).status, 200);
  });

  it('RequestClientCert: serves clients with and without a certificate', async function () {
    const { port } = await start({ client_auth_type: 'RequestClientCert' });
    assert.equal((await httpsGet(port, '/metrics', trustCa())).status, 200);
    assert.equal((await httpsGet(port, '/metrics', withCert(strangerClient))).status, 200);
  });

  it('min_version TLS13 refuses a TLS 1.2 client and serves a TLS 1.3 one', async function () {
    const { port } = await start({ min_version: 'TLS13' });
    const err = await refused(httpsGet(port, '/metrics', { ...trustCa(), maxVersion: 'TLSv1.2' }));
    assert.match(err.message, /protocol version|alert|handshake/i);
    const ok = await httpsGet(port, '/metrics', trustCa());
    assert.equal(ok.protocol, 'TLSv1.3');
  });

  it('max_version TLS12 with cipher_suites: negotiates TLS 1.2 with the one listed suite only', async function () {
    const { port } = await start({ max_version: 'TLS12', cipher_suites: ['TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384'] });
    const ok = await httpsGet(port, '/metrics', trustCa());
    assert.equal(ok.protocol, 'TLSv1.2');
    assert.equal(ok.cipher, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384');
    await refused(httpsGet(port, '/metrics', { ...trustCa(), ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }));
  });

  it('sends the http_server_config headers on every answer', async function () {
    const { port } = await start(
      {},
      { http_server_config: { headers: { 'Strict-Transport-Security': 'max-age=31536000', 'X-Content-Type-Options': 'nosniff' } } },
    );
    for (const path of ['/metrics', '/healthz', '/nope']) {
      const a = await httpsGet(port, path, trustCa());
      assert.equal(a.headers['strict-transport-security'], 'max-age=31536000', path);
      assert.equal(a.headers['x-content-type-options'], 'nosniff', path);
    }
  });

  describe('certificate rotation, without a restart', function () {
    it('presents a certificate rewritten in place from the next handshake on', async function () {
      const files = { cert: join(tmp.dir, 'live.crt'), key: join(tmp.dir, 'live.key') };
      copyFileSync(server.cert, files.cert);
      copyFileSync(server.key, files.key);
      served = await serve({
        webConfigFile: writeWebConfig(tmp.dir, { tls_server_config: { cert_file: files.cert, key_file: files.key } }),
      });
      assert.equal((await httpsGet(served.port, '/metrics', trustCa())).serverFingerprint, server.fingerprint);

      const next = makeCert(tmp.dir, 'server-next', ca, { cn: 'localhost', sans: LOCALHOST_SANS });
      // The certificate first, the key after: in between the pair does not
      // match, and the previous one keeps serving.
      writeFileSync(files.cert, readFileSync(next.cert));
      const between = await httpsGet(served.port, '/metrics', trustCa());
      assert.equal(between.status, 200);
      assert.equal(between.serverFingerprint, server.fingerprint);
      writeFileSync(files.key, readFileSync(next.key));
      const after = await httpsGet(served.port, '/metrics', trustCa());
      assert.equal(after.status, 200);
      assert.equal(after.serverFingerprint, next.fingerprint);
      assert.ok(served.log.lines.some((l) => l.msg === 'TLS certificate reloaded'));
    });

    it('follows a Secret volume update (the ..data symlink swapped atomically)', async function () {
      // What the kubelet does with a Secret volume: files are symlinks into
      // ..data, itself a symlink to a timestamped directory replaced by rename.
      const vol = join(tmp.dir, 'secret-volume');
      const v1 = join(vol, '..2026_v1');
      const v2 = join(vol, '..2026_v2');
      for (const [dir, pair] of [
        [v1, server],
        [v2, makeCert(tmp.dir, 'server-v2', ca, { cn: 'localhost', sans: LOCALHOST_SANS })],
      ] as const) {
        mkdirSync(dir, { recursive: true });
        copyFileSync(pair.cert, join(dir, 'tls.crt'));
        copyFileSync(pair.key, join(dir, 'tls.key'));
      }
      symlinkSync('..2026_v1', join(vol, '..data'));
      symlinkSync('..data/tls.crt', join(vol, 'tls.crt'));
      symlinkSync('..data/tls.key', join(vol, 'tls.key'));
      served = await serve({
        webConfigFile: writeWebConfig(tmp.dir, { tls_server_config: { cert_file: join(vol, 'tls.crt'), key_file: join(vol, 'tls.key') } }),
      });
      assert.equal((await httpsGet(served.port, '/metrics', trustCa())).serverFingerprint, server.fingerprint);

      symlinkSync('..2026_v2', join(vol, '..data_tmp'));
      renameSync(join(vol, '..data_tmp'), join(vol, '..data'));
      const after = await httpsGet(served.port, '/metrics', trustCa());
      assert.equal(after.status, 200);
      assert.notEqual(after.serverFingerprint, server.fingerprint);
      assert.equal(after.serverFingerprint, makeFingerprint(join(v2, 'tls.crt')));
    });
  });
});

function makeFingerprint(certPath: string): string {
  return new X509Certificate(readFileSync(certPath)).fingerprint256;
}
