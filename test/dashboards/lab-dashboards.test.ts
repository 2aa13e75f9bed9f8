// Every dashboard query against a real Prometheus scraping the real agent in
// the lab: pods behind veths, pod metadata from the suite's pods API, real
// forwarded traffic and real kernel drops. Every query must parse, and every
// panel that the lab feeds must return data (lab-expectations.ts says, for
// each panel, whether the lab feeds it and why not).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExporterProcess, removePinDir, testPinDir, waitFor } from '../support/exporter.js';
import { KubeApiServer, makePod } from '../support/kube-api-server.js';
import { type Lab } from '../support/lab.js';
import { sumOf } from '../support/metrics-text.js';
import { twoPodLab } from '../support/pod-network.js';
import { requireBpf } from '../support/privileges.js';
import { type PrometheusServer, startPrometheus } from '../support/prometheus.js';
import { evaluateDashboardQueries, evaluateVariableQueries, panelsMissingLabData, queryErrors } from './queries.js';

const NODE = 'lab-node';

describe('dashboards against the agent in the lab, through a real Prometheus', function () {
  let lab: Lab | undefined;
  let api: KubeApiServer | undefined;
  let dir: string | undefined;
  let pinDir: string | undefined;
  let agent: ExporterProcess | undefined;
  let prom: PrometheusServer | undefined;

  before(async function () {
    requireBpf(this);
    const two = await twoPodLab(['dash-a', 'dash-b'], 212, { receiverPort: 5000 });
    lab = two.lab;
    const { net, a, b } = two;
    api = await KubeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), 'dpx-dash-'));
    api.addPod(makePod({ name: 'frontend', namespace: 'web', nodeName: NODE, ips: [a.ip] }));
    api.addPod(makePod({ name: 'backend', namespace: 'web', nodeName: NODE, ips: [b.ip] }));
    pinDir = testPinDir();
    const p = await ExporterProcess.start([
      '--bpffs',
      pinDir,
      '--poll-interval',
      '500ms',
      '--kubeconfig',
      api.writeKubeconfig(dir),
      '--node-name',
      NODE,
      '--interfaces',
      net.interfaceGlob,
    ]);
    agent = p;
    await waitFor(
      async () => sumOf(await p.scrape(), 'datapath_exporter_kubernetes_synced'),
      (v) => v === 1,
    );
    prom = await startPrometheus({ target: `127.0.0.1:${p.port}`, node: NODE });
    // Prometheus hands new targets to its scrapers in 5 s batches: traffic
    // before the first scrape would show no rate.
    await prom.waitForSeries('datapath_exporter_build_info', 20_000);
    // Traffic across several scrapes: forwarded packets and drops (closed port) of a pod.
    for (let i = 0; i < 4; i++) {
      two.lab.sendUdp(a.ns, b.ip, 5000, 50, 100);
      two.lab.sendUdp(a.ns, b.ip, 9, 20, 10);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await prom.waitForSeries('rate(datapath_drop_packets_total{pod="backend"}[30s]) > 0', 20_000);
  });

  after(async function () {
    await prom?.stop();
    await agent?.stop();
    await api?.stop();
    lab?.destroy();
    if (pinDir) removePinDir(pinDir);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const values = { __rate_interval: '30s', __interval: '5s', __range: '5m', node: NODE };

  it('every panel query parses and every panel the lab feeds has data', async function () {
    const results = await evaluateDashboardQueries((prom as PrometheusServer).url, values);
    assert.ok(results.length > 0);
    assert.deepEqual(queryErrors(results), []);
    assert.deepEqual(panelsMissingLabData(results), []);
  });

  it('every variable query answers, and the pod variables list the lab pods', async function () {
    const results = await evaluateVariableQueries((prom as PrometheusServer).url, values);
    assert.deepEqual(queryErrors(results), []);
    const text = JSON.stringify(results.map((r) => r.response));
    assert.match(text, /backend/);
    assert.match(text, /"web"/);
    assert.match(text, /lab-node/);
  });
});
