// End to end, as deploy/overlays/secure installs it: the real agent (the
// CLI, root, BPF) with the overlay's web config and --metrics-auth
// kubernetes, against the suite's API server; the real Prometheus scrapes it
// with deploy/prometheus/scrape-config-secure.yaml (https, bearer token,
// tls_config with server_name), Kubernetes discovery swapped for a file.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { agentPodMeta, withFileSd, type ScrapeConfig } from '../deploy/scrape-simulation.js';
import { renderKustomization } from '../deploy/kustomize.js';
import { deployDir, prometheusDir } from '../deploy/paths.js';
import { makeCa, makeCert } from '../support/certs.js';
import { ExporterProcess, removePinDir, testPinDir } from '../support/exporter.js';
import { KubeApiServer } from '../support/kube-api-server.js';
import { requireBpf } from '../support/privileges.js';
import { startPrometheus, type PrometheusServer } from '../support/prometheus.js';
import { bearer, httpGet, httpsGet, refused, tempDir } from './serve.js';

const SERVER_NAME = 'datapath-exporter.datapath-exporter.svc';
const PROMETHEUS_SA = 'system:serviceaccount:monitoring:prometheus-k8s';

/** The web config the secure overlay ships (its ConfigMap), with the Secret's mount path moved to dir. */
async function overlayWebConfig(dir: string): Promise<string> {
  const objects = await renderKustomization(join(deployDir, 'overlays', 'secure'));
  const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('datapath-exporter-web-config'));
  const text = (cm?.data as Record<string, string> | undefined)?.['web-config.yaml'];
  assert.ok(text, 'the overlay has a web config');
  return text.replaceAll('/etc/datapath-exporter/tls/', `${dir}/`);
}

function sendToClosedPort(count: number): Promise<void> {
  const socket = createSocket('udp4');
  const sends = Array.from(
    { length: count },
    () => new Promise<void>((resolve) => socket.send(Buffer.from('x'), 9, '127.0.0.1', () => resolve())),
  );
  return Promise.all(sends).then(() => {
    socket.close();
  });
}

