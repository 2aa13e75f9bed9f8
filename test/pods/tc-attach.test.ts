// Attaching the tc programs exactly once: with tcx, links pinned by the agent
// survive a crash and are taken over (not attached again) by the next run;
// with clsact, our filter is replaced, never duplicated. SIGTERM leaves
// nothing attached. Counts prove it: N packets are counted N times, not 2N.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ExporterProcess, removePinDir, testPinDir, waitFor } from '../support/exporter.js';
import { type Lab } from '../support/lab.js';
import { type Sample, sumOf } from '../support/metrics-text.js';
import { type LabPod, type PodNetwork, twoPodLab } from '../support/pod-network.js';
import { requireBpf } from '../support/privileges.js';
import { BPF_TCX_EGRESS, BPF_TCX_INGRESS, TCX_PASS, TcxPrograms, tcxProgramIds } from '../support/tcx-programs.js';

/**
 * Our programs at the tcx hooks of these interfaces (each one a link of
 * ours: the agent attaches only through links). Only the test's own
 * interfaces: another suite's agent may hold links elsewhere meanwhile.
 */
function ourTcxLinks(...devs: string[]): number {
  const progs = JSON.parse(execFileSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' })) as Array<{ id: number; name?: string }>;
  const ours = new Set(progs.filter((p) => (p.name ?? '').startsWith('count_host_')).map((p) => p.id));
  let n = 0;
  for (const dev of devs) {
    const ifindex = Number(readFileSync(`/sys/class/net/${dev}/ifindex`, 'utf8'));
    for (const hook of [BPF_TCX_INGRESS, BPF_TCX_EGRESS]) n += tcxProgramIds(ifindex, hook).filter((id) => ours.has(id)).length;
  }
  return n;
}

/** clsact filters of ours on a device's hook. */
function ourClsactFilters(dev: string, hook: 'ingress' | 'egress'): number {
  const out = execFileSync('tc', ['filter', 'show', 'dev', dev, hook], { encoding: 'utf8' });
  return out.split('\n').filter((l) => / handle 0xd47a .*count_host_/.test(l)).length;
}

const egress = (s: Sample[]) => sumOf(s, 'datapath_forward_packets_total', { source: 'tc', direction: 'egress' });

describe('tc attachment happens exactly once', function () {
  let lab: Lab;
  let net: PodNetwork;
  let a: LabPod;
  let b: LabPod;
  let pinDir: string;
  const running: ExporterProcess[] = [];

  before(async function () {
    requireBpf(this);
    ({ lab, net, a, b } = await twoPodLab(['tc-a', 'tc-b'], 211, { receiverPort: 5000 }));
  });

  beforeEach(function () {
    pinDir = testPinDir();
  });

  afterEach(async function () {
    for (const p of running.splice(0)) await p.stop('SIGTERM');
    // A test that failed between a SIGKILL and the restart leaves pinned links: remove them.
    removePinDir(pinDir);
  });

  after(function () {
    lab?.destroy();
  });

  async function start(mode: 'tcx' | 'clsact'): Promise<ExporterProcess> {
    const p = await ExporterProcess.start([
      '--bpffs',
      pinDir,
      '--poll-interval',
      '200ms',
      '--interfaces',
      net.interfaceGlob,
      '--tc-mode',
      mode,
    ]);
    running.push(p);
    await waitFor(
      async () => sumOf(await p.scrape(), 'datapath_exporter_attached_interfaces'),
      (v) => v === 2,
    );
    return p;
  }

  async function countsExactly(p: ExporterProcess, n: number): Promise<void> {
    const before = egress(await p.scrape());
    lab.sendUdp(a.ns, b.ip, 5000, n, 20);
    await waitFor(
      async () => egress(await p.scrape()) - before,
      (v) => v >= n,
    );
    await p.nextPoll();
    assert.equal(egress(await p.scrape()) - before, n, `${n} packets counted ${n} times`);
  }

  it("tcx: a crashed agent's pinned links are taken over by the next run, not attached twice", async function () {
    const first = await start('tcx');
    assert.equal(ourTcxLinks(a.hostIf, b.hostIf), 4, 'two hooks on each of two interfaces');
    await first.stop('SIGKILL');
    running.splice(0);
    assert.equal(ourTcxLinks(a.hostIf, b.hostIf), 4, 'pinned links outlive the crash');
    const second = await start('tcx');
    assert.equal(ourTcxLinks(a.hostIf, b.hostIf), 4, 'still four: taken over, not attached again');
    await countsExactly(second, 12);
    assert.equal((await second.stop('SIGTERM')).code, 0);
    running.splice(0);
    assert.equal(ourTcxLinks(a.hostIf, b.hostIf), 0, 'SIGTERM detaches every link');
    assert.deepEqual(existsSync(join(pinDir, 'links')) ? readdirSync(join(pinDir, 'links')) : [], [], 'and removes their pins');
  });

  it("tcx: counts exactly when another program on the hook ends the chain (as a CNI's does)", async function () {
    // A program that returns TCX_PASS on both hooks of both veths, attached
    // before the agent starts: ours must run first to see the packets.
    const other = new TcxPrograms();
    try {
      for (const pod of [a, b]) {
        const ifindex = Number(readFileSync(`/sys/class/net/${pod.hostIf}/ifindex`, 'utf8'));
        for (const hook of [BPF_TCX_INGRESS, BPF_TCX_EGRESS]) assert.equal(other.attach(ifindex, hook, TCX_PASS, 'dpx_cni_like'), 0);
      }
      const p = await start('tcx');
      await countsExactly(p, 9);
    } finally {
      other.close();
    }
  });

  it('clsact: our filter is replaced on restart, never duplicated, and removed on SIGTERM', async function () {
    const first = await start('clsact');
    assert.equal(ourClsactFilters(a.hostIf, 'ingress'), 1);
    assert.equal(ourClsactFilters(a.hostIf, 'egress'), 1);
    await first.stop('SIGKILL');
    running.splice(0);
    const second = await start('clsact');
    assert.equal(ourClsactFilters(a.hostIf, 'ingress'), 1, 'replaced, not added');
    await countsExactly(second, 8);
    assert.equal((await second.stop('SIGTERM')).code, 0);
    running.splice(0);
    assert.equal(ourClsactFilters(a.hostIf, 'ingress') + ourClsactFilters(b.hostIf, 'egress'), 0, 'SIGTERM removes our filters');
  });
});
