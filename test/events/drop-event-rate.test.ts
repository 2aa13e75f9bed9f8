// The drop event rate is the node's, wherever the drops happen: a storm of
// real NO_SOCKET drops pinned to one CPU gets close to --drop-events-rate
// events a second (when each CPU had rate / CPUs of its own, it got half of
// it on this 2-CPU machine), and a storm on every CPU at once still gets no
// more than the rate plus the burst. Bounds on counts of events, no timing.
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import type { DropEvent } from '../../src/events/drop-event.js';
import { type ExporterProcess, sleep, waitFor } from '../support/exporter.js';
import type { Lab } from '../support/lab.js';
import { sumOf } from '../support/metrics-text.js';
import { PodLabAgents } from '../support/pod-lab-agents.js';
import type { LabPod } from '../support/pod-network.js';
import { requireBpf } from '../support/privileges.js';

const RATE = 400;
/** The node's burst: one second's worth (README, "Watching drops"). */
const BURST = RATE;
const STORM_SECONDS = 3;
/** The agent re-divides the budget every 100 ms: events granted up to one refill before a window opens may be spent in it. */
const REFILL_SLACK_SECONDS = 0.2;
/** Events of other drops in a storm's window below which the node counts as quiet. */
const QUIET_EVENTS = 20;

// Each process sends UDP to a closed port as fast as it can for SECONDS,
// pinned to its CPU (sched_setaffinity, what taskset does): a veth delivers
// on the sending CPU, so the kernel drops each datagram (NO_SOCKET) there.
// Prints one JSON line per CPU: datagrams sent and the seconds it took.
const STORM = `
import json, os, socket, sys, time
cpus, seconds, host = [int(c) for c in sys.argv[1].split(',')], float(sys.argv[2]), sys.argv[3]
kids = []
for cpu in cpus:
    pid = os.fork()
    if pid == 0:
        os.sched_setaffinity(0, {cpu})
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        n, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < seconds:
            for _ in range(200):
                s.sendto(b'storm', (host, 9))
            n += 200
        print(json.dumps({'cpu': cpu, 'sent': n, 'seconds': time.monotonic() - t0}), flush=True)
        os._exit(0)
    kids.append(pid)
for pid in kids:
    os.waitpid(pid, 0)
`;

describe('drop events: the node rate goes to whichever CPUs drop', function () {
  let pods: PodLabAgents;
  let lab: Lab;
  let a: LabPod;
  let b: LabPod;

  before(async function () {
    requireBpf(this);
    assert.ok(availableParallelism() >= 2, 'needs two CPUs');
    pods = await PodLabAgents.create(['rate-a', 'rate-b'], 227, [
      { name: 'stormer', namespace: 'front' },
      { name: 'target', namespace: 'back' },
    ]);
    ({ lab, a, b } = pods);
  });

  afterEach(async function () {
    await pods?.stopAgents();
  });

  after(async function () {
    await pods?.destroy();
  });

  const start = (): Promise<ExporterProcess> => pods.start(['--drop-events-rate', String(RATE)]);

  async function events(p: ExporterProcess): Promise<DropEvent[]> {
    const { status, body } = await p.get('/api/v1/drops');
    assert.equal(status, 200, body);
    return body
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as DropEvent);
  }

  const targetDrops = async (p: ExporterProcess) =>
    sumOf(await p.scrape(), 'datapath_drop_packets_total', { reason: 'NO_SOCKET', pod: 'target', direction: 'ingress' });

  /**
   * A storm on `cpus`; returns the storm's own events, the other events of
   * the window around it (other drops on the node spend the same budget),
   * the storm's seconds and the window's.
   */
  async function storm(p: ExporterProcess, cpus: number[]) {
    await sleep(1000); // events of earlier drops are drained, and the node's budget has refilled
    const earlier = await events(p);
    const last = earlier.reduce((t, e) => (BigInt(e.timeUnixNano) > t ? BigInt(e.timeUnixNano) : t), 0n);
    const dropsBefore = await targetDrops(p);
    const opened = Date.now();
    const out = lab.exec(a.ns, 'python3', ['-c', STORM, cpus.join(','), String(STORM_SECONDS), b.ip]);
    const senders = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { cpu: number; sent: number; seconds: number });
    assert.deepEqual(senders.map((s) => s.cpu).sort(), cpus);
    const sent = senders.reduce((n, s) => n + s.sent, 0);
    const drops = await waitFor(
      async () => (await targetDrops(p)) - dropsBefore,
      (v) => v >= sent,
    );
    assert.equal(drops, sent, 'the counters stay exact');
    await sleep(300); // the ring is drained every 100 ms
    const fresh = (await events(p)).filter((e) => BigInt(e.timeUnixNano) > last);
    const window = (Date.now() - opened) / 1000;
    const mine = fresh.filter((e) => e.reason === 'NO_SOCKET' && e.destination.pod === 'target').length;
    return { mine, others: fresh.length - mine, sent, seconds: Math.max(...senders.map((s) => s.seconds)), window };
  }

  /** What no window may pass: the storm's events in its seconds, all events in the window. */
  function assertCeiling(s: Awaited<ReturnType<typeof storm>>, what: string): void {
    assert.ok(s.mine <= RATE * (s.seconds + REFILL_SLACK_SECONDS) + BURST, what);
    const all = s.mine + s.others;
    assert.ok(all <= RATE * (s.window + REFILL_SLACK_SECONDS) + BURST, `${all} events in ${s.window.toFixed(2)} s`);
  }

  it('gives a storm on one CPU close to the node rate, never more than the rate plus the burst', async function () {
    const p = await start();
    // Other drops on the node (another test on this machine) spend the same
    // budget: the storm is repeated, up to 3 times, until the rest of the
    // node is quiet during one, and the lower bound gives way by the other
    // events of the window it is asserted on.
    let s = await storm(p, [0]);
    for (let attempt = 1; attempt < 3 && s.others > QUIET_EVENTS; attempt++) {
      assertCeiling(s, `attempt ${attempt}: ${s.mine} events for ${s.sent} drops in ${s.seconds.toFixed(2)} s`);
      s = await storm(p, [0]);
    }
    const what = `${s.mine} events for ${s.sent} drops on CPU 0 in ${s.seconds.toFixed(2)} s at ${RATE}/s; ${s.others} other events`;
    // With an equal share per CPU the storm's CPU had RATE / 2 a second and a
    // burst of RATE / 2: at most RATE / 2 × (seconds + 1) = 800 here (790
    // seen on that code, with a quiet node).
    assert.ok(s.mine >= 0.8 * RATE * s.seconds - s.others, what);
    assertCeiling(s, what);
  });

  it('keeps a storm on every CPU at once within the node rate plus the burst', async function () {
    const p = await start();
    const s = await storm(p, [0, 1]);
    const what = `${s.mine} events for ${s.sent} drops on CPUs 0 and 1 in ${s.seconds.toFixed(2)} s at ${RATE}/s; ${s.others} other events`;
    assertCeiling(s, what);
    assert.ok(s.mine >= 0.8 * RATE * s.seconds - s.others, `the node's budget is used: ${what}`);
    // Refusals are counted on each CPU: every drop since this agent started
    // (its pins are new) was sent as an event or counted as suppressed.
    const account = async () => {
      const m = await p.scrape();
      return {
        drops: sumOf(m, 'datapath_drop_packets_total', { source: 'kernel' }),
        accounted: (await events(p)).length + sumOf(m, 'datapath_exporter_drop_events_suppressed_total'),
      };
    };
    const last = await waitFor(account, (x) => x.drops === x.accounted);
    assert.equal(last.accounted, last.drops);
  });
});
