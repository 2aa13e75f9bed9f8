// A fresh node: neither tracefs nor debugfs mounted (many nodes mount
// neither where a container sees it). The real agent, started through the
// README's own launcher (scripts/datapath-exporter run), runs in a private
// mount namespace where every tracefs and debugfs is unmounted — the host's
// mounts stay as they are — and must count N real drops exactly. Whatever
// this machine has mounted by hand, this test sees a pristine mount table.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Lab, UDP_IPV4_OVERHEAD } from '../support/lab.js';
import { parseExposition, type Sample, sumOf } from '../support/metrics-text.js';
import { removePinDir, sleep, testPinDir, waitFor } from '../support/exporter.js';
import { requireBpf } from '../support/privileges.js';

const LAUNCHER = fileURLToPath(new URL('../../../scripts/datapath-exporter', import.meta.url));
const CLIENT = '10.203.0.1';
const SERVER = '10.203.0.2';

// Runs in the new mount namespace: unmount every tracefs and debugfs
// (deepest first, lazily), then become the launcher. `unshare` execs, so the
// spawned pid ends up being the agent's own.
const PRISTINE = `
set -eu
for m in $(awk '{ for (i = 7; i <= NF; i++) if ($i == "-") { if ($(i+1) == "tracefs" || $(i+1) == "debugfs") print $5; break } }' /proc/self/mountinfo | sort -r); do
  umount -l "$m"
done
exec "$@"
`;

/** Filesystem types mounted in process `pid`'s mount namespace. */
function mountTypes(pid: number): string[] {
  return readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' - ')[1]?.split(' ')[0] ?? '');
}

describe('on a pristine node (no tracefs, no debugfs)', function () {
  let lab: Lab;
  let client: string;
  let server: string;
  let pinDir: string;
  let agent: ChildProcess | undefined;
  let stderr = '';

  before(function () {
    requireBpf(this);
    lab = new Lab();
    client = lab.namespace('client');
    server = lab.namespace('server');
    lab.veth(client, `${CLIENT}/24`, server, `${SERVER}/24`);
    pinDir = testPinDir();
  });

  after(async function () {
    if (agent && agent.exitCode === null && agent.signalCode === null) {
      agent.kill('SIGKILL');
      await new Promise((r) => agent?.once('exit', r));
    }
    lab?.destroy();
    if (pinDir) removePinDir(pinDir);
  });

  it("runs the README's `run` and counts N real drops exactly", async function () {
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--propagation',
        'private',
        '--',
        'bash',
        '-c',
        PRISTINE,
        'pristine',
        LAUNCHER,
        'run',
        '--bpffs',
        pinDir,
        '--metrics-addr',
        '127.0.0.1:0',
        '--poll-interval',
        '200ms',
        '--cilium-metrics-map',
        'none',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    agent = child;
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const port = await waitFor(
      () => Number(/"addr":"127\.0\.0\.1:(\d+)".*serving \/metrics/.exec(stderr)?.[1] ?? 0),
      (p) => p > 0 || child.exitCode !== null,
      20_000,
    );
    assert.ok(port > 0, `the agent started:\n${stderr}`);

    const types = mountTypes(child.pid ?? 0);
    assert.ok(types.includes('bpf'), 'bpffs is there (the one mount the agent needs)');
    assert.deepEqual(
      types.filter((t) => t === 'tracefs' || t === 'debugfs'),
      [],
      'the agent sees no tracefs or debugfs',
    );

    const scrape = async (): Promise<Sample[]> => parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
    const noSocket = (s: Sample[], metric = 'datapath_drop_packets_total') =>
      sumOf(s, metric, { source: 'kernel', reason: 'NO_SOCKET', direction: 'ingress' });
    const N = 29;
    const PAYLOAD = 64;
    const before = await scrape();
    lab.sendUdp(client, SERVER, 9, N, PAYLOAD);
    await waitFor(scrape, (s) => noSocket(s) - noSocket(before) >= N);
    await sleep(500); // one more poll: nothing more arrives
    const after = await scrape();
    assert.equal(noSocket(after) - noSocket(before), N);
    assert.equal(
      noSocket(after, 'datapath_drop_bytes_total') - noSocket(before, 'datapath_drop_bytes_total'),
      N * (PAYLOAD + UDP_IPV4_OVERHEAD),
    );

    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => (child.exitCode !== null ? r(child.exitCode) : child.once('exit', (c) => r(c))));
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /"level":(40|50)/, 'no warning or error in the log');
  });
});
