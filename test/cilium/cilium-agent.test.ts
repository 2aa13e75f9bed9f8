// Cilium's counters through the whole agent: the real agent reads a map of
// Cilium's exact layout, fed by real packets, publishes it on /metrics with
// source="cilium", prints it with `list --output cilium`, and never changes it.
import assert from 'node:assert/strict';
import { ExporterProcess, removePinDir, runCli, testPinDir, waitFor } from '../support/exporter.js';
import { type Sample, sumOf } from '../support/metrics-text.js';
import { requireBpf } from '../support/privileges.js';
import { bpftoolSnapshot, FakeCilium, FIXTURES, L2_UDP_IPV4_OVERHEAD, makeTestPinDir } from './cilium-lab.js';

describe("Cilium's metrics map through the agent", function () {
  let cilium: FakeCilium | undefined;
  let pinDir: string;
  let agent: ExporterProcess | undefined;

  before(function () {
    requireBpf(this);
    cilium = new FakeCilium(makeTestPinDir(), FIXTURES.current, 3);
    pinDir = testPinDir();
  });

  afterEach(async function () {
    await agent?.stop();
    agent = undefined;
  });

  after(function () {
    cilium?.destroy();
    if (pinDir) removePinDir(pinDir);
  });

  const start = async () => {
    const c = cilium as FakeCilium;
    agent = await ExporterProcess.start([
      '--bpffs',
      pinDir,
      '--poll-interval',
      '200ms',
      '--interfaces',
      'none-such*',
      '--cilium-metrics-map',
      c.pinPath,
    ]);
    return agent;
  };

  const policyDenied = (s: Sample[], metric = 'datapath_drop_packets_total') =>
    sumOf(s, metric, { source: 'cilium', reason: 'POLICY_DENIED', direction: 'ingress', location: 'bpf_lxc.c:2110' });

  it('publishes N packets dropped at bpf_lxc.c:2110 for "Policy denied" with their exact bytes, and list prints the row', async function () {
    const c = cilium as FakeCilium;
    const p = await start();
    const N = 9;
    const PAYLOAD = 64;
    c.send(2110, N, PAYLOAD);
    const s = await waitFor(
      () => p.scrape(),
      (x) => policyDenied(x) >= N,
    );
    assert.equal(policyDenied(s), N);
    assert.equal(policyDenied(s, 'datapath_drop_bytes_total'), N * (PAYLOAD + L2_UDP_IPV4_OVERHEAD));
    assert.equal(sumOf(s, 'datapath_drop_packets_total', { source: 'kernel', location: 'bpf_lxc.c:2110' }), 0, 'sources are told apart');

    const list = runCli(['list', '--bpffs', pinDir, '--output', 'cilium', '--cilium-metrics-map', c.pinPath]);
    assert.equal(list.status, 0, list.stderr);
    const lines = list.stdout.split('\n');
    assert.match(lines[0] ?? '', /^REASON\s+DIRECTION\s+PACKETS\s+BYTES\s+LINE\s+FILE$/);
    const row = lines.find((l) => l.startsWith('Policy denied'));
    assert.match(
      row ?? '',
      new RegExp(`^Policy denied\\s+INGRESS\\s+${N}\\s+${N * (PAYLOAD + L2_UDP_IPV4_OVERHEAD)}\\s+2110\\s+bpf_lxc\\.c$`),
    );
  });

  it("leaves Cilium's map as it found it, across an agent restart", async function () {
    const c = cilium as FakeCilium;
    c.send(2110, 2, 10);
    const before = bpftoolSnapshot(c.pinPath);
    let p = await start();
    await waitFor(
      async () => policyDenied(await p.scrape()),
      (v) => v > 0,
    );
    await p.stop();
    p = await start();
    await waitFor(
      async () => policyDenied(await p.scrape()),
      (v) => v > 0,
    );
    await p.stop();
    agent = undefined;
    assert.deepEqual(bpftoolSnapshot(c.pinPath), before, 'same map id, byte-identical contents');
  });
});
