// The command line refuses a web config or an auth mode that cannot work:
// exit 2 and one line naming the problem, before anything is loaded.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runCli } from '../support/exporter.js';
import { KubeApiServer } from '../support/kube-api-server.js';
import { tempDir, writeWebConfig } from './serve.js';
import { oneLine } from '../support/cli-output.js';

/** The environment without any Kubernetes configuration. */
function noKubernetes(): NodeJS.ProcessEnv {
  const { KUBECONFIG: _k, KUBERNETES_SERVICE_HOST: _h, ...env } = process.env;
  return env;
}

describe('command line: --web-config-file and --metrics-auth', function () {
  const tmp = tempDir('dpx-authcli-');

  after(function () {
    tmp.remove();
  });

  const cases: Array<[string, () => string[], RegExp]> = [
    [
      'a web config file that does not exist',
      () => ['--web-config-file', join(tmp.dir, 'absent.yml')],
      /^datapath-exporter: web config .*absent\.yml: does not exist$/,
    ],
    [
      'an unknown key',
      () => [
        '--web-config-file',
        writeWebConfig(tmp.dir, { tls_server_config: { cert_file: 'a', key_file: 'b', verify: true } }, 'unknown.yml'),
      ],
      /web config .*unknown\.yml: unknown key tls_server_config\.verify/,
    ],
    [
      'a certificate file that does not exist',
      () => [
        '--web-config-file',
        writeWebConfig(tmp.dir, { tls_server_config: { cert_file: 'no.crt', key_file: 'no.key' } }, 'nocert.yml'),
      ],
      /cert_file .*no\.crt: does not exist/,
    ],
    [
      'a certificate that is not one',
      () => [
        '--web-config-file',
        writeWebConfig(tmp.dir, { tls_server_config: { cert_file: 'unknown.yml', key_file: 'unknown.yml' } }, 'notcert.yml'),
      ],
      /cannot use .*unknown\.yml/,
    ],
    ['invalid YAML', () => ['--web-config-file', writeWebConfig(tmp.dir, 'basic_auth_users: [', 'bad.yml')], /not valid YAML/],
    ['an unknown auth mode', () => ['--metrics-auth', 'oauth'], /"oauth" is not one of none, kubernetes/],
    [
      'kubernetes auth without a Kubernetes configuration',
      () => ['--metrics-auth', 'kubernetes'],
      /--metrics-auth kubernetes needs a Kubernetes configuration/,
    ],
    ['a bad cache time', () => ['--metrics-auth-allowed-ttl', 'a while'], /is not a duration/],
  ];
  for (const [what, args, message] of cases) {
    it(`exits 2 with one line for ${what}`, function () {
      const r = runCli(['run', '--metrics-addr', '127.0.0.1:0', ...args()], { env: noKubernetes() });
      assert.equal(r.status, 2, r.stderr);
      assert.match(oneLine(r.stderr), message);
    });
  }

  it('exits 2 with one line for basic_auth_users together with --metrics-auth kubernetes', async function () {
    const api = await KubeApiServer.start();
    try {
      const webConfig = writeWebConfig(
        tmp.dir,
        { basic_auth_users: { p: '$2y$10$kJ4UGKg8Wq3wAVB8bJ4w2u7z2Io1rdmS6bQoF5SZh1q8X4Q7nO0Bu' } },
        'both.yml',
      );
      const r = runCli(
        [
          'run',
          '--metrics-addr',
          '127.0.0.1:0',
          '--kubeconfig',
          api.writeKubeconfig(tmp.dir),
          '--metrics-auth',
          'kubernetes',
          '--web-config-file',
          webConfig,
        ],
        { env: noKubernetes() },
      );
      assert.equal(r.status, 2, r.stderr);
      assert.match(oneLine(r.stderr), /basic_auth_users and --metrics-auth kubernetes both want the Authorization header/);
    } finally {
      await api.stop();
    }
  });

  it('lists the flags in run --help', function () {
    const r = runCli(['run', '--help']);
    assert.match(
      r.stdout,
      /--web-config-file <path>[\s\S]*--metrics-auth <mode>[\s\S]*--metrics-auth-allowed-ttl <duration>[\s\S]*--metrics-auth-denied-ttl <duration>/,
    );
  });
});
