// The agent's life: restart without counter reset, SIGTERM detaches, a
// second agent refuses to attach twice, and `list` shows the same counters.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENDPOINT_ADDR_SIZE, ENDPOINT_SLOTS } from '../../src/bpf/contract.js';
import { Lab } from '../support/lab.js';
import { sumOf } from '../support/metrics-text.js';
import { ExporterProcess, removePinDir, runCli, testPinDir, waitFor } from '../support/exporter.js';
import { requireBpf } from '../support/privileges.js';

const CLIENT = '10.202.0.1';
const SERVER = '10.202.0.2';

/** IDs of loaded programs named like the drop program (bpftool shows 15 chars). */
/** The drop programs loaded, or those process `pid` holds (other agents may run beside the suite). */
function dropProgramIds(pid?: number): number[] {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{ id: number; name?: string }>;
  const held = pid === undefined ? undefined : heldProgramIds(pid);
  return progs.filter((p) => (p.name ?? '').startsWith('count_kernel_dr') && (held?.has(p.id) ?? true)).map((p) => p.id);
}

/** Program ids behind the file descriptors of process `pid` (its /proc fdinfo says prog_id). */
function heldProgramIds(pid: number): Set<number> {
  const ids = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const m = /^prog_id:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (m) ids.add(Number(m[1]));
    } catch {
      /* closed meanwhile */
    }
  }
  return ids;
}

describe('agent lifecycle', function () {
  let lab: Lab;
  let client: string;
  let pinDir: string;
  const running: ExporterProcess[] = [];

  before(function () {
    requireBpf(this);
    lab = new Lab();
    client = lab.namespace('client');
    const server = lab.namespace('server');
    lab.veth(client, `${CLIENT}/24`, server, `${SERVER}/24`);
  });

  beforeEach(function () {
    pinDir = testPinDir();
  });

  afterEach(async function () {
    for (const p of running.splice(0)) await p.stop('SIGKILL');
    removePinDir(pinDir);
  });

  after(function () {
    lab?.destroy();
  });

  async function start(): Promise<ExporterProcess> {
    const p = await ExporterProcess.start(['--bpffs', pinDir, '--poll-interval', '200ms']);
    running.push(p);
    return p;
  }

  const noSocket = async (p: ExporterProcess) =>
    sumOf(await p.scrape(), 'datapath_drop_packets_total', { source: 'kernel', reason: 'NO_SOCKET', direction: 'ingress' });

  it('continues the same counters after a restart (N before, M after, N+M, no reset)', async function () {
    const N = 11;
    const M = 7;
    const first = await start();
    lab.sendUdp(client, SERVER, 9, N, 10);
    assert.equal(
      await waitFor(
        () => noSocket(first),
        (v) => v >= N,
      ),
      N,
    );
    assert.equal((await first.stop()).code, 0);

    const second = await start();
    assert.equal(
      await waitFor(
        () => noSocket(second),
        (v) => v >= N,
      ),
      N,
      'no reset after restart',
    );
    lab.sendUdp(client, SERVER, 9, M, 10);
    assert.equal(
      await waitFor(
        () => noSocket(second),
        (v) => v >= N + M,
      ),
      N + M,
    );
  });

  it('detaches its program on SIGTERM and exits 0 within 2 s', async function () {
    const p = await start();
    const mine = dropProgramIds(p.pid);
    assert.equal(mine.length, 1, 'one program attached while running');
    const { code, ms } = await p.stop('SIGTERM');
    assert.equal(code, 0);
    assert.ok(ms < 2000, `exited in ${ms} ms`);
    // The kernel frees a detached tracing program after an RCU grace period, not at once.
    const left = await waitFor(
      () => dropProgramIds().filter((id) => mine.includes(id)),
      (ids) => ids.length === 0,
    );
    assert.deepEqual(left, [], 'no program left attached');
  });

  it('exits 0 on SIGINT too', async function () {
    const p = await start();
    assert.equal((await p.stop('SIGINT')).code, 0);
  });

  it('refuses to start a second agent on the same bpffs directory (never attaches twice)', async function () {
    await start();
    const ids = dropProgramIds();
    const second = runCli(['run', '--bpffs', pinDir, '--metrics-addr', '127.0.0.1:0']);
    assert.equal(second.status, 1);
    assert.match(second.stderr, /another datapath-exporter is running/);
    assert.deepEqual(dropProgramIds(), ids, 'no second program attached');
  });

  it('list prints the pinned counters as a table and as JSON', async function () {
    const p = await start();
    lab.sendUdp(client, SERVER, 9, 5, 10);
    await waitFor(
      () => noSocket(p),
      (v) => v >= 5,
    );
    const table = runCli(['list', '--bpffs', pinDir]);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout.split('\n')[0] ?? '', /^SOURCE\s+REASON\s+DIRECTION\s+NAMESPACE\s+POD\s+PACKETS\s+BYTES\s+LOCATION$/);
    assert.match(table.stdout, /^kernel\s+NO_SOCKET\s+INGRESS\s+-\s+-\s+5\s+190\s+\S*udp\S*/m);
    const json = JSON.parse(runCli(['list', '--bpffs', pinDir, '--output', 'json']).stdout) as Array<Record<string, string>>;
    const row = json.find((r) => r.reason === 'NO_SOCKET' && r.direction === 'ingress');
    assert.equal(row?.packets, '5');
    assert.equal(row?.bytes, '190');
  });

  it('starts a map afresh, with one warning, when its pin has another layout (an upgrade)', async function () {
    mkdirSync(pinDir, { recursive: true });
    // forward_counts as an older agent might have pinned it: 16-byte values.
    execFileSync('bpftool', [
      'map',
      'create',
      join(pinDir, 'forward_counts'),
      'type',
      'percpu_array',
      'key',
      '4',
      'value',
      '16',
      'entries',
      '8194',
      'name',
      'forward_counts',
    ]);
    const p = await start();
    assert.match(p.logs, /"map":"forward_counts".*pinned map has another layout/);
    const info = JSON.parse(
      execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', join(pinDir, 'forward_counts')], { encoding: 'utf8' }),
    ) as { bytes_value: number };
    assert.equal(info.bytes_value, 24, 'the map of the current layout is pinned now');
  });

  it('starts a map afresh when its pin differs only in flags (libbpf would refuse to reuse it)', async function () {
    mkdirSync(pinDir, { recursive: true });
    // endpoints with the same type and sizes, but BPF_F_NO_PREALLOC (1).
    execFileSync('bpftool', [
      'map',
      'create',
      join(pinDir, 'endpoints'),
      'type',
      'hash',
      'key',
      String(ENDPOINT_ADDR_SIZE),
      'value',
      '4',
      'entries',
      String(ENDPOINT_SLOTS),
      'name',
      'endpoints',
      'flags',
      '1',
    ]);
    const p = await start();
    assert.match(p.logs, /"map":"endpoints".*pinned map has another layout/);
    const info = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', join(pinDir, 'endpoints')], { encoding: 'utf8' })) as {
      flags?: number;
    };
    assert.equal(info.flags ?? 0, 0, 'the map of the current layout is pinned now');
  });

  it('list without a running agent says so', function () {
    const r = runCli(['list', '--bpffs', pinDir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no pinned counters under .*is the agent running/);
  });
});
