// Bad input is one clear line on stderr and exit code 2; missing privileges
// or bpffs is one line naming what is missing and exit code 1, with nothing
// attached or pinned.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, runCli, testPinDir } from '../support/exporter.js';
import { requireBpf } from '../support/privileges.js';
import { oneLine } from '../support/cli-output.js';

describe('command line', function () {
  it('prints help for the program and each command', function () {
    for (const args of [['--help'], ['run', '--help'], ['list', '--help'], ['observe', '--help']]) {
      const r = runCli(args);
      assert.equal(r.status, 0);
      assert.match(r.stdout, /Usage: datapath-exporter/);
    }
    assert.match(
      runCli(['run', '--help']).stdout,
      /--metrics-addr <host:port>[\s\S]*--poll-interval <duration>[\s\S]*--bpffs <dir>[\s\S]*--log-level <level>/,
    );
    assert.match(runCli(['list', '--help']).stdout, /--output <format>/);
  });

  const usageErrors: Array<[string, string[], RegExp]> = [
    ['unknown flag', ['run', '--bogus'], /unknown option '--bogus'/],
    ['bad address', ['run', '--metrics-addr', 'nope'], /is not HOST:PORT/],
    ['port out of range', ['run', '--metrics-addr', '0.0.0.0:70000'], /is not HOST:PORT/],
    ['bad duration', ['run', '--poll-interval', 'soon'], /is not a duration/],
    ['too short a poll interval', ['run', '--poll-interval', '1ms'], /below the minimum/],
    ['bad log level', ['run', '--log-level', 'loud'], /is not a log level/],
    ['bad list format', ['list', '--output', 'xml'], /is not one of table, json/],
    ['unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    ['bad drop event rate', ['run', '--drop-events-rate', 'lots'], /is not an event rate/],
    ['bad observe format', ['observe', '--output', 'xml'], /is not one of table, json/],
    ['bad observe direction', ['observe', '--direction', 'up'], /Allowed choices are ingress, egress, unknown/],
  ];
  for (const [what, args, message] of usageErrors) {
    it(`exits 2 with one line for ${what}`, function () {
      const r = runCli(args);
      assert.equal(r.status, 2);
      assert.match(oneLine(r.stderr), message);
    });
  }

  it('observe exits 1 with one line when no agent answers at the address', function () {
    const r = runCli(['observe', '--addr', '127.0.0.1:1']);
    assert.equal(r.status, 1);
    assert.match(oneLine(r.stderr), /^datapath-exporter: no agent answers at 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
  });

  describe('missing privileges and kernel features', function () {
    before(function () {
      requireBpf(this);
    });

    it('exits 1 naming the missing capabilities when not root', function () {
      const pinDir = testPinDir();
      const r = runCli(['run', '--bpffs', pinDir, '--metrics-addr', '127.0.0.1:0'], { user: '65534' });
      assert.equal(r.status, 1);
      assert.match(oneLine(r.stderr), /missing privileges: no CAP_BPF and no CAP_PERFMON: .*needs CAP_BPF and CAP_PERFMON/);
      assert.equal(existsSync(pinDir), false, 'nothing pinned');
    });

    it('exits 1 pointing under /sys/fs/bpf when --bpffs is not on a bpffs mount', function () {
      const dir = mkdtempSync(join(tmpdir(), 'dpx-'));
      try {
        const r = runCli(['run', '--bpffs', join(dir, 'pins'), '--metrics-addr', '127.0.0.1:0']);
        assert.equal(r.status, 1);
        const line = oneLine(r.stderr);
        assert.match(line, /--bpffs \/tmp\/dpx-\w+\/pins is not on a bpffs mount: pin under \/sys\/fs\/bpf /);
        assert.match(line, /mount -t bpf bpf \/sys\/fs\/bpf\)$/);
        assert.doesNotMatch(line, /mount -t bpf bpf \/tmp/);
        assert.equal(existsSync(join(dir, 'pins')), false, 'nothing created');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('exits 1 with the mount command when bpffs is not mounted at /sys/fs/bpf (a private mount namespace)', function () {
      const pinDir = testPinDir();
      const r = spawnSync(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          '--',
          'sh',
          '-c',
          'umount -l /sys/fs/bpf && exec "$@"',
          'sh',
          process.execPath,
          CLI,
          'run',
          '--bpffs',
          pinDir,
          '--metrics-addr',
          '127.0.0.1:0',
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      assert.equal(r.status, 1, r.stderr);
      assert.equal(
        oneLine(r.stderr),
        'datapath-exporter: bpffs is not mounted at /sys/fs/bpf: mount it with: mount -t bpf bpf /sys/fs/bpf (in Kubernetes: a hostPath volume of /sys/fs/bpf)',
      );
      assert.equal(existsSync(pinDir), false, 'nothing pinned');
    });

    it('exits 1 naming CAP_NET_ADMIN when only it is missing (CAP_SYS_ADMIN does not stand in)', function () {
      const pinDir = testPinDir();
      const r = spawnSync(
        'setpriv',
        [
          '--inh-caps=-all,+bpf,+perfmon,+sys_admin,+syslog',
          '--ambient-caps=-all,+bpf,+perfmon,+sys_admin,+syslog',
          '--bounding-set=-all,+bpf,+perfmon,+sys_admin,+syslog',
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          CLI,
          'run',
          '--bpffs',
          pinDir,
          '--metrics-addr',
          '127.0.0.1:0',
        ],
        { encoding: 'utf8', timeout: 30_000 },
      );
      assert.equal(r.status, 1, r.stderr);
      assert.match(oneLine(r.stderr), /missing privileges: no CAP_NET_ADMIN: attaching tc programs needs CAP_NET_ADMIN/);
      assert.equal(existsSync(pinDir), false, 'nothing pinned');
    });

    it('exits 1 when the metrics port is taken, leaving nothing attached', async function () {
      const { createServer } = await import('node:net');
      const blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
      const port = (blocker.address() as { port: number }).port;
      const pinDir = testPinDir();
      try {
        const r = runCli(['run', '--bpffs', pinDir, '--metrics-addr', `127.0.0.1:${port}`]);
        assert.equal(r.status, 1);
        assert.match(oneLine(r.stderr), /cannot serve metrics on 127\.0\.0\.1:\d+: it is in use/);
        assert.equal(existsSync(pinDir), false, 'nothing loaded or pinned');
      } finally {
        blocker.close();
        rmSync(pinDir, { recursive: true, force: true });
      }
    });
  });
});
