// The OTLP side of the command line: bad configuration is one line and exit
// 2, before anything is loaded (no privileges needed), and so is an agent
// with no output at all.
import assert from 'node:assert/strict';
import { runCli } from '../support/exporter.js';
import { oneLine } from '../support/cli-output.js';

/** The environment without any OTEL_* of the machine running the tests. */
function env(vars: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  return { ...e, ...vars };
}

describe('command line: OTLP configuration', function () {
  it('lists --otlp-endpoint and the none of --metrics-addr in the help', function () {
    const r = runCli(['run', '--help'], { env: env() });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /--otlp-endpoint <url>/);
    assert.match(r.stdout, /'none': no\s+Prometheus pull/);
  });

  const cases: Array<[string, string[], Record<string, string>, RegExp]> = [
    [
      'an --otlp-endpoint that is not a URL',
      ['run', '--otlp-endpoint', 'collector:4317'],
      {},
      /"collector:4317" is not an http:\/\/ or https:\/\/ URL/,
    ],
    [
      'an --otlp-endpoint of another scheme',
      ['run', '--otlp-endpoint', 'ftp://c'],
      {},
      /"ftp:\/\/c" is not an http:\/\/ or https:\/\/ URL/,
    ],
    [
      'an endpoint variable that is not a URL',
      ['run'],
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' },
      /^datapath-exporter: OTEL_EXPORTER_OTLP_ENDPOINT="not a url" is not a URL/,
    ],
    [
      'an unknown protocol',
      ['run'],
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' },
      /OTEL_EXPORTER_OTLP_PROTOCOL="thrift" is not one of grpc, http\/protobuf, http\/json/,
    ],
    [
      'an unknown metrics exporter',
      ['run'],
      { OTEL_METRICS_EXPORTER: 'console' },
      /OTEL_METRICS_EXPORTER="console" is not one of prometheus, otlp, none/,
    ],
    [
      'a bad temporality',
      ['run', '--otlp-endpoint', 'http://c:4318'],
      { OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'weekly' },
      /TEMPORALITY_PREFERENCE="weekly"/,
    ],
    [
      'a bad resource attribute list',
      ['run'],
      { OTEL_RESOURCE_ATTRIBUTES: 'nokey' },
      /OTEL_RESOURCE_ATTRIBUTES="nokey" is not a comma-separated list of key=value/,
    ],
    [
      'neither pull nor push (--metrics-addr none)',
      ['run', '--metrics-addr', 'none'],
      {},
      /no output: Prometheus pull is off .* and OTLP push is off/,
    ],
    ['neither pull nor push (OTEL_METRICS_EXPORTER=none)', ['run'], { OTEL_METRICS_EXPORTER: 'none' }, /no output/],
  ];
  for (const [what, args, vars, message] of cases) {
    it(`exits 2 with one line for ${what}`, function () {
      const r = runCli(args, { env: env(vars) });
      assert.equal(r.status, 2, r.stderr);
      assert.match(oneLine(r.stderr), message);
    });
  }
});
