// The test Prometheus (test/support/prometheus.ts) itself: it scrapes the
// target with node="lab-node", answers queries, and leaves nothing behind.
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { startPrometheus, type PrometheusServer } from '../support/prometheus.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('test support: a real Prometheus', function () {
  this.timeout(60_000);
  let prom: PrometheusServer | undefined;

  afterEach(async () => {
    await prom?.stop();
    prom = undefined;
  });

  it('scrapes its target with node="lab-node" and job datapath-exporter', async () => {
    prom = await startPrometheus();
    const [up] = await prom.waitForSeries('up');
    assert.equal(up?.metric.node, 'lab-node');
    assert.equal(up?.metric.job, 'datapath-exporter');
    assert.equal(up?.value[1], '1');
  });

  it('rejects a query that does not parse', async () => {
    prom = await startPrometheus();
    await assert.rejects(prom.query('sum(up'), /bad_data/);
  });

  it('stops its process and removes its temp dir', async () => {
    const p = await startPrometheus();
    prom = p;
    assert.ok(alive(p.pid));
    await p.stop();
    assert.equal(alive(p.pid), false);
    await assert.rejects(access(p.dir));
    await p.stop();
  });
});
