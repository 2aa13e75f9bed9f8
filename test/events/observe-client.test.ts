// `datapath-exporter observe` as a client: the real CLI against small HTTP(S)
// servers of the test's own that answer GET /api/v1/drops as the agent does
// (NDJSON), or as a proxy in front of it might (an error page, a 403). No BPF.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { LOCALHOST_SANS, makeCa, makeCert, type KeyPair } from '../support/certs.js';
import { CLI, type CliResult } from '../support/exporter.js';
import { oneLine } from '../support/cli-output.js';

const EVENT = {
  time: '2024-11-25T15:14:00.109123456Z',
  timeUnixNano: '1732547640109123456',
  reason: 'NO_SOCKET',
  location: '__udp4_lib_rcv',
  direction: 'ingress',
  ifindex: 7,
  protocol: 'UDP',
  ipVersion: 4,
  source: { ip: '10.0.0.1', port: 40123, namespace: 'front', pod: 'client' },
  destination: { ip: '10.0.0.2', port: 9, namespace: 'back', pod: 'server' },
  length: 29,
};
const LINE = 'Nov 25 15:14:00.109  front/client:40123 -> back/server:9  UDP  NO_SOCKET  __udp4_lib_rcv  ingress';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Answers NDJSON lines as the agent's /api/v1/drops does. */
function ndjson(lines: string[]): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.end(lines.map((l) => `${l}\n`).join(''));
  };
}

/** Runs the built CLI without blocking this process (the servers live here). */
function observe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const base = { ...process.env };
  delete base.DATAPATH_EXPORTER_TOKEN;
  delete base.DATAPATH_EXPORTER_PASSWORD;
  const child = spawn(process.execPath, [CLI, 'observe', ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  return new Promise((resolve) =>
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    }),
  );
}

/** Exactly one line on stderr, prefixed as the CLI's errors (and commander's) are. */
function cliError(r: CliResult): string {
  return oneLine(r.stderr, /^(datapath-exporter|error): /);
}

