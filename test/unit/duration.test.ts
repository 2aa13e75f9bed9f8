import assert from 'node:assert/strict';
import { durationMs } from '../../src/duration.js';

describe('durations (unit)', function () {
  it('reads Go/Prometheus durations', function () {
    assert.equal(durationMs('500ms'), 500);
    assert.equal(durationMs('5s'), 5000);
    assert.equal(durationMs('1m30s'), 90_000);
    assert.equal(durationMs('2h'), 7_200_000);
    assert.equal(durationMs('1.5s'), 1500);
  });
  it('refuses what is not one', function () {
    for (const bad of ['', '5', 's', '5 s', '5x', '-5s', '5s ', 'abc5s']) assert.equal(durationMs(bad), undefined, bad);
  });
});
