// The dashboards import as they are into any Grafana with a Prometheus data
// source: no data source uid baked in, the variables every panel filters on,
// queries that name only the agent's metrics, and the panels the issue asks for.
import assert from 'node:assert/strict';
import { unknownMetrics } from '../deploy/metric-contract.js';
import { allPanels, loadDashboards, queryPanels, variableQuery, type LoadedDashboard } from './dashboards.js';
import { LAB_EXPECTATIONS } from './lab-expectations.js';
import { substitute } from './queries.js';

const DS_VAR = '${datasource}';
const FILTER_VARIABLES = ['node', 'namespace', 'workload', 'pod'];

/** Every value of key `name` anywhere in x, with its JSON path. */
function walk(x: unknown, name: string, path = '$', out: { path: string; value: unknown }[] = []) {
  if (Array.isArray(x)) x.forEach((v, i) => walk(v, name, `${path}[${i}]`, out));
  else if (typeof x === 'object' && x !== null) {
    for (const [k, v] of Object.entries(x)) {
      if (k === name) out.push({ path: `${path}.${k}`, value: v });
      walk(v, name, `${path}.${k}`, out);
    }
  }
  return out;
}

function isDatasourceVariableRef(v: unknown): boolean {
  if (v === DS_VAR) return true;
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return o.type === 'prometheus' && o.uid === DS_VAR && Object.keys(o).length === 2;
}

function allExprs(d: LoadedDashboard): string[] {
  return queryPanels(d.dashboard).flatMap((p) => (p.targets ?? []).map((t) => t.expr));
}

