// The watch restart backoff: doubling to a ceiling, each delay spread so that
// every node's agent does not retry in the same instant.
import assert from 'node:assert/strict';
import { Backoff } from '../../src/backoff.js';

describe('watch restart backoff', () => {
  it('doubles up to its ceiling, each delay within ±20 %, and starts over on reset', () => {
    const b = new Backoff({ initialMs: 1_000, maxMs: 8_000 });
    const nominal = [1_000, 2_000, 4_000, 8_000, 8_000];
    for (const n of nominal) {
      const d = b.next();
      assert.ok(d >= n * 0.8 && d <= n * 1.2, `${d} for ${n}`);
    }
    b.reset();
    const first = b.next();
    assert.ok(first >= 800 && first <= 1_200, `${first} after reset`);
  });

  it('spreads the delays of agents that failed together', () => {
    const delays = new Set(Array.from({ length: 50 }, () => new Backoff({ initialMs: 1_000, maxMs: 30_000 }).next()));
    assert.ok(delays.size > 10, `${delays.size} distinct delays of 50`);
  });
});
