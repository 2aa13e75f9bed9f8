// The alert rules: valid for Prometheus (promtool check rules), each alert
// unit-tested both ways (promtool test rules), annotated for whoever is paged,
// and built only from metrics the agent exports.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiGet, startPrometheus, type ApiResponse, type PrometheusServer } from '../support/prometheus.js';
import { describeRun, run } from './exec.js';
import { unknownMetrics } from './metric-contract.js';
import { readRuleGroups, readRuleTests, RULES_FILE, RULES_TEST_FILE, type Rule } from './rules.js';

const SEVERITIES = ['info', 'warning', 'critical'];

interface RuleState {
  name: string;
  health: string;
  lastError?: string;
}

interface RulesData {
  groups: { rules: RuleState[] }[];
}

describe('deploy: alert rules', () => {
  let rules: Rule[] = [];

  before(async () => {
    rules = (await readRuleGroups()).flatMap((g) => g.rules);
  });

  it('pass promtool check rules', async () => {
    const args = ['check', 'rules', RULES_FILE];
    const r = await run('promtool', args);
    assert.equal(r.code, 0, describeRun('promtool', args, r));
  });

  it('pass their unit tests (promtool test rules)', async () => {
    const args = ['test', 'rules', RULES_TEST_FILE];
    const r = await run('promtool', args);
    assert.equal(r.code, 0, describeRun('promtool', args, r));
  });

  it('have a unit test for each alert that fires and one that stays quiet', async () => {
    const cases = (await readRuleTests()).tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const rule of rules.filter((r) => r.alert !== undefined)) {
      const mine = cases.filter((c) => c.alertname === rule.alert);
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length > 0),
        `${rule.alert}: no case where it fires`,
      );
      assert.ok(
        mine.some((c) => (c.exp_alerts ?? []).length === 0),
        `${rule.alert}: no case where it stays quiet`,
      );
    }
  });

  it('give every alert a severity, a summary, a description and runbook steps', () => {
    const alerts = rules.filter((r) => r.alert !== undefined);
    assert.ok(alerts.length >= 7, 'fewer alerts than the issue asks for');
    for (const rule of alerts) {
      assert.ok(SEVERITIES.includes(rule.labels?.severity ?? ''), `${rule.alert}: severity`);
      assert.ok(rule.annotations?.summary, `${rule.alert}: summary`);
      assert.ok(rule.annotations?.description, `${rule.alert}: description`);
      assert.match(rule.annotations?.runbook ?? '', /^1\. .+\n2\. /m, `${rule.alert}: numbered runbook steps`);
    }
  });

  it('cover what the issue asks for', () => {
    const names = rules.flatMap((r) => r.alert ?? []);
    for (const wanted of [
      'DatapathPodDropRatioHigh',
      'DatapathNodeDropRateHigh',
      'DatapathNewDropReason',
      'DatapathExporterDown',
      'DatapathExporterAbsent',
      'DatapathExporterPollErrors',
      'DatapathExporterSlotOverflow',
      'DatapathExporterKubernetesSyncLost',
      'DatapathConntrackTableNearlyFull',
      'DatapathConntrackInsertFailures',
      'DatapathSoftnetBacklogDrops',
      'DatapathNicMissedPackets',
    ]) {
      assert.ok(names.includes(wanted), wanted);
    }
  });

  it('use only metrics the agent exports and rules recorded here', () => {
    const recorded = rules.flatMap((r) => r.record ?? []);
    for (const rule of rules) {
      assert.deepEqual(unknownMetrics(rule.expr), [], `${rule.alert ?? rule.record}`);
      const usedRecorded = [...rule.expr.matchAll(/[a-z_]+:[a-z0-9_]+:[a-z0-9_]+/g)].map((m) => m[0]);
      for (const name of usedRecorded) assert.ok(recorded.includes(name), `${rule.alert ?? rule.record}: ${name} is recorded nowhere`);
    }
  });

  describe('loaded by a real Prometheus', function () {
    this.timeout(60_000);
    let prom: PrometheusServer | undefined;

    before(async () => {
      prom = await startPrometheus({ ruleFiles: [RULES_FILE] });
    });

    after(async () => {
      await prom?.stop();
    });

    it('evaluate every rule without error', async () => {
      assert.ok(prom);
      let states: RuleState[] = [];
      // Every rule has been evaluated once (health leaves "unknown").
      for (let i = 0; i < 100; i++) {
        const res: ApiResponse<RulesData> = await apiGet<RulesData>(prom.url, '/api/v1/rules', {});
        assert.equal(res.status, 'success');
        states = res.status === 'success' ? res.data.groups.flatMap((g) => g.rules) : [];
        if (states.length > 0 && states.every((r) => r.health !== 'unknown')) break;
        await sleep(200);
      }
      assert.equal(states.length, rules.length);
      assert.deepEqual(
        states.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`),
        [],
      );
    });
  });
});
