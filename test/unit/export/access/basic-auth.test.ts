// basic_auth_users: bcrypt hashes checked with bcryptjs, over real HTTP(S);
// the probe paths need no credentials.
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { readFileSync } from 'node:fs';
import { BasicAuth, parseBasicAuthorization } from '../../../../src/export/access/basic-auth.js';
import { LOCALHOST_SANS, makeCa, makeCert } from '../../../support/certs.js';
import { basic, httpGet, httpsGet, serve, tempDir, writeWebConfig, type Served } from '../../../auth/serve.js';

describe('basic auth (web config basic_auth_users)', function () {
  const tmp = tempDir('dpx-basic-');
  const hash = bcrypt.hashSync('scrape-me', 4);
  let served: Served | undefined;

  afterEach(async function () {
    await served?.stop();
    served = undefined;
  });

  after(function () {
    tmp.remove();
  });

  it('answers 401 with a Basic challenge without credentials or with a wrong password, 200 with the right one', async function () {
    served = await serve({ webConfigFile: writeWebConfig(tmp.dir, { basic_auth_users: { prometheus: hash } }) });
    const none = await httpGet(served.port, '/metrics');
    assert.equal(none.status, 401);
    assert.match(String(none.headers['www-authenticate']), /^Basic realm=/);
    assert.doesNotMatch(none.body, /test_scrapes/);
    assert.equal((await httpGet(served.port, '/metrics', basic('prometheus', 'wrong'))).status, 401);
    assert.equal((await httpGet(served.port, '/metrics', basic('nobody', 'scrape-me'))).status, 401);
    assert.equal((await httpGet(served.port, '/metrics', { authorization: 'Bearer scrape-me' })).status, 401);
    const ok = await httpGet(served.port, '/metrics', basic('prometheus', 'scrape-me'));
    assert.equal(ok.status, 200);
    assert.match(ok.body, /^test_scrapes_total 1$/m);
    // Again: from the cache of verified credentials, the same answer.
    assert.equal((await httpGet(served.port, '/metrics', basic('prometheus', 'scrape-me'))).status, 200);
    assert.equal((await httpGet(served.port, '/metrics', basic('prometheus', 'scrape-me!'))).status, 401);
  });

  it('answers /healthz and /readyz without credentials', async function () {
    served = await serve({ webConfigFile: writeWebConfig(tmp.dir, { basic_auth_users: { prometheus: hash } }) });
    for (const path of ['/healthz', '/readyz']) assert.equal((await httpGet(served.port, path)).status, 200, path);
  });

  it('works behind TLS too', async function () {
    const ca = makeCa(tmp.dir, 'ca');
    const server = makeCert(tmp.dir, 'server', ca, { cn: 'localhost', sans: LOCALHOST_SANS });
    served = await serve({
      webConfigFile: writeWebConfig(tmp.dir, {
        tls_server_config: { cert_file: server.cert, key_file: server.key },
        basic_auth_users: { prometheus: hash },
      }),
    });
    const tls = { ca: readFileSync(ca.cert) };
    assert.equal((await httpsGet(served.port, '/metrics', tls)).status, 401);
    assert.equal((await httpsGet(served.port, '/metrics', tls, basic('prometheus', 'scrape-me'))).status, 200);
    assert.equal((await httpsGet(served.port, '/readyz', tls)).status, 200);
  });

  it('keeps verified credentials apart: a password is never accepted for another user or a changed hash', async function () {
    const other = bcrypt.hashSync('other-secret', 4);
    const auth = new BasicAuth(
      new Map([
        ['a', hash],
        ['b', other],
      ]),
    );
    const header = (u: string, p: string) => basic(u, p).authorization;
    assert.equal(await auth.check(header('a', 'scrape-me')), true);
    assert.equal(await auth.check(header('b', 'scrape-me')), false);
    assert.equal(await auth.check(header('b', 'other-secret')), true);
    const rotated = new BasicAuth(new Map([['a', other]]));
    assert.equal(await rotated.check(header('a', 'scrape-me')), false);
  });

  it('parses the Authorization header (a colon in the password is part of it)', function () {
    assert.deepEqual(parseBasicAuthorization(basic('u', 'p:w').authorization), { user: 'u', password: 'p:w' });
    assert.equal(parseBasicAuthorization('Basic !!!'), undefined);
    assert.equal(parseBasicAuthorization(undefined), undefined);
  });
});
