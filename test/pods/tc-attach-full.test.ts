// A tc attachment the kernel refuses at start is one line naming the
// interface and what to do, exit 1, and nothing of ours left attached or
// pinned. The refusal is real: the interface's tcx ingress already holds as
// many programs as the kernel allows (63 on 6.x: bpf_mprog_max()), as on a
// node where other agents stacked theirs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { ExporterProcess, runCli, testPinDir, removePinDir, waitFor } from '../support/exporter.js';
import { sumOf } from '../support/metrics-text.js';
import { requireBpf } from '../support/privileges.js';
import { BPF_TCX_EGRESS, BPF_TCX_INGRESS, TCX_NEXT, TcxPrograms, tcxProgramCount } from '../support/tcx-programs.js';

function ifindexOf(dev: string): number {
  return Number(readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8'));
}

describe('a tc attachment the kernel refuses at start', function () {
  const dev = `dpxfull${process.pid % 10_000}`;
  const held = new TcxPrograms();
  let filled = 0;
  let pinDir: string;

  before(function () {
    requireBpf(this);
    execFileSync('ip', ['link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`]);
    execFileSync('ip', ['link', 'set', dev, 'up']);
    const ifindex = ifindexOf(dev);
    // Until the kernel says the hook is full (ERANGE).
    for (;;) {
      const errno = held.attach(ifindex, BPF_TCX_INGRESS, TCX_NEXT, `dpx_fill_${filled}`);
      if (errno === 0) {
        filled++;
        continue;
      }
      if (errno !== constants.errno.ERANGE || filled === 0)
        throw new Error(`filling tcx ingress of ${dev}: link ${filled} refused, errno ${errno}`);
      break;
    }
    pinDir = testPinDir();
  });

  after(function () {
    held.close(); // the links go with their last fd
    try {
      execFileSync('ip', ['link', 'del', dev], { stdio: 'ignore' });
    } catch {
      // not created (deleting one end of the veth deletes both)
    }
    if (pinDir) removePinDir(pinDir);
  });

  it('exits 1 with one line naming the interface and the full hook, leaving nothing of ours', function () {
    const ifindex = ifindexOf(dev);
    assert.equal(tcxProgramCount(ifindex, BPF_TCX_INGRESS), filled, 'the hook is full before the agent starts');
    const r = runCli(['run', '--bpffs', pinDir, '--interfaces', dev, '--metrics-addr', '127.0.0.1:0']);
    assert.equal(r.status, 1, r.stderr);
    const failures = r.stderr.split('\n').filter((l) => l.startsWith('datapath-exporter: '));
    assert.equal(failures.length, 1, r.stderr);
    assert.match(
      failures[0] ?? '',
      new RegExp(
        `^datapath-exporter: cannot attach the tc programs to ${dev} \\(tcx\\): .*ERANGE; the interface's tcx hook already holds as many programs as the kernel allows`,
      ),
    );
    assert.equal(tcxProgramCount(ifindex, BPF_TCX_INGRESS), filled, 'only the programs that were there');
    assert.equal(tcxProgramCount(ifindex, BPF_TCX_EGRESS), 0, 'nothing of ours on the other hook');
    assert.equal(existsSync(pinDir), false, 'the pin directory the failed start made is gone');
  });
});

describe('an interface whose tc attachment fails while running', function () {
  const base = `dpxrt${process.pid % 10_000}`;
  const held = new TcxPrograms();
  let pinDir: string;
  let agent: ExporterProcess | undefined;

  before(function () {
    requireBpf(this);
    pinDir = testPinDir();
  });

  after(async function () {
    await agent?.stop();
    held.close();
    try {
      execFileSync('ip', ['link', 'del', `${base}x`], { stdio: 'ignore' });
    } catch {
      // not created or renamed; the other name below
    }
    try {
      execFileSync('ip', ['link', 'del', `${base}a`], { stdio: 'ignore' });
    } catch {
      // gone with its peer
    }
    if (pinDir) removePinDir(pinDir);
  });

  it('is warned about once and attached by a later retry once the kernel accepts', async function () {
    this.timeout(60_000);
    agent = await ExporterProcess.start(['--bpffs', pinDir, '--poll-interval', '200ms', '--interfaces', `${base}a*`]);
    // Made full under a name the agent does not match, then renamed into view.
    execFileSync('ip', ['link', 'add', `${base}x`, 'type', 'veth', 'peer', 'name', `${base}p`]);
    const ifindex = ifindexOf(`${base}x`);
    let filled = 0;
    while (held.attach(ifindex, BPF_TCX_INGRESS, TCX_NEXT, `dpx_fill_${filled}`) === 0) filled++;
    assert.ok(filled > 0);
    execFileSync('ip', ['link', 'set', `${base}x`, 'name', `${base}a`]);
    const p = agent;
    assert.match(
      await waitFor(
        async () => p.logs,
        (logs) => /cannot attach tc programs to interface/.test(logs),
        10_000,
      ),
      /cannot attach tc programs to interface/,
    );
    await p.nextPoll();
    assert.equal(sumOf(await p.scrape(), 'datapath_exporter_attached_interfaces'), 0);
    held.close(); // the hook has room again
    assert.equal(
      await waitFor(
        async () => sumOf(await p.scrape(), 'datapath_exporter_attached_interfaces'),
        (v) => v === 1,
        20_000,
      ),
      1,
      'attached by a retry',
    );
    assert.equal(p.logs.match(/cannot attach tc programs to interface/g)?.length, 1, 'warned once');
    assert.match(p.logs, /tc programs attached after failing before/);
  });
});
