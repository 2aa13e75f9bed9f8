// A full drop-key table: a drop whose key finds no free slot is counted in
// the exported overflow slot, never lost. The table is made full from the
// outside, as a busy node would: the test takes every free slot out of the
// pinned free-slot queue while the agent runs, and gives them back after.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { MAP_NAMES } from '../../src/bpf/contract.js';
import { BpfMap } from '../../src/bpf/map.js';
import { ExporterProcess, removePinDir, testPinDir, waitFor } from '../support/exporter.js';
import { Lab } from '../support/lab.js';
import { sumOf } from '../support/metrics-text.js';
import { requireBpf } from '../support/privileges.js';

describe('drop-key table full', function () {
  let lab: Lab;
  let client: string;
  let pinDir: string;
  let agent: ExporterProcess | undefined;

  before(function () {
    requireBpf(this);
    lab = new Lab();
    client = lab.namespace('client');
    const server = lab.namespace('server');
    lab.veth(client, '10.203.0.1/24', server, '10.203.0.2/24');
    pinDir = testPinDir();
  });

  after(async function () {
    await agent?.stop();
    lab?.destroy();
    if (pinDir) removePinDir(pinDir);
  });

  it('counts drops that find no free slot in the overflow slot, exported as SLOT_OVERFLOW', async function () {
    const p = await ExporterProcess.start(['--bpffs', pinDir, '--poll-interval', '200ms', '--interfaces', 'none-such*']);
    agent = p;
    const queue = BpfMap.fromPin(join(pinDir, MAP_NAMES.dropFreeSlots));
    const taken: Buffer[] = [];
    try {
      for (let slot = Buffer.alloc(4); queue.pop(slot); slot = Buffer.alloc(4)) taken.push(slot);
      assert.ok(taken.length > 4000, `took ${taken.length} free slots`);
      const N = 15;
      // A closed port never used before in this run: a key the table has not seen.
      lab.sendUdp(client, '10.203.0.2', 9, N, 30);
      const s = await waitFor(
        () => p.scrape(),
        (x) => sumOf(x, 'datapath_exporter_slot_overflow_packets_total', { table: 'drop_keys' }) >= N,
      );
      assert.equal(sumOf(s, 'datapath_exporter_slot_overflow_packets_total', { table: 'drop_keys' }), N);
      assert.equal(sumOf(s, 'datapath_drop_packets_total', { source: 'kernel', reason: 'SLOT_OVERFLOW' }), N, 'exported, not lost');
      assert.equal(sumOf(s, 'datapath_drop_bytes_total', { source: 'kernel', reason: 'SLOT_OVERFLOW' }), N * 58);
      assert.equal(sumOf(s, 'datapath_drop_packets_total', { source: 'kernel', reason: 'NO_SOCKET' }), 0);
    } finally {
      for (const slot of taken) queue.push(slot);
      queue.close();
    }
  });
});