describe('dashboards: structure', () => {
  let dashboards: LoadedDashboard[] = [];

  before(async () => {
    dashboards = await loadDashboards();
  });

  it('ships the overview, the exporter health and the where-packets-are-lost dashboards', () => {
    assert.deepEqual(dashboards.map((d) => d.dashboard.uid).sort(), ['datapath-exporter-health', 'datapath-loss', 'datapath-overview']);
  });

  it('use a current schema and no export-time inputs', () => {
    for (const d of dashboards) {
      assert.ok(d.dashboard.schemaVersion >= 39, `${d.file}: schemaVersion`);
      assert.equal((d.raw as Record<string, unknown>).id, null, `${d.file}: id must be null to import`);
      assert.equal((d.raw as Record<string, unknown>).__inputs, undefined, `${d.file}: __inputs`);
      assert.ok(d.dashboard.tags?.includes('datapath-exporter'), `${d.file}: tag for the dashboard links`);
    }
  });

  it('refer to a data source only through the ${datasource} variable', () => {
    for (const d of dashboards) {
      const refs = walk(d.raw, 'datasource');
      assert.ok(refs.length > 0);
      for (const ref of refs) assert.ok(isDatasourceVariableRef(ref.value), `${d.file} ${ref.path}: ${JSON.stringify(ref.value)}`);
      // No uid anywhere but the dashboard's own and ${datasource}.
      for (const uid of walk(d.raw, 'uid')) {
        assert.ok(uid.path === '$.uid' || uid.value === DS_VAR, `${d.file} ${uid.path}: ${JSON.stringify(uid.value)}`);
      }
    }
  });

  it('have a datasource variable and multi-value node, namespace, workload and pod variables', () => {
    for (const d of dashboards) {
      const vars = d.dashboard.templating.list;
      assert.deepEqual(
        vars.map((v) => v.name),
        ['datasource', ...FILTER_VARIABLES],
        d.file,
      );
      const [ds] = vars;
      assert.equal(ds?.type, 'datasource');
      assert.equal(ds?.query, 'prometheus');
      for (const v of vars.slice(1)) {
        assert.equal(v.type, 'query', `${d.file} ${v.name}`);
        assert.equal(v.multi, true, `${d.file} ${v.name}: multi`);
        assert.equal(v.includeAll, true, `${d.file} ${v.name}: includeAll`);
        // All = any value, including none: node-level series have no pod.
        assert.equal(v.allValue, '.*', `${d.file} ${v.name}: allValue`);
        assert.match(variableQuery(v), new RegExp(`^label_values\\(.*datapath_.*, ${v.name}\\)$`), `${d.file} ${v.name}`);
      }
    }
  });

  it('use every filter variable', () => {
    for (const d of dashboards) {
      const texts = [...allExprs(d), ...d.dashboard.templating.list.map(variableQuery)].join('\n');
      for (const name of FILTER_VARIABLES) assert.ok(texts.includes(`$${name}`), `${d.file}: $${name} is unused`);
    }
  });

  it('give every panel a unique id, a description and queries with unique refIds', () => {
    for (const d of dashboards) {
      const ids = allPanels(d.dashboard).map((p) => p.id);
      assert.equal(new Set(ids).size, ids.length, `${d.file}: duplicate panel ids`);
      for (const p of queryPanels(d.dashboard)) {
        assert.ok(p.description, `${d.file} ${p.title}: description`);
        const refIds = (p.targets ?? []).map((t) => t.refId);
        assert.ok(refIds.length > 0, `${d.file} ${p.title}: no queries`);
        assert.equal(new Set(refIds).size, refIds.length, `${d.file} ${p.title}: duplicate refIds`);
        assert.ok(p.gridPos.x + p.gridPos.w <= 24, `${d.file} ${p.title}: wider than the grid`);
      }
    }
  });

  it("write queries with known variables, Grafana rate windows and the agent's metric names", () => {
    for (const d of dashboards) {
      for (const expr of allExprs(d)) {
        assert.doesNotThrow(() => substitute(expr), expr);
        for (const [, window] of expr.matchAll(/\[([^\]]+)\]/g)) {
          assert.ok(window === '$__rate_interval' || window === '$__range', `${d.file}: fixed window [${window}] in ${expr}`);
        }
        assert.deepEqual(unknownMetrics(expr), [], expr);
      }
    }
  });

  it('filter every datapath selector on the node, namespace, workload and pod variables', () => {
    for (const d of dashboards) {
      for (const expr of allExprs(d)) {
        for (const [selector, inner = ''] of expr.matchAll(/datapath_\w+\{([^}]*)\}/g)) {
          assert.match(inner, /node=~"\$node"/, `${d.file}: ${selector}`);
          if (/datapath_(drop|forward)_/.test(selector)) {
            assert.match(inner, /namespace=~"\$namespace"/, `${d.file}: ${selector}`);
            assert.match(inner, /workload=~"\$workload"/, `${d.file}: ${selector}`);
            assert.match(inner, /pod=~"\$pod"/, `${d.file}: ${selector}`);
          }
        }
      }
    }
  });

  it('have the panels the issue asks for', () => {
    const titles = dashboards.flatMap((d) => allPanels(d.dashboard).map((p) => p.title));
    for (const wanted of [
      'Drops by reason and direction',
      'Top pods by drops',
      'Top namespaces by drops',
      'Drop locations',
      'Forwarded packets per pod (in / out)',
      'Forwarded bytes per pod (in / out)',
      'Drop ratio per pod',
      'Top workloads by drops',
      'Forwarded packets per workload (in / out)',
      'Drop ratio per workload',
      'Poll duration',
      'Poll errors',
      'Slots used vs capacity',
      'Slot overflow',
      'Kubernetes API sync',
      'Agents and versions',
      'Cilium datapath',
      'Pod drops by source and reason',
      'Pod interface loss',
      'Kernel drops by reason (node)',
      'Interface loss',
      'Qdisc drops and overlimits',
      'Softnet backlog drops and squeezes per CPU',
      'Conntrack table fill',
      'Conntrack events',
    ]) {
      assert.ok(titles.includes(wanted), wanted);
    }
  });

  it('keep Cilium in a collapsed row of source="cilium" queries', () => {
    const overview = dashboards.find((d) => d.dashboard.uid === 'datapath-overview');
    const row = overview?.dashboard.panels.find((p) => p.type === 'row' && p.title === 'Cilium datapath');
    assert.ok(row);
    assert.equal(row.collapsed, true);
    assert.ok((row.panels ?? []).length >= 2);
    for (const p of row.panels ?? []) {
      for (const t of p.targets ?? []) assert.match(t.expr, /source="cilium"/, p.title);
    }
  });

  it('are listed panel by panel in the lab expectations table', () => {
    const panels = dashboards.flatMap((d) => queryPanels(d.dashboard).map((p) => `${d.dashboard.uid} / ${p.title}`));
    const listed = LAB_EXPECTATIONS.map((e) => `${e.dashboard} / ${e.panel}`);
    assert.deepEqual([...listed].sort(), [...panels].sort());
  });
});
