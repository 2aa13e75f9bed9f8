// The drop event API's query parameters, and the one duration syntax it
// shares with the command line.
import assert from 'node:assert/strict';
import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../../../src/cli/options.js';
import { FilterError, filterFromQuery } from '../../../src/events/event-filter.js';

const NOW_MS = Date.parse('2026-11-25T12:00:00Z');
const nanos = (ms: number) => BigInt(ms) * 1_000_000n;

describe('drop event filter', () => {
  it('takes since as a duration back from now, compound ones too', () => {
    for (const [text, backMs] of [
      ['30s', 30_000],
      ['5m', 300_000],
      ['1m30s', 90_000],
      ['1h2m3s', 3_723_000],
      ['250ms', 250],
    ] as const) {
      assert.equal(filterFromQuery(new URLSearchParams({ since: text }), NOW_MS).sinceUnixNano, nanos(NOW_MS - backMs), text);
    }
  });

  it('takes since as an RFC 3339 time', () => {
    const f = filterFromQuery(new URLSearchParams({ since: '2026-11-25T11:59:00.5Z' }), NOW_MS);
    assert.equal(f.sinceUnixNano, nanos(NOW_MS - 59_500));
  });

  it('refuses a since that is neither, and unknown parameters or directions', () => {
    assert.throws(() => filterFromQuery(new URLSearchParams({ since: '1m30' }), NOW_MS), FilterError);
    assert.throws(() => filterFromQuery(new URLSearchParams({ since: 'yesterday' }), NOW_MS), /neither an RFC 3339 time nor a duration/);
    assert.throws(() => filterFromQuery(new URLSearchParams({ namespce: 'a' }), NOW_MS), /unknown parameter namespce/);
    assert.throws(
      () => filterFromQuery(new URLSearchParams({ direction: 'in' }), NOW_MS),
      /direction in is not ingress, egress or unknown/,
    );
  });

  it('reads durations as the command line does', () => {
    assert.equal(parseDuration('1m30s'), 90_000);
    assert.equal(parseDuration('500ms'), 500);
    for (const bad of ['', '5', '5x', '1m 30s', '-5s']) assert.throws(() => parseDuration(bad), InvalidArgumentError, JSON.stringify(bad));
  });
});
