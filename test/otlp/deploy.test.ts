// deploy/overlays/otlp renders with the real kustomize into valid objects:
// the base's agent, push-only, pointed at the node-local Collector with the
// OTEL_* variables (which the agent's own parser accepts), nothing else of
// the base changed. deploy/otel-collector.yaml wires what it defines.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { type KubeObject, renderKustomization } from '../deploy/kustomize.js';
import { deployDir } from '../deploy/paths.js';
import { validateObject } from '../deploy/validate.js';
import { parseOutputs } from '../../src/export/push/otel-config.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath: string } };
}
interface Container {
  name: string;
  args?: string[];
  env?: EnvVar[];
  ports?: unknown[];
  startupProbe?: unknown;
  livenessProbe?: unknown;
  readinessProbe?: unknown;
  securityContext?: unknown;
  volumeMounts?: unknown;
  resources?: unknown;
}

function agentContainer(objects: KubeObject[]): Container {
  const ds = objects.find((o) => o.kind === 'DaemonSet');
  const c = (ds?.spec as { template: { spec: { containers: Container[] } } } | undefined)?.template.spec.containers[0];
  assert.ok(c, 'the agent container');
  return c;
}

/** $(VAR) references as the kubelet expands them (only variables defined earlier). */
function expand(env: EnvVar[], known: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    if (e.valueFrom?.fieldRef) out[e.name] = known[e.valueFrom.fieldRef.fieldPath] ?? '';
    else out[e.name] = (e.value ?? '').replace(/\$\(([A-Z_]+)\)/g, (m, name: string) => out[name] ?? m);
  }
  return out;
}

describe('deploy: overlays/otlp', function () {
  let objects: KubeObject[] = [];
  let base: KubeObject[] = [];

  before(async function () {
    objects = await renderKustomization(join(deployDir, 'overlays', 'otlp'));
    base = await renderKustomization(join(deployDir, 'base'));
  });

  it('renders the base without its Service (nothing to scrape), every object valid, in the namespace', function () {
    assert.deepEqual(objects.map((o) => o.kind).sort(), ['ClusterRole', 'ClusterRoleBinding', 'DaemonSet', 'Namespace', 'ServiceAccount']);
    for (const obj of objects) {
      assert.doesNotThrow(() => validateObject(obj), `${obj.kind}/${obj.metadata.name}`);
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(obj.kind)) assert.equal(obj.metadata.namespace, 'datapath-exporter');
    }
  });

  it('turns pull off and has no port or HTTP probe left', function () {
    const c = agentContainer(objects);
    assert.ok(c.args?.includes('--metrics-addr=none'), String(c.args));
    assert.equal(c.args?.filter((a) => a.startsWith('--metrics-addr')).length, 1);
    assert.equal(c.ports, undefined);
    assert.deepEqual([c.startupProbe, c.livenessProbe, c.readinessProbe], [undefined, undefined, undefined]);
  });

  it('pushes OTLP/gRPC to the node address, port 4317, as the agent itself parses it', function () {
    const env = agentContainer(objects).env ?? [];
    const hostIp = env.find((e) => e.name === 'HOST_IP');
    assert.equal(hostIp?.valueFrom?.fieldRef?.fieldPath, 'status.hostIP');
    const vars = expand(env, { 'status.hostIP': '10.1.2.3', 'spec.nodeName': 'node-a' });
    const outputs = parseOutputs(vars, { metricsAddrNone: true, metricsAddrGiven: true });
    assert.equal(outputs.pull, false);
    assert.equal(outputs.push?.protocol, 'grpc');
    assert.equal(outputs.push?.url, 'http://10.1.2.3:4317/');
    assert.ok(
      env.some((e) => e.name === 'NODE_NAME'),
      "the base's NODE_NAME is kept",
    );
  });

  it("keeps the base's security context, mounts and resources", function () {
    const mine = agentContainer(objects);
    const theirs = agentContainer(base);
    assert.deepEqual(mine.securityContext, theirs.securityContext);
    assert.deepEqual(mine.volumeMounts, theirs.volumeMounts);
    assert.deepEqual(mine.resources, theirs.resources);
    const withoutFlags = (args: string[] | undefined) => (args ?? []).filter((a) => !a.startsWith('--metrics-addr'));
    assert.deepEqual(withoutFlags(mine.args), withoutFlags(theirs.args), 'the same arguments but --metrics-addr');
  });
});

describe('deploy: otel-collector.yaml', function () {
  interface CollectorConfig {
    receivers: Record<string, { protocols?: { grpc?: { endpoint?: string } } }>;
    processors?: Record<string, unknown>;
    exporters: Record<string, unknown>;
    service: { pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }> };
  }
  let config: CollectorConfig;

  before(async function () {
    config = parse(await readFile(join(deployDir, 'otel-collector.yaml'), 'utf8')) as CollectorConfig;
  });

  it('receives OTLP/gRPC on port 4317, where the overlay sends', function () {
    assert.match(config.receivers.otlp?.protocols?.grpc?.endpoint ?? '', /:4317$/);
    assert.deepEqual(config.service.pipelines.metrics?.receivers, ['otlp']);
  });

  it('uses only components it defines, and defines none it does not use', function () {
    const used = { receivers: new Set<string>(), processors: new Set<string>(), exporters: new Set<string>() };
    for (const p of Object.values(config.service.pipelines)) {
      p.receivers.forEach((r) => used.receivers.add(r));
      (p.processors ?? []).forEach((r) => used.processors.add(r));
      p.exporters.forEach((r) => used.exporters.add(r));
    }
    assert.deepEqual([...used.receivers].sort(), Object.keys(config.receivers).sort());
    assert.deepEqual([...used.processors].sort(), Object.keys(config.processors ?? {}).sort());
    assert.deepEqual([...used.exporters].sort(), Object.keys(config.exporters).sort());
  });
});
