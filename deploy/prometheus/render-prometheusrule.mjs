#!/usr/bin/env node
// @ts-check
// Writes the Prometheus Operator's PrometheusRule from rules.yaml, the one
// place the rule groups are edited:
//   node deploy/prometheus/render-prometheusrule.mjs           (rewrite)
//   node deploy/prometheus/render-prometheusrule.mjs --check   (exit 1 if stale)
// test/deploy checks that the committed file is what this prints.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const source = fileURLToPath(new URL('rules.yaml', import.meta.url));
const target = fileURLToPath(
  new URL('../overlays/prometheus-operator/prometheusrule.yaml', import.meta.url),
);

const header = `# GENERATED from deploy/prometheus/rules.yaml by
#   node deploy/prometheus/render-prometheusrule.mjs
# Do not edit: edit rules.yaml and run the command again.
`;

/** @param {string} rulesText the plain rule file */
function render(rulesText) {
  /** @type {{ groups: unknown[] }} */
  const rules = parse(rulesText);
  const resource = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'datapath-exporter',
      labels: { 'app.kubernetes.io/name': 'datapath-exporter' },
    },
    spec: { groups: rules.groups },
  };
  // lineWidth 0: never fold long expressions or annotations.
  return header + stringify(resource, { lineWidth: 0 });
}

const rendered = render(readFileSync(source, 'utf8'));
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(target, 'utf8');
  } catch {
    // A missing file is stale too.
  }
  if (current !== rendered) {
    console.error(`${target} is stale: run node deploy/prometheus/render-prometheusrule.mjs`);
    process.exit(1);
  }
} else {
  writeFileSync(target, rendered);
}
