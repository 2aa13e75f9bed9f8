import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Poller } from '../../../src/collect/poller.js';
import type { CounterSource, DatapathRow } from '../../../src/collect/rows.js';
import type { NodeSample, NodeSource } from '../../../src/collect/node/node-samples.js';

const row = (packets: bigint): DatapathRow => ({
  kind: 'drop',
  source: 'kernel',
  reason: 'NO_SOCKET',
  direction: 'ingress',
  site: { file: 'f', line: 0 },
  location: 'f',
  packets,
  bytes: packets * 100n,
});

describe('poller (unit)', function () {
  it("keeps a failing source's last rows (a read error is not a reset) and reports it, while the others go on", function () {
    let n = 0n;
    let broken = false;
    const flaky: CounterSource = {
      name: 'kernel',
      read: () => {
        if (broken) throw new Error('EPERM');
        return [row(++n)];
      },
    };
    const steady: CounterSource = { name: 'tc', read: () => [{ ...row(7n), source: 'tc', kind: 'forward' }] };
    const poller = new Poller([flaky, steady], pino({ level: 'silent' }));
    assert.deepEqual(poller.poll().failed, []);
    broken = true;
    const r = poller.poll();
    assert.deepEqual(r.failed, ['kernel']);
    assert.deepEqual(
      r.rows.map((x) => [x.source, x.packets]),
      [
        ['kernel', 1n],
        ['tc', 7n],
      ],
    );
    broken = false;
    assert.equal(poller.poll().rows[0]?.packets, 2n);
  });
});

describe('poller of node sources (unit)', function () {
  it('a failing node source is counted every poll, logged once per streak, and keeps its last samples; the others go on', function () {
    const family = { name: 'datapath_test_packets', help: 'h', type: 'counter' as const, unit: '{packet}' };
    let broken = false;
    let n = 0;
    const flaky: NodeSource = {
      name: 'softnet',
      families: [family],
      read: () => {
        if (broken) throw new Error('EACCES');
        return [{ family, labels: { cpu: '0' }, value: ++n }];
      },
    };
    const steady: NodeSource = { name: 'conntrack', families: [family], read: () => [{ family, labels: { cpu: '1' }, value: 5 }] };
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const poller = new Poller<NodeSample>([flaky, steady], log);
    poller.poll();
    broken = true;
    const failedTwice = [poller.poll(), poller.poll()];
    assert.deepEqual(
      failedTwice.map((r) => r.failed),
      [['softnet'], ['softnet']],
    );
    assert.deepEqual(
      failedTwice[1]?.rows.map((s) => s.value),
      [1, 5],
    );
    assert.equal(lines.filter((l) => l.includes('reading counters failed')).length, 1);
    broken = false;
    assert.deepEqual(
      poller.poll().rows.map((s) => s.value),
      [2, 5],
    );
    broken = true;
    poller.poll();
    assert.equal(lines.filter((l) => l.includes('reading counters failed')).length, 2, 'a new streak logs again');
  });
});
