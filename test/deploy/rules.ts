// The plain rule file (deploy/prometheus/rules.yaml) and its unit tests,
// parsed for the tests that check them.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { prometheusDir } from './paths.js';

export const RULES_FILE = join(prometheusDir, 'rules.yaml');
export const RULES_TEST_FILE = join(prometheusDir, 'rules.test.yaml');

export interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface RuleGroup {
  name: string;
  rules: Rule[];
}

export interface RuleTestFile {
  tests: {
    name?: string;
    alert_rule_test?: { alertname: string; eval_time: string; exp_alerts?: unknown[] }[];
  }[];
}

export async function readRuleGroups(): Promise<RuleGroup[]> {
  const doc = parse(await readFile(RULES_FILE, 'utf8')) as { groups: RuleGroup[] };
  return doc.groups;
}

export async function readRuleTests(): Promise<RuleTestFile> {
  return parse(await readFile(RULES_TEST_FILE, 'utf8')) as RuleTestFile;
}
