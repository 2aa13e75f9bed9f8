import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Poller } from '../../../src/collect/poller.js';
import type { CounterSource, DatapathRow } from '../../../src/collect/rows.js';

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
