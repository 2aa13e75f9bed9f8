// Runs every dashboard query against a Prometheus server, the way Grafana
// would: variables substituted, instant queries at "now". For any running
// Prometheus, e.g. the lab's, scraping a real agent:
//
//   const prom = await startPrometheus({ target: agentAddress });   // node="lab-node"
//   await prom.waitForSeries('datapath_forward_packets_total');
//   const results = await evaluateDashboardQueries(prom.url, { __rate_interval: '10s' });
//   assert.deepEqual(queryErrors(results), []);
//   assert.deepEqual(panelsMissingLabData(results), []);
import { apiGet, instantQuery, seriesQuery, type ApiResponse, type QueryData } from '../support/prometheus.js';
import { loadDashboards, queryPanels, variableQuery } from './dashboards.js';
import { LAB_EXPECTATIONS, type LabExpectation } from './lab-expectations.js';

/** What Grafana would put in for each variable: every value ("All") and
 * intervals that suit a Prometheus scraping every second. */
export const DEFAULT_VALUES: Readonly<Record<string, string>> = {
  __rate_interval: '1m',
  __interval: '15s',
  __interval_ms: '15000',
  __range: '1h',
  __range_s: '3600',
  __range_ms: '3600000',
  datasource: 'prometheus',
  node: '.*',
  namespace: '.*',
  workload: '.*',
  pod: '.*',
};

/** Replaces $name and ${name} (and ${name:format}); throws on an unknown one. */
export function substitute(text: string, values: Readonly<Record<string, string>> = {}): string {
  const all: Record<string, string> = { ...DEFAULT_VALUES, ...values };
  return text.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, (match: string, braced?: string, bare?: string) => {
    const value = all[braced ?? bare ?? ''];
    if (value === undefined) throw new Error(`no value for ${match}`);
    return value;
  });
}

export interface PanelQueryResult {
  /** Dashboard uid. */
  dashboard: string;
  panel: string;
  refId: string;
  /** The query as sent, variables substituted. */
  expr: string;
  response: ApiResponse<QueryData>;
}

export interface VariableQueryResult {
  dashboard: string;
  variable: string;
  query: string;
  response: ApiResponse<unknown>;
}

/** How many series (or scalars) a successful query returned; 0 on error. */
export function seriesCount(r: PanelQueryResult): number {
  if (r.response.status !== 'success') return 0;
  const data = r.response.data;
  return data.resultType === 'vector' || data.resultType === 'matrix' ? data.result.length : 1;
}

/** Runs every panel query of every dashboard as an instant query. */
export async function evaluateDashboardQueries(
  promUrl: string,
  values: Readonly<Record<string, string>> = {},
): Promise<PanelQueryResult[]> {
  const results: PanelQueryResult[] = [];
  for (const { dashboard } of await loadDashboards()) {
    for (const panel of queryPanels(dashboard)) {
      for (const target of panel.targets ?? []) {
        const expr = substitute(target.expr, values);
        results.push({
          dashboard: dashboard.uid,
          panel: panel.title,
          refId: target.refId,
          expr,
          response: await instantQuery(promUrl, expr),
        });
      }
    }
  }
  return results;
}

/** Runs every variable query (label_values) the way Grafana does: a series
 * lookup for label_values(selector, label), a label lookup otherwise. */
export async function evaluateVariableQueries(
  promUrl: string,
  values: Readonly<Record<string, string>> = {},
): Promise<VariableQueryResult[]> {
  const results: VariableQueryResult[] = [];
  for (const { dashboard } of await loadDashboards()) {
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
      const query = substitute(variableQuery(v), values);
      const withSelector = /^label_values\((.+),\s*(\w+)\)$/s.exec(query);
      const labelOnly = /^label_values\((\w+)\)$/.exec(query);
      let response: ApiResponse<unknown>;
      if (withSelector?.[1]) response = await seriesQuery(promUrl, withSelector[1]);
      else if (labelOnly?.[1]) response = await apiGet<string[]>(promUrl, `/api/v1/label/${labelOnly[1]}/values`, {});
      else response = { status: 'error', errorType: 'unsupported', error: `not a label_values() query: ${query}` };
      results.push({ dashboard: dashboard.uid, variable: v.name, query, response });
    }
  }
  return results;
}

/** "dashboard / panel [refId]: errorType: error" for each query Prometheus refused. */
export function queryErrors(results: readonly (PanelQueryResult | VariableQueryResult)[]): string[] {
  return results.flatMap((r) => {
    if (r.response.status === 'success') return [];
    const what = 'panel' in r ? `${r.panel} [${r.refId}]` : `variable ${r.variable}`;
    return [`${r.dashboard} / ${what}: ${r.response.errorType}: ${r.response.error}`];
  });
}

/** Panels expected to have data in the lab where a query returned none. */
export function panelsMissingLabData(
  results: readonly PanelQueryResult[],
  expectations: readonly LabExpectation[] = LAB_EXPECTATIONS,
): string[] {
  return expectations
    .filter((e) => e.expectData)
    .flatMap((e) => {
      const mine = results.filter((r) => r.dashboard === e.dashboard && r.panel === e.panel);
      const empty = mine.filter((r) => seriesCount(r) === 0).map((r) => r.refId);
      if (mine.length === 0) return [`${e.dashboard} / ${e.panel}: no queries evaluated`];
      return empty.length > 0 ? [`${e.dashboard} / ${e.panel}: no data from ${empty.join(', ')} (${e.note})`] : [];
    });
}
