// The softnet_stat parser on the file's text as kernels of several ages print
// it: the columns kept are found by position, the CPU from its index column
// when the kernel prints one (offline CPUs have no line, so line numbers
// skip them), and a line that is not hex columns is refused, not misread.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSoftnetStat, SoftnetSource } from '../../../../src/collect/node/softnet.js';

// 6.18 (15 columns: ..., flow_limit_count, backlog_len, cpu index, input_qlen, process_qlen); CPU 1 offline.
const LINUX_6_18 = `00062ee0 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
04180421 0000002a 00000019 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000003 00000000 00000002 00000000 00000000
`;
// 4.19 (11 columns, no CPU index).
const LINUX_4_19 = `0000a1b2 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000004
ffffffff 00000000 00000010 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000
`;

describe('softnet_stat (unit)', function () {
  it('reads processed, dropped, time_squeeze and flow_limit_count, the CPU from its index column', function () {
    assert.deepEqual(parseSoftnetStat(LINUX_6_18), [
      { cpu: 0, processed: 0x62ee0, dropped: 0, timeSqueeze: 0, flowLimit: 0 },
      { cpu: 2, processed: 0x4180421, dropped: 42, timeSqueeze: 25, flowLimit: 3 },
    ]);
  });

  it('takes the line number as the CPU on kernels without the index column', function () {
    assert.deepEqual(parseSoftnetStat(LINUX_4_19), [
      { cpu: 0, processed: 0xa1b2, dropped: 1, timeSqueeze: 2, flowLimit: 4 },
      { cpu: 1, processed: 0xffffffff, dropped: 0, timeSqueeze: 16, flowLimit: 0 },
    ]);
  });

  it('has no flow limit on a kernel with fewer columns, and refuses what is not hex columns', function () {
    assert.deepEqual(parseSoftnetStat('00000005 00000006 00000007\n'), [
      { cpu: 0, processed: 5, dropped: 6, timeSqueeze: 7, flowLimit: undefined },
    ]);
    assert.throws(() => parseSoftnetStat('cpu0 12 13\n'), /not hex columns/);
    assert.throws(() => parseSoftnetStat('00000005 00000006\n'), /not hex columns/);
  });

  it('the source publishes one series per CPU and family; an unreadable file throws (the poller counts it)', function () {
    const dir = mkdtempSync(join(tmpdir(), 'softnet-'));
    try {
      const file = join(dir, 'softnet_stat');
      writeFileSync(file, LINUX_6_18);
      const samples = new SoftnetSource(file).read();
      assert.deepEqual(
        samples.filter((s) => s.labels.cpu === '2').map((s) => [s.family.name, s.value]),
        [
          ['datapath_softnet_processed_packets', 0x4180421],
          ['datapath_softnet_drop_packets', 42],
          ['datapath_softnet_time_squeezes', 25],
          ['datapath_softnet_flow_limit_packets', 3],
        ],
      );
      assert.throws(() => new SoftnetSource(join(dir, 'missing')).read(), /ENOENT/);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});