describe('secured agent scraped by the real Prometheus (TLS + Kubernetes bearer token)', function () {
  this.timeout(120_000);
  const tmp = tempDir('dpx-secure-agent-');
  const pinDir = testPinDir();
  let api: KubeApiServer | undefined;
  let agent: ExporterProcess | undefined;
  let prom: PrometheusServer | undefined;
  let ca = '';

  before(async function () {
    requireBpf(this);
    // What cert-manager issues for the overlay's Certificate.
    const caPair = makeCa(tmp.dir, 'ca');
    ca = caPair.cert;
    const server = makeCert(tmp.dir, 'server', caPair, { cn: SERVER_NAME, sans: [`DNS:${SERVER_NAME}`] });
    writeFileSync(join(tmp.dir, 'tls.crt'), readFileSync(server.cert));
    writeFileSync(join(tmp.dir, 'tls.key'), readFileSync(server.key));
    writeFileSync(join(tmp.dir, 'ca.crt'), readFileSync(caPair.cert));
    const webConfig = join(tmp.dir, 'web-config.yaml');
    writeFileSync(webConfig, await overlayWebConfig(tmp.dir));

    api = await KubeApiServer.start();
    api.addUser('prometheus-sa-token', {
      username: PROMETHEUS_SA,
      uid: 'uid-prom',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:monitoring', 'system:authenticated'],
    });
    api.addUser('other-sa-token', { username: 'system:serviceaccount:default:default', groups: ['system:authenticated'] });
    // The overlay's ClusterRoleBinding datapath-exporter-metrics-reader.
    api.allowNonResource({ user: PROMETHEUS_SA }, '/metrics', 'get');

    agent = await ExporterProcess.start([
      '--bpffs',
      pinDir,
      '--poll-interval',
      '500ms',
      '--node-name',
      'lab-node',
      // No tc attachment: this is about the listener, and other suites'
      // veths come and go meanwhile. Kernel drops still count.
      '--interfaces',
      'dpx-secure-none',
      '--kubeconfig',
      api.writeKubeconfig(tmp.dir),
      '--web-config-file',
      webConfig,
      '--metrics-auth',
      'kubernetes',
    ]);

    // Prometheus with the shipped secure job: its token and CA files where a pod would mount them.
    const tokenFile = join(tmp.dir, 'prometheus-token');
    writeFileSync(tokenFile, 'prometheus-sa-token');
    const doc = parse(readFileSync(join(prometheusDir, 'scrape-config-secure.yaml'), 'utf8')) as { scrape_configs: ScrapeConfig[] };
    const job = doc.scrape_configs[0];
    assert.ok(job && doc.scrape_configs.length === 1);
    const auth = job.authorization as { credentials_file: string };
    const tlsConfig = job.tls_config as { ca_file: string; server_name: string };
    assert.equal(tlsConfig.server_name, SERVER_NAME);
    auth.credentials_file = tokenFile;
    tlsConfig.ca_file = join(tmp.dir, 'ca.crt');
    const sdFile = join(tmp.dir, 'targets.json');
    writeFileSync(
      sdFile,
      JSON.stringify([
        { targets: [`127.0.0.1:${agent.port}`], labels: agentPodMeta({ node: 'lab-node', portName: 'metrics', phase: 'Running' }) },
      ]),
    );
    prom = await startPrometheus({
      jobName: 'self',
      scrapeInterval: '1s',
      extraScrapeConfigs: [{ ...withFileSd(job, sdFile), scrape_interval: '1s' }],
    });
  });

  after(async function () {
    await prom?.stop();
    await agent?.stop();
    await api?.stop();
    removePinDir(pinDir);
    tmp.remove();
  });

  it('is scraped over TLS with the bearer token: up is 1 and the datapath series are there', async function () {
    assert.ok(prom && api);
    await sendToClosedPort(5);
    const up = await prom.waitForSeries('up{job="datapath-exporter"} == 1', 60_000);
    assert.deepEqual(
      up.map((s) => s.metric.node),
      ['lab-node'],
    );
    const drops = await prom.waitForSeries(
      'datapath_drop_packets_total{job="datapath-exporter",source="kernel",reason="NO_SOCKET"}',
      60_000,
    );
    assert.ok(drops.length > 0);
    await prom.waitForSeries('datapath_exporter_build_info{job="datapath-exporter"}');
    // Scrapes every second, one review: the decision is cached (2m by default).
    await prom.waitForSeries('count_over_time(up{job="datapath-exporter"}[1m]) >= 5', 30_000);
    assert.equal(api.tokenReviews, 1);
    assert.deepEqual(
      api.accessReviews.map((r) => [r.user, r.nonResourceAttributes, r.allowed]),
      [[PROMETHEUS_SA, { path: '/metrics', verb: 'get' }, true]],
    );
  });

  it('refuses plain HTTP, no token (401) and a token not allowed /metrics (403); probes need neither', async function () {
    assert.ok(agent);
    await refused(httpGet(agent.port, '/metrics'));
    const tls = { ca: readFileSync(ca), servername: SERVER_NAME };
    assert.equal((await httpsGet(agent.port, '/metrics', tls)).status, 401);
    assert.equal((await httpsGet(agent.port, '/metrics', tls, bearer('other-sa-token'))).status, 403);
    assert.equal((await httpsGet(agent.port, '/healthz', tls)).status, 200);
    assert.equal((await httpsGet(agent.port, '/readyz', tls)).status, 200);
    const ok = await httpsGet(agent.port, '/metrics', tls, bearer('prometheus-sa-token'));
    assert.equal(ok.status, 200);
    assert.match(ok.body, /^datapath_exporter_build_info\{/m);
    assert.equal(ok.headers['strict-transport-security'], 'max-age=31536000');
  });

  it('says in its start-up line that it serves TLS with Kubernetes auth', function () {
    assert.ok(agent);
    assert.match(agent.logs, /"tls":true.*"auth":"kubernetes".*"msg":"serving \/metrics"/);
  });
});
