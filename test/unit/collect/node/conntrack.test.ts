// The conntrack collector on procfs trees of the test's own: statistics
// found by the header's column names (which differ between kernels) and
// summed over CPUs; no conntrack (the files absent) publishes nothing rather
// than zeros; an unreadable or malformed file throws (the poller counts it).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConntrackSource, parseConntrackStat } from '../../../../src/collect/node/conntrack.js';

// 6.18: "clashres" and "chainlength"; two CPUs.
const LINUX_6_18 = `entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000021  00000001 00000000 00000000 00000005 00000000 00000000 00000000 00000000 00000002 00000000 00000003 00000000  00000000 00000000 00000000 00000001
00000021  00000000 00000000 00000000 0000000a 00000000 00000000 00000000 00000000 00000010 00000007 00000000 00000000  00000000 00000000 00000000 00000000
`;
// 4.19: "searched", "delete_list", no "clashres".
const LINUX_4_19 = `entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000004  00000000 00000000 00000000 00000001 00000000 00000000 00000000 00000000 00000001 00000002 00000000 00000000  00000000 00000000 00000000 00000000
`;

function procTree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'proc-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const events = (proc: string) =>
  Object.fromEntries(new ConntrackSource(proc).read().map((s) => [s.family.name + (s.labels.event ? `{${s.labels.event}}` : ''), s.value]));

describe('conntrack (unit)', function () {
  it('sums each named column over the CPU lines (entries is the table, not per CPU: left out)', function () {
    const sums = parseConntrackStat(LINUX_6_18);
    assert.equal(sums.get('insert_failed'), 0x12);
    assert.equal(sums.get('invalid'), 15);
    assert.equal(sums.get('drop'), 7);
    assert.equal(sums.get('entries'), 0);
    assert.throws(() => parseConntrackStat('entries drop\n00000001\n'), /does not match its header/);
  });

  it('publishes fill, limit and the events a kernel names; clash_resolve only where it exists', function () {
    const files = (stat: string) => ({
      'sys/net/netfilter/nf_conntrack_count': '33\n',
      'sys/net/netfilter/nf_conntrack_max': '262144\n',
      'net/stat/nf_conntrack': stat,
    });
    const now = procTree(files(LINUX_6_18));
    const old = procTree(files(LINUX_4_19));
    try {
      assert.deepEqual(events(now), {
        datapath_conntrack_entries: 33,
        datapath_conntrack_entries_limit: 262144,
        'datapath_conntrack_events{insert_failed}': 18,
        'datapath_conntrack_events{drop}': 7,
        'datapath_conntrack_events{early_drop}': 3,
        'datapath_conntrack_events{invalid}': 15,
        'datapath_conntrack_events{search_restart}': 1,
        'datapath_conntrack_events{clash_resolve}': 1,
      });
      assert.equal(events(old)['datapath_conntrack_events{clash_resolve}'], undefined);
      assert.equal(events(old)['datapath_conntrack_events{drop}'], 2);
    } finally {
      rmSync(now, { recursive: true });
      rmSync(old, { recursive: true });
    }
  });

  it('is absent (no samples, no error) without conntrack; throws for a statistics file it cannot read', function () {
    const none = procTree({ 'net/dev': '' });
    const broken = procTree({ 'sys/net/netfilter/nf_conntrack_count': '1\n', 'sys/net/netfilter/nf_conntrack_max': '10\n' });
    try {
      assert.deepEqual(new ConntrackSource(none).read(), []);
      assert.throws(() => new ConntrackSource(broken).read(), /ENOENT/);
    } finally {
      rmSync(none, { recursive: true });
      rmSync(broken, { recursive: true });
    }
  });
});
