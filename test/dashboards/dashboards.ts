// The shipped Grafana dashboards (dashboards/*.json), loaded and flattened
// into their panels, queries and variables.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dashboardsDir } from '../deploy/paths.js';

export interface DashboardTarget {
  refId: string;
  expr: string;
  datasource?: unknown;
  instant?: boolean;
  range?: boolean;
  format?: string;
  legendFormat?: string;
}

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: unknown;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: DashboardTarget[];
  /** Rows: their panels when collapsed. */
  panels?: DashboardPanel[];
  collapsed?: boolean;
}

export interface DashboardVariable {
  type: string;
  name: string;
  query?: unknown;
  definition?: string;
  datasource?: unknown;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  tags?: string[];
  templating: { list: DashboardVariable[] };
  panels: DashboardPanel[];
}

export interface LoadedDashboard {
  file: string;
  dashboard: Dashboard;
  /** The parsed JSON as it is, for checks that walk everything. */
  raw: unknown;
}

export async function loadDashboards(): Promise<LoadedDashboard[]> {
  const files = (await readdir(dashboardsDir)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (file) => {
      const raw: unknown = JSON.parse(await readFile(join(dashboardsDir, file), 'utf8'));
      const d = raw as Partial<Dashboard>;
      if (typeof d.uid !== 'string' || !Array.isArray(d.panels) || !Array.isArray(d.templating?.list)) {
        throw new Error(`${file}: not a dashboard (uid, panels, templating.list)`);
      }
      return { file, dashboard: raw as Dashboard, raw };
    }),
  );
}

/** Every panel, rows and the panels inside collapsed rows included. */
export function allPanels(d: Dashboard): DashboardPanel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** The panels that chart something (everything but rows). */
export function queryPanels(d: Dashboard): DashboardPanel[] {
  return allPanels(d).filter((p) => p.type !== 'row');
}

/** A query variable's PromQL text, whether stored as a string or an object. */
export function variableQuery(v: DashboardVariable): string {
  if (typeof v.query === 'string') return v.query;
  if (typeof v.query === 'object' && v.query !== null && 'query' in v.query && typeof v.query.query === 'string') {
    return v.query.query;
  }
  return v.definition ?? '';
}