describe('observe as a client of /api/v1/drops', function () {
  this.timeout(60_000);
  let dir: string;
  let ca: KeyPair;
  let otherCa: KeyPair;
  let serverCert: KeyPair;
  let clientCert: KeyPair;
  let server: Server | undefined;
  const seen: IncomingMessage[] = [];

  before(function () {
    dir = mkdtempSync(join(tmpdir(), 'dpx-observe-'));
    ca = makeCa(dir, 'ca');
    otherCa = makeCa(dir, 'other-ca');
    serverCert = makeCert(dir, 'server', ca, { cn: 'localhost', sans: LOCALHOST_SANS });
    clientCert = makeCert(dir, 'client', ca, { cn: 'observer', client: true });
  });

  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  afterEach(async function () {
    seen.length = 0;
    const s = server;
    server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  async function listen(s: Server, handler: Handler): Promise<string> {
    s.on('request', (req: IncomingMessage, res: ServerResponse) => {
      seen.push(req);
      handler(req, res);
    });
    server = s;
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return `127.0.0.1:${(s.address() as AddressInfo).port}`;
  }

  const http = (handler: Handler) => listen(createHttpServer(), handler);
  const https = (handler: Handler, opts: { clientCa?: string } = {}) =>
    listen(
      createHttpsServer({
        cert: readFileSync(serverCert.cert),
        key: readFileSync(serverCert.key),
        ...(opts.clientCa ? { ca: readFileSync(opts.clientCa), requestCert: true, rejectUnauthorized: true } : {}),
      }),
      handler,
    );

  it('prints a good stream, one line a drop, and says where the reader fell behind', async function () {
    const addr = await http(ndjson([JSON.stringify(EVENT), JSON.stringify({ skipped: 3 }), JSON.stringify(EVENT)]));
    const r = await observe(['--addr', addr]);
    assert.equal(r.stderr, '');
    assert.equal(r.status, 0);
    assert.equal(r.stdout, `${LINE}\n(3 drops skipped: this reader fell behind)\n${LINE}\n`);
    assert.equal(seen[0]?.url, '/api/v1/drops');
    const json = await observe(['--addr', addr, '--output', 'json', '--follow']);
    assert.equal(json.status, 0);
    assert.equal(json.stdout, `${JSON.stringify(EVENT)}\n${JSON.stringify({ skipped: 3 })}\n${JSON.stringify(EVENT)}\n`);
    assert.equal(seen[1]?.url, '/api/v1/drops?follow=1');
  });

  it('stops at a line that is not JSON with one line on stderr and exit 1 (table and json output)', async function () {
    const addr = await http(ndjson([JSON.stringify(EVENT), '<html><body>502 Bad Gateway</body></html>', JSON.stringify(EVENT)]));
    for (const output of ['table', 'json']) {
      const r = await observe(['--addr', addr, '--output', output]);
      assert.equal(r.status, 1, output);
      assert.match(cliError(r), /line 2 .*is not JSON.*<html>/);
      // What came before it was printed; nothing after it.
      assert.equal(r.stdout.split('\n').filter((l) => l !== '').length, 1, output);
    }
  });

  it('stops at a line that is JSON but no drop event (a truncated or foreign line)', async function () {
    const addr = await http(ndjson(['{"time":"2024-11-25T15:14:00.1', '[1,2,3]', 'null']));
    const r = await observe(['--addr', addr]);
    assert.equal(r.status, 1);
    cliError(r);
    for (const line of ['[1,2,3]', 'null']) {
      const s = await observe(['--addr', await restart(ndjson([line]))]);
      assert.equal(s.status, 1, line);
      assert.match(cliError(s), /line 1 .*not a drop event/, line);
    }
  });

  async function restart(handler: Handler): Promise<string> {
    const s = server;
    server = undefined;
    if (s) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
    return http(handler);
  }

  it('turns a non-200 answer into one line with the status and the first line of the body, exit 1', async function () {
    for (const [status, body] of [
      [403, 'Forbidden: user "system:anonymous" cannot get path "/api/v1/drops"\nsecond line\n'],
      [401, 'Unauthorized\n'],
      [503, '<html>\n<head><title>503 Service Temporarily Unavailable</title></head>\n</html>\n'],
    ] as const) {
      const addr = await restart((_req, res) => {
        res.writeHead(status, { 'content-type': 'text/plain' });
        res.end(body);
      });
      const r = await observe(['--addr', addr]);
      assert.equal(r.status, 1, String(status));
      const line = cliError(r);
      assert.match(line, new RegExp(`answered ${status}`));
      assert.ok(line.includes(body.split('\n')[0] ?? ''), line);
      assert.equal(r.stdout, '');
    }
  });

  it("--cacert trusts the CA that signed the agent's certificate; without it (or with another CA) the handshake fails in one line", async function () {
    const addr = await https(ndjson([JSON.stringify(EVENT)]));
    const ok = await observe(['--addr', addr, '--tls', '--cacert', ca.cert]);
    assert.equal(ok.stderr, '');
    assert.equal(ok.status, 0);
    assert.equal(ok.stdout, `${LINE}\n`);
    for (const args of [[], ['--cacert', otherCa.cert]]) {
      const r = await observe(['--addr', addr, '--tls', ...args]);
      assert.equal(r.status, 1, args.join(' '));
      assert.match(cliError(r), /certificate/, args.join(' '));
    }
  });

  it('--cert/--key present a client certificate to an agent that requires one', async function () {
    let presented: string | undefined;
    const addr = await https(
      (req, res) => {
        presented = String((req.socket as TLSSocket).getPeerCertificate().subject.CN);
        ndjson([JSON.stringify(EVENT)])(req, res);
      },
      { clientCa: ca.cert },
    );
    const ok = await observe(['--addr', addr, '--tls', '--cacert', ca.cert, '--cert', clientCert.cert, '--key', clientCert.key]);
    assert.equal(ok.stderr, '');
    assert.equal(ok.status, 0);
    assert.equal(ok.stdout, `${LINE}\n`);
    assert.equal(presented, 'observer');
    const without = await observe(['--addr', addr, '--tls', '--cacert', ca.cert]);
    assert.equal(without.status, 1);
    assert.match(cliError(without), /client certificate/);
  });

  it('--user sends basic auth with the password from $DATAPATH_EXPORTER_PASSWORD', async function () {
    const addr = await http((req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('prometheus:s3cret:x').toString('base64')}`) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="datapath-exporter"' });
        res.end('Unauthorized\n');
        return;
      }
      ndjson([JSON.stringify(EVENT)])(req, res);
    });
    const ok = await observe(['--addr', addr, '--user', 'prometheus'], { DATAPATH_EXPORTER_PASSWORD: 's3cret:x' });
    assert.equal(ok.stderr, '');
    assert.equal(ok.status, 0);
    assert.equal(ok.stdout, `${LINE}\n`);
    // An ambient $DATAPATH_EXPORTER_TOKEN does not override an explicit --user.
    const both = await observe(['--addr', addr, '--user', 'prometheus'], {
      DATAPATH_EXPORTER_PASSWORD: 's3cret:x',
      DATAPATH_EXPORTER_TOKEN: 't',
    });
    assert.equal(both.status, 0, both.stderr);
    const wrong = await observe(['--addr', addr, '--user', 'prometheus'], { DATAPATH_EXPORTER_PASSWORD: 'nope' });
    assert.equal(wrong.status, 1);
    assert.match(cliError(wrong), /answered 401/);
    const none = await observe(['--addr', addr, '--user', 'prometheus']);
    assert.equal(none.status, 2);
    assert.match(cliError(none), /DATAPATH_EXPORTER_PASSWORD/);
    assert.equal(seen.length, 3, 'no request without a password');
  });

  it('refuses unreadable files and bad combinations in one line, exit 2, before asking the agent', async function () {
    const addr = await http(ndjson([JSON.stringify(EVENT)]));
    const notPem = join(dir, 'not-pem.txt');
    writeFileSync(notPem, 'hello\n');
    const cases: [string[], RegExp][] = [
      [['--tls', '--cacert', join(dir, 'missing.crt')], /missing\.crt/],
      [['--tls', '--cacert', notPem], /not-pem\.txt.*PEM/],
      [['--tls', '--cacert', dir], /cannot read/],
      [['--tls', '--cert', clientCert.cert], /--cert needs --key/],
      [['--tls', '--key', clientCert.key], /--key needs --cert/],
      [['--tls', '--cert', clientCert.cert, '--key', serverCert.key], /--cert.*--key/],
      [['--tls', '--cert', clientCert.key, '--key', clientCert.cert], /--cert|--key/],
      [['--cacert', ca.cert], /--tls/],
      [['--cert', clientCert.cert, '--key', clientCert.key], /--tls/],
      [['--tls', '--insecure', '--cacert', ca.cert], /--insecure/],
      [['--user', 'prometheus', '--token', 't'], /--token/],
      [['--user', 'a:b'], /":"/],
    ];
    for (const [args, why] of cases) {
      const r = await observe(['--addr', addr, ...args], { DATAPATH_EXPORTER_PASSWORD: 'pw' });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(cliError(r), why, args.join(' '));
    }
    assert.equal(seen.length, 0);
  });
});
