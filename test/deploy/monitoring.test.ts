// How Prometheus finds and labels the agents, and the single source of the
// rule groups: the ServiceMonitor, the plain scrape config and the
// PrometheusRule generated from rules.yaml.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { startPrometheus, type ActiveTarget, type PrometheusServer } from '../support/prometheus.js';
import { describeRun, run } from './exec.js';
import { renderKustomization, type KubeObject } from './kustomize.js';
import { deployDir, prometheusDir } from './paths.js';
import { readRuleGroups } from './rules.js';
import {
  agentPodMeta,
  readPlainScrapeConfig,
  serviceMonitorAsScrapeConfig,
  withFileSd,
  type ServiceMonitorSpec,
} from './scrape-simulation.js';

const OVERLAY = join(deployDir, 'overlays', 'prometheus-operator');

function find(objects: KubeObject[], kind: string): KubeObject {
  const obj = objects.find((o) => o.kind === kind);
  assert.ok(obj, `no ${kind}`);
  return obj;
}

describe('deploy: Prometheus Operator overlay', () => {
  let objects: KubeObject[] = [];

  before(async () => {
    objects = await renderKustomization(OVERLAY);
  });

  it('generates its PrometheusRule from rules.yaml (render-prometheusrule.mjs --check)', async () => {
    const script = join(prometheusDir, 'render-prometheusrule.mjs');
    const r = await run(process.execPath, [script, '--check']);
    assert.equal(r.code, 0, describeRun('node', [script, '--check'], r));
  });

  it('has the same rule groups in the PrometheusRule as in rules.yaml', async () => {
    const rule = find(objects, 'PrometheusRule');
    assert.deepEqual((rule.spec as { groups: unknown }).groups, await readRuleGroups());
  });

  it('selects the Service and scrapes its metrics port with the ServiceMonitor', () => {
    const sm = find(objects, 'ServiceMonitor');
    const service = find(objects, 'Service');
    const spec = sm.spec as ServiceMonitorSpec;
    assert.equal(sm.metadata.namespace, service.metadata.namespace);
    for (const [k, v] of Object.entries(spec.selector.matchLabels ?? {})) {
      assert.equal(service.metadata.labels?.[k], v, `Service lacks ${k}=${v}`);
    }
    const ports = (service.spec as { ports: { name: string }[] }).ports.map((p) => p.name);
    assert.deepEqual(
      spec.endpoints.map((e) => e.port),
      ['metrics'],
    );
    assert.ok(ports.includes('metrics'));
    // The job label is the Service's name, which rules and dashboards select.
    assert.equal(spec.jobLabel, undefined);
    assert.equal(service.metadata.name, 'datapath-exporter');
  });
});

describe('deploy: plain Prometheus scrape config', () => {
  let dir = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scrape-config-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is the job the rules and dashboards select (job_name datapath-exporter, pod discovery)', async () => {
    const job = await readPlainScrapeConfig();
    assert.equal(job.job_name, 'datapath-exporter');
    assert.deepEqual(
      (job.kubernetes_sd_configs as { role: string }[]).map((c) => c.role),
      ['pod'],
    );
  });

  it('passes promtool check config (discovery swapped for a file: Debian builds Prometheus without Kubernetes discovery)', async () => {
    const sdFile = join(dir, 'targets.json');
    await writeFile(sdFile, '[]');
    const config = join(dir, 'prometheus.yml');
    await writeFile(config, stringify({ scrape_configs: [withFileSd(await readPlainScrapeConfig(), sdFile)] }));
    const args = ['check', 'config', config];
    const r = await run('promtool', args);
    assert.equal(r.code, 0, describeRun('promtool', args, r));
  });
});

describe('deploy: target labels after relabeling, on a real Prometheus', function () {
  this.timeout(60_000);
  let dir = '';
  let prom: PrometheusServer | undefined;
  const ADDRESS = '127.0.0.1:19464';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'relabel-'));
    const sdFile = join(dir, 'targets.json');
    await writeFile(
      sdFile,
      JSON.stringify([
        { targets: [ADDRESS], labels: agentPodMeta({ node: 'node-a', portName: 'metrics', phase: 'Running' }) },
        // Another port of the pod, and a pod that has terminated: never scraped.
        { targets: ['127.0.0.1:19465'], labels: agentPodMeta({ node: 'node-b', portName: 'other', phase: 'Running' }) },
        { targets: ['127.0.0.1:19466'], labels: agentPodMeta({ node: 'node-c', portName: 'metrics', phase: 'Succeeded' }) },
      ]),
    );
    const overlay = await renderKustomization(OVERLAY);
    const sm = find(overlay, 'ServiceMonitor');
    prom = await startPrometheus({
      jobName: 'self',
      extraScrapeConfigs: [
        withFileSd(await readPlainScrapeConfig(), sdFile),
        serviceMonitorAsScrapeConfig(sm.metadata.namespace ?? '', sm.metadata.name, sm.spec as ServiceMonitorSpec, sdFile),
      ],
    });
  });

  after(async () => {
    await prom?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function targetsOf(pool: string): Promise<ActiveTarget[]> {
    assert.ok(prom);
    // File discovery reaches the scrape manager within a few seconds.
    for (let i = 0; i < 100; i++) {
      const found = (await prom.targets()).filter((t) => t.scrapePool === pool);
      if (found.length > 0) return found;
      await sleep(200);
    }
    return [];
  }

  const EXPECTED = { instance: ADDRESS, job: 'datapath-exporter', node: 'node-a' };

  it('plain scrape config: keeps only the metrics port of running agents and labels each with its node', async () => {
    const targets = await targetsOf('datapath-exporter');
    assert.deepEqual(
      targets.map((t) => t.labels),
      [EXPECTED],
    );
  });

  it('ServiceMonitor: adds node and leaves namespace/pod to the metrics', async () => {
    const targets = await targetsOf('serviceMonitor/datapath-exporter/datapath-exporter/0');
    assert.deepEqual(
      targets.map((t) => t.labels),
      [EXPECTED],
    );
  });
});
