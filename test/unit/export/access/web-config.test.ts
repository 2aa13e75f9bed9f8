// The web config parser: the exporter-toolkit's keys, Go names turned into
// OpenSSL's, and one line naming the problem for everything it refuses.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadWebConfig, parseWebConfig, WebConfigError } from '../../../../src/export/access/web-config.js';
import { LOCALHOST_SANS, makeCa, makeCert, type KeyPair } from '../../../support/certs.js';
import { tempDir, writeWebConfig } from '../../../auth/serve.js';

const HASH = '$2y$10$kJ4UGKg8Wq3wAVB8bJ4w2u7z2Io1rdmS6bQoF5SZh1q8X4Q7nO0Bu';

describe('web config (exporter-toolkit format)', function () {
  const tmp = tempDir('dpx-webcfg-');
  // Made while the suite is defined: the table of refusals below uses them.
  const ca: KeyPair = makeCa(tmp.dir, 'ca');
  const server: KeyPair = makeCert(tmp.dir, 'server', ca, { cn: 'localhost', sans: LOCALHOST_SANS });

  after(function () {
    tmp.remove();
  });

  const tlsWith = (extra: Record<string, unknown>) => ({ tls_server_config: { cert_file: server.cert, key_file: server.key, ...extra } });

  function refusal(config: unknown): string {
    const path = writeWebConfig(tmp.dir, config, 'refused.yaml');
    try {
      loadWebConfig(path);
    } catch (err) {
      assert.ok(err instanceof WebConfigError, `a WebConfigError, got ${String(err)}`);
      assert.equal(err.message.split('\n').length, 1, 'one line');
      assert.ok(err.message.startsWith(`web config ${path}: `), err.message);
      return err.message;
    }
    assert.fail('expected the web config to be refused');
  }

  it('reads every key of the format', function () {
    const path = writeWebConfig(tmp.dir, {
      ...tlsWith({
        client_auth_type: 'RequireAndVerifyClientCert',
        client_ca_file: ca.cert,
        min_version: 'TLS12',
        max_version: 'TLS13',
        cipher_suites: ['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
        prefer_server_cipher_suites: false,
        curve_preferences: ['X25519', 'CurveP256'],
      }),
      http_server_config: { http2: true, headers: { 'x-frame-options': 'deny' } },
      basic_auth_users: { prometheus: HASH },
    });
    const c = loadWebConfig(path);
    assert.deepEqual(c.tls, {
      certFile: server.cert,
      keyFile: server.key,
      clientAuthType: 'RequireAndVerifyClientCert',
      clientCaFile: ca.cert,
      minVersion: 'TLSv1.2',
      maxVersion: 'TLSv1.3',
      ciphers: 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305',
      honorCipherOrder: false,
      ecdhCurve: 'X25519:P-256',
    });
    assert.deepEqual(c.headers, { 'X-Frame-Options': 'deny' });
    assert.deepEqual([...c.basicAuthUsers], [['prometheus', HASH]]);
  });

  it('defaults like the exporter-toolkit: NoClientCert, TLS 1.2 minimum; an empty file is plain HTTP without auth', function () {
    const c = loadWebConfig(writeWebConfig(tmp.dir, tlsWith({})));
    assert.equal(c.tls?.clientAuthType, 'NoClientCert');
    assert.equal(c.tls?.minVersion, 'TLSv1.2');
    const empty = loadWebConfig(writeWebConfig(tmp.dir, '', 'empty.yaml'));
    assert.equal(empty.tls, undefined);
    assert.equal(empty.basicAuthUsers.size, 0);
  });

  it('resolves relative file names against the web config file directory', function () {
    const c = parseWebConfig('tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n', join(tmp.dir, 'web.yml'));
    assert.equal(c.tls?.certFile, server.cert);
  });

  const refused: Array<[string, unknown, RegExp]> = [
    ['an unknown top-level key', { tls_config: {} }, /unknown key tls_config \(known: tls_server_config/],
    ['an unknown key in tls_server_config', tlsWith({ cert: 'x' }), /unknown key tls_server_config\.cert \(known:/],
    [
      'a cert file that does not exist',
      tlsWith({ cert_file: '/nonexistent/tls.crt' }),
      /cert_file \/nonexistent\/tls\.crt: does not exist/,
    ],
    ['a missing key_file', { tls_server_config: { cert_file: 'x' } }, /key_file is required/],
    [
      'an unknown client_auth_type',
      tlsWith({ client_auth_type: 'RequireClientCertPlease' }),
      /"RequireClientCertPlease" is not one of NoClientCert, /,
    ],
    ['a verifying mode without client_ca_file', tlsWith({ client_auth_type: 'RequireAndVerifyClientCert' }), /needs client_ca_file/],
    ['an unknown TLS version', tlsWith({ min_version: 'TLS14' }), /"TLS14" is not a TLS version/],
    ['max_version below min_version', tlsWith({ min_version: 'TLS13', max_version: 'TLS12' }), /max_version is below min_version/],
    ['a cipher suite name Go does not have', tlsWith({ cipher_suites: ['ECDHE-RSA-AES128-GCM-SHA256'] }), /not a Go cipher suite name/],
    [
      'a cipher suite Node cannot use (3DES)',
      tlsWith({ cipher_suites: ['TLS_RSA_WITH_3DES_EDE_CBC_SHA'] }),
      /TLS_RSA_WITH_3DES_EDE_CBC_SHA \(OpenSSL DES-CBC3-SHA\) is not available/,
    ],
    ['a TLS 1.3 suite', tlsWith({ cipher_suites: ['TLS_AES_128_GCM_SHA256'] }), /TLS 1\.3 suite, which is not configurable/],
    ['an unknown curve', tlsWith({ curve_preferences: ['P256'] }), /"P256" is not one of CurveP256/],
    ['a header the toolkit does not allow', { http_server_config: { headers: { 'X-Powered-By': 'me' } } }, /X-Powered-By is not allowed/],
    [
      'a bad X-Frame-Options',
      { http_server_config: { headers: { 'X-Frame-Options': 'allow' } } },
      /"allow" is not one of deny, sameorigin/,
    ],
    [
      'a password instead of a bcrypt hash',
      { basic_auth_users: { prometheus: 'secret' } },
      /basic_auth_users\.prometheus: not a bcrypt hash/,
    ],
    ['not a mapping', ['a', 'list'], /the file must be a mapping/],
  ];
  for (const [what, config, message] of refused) {
    it(`refuses ${what}, in one line`, function () {
      assert.match(refusal(config), message);
    });
  }

  it('refuses YAML that does not parse, and a duplicate key', function () {
    assert.match(refusal('tls_server_config: [\n'), /not valid YAML/);
    assert.match(refusal('basic_auth_users: {}\nbasic_auth_users: {}\n'), /not valid YAML: .*unique/i);
  });

  it('refuses a web config file that does not exist', function () {
    assert.throws(() => loadWebConfig(join(tmp.dir, 'absent.yaml')), /web config .*absent\.yaml: does not exist/);
  });
});
