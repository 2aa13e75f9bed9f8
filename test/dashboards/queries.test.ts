// Every dashboard query and variable query parses and runs on a real
// Prometheus. No agent is needed for that: the server scrapes itself, so the
// datapath queries return nothing, but a query Prometheus cannot parse comes
// back as errorType bad_data. (With the agent in the lab, panelsMissingLabData
// from ./queries.js says which panels that should chart something do not.)
import assert from 'node:assert/strict';
import { instantQuery, startPrometheus, type PrometheusServer } from '../support/prometheus.js';
import { evaluateDashboardQueries, evaluateVariableQueries, queryErrors } from './queries.js';

describe('dashboards: queries on a real Prometheus', function () {
  this.timeout(60_000);
  let prom: PrometheusServer | undefined;

  before(async () => {
    prom = await startPrometheus();
    // It has scraped itself at least once: the queries run against a live TSDB.
    await prom.waitForSeries('up{node="lab-node"}');
  });

  after(async () => {
    await prom?.stop();
  });

  it('reports a query that does not parse as bad_data (the check below can fail)', async () => {
    assert.ok(prom);
    const r = await instantQuery(prom.url, 'sum(rate(up[1m])');
    assert.equal(r.status, 'error');
    assert.equal(r.status === 'error' ? r.errorType : '', 'bad_data');
  });

  it('parses and runs every panel query', async () => {
    assert.ok(prom);
    const results = await evaluateDashboardQueries(prom.url);
    assert.ok(results.length >= 20, `only ${results.length} queries found`);
    assert.deepEqual(queryErrors(results), []);
  });

  it('parses and runs every variable query', async () => {
    assert.ok(prom);
    const results = await evaluateVariableQueries(prom.url, { node: 'lab-node' });
    assert.equal(results.length, 12); // 4 filter variables on each of 3 dashboards
    assert.deepEqual(queryErrors(results), []);
  });

  it('charts the scrape panels of its own target (up, scrape duration)', async () => {
    assert.ok(prom);
    // The helper names its job datapath-exporter, as the dashboards expect,
    // so the panels that need only a scrape have data even here.
    const results = await evaluateDashboardQueries(prom.url, { node: 'lab-node' });
    for (const panel of ['Scrape status', 'Scrape duration']) {
      const r = results.find((x) => x.panel === panel);
      assert.ok(r?.response.status === 'success' && r.response.data.result.length === 1, panel);
    }
  });
});
