// The OTEL_* variables and the two flags, parsed as the OpenTelemetry
// specification defines them: defaults, per-signal variables over general
// ones, flags over the environment, and a bad value as one clear error.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OtelConfigError, type OutputFlags, parseOtlp, parseOutputs, parseResource } from '../../../../src/export/push/otel-config.js';

const PULL_DEFAULT: OutputFlags = { metricsAddrNone: false, metricsAddrGiven: false };

function rejects(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OtelConfigError, `an OtelConfigError, got ${String(err)}`);
    assert.match(err.message, message);
    assert.equal(err.message.split('\n').length, 1, 'one line');
    return true;
  });
}

describe('OTEL_* configuration', function () {
  describe('which doors are open', function () {
    it('pull only when nothing is configured (as before OTLP)', function () {
      assert.deepEqual(parseOutputs({}, PULL_DEFAULT), { pull: true, push: undefined });
    });

    it('push as well when either endpoint variable is set', function () {
      for (const name of ['OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT']) {
        const o = parseOutputs({ [name]: 'http://collector:4318' }, PULL_DEFAULT);
        assert.equal(o.pull, true);
        assert.ok(o.push, name);
      }
    });

    it('an empty variable is the same as an unset one', function () {
      assert.deepEqual(parseOutputs({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_METRICS_EXPORTER: ' ' }, PULL_DEFAULT), {
        pull: true,
        push: undefined,
      });
    });

    it('--otlp-endpoint turns push on and wins over both endpoint variables', function () {
      const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://env:4318', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://env-metrics:4318/x' };
      const o = parseOutputs(env, { ...PULL_DEFAULT, otlpEndpoint: 'http://flag:4318' });
      assert.equal(o.push?.url, 'http://flag:4318/v1/metrics');
      assert.equal(
        parseOutputs({ OTEL_METRICS_EXPORTER: 'prometheus' }, { ...PULL_DEFAULT, otlpEndpoint: 'http://flag:4318' }).push?.url,
        'http://flag:4318/v1/metrics',
      );
    });

    it('--metrics-addr none turns pull off', function () {
      const o = parseOutputs({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, { metricsAddrNone: true, metricsAddrGiven: true });
      assert.equal(o.pull, false);
      assert.ok(o.push);
      assert.deepEqual(parseOutputs({}, { metricsAddrNone: true, metricsAddrGiven: true }), { pull: false, push: undefined });
    });

    it('OTEL_METRICS_EXPORTER chooses: prometheus, otlp, none, or a comma-separated list', function () {
      assert.deepEqual(parseOutputs({ OTEL_METRICS_EXPORTER: 'prometheus' }, PULL_DEFAULT), { pull: true, push: undefined });
      const otlp = parseOutputs({ OTEL_METRICS_EXPORTER: 'otlp' }, PULL_DEFAULT);
      assert.equal(otlp.pull, false);
      assert.equal(otlp.push?.url, 'http://localhost:4318/v1/metrics', "the specification's default endpoint");
      const both = parseOutputs({ OTEL_METRICS_EXPORTER: 'otlp, prometheus' }, PULL_DEFAULT);
      assert.equal(both.pull, true);
      assert.ok(both.push);
      assert.deepEqual(parseOutputs({ OTEL_METRICS_EXPORTER: 'none' }, PULL_DEFAULT), { pull: false, push: undefined });
      assert.equal(
        parseOutputs({ OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, PULL_DEFAULT).push,
        undefined,
      );
      assert.equal(parseOutputs({ OTEL_METRICS_EXPORTER: 'OTLP' }, PULL_DEFAULT).push?.protocol, 'http/protobuf', 'case-insensitive');
    });

    it('a --metrics-addr given on the command line wins over OTEL_METRICS_EXPORTER', function () {
      assert.equal(parseOutputs({ OTEL_METRICS_EXPORTER: 'otlp' }, { metricsAddrNone: false, metricsAddrGiven: true }).pull, true);
    });

    it('refuses an unknown exporter', function () {
      rejects(
        () => parseOutputs({ OTEL_METRICS_EXPORTER: 'otlp,console' }, PULL_DEFAULT),
        /^OTEL_METRICS_EXPORTER="console" is not one of prometheus, otlp, none$/,
      );
    });
  });

  describe('the OTLP exporter', function () {
    it('has the specification defaults', function () {
      assert.deepEqual(parseOtlp({}), {
        protocol: 'http/protobuf',
        url: 'http://localhost:4318/v1/metrics',
        headers: {},
        timeoutMs: 10_000,
        compression: 'none',
        tls: {},
        temporality: 'cumulative',
        intervalMs: 60_000,
        exportTimeoutMs: 30_000,
      });
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).url, 'http://localhost:4317');
    });

    it('protocol: grpc, http/protobuf, http/json; the metrics variable over the general one', function () {
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }).protocol, 'http/json');
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'grpc' }).protocol, 'grpc');
      rejects(
        () => parseOtlp({ OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'thrift' }),
        /^OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="thrift" is not one of grpc, http\/protobuf, http\/json$/,
      );
    });

    it('endpoint: the general one gets /v1/metrics appended for HTTP, the metrics one is used as given', function () {
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }).url, 'http://c:4318/v1/metrics');
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c/otlp/' }).url, 'https://c/otlp/v1/metrics');
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://c:4318/custom' }).url, 'http://c:4318/custom');
      assert.equal(
        parseOtlp({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://general:4318', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://specific:4318/m' })
          .url,
        'http://specific:4318/m',
      );
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317' }).url, 'http://c:4317/');
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'https://flag:4317').url, 'https://flag:4317/');
    });

    it('refuses an endpoint that is not an http(s) URL', function () {
      rejects(
        () => parseOtlp({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4317' }),
        /^OTEL_EXPORTER_OTLP_ENDPOINT="collector:4317" is not an http:\/\/ or https:\/\/ URL$/,
      );
      rejects(
        () => parseOtlp({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'not a url' }),
        /^OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="not a url" is not a URL/,
      );
      rejects(() => parseOtlp({}, 'ftp://x'), /^--otlp-endpoint="ftp:\/\/x" is not an http/);
    });

    it('headers: key=value lists, percent-decoded, metrics keys over general ones', function () {
      const c = parseOtlp({
        OTEL_EXPORTER_OTLP_HEADERS: 'api-key=general,tenant=a%20b',
        OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'api-key=metrics',
      });
      assert.deepEqual(c.headers, { 'api-key': 'metrics', tenant: 'a b' });
      rejects(
        () => parseOtlp({ OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-sign' }),
        /^OTEL_EXPORTER_OTLP_HEADERS="no-equals-sign" is not a comma-separated list of key=value$/,
      );
      rejects(() => parseOtlp({ OTEL_EXPORTER_OTLP_HEADERS: 'k=%zz' }), /badly percent-encoded value for k/);
    });

    it('timeout: milliseconds, metrics over general, above 0', function () {
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_TIMEOUT: '2500' }).timeoutMs, 2500);
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_TIMEOUT: '2500', OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '700' }).timeoutMs, 700);
      for (const bad of ['0', '-1', '1.5', '10s'])
        rejects(
          () => parseOtlp({ OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: bad }),
          /^OTEL_EXPORTER_OTLP_METRICS_TIMEOUT=".*" is not a whole number of milliseconds above 0$/,
        );
    });

    it('compression: gzip or none, metrics over general', function () {
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' }).compression, 'gzip');
      assert.equal(
        parseOtlp({ OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip', OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: 'none' }).compression,
        'none',
      );
      rejects(
        () => parseOtlp({ OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' }),
        /^OTEL_EXPORTER_OTLP_COMPRESSION="zstd" is not one of none, gzip$/,
      );
    });

    it('TLS files: must be readable, client certificate and key come in pairs, metrics over general', function () {
      const dir = mkdtempSync(join(tmpdir(), 'dpx-otel-'));
      try {
        for (const f of ['ca.pem', 'ca2.pem', 'cert.pem', 'key.pem']) writeFileSync(join(dir, f), 'PEM');
        const c = parseOtlp({
          OTEL_EXPORTER_OTLP_CERTIFICATE: join(dir, 'ca.pem'),
          OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE: join(dir, 'ca2.pem'),
          OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: join(dir, 'cert.pem'),
          OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY: join(dir, 'key.pem'),
        });
        assert.deepEqual(c.tls, {
          certificate: join(dir, 'ca2.pem'),
          clientCertificate: join(dir, 'cert.pem'),
          clientKey: join(dir, 'key.pem'),
        });
        rejects(
          () => parseOtlp({ OTEL_EXPORTER_OTLP_CERTIFICATE: join(dir, 'missing.pem') }),
          /^OTEL_EXPORTER_OTLP_CERTIFICATE=".*missing\.pem" cannot be read: does not exist$/,
        );
        rejects(
          () => parseOtlp({ OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: join(dir, 'cert.pem') }),
          /^OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=.* is one half of a pair/,
        );
        rejects(
          () => parseOtlp({ OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY: join(dir, 'key.pem') }),
          /^OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY=.* is one half of a pair/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('temporality preference: cumulative by default, delta, lowmemory, case-insensitive', function () {
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta' }).temporality, 'delta');
      assert.equal(parseOtlp({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'lowmemory' }).temporality, 'lowmemory');
      rejects(
        () => parseOtlp({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'sometimes' }),
        /^OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="sometimes" is not one of cumulative, delta, lowmemory$/,
      );
    });

    it('export interval and timeout: milliseconds; a default timeout is clamped to a shorter interval, an explicit one refused', function () {
      const c = parseOtlp({ OTEL_METRIC_EXPORT_INTERVAL: '5000', OTEL_METRIC_EXPORT_TIMEOUT: '2000' });
      assert.deepEqual([c.intervalMs, c.exportTimeoutMs], [5000, 2000]);
      assert.equal(parseOtlp({ OTEL_METRIC_EXPORT_INTERVAL: '5000' }).exportTimeoutMs, 5000);
      rejects(
        () => parseOtlp({ OTEL_METRIC_EXPORT_INTERVAL: '5000', OTEL_METRIC_EXPORT_TIMEOUT: '9000' }),
        /^OTEL_METRIC_EXPORT_TIMEOUT="9000" is longer than OTEL_METRIC_EXPORT_INTERVAL \(5000\)$/,
      );
      rejects(() => parseOtlp({ OTEL_METRIC_EXPORT_INTERVAL: 'often' }), /^OTEL_METRIC_EXPORT_INTERVAL="often" is not a whole number/);
    });
  });

  describe('the resource', function () {
    const id = { version: '0.1.0', nodeName: 'node-7', hostName: 'host-7' };

    it("carries the agent's own attributes by default", function () {
      assert.deepEqual(parseResource({}, id), {
        'service.name': 'datapath-exporter',
        'service.version': '0.1.0',
        'service.instance.id': 'node-7',
        'host.name': 'host-7',
        'k8s.node.name': 'node-7',
      });
    });

    it('OTEL_RESOURCE_ATTRIBUTES adds and overrides; OTEL_SERVICE_NAME wins for service.name', function () {
      const r = parseResource(
        { OTEL_RESOURCE_ATTRIBUTES: 'k8s.cluster.name=prod%2Feu,service.name=from-attrs,deployment.environment.name=prod' },
        id,
      );
      assert.equal(r['k8s.cluster.name'], 'prod/eu');
      assert.equal(r['service.name'], 'from-attrs');
      assert.equal(r['deployment.environment.name'], 'prod');
      assert.equal(
        parseResource({ OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs', OTEL_SERVICE_NAME: 'dpx' }, id)['service.name'],
        'dpx',
      );
      rejects(
        () => parseResource({ OTEL_RESOURCE_ATTRIBUTES: 'justakey' }, id),
        /^OTEL_RESOURCE_ATTRIBUTES="justakey" is not a comma-separated list of key=value$/,
      );
    });
  });
});
