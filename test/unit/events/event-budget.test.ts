// The node's drop event budget divided over CPUs by demand: the arithmetic
// the agent runs at every refill, driven here by a stand-in for the kernel's
// per-CPU rule (send while spent < granted, else count a refusal) over many
// 100 ms intervals. The kernel side itself is tested with real drops in
// test/events/drop-event-rate.test.ts.
import assert from 'node:assert/strict';
import { divide, EventBudget } from '../../../src/events/event-budget.js';

const INTERVAL_MS = 100;

interface Run {
  /** Events sent per interval per CPU. */
  sent: number[][];
  refused: number;
  budget: EventBudget;
}

/** `intervals` refills of a node whose CPU `cpu` has `drops(cpu, k)` drops in interval k. */
function run(rate: number, cpus: number, intervals: number, drops: (cpu: number, k: number) => number): Run {
  const budget = new EventBudget(rate, cpus);
  let unspent = budget.initial();
  const sent: number[][] = [];
  let refused = 0;
  for (let k = 0; k < intervals; k++) {
    const now = unspent.map((left, cpu) => Math.min(drops(cpu, k), Math.max(0, left)));
    const asked = unspent.map((_, cpu) => drops(cpu, k));
    refused += asked.reduce((a, d, cpu) => a + d - (now[cpu] ?? 0), 0);
    sent.push(now);
    unspent = budget.next(
      INTERVAL_MS,
      unspent.map((left, cpu) => ({ unspent: left - (now[cpu] ?? 0), demand: asked[cpu] ?? 0 })),
    );
  }
  return { sent, refused, budget };
}

const total = (rows: number[][], from = 0, to = rows.length) =>
  rows.slice(from, to).reduce((a, row) => a + row.reduce((b, x) => b + x, 0), 0);

/** The most events any window of `m` intervals may hold: the burst plus the rate over the window. */
const ceiling = (b: EventBudget, m: number) => b.burst + (b.rate * m * INTERVAL_MS) / 1000;

describe('drop event budget (events per second for the node, divided by demand)', () => {
  it('gives a storm on one CPU of 64 the node rate, where equal shares gave it 1/64', () => {
    const RATE = 1000;
    const r = run(RATE, 64, 100, (cpu) => (cpu === 5 ? 20_000 : 0)); // 10 s
    const storm = r.sent.reduce((a, row) => a + (row[5] ?? 0), 0);
    // Equal shares: 10 s × 1000/64 + a bucket of 1000/64 = 172 events.
    assert.ok(storm >= 0.98 * RATE * 10, `${storm} events in 10 s at ${RATE}/s`);
    assert.ok(total(r.sent) <= ceiling(r.budget, 100), `${total(r.sent)} events`);
    // In the steady state every event the bucket earns goes to the storm.
    assert.equal(total(r.sent, 50, 100), (RATE * 50 * INTERVAL_MS) / 1000);
  });

  it('splits a storm on every CPU evenly and never passes the rate', () => {
    const r = run(1000, 4, 100, () => 5_000);
    assert.ok(total(r.sent) <= ceiling(r.budget, 100));
    const perCpu = [0, 1, 2, 3].map((cpu) => r.sent.slice(10).reduce((a, row) => a + (row[cpu] ?? 0), 0));
    for (const n of perCpu) assert.ok(Math.abs(n - 9_000 / 4) <= 90, `per CPU ${perCpu.join(', ')}`);
  });

  it('meets a light CPU in full while a storm on another takes the rest', () => {
    const r = run(1000, 2, 100, (cpu) => (cpu === 0 ? 5 : 10_000));
    const light = r.sent.slice(1).reduce((a, row) => a + (row[0] ?? 0), 0);
    assert.equal(light, 5 * 99, 'every drop of the light CPU got its event');
    assert.equal(total(r.sent, 50, 100), 5_000, 'together exactly the rate');
  });

  it('never sends more than the burst plus the rate over any window, whatever the drops', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (const [rate, cpus] of [
      [1000, 8],
      [100, 2],
      [7, 3],
      [50_000, 16],
    ] as const) {
      const pattern = Array.from({ length: 200 }, () =>
        Array.from({ length: cpus }, () => (random() < 0.3 ? Math.floor(random() * rate) : 0)),
      );
      const r = run(rate, cpus, 200, (cpu, k) => pattern[k]?.[cpu] ?? 0);
      for (let m = 1; m <= 200; m += 13)
        for (let from = 0; from + m <= 200; from += 7) {
          assert.ok(total(r.sent, from, from + m) <= ceiling(r.budget, m), `rate ${rate}, ${cpus} CPUs, intervals ${from}+${m}`);
        }
    }
  });

  it('earns fractions of an event: 5 per second at 10 refills a second', () => {
    const r = run(5, 2, 100, () => 100);
    assert.ok(total(r.sent) >= 5 * 10 && total(r.sent) <= ceiling(r.budget, 100), `${total(r.sent)}`);
  });

  it('keeps a reserve on idle CPUs (for a new storm) of at most half the burst', () => {
    const b = new EventBudget(1000, 64);
    assert.equal(b.burst, 1000);
    assert.equal(b.reserve, 7);
    const start = b.initial();
    assert.equal(
      start.reduce((a, x) => a + x, 0),
      1000,
      'starts with the full burst',
    );
    // One CPU storming: the others keep their reserve, the storm gets the rest.
    const next = b.next(
      INTERVAL_MS,
      start.map((left, cpu) => (cpu === 0 ? { unspent: 0, demand: 50_000 } : { unspent: left, demand: 0 })),
    );
    assert.deepEqual(next.slice(1), new Array<number>(63).fill(7));
    assert.equal(next[0], 1000 - 63 * 7);
  });

  it('takes a debt (spent past the grant while the agent re-divided) out of the next budget', () => {
    const b = new EventBudget(100, 2);
    b.initial();
    const next = b.next(INTERVAL_MS, [
      { unspent: -4, demand: 1000 },
      { unspent: 0, demand: 1000 },
    ]);
    assert.deepEqual(next, [3, 3]); // 10 earned, 4 owed
  });

  it('divide: max-min fair, then the rest evenly, every event given out', () => {
    assert.deepEqual(divide(35, [25, 1_000_000]), [17, 18]);
    assert.deepEqual(divide(100, [5, 1_000, 1_000]), [5, 47, 48]);
    assert.deepEqual(divide(10, [1, 1]), [5, 5]);
    assert.deepEqual(divide(11, [0, 3]), [4, 7]);
    assert.deepEqual(divide(0, [3, 3]), [0, 0]);
  });
});
