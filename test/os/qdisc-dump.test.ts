// The in-process qdisc dump (RTM_GETQDISC) against `tc -s -j qdisc show`:
// the parser on hand-made messages, then a real tbf that really drops on a
// lab veth, compared exactly (and with the sender's own count of refused
// sends: a qdisc drop is ENOBUFS to an AF_PACKET sender).
import assert from 'node:assert/strict';
import { parseNewQdisc, QDISC_DUMP, TC_H_ROOT } from '../../src/os/qdisc-dump.js';
import { parseDumpChunk, RtnetlinkSocket } from '../../src/os/rtnetlink.js';
import { Lab, sh } from '../support/lab.js';
import { requireBpf } from '../support/privileges.js';
import { burst } from '../support/raw-frames.js';

function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

/** RTM_NEWQDISC: tcmsg + TCA_KIND + TCA_STATS2 { TCA_STATS_BASIC, TCA_STATS_QUEUE }. */
function newQdisc(
  seq: number,
  ifindex: number,
  kind: string,
  parent: number,
  q: { drops: number; requeues: number; overlimits: number },
): Buffer {
  const tcmsg = Buffer.alloc(20);
  tcmsg.writeInt32LE(ifindex, 4);
  tcmsg.writeUInt32LE(0x80010000, 8);
  tcmsg.writeUInt32LE(parent, 12);
  const queue = Buffer.alloc(20);
  queue.writeUInt32LE(3, 0); // qlen
  queue.writeUInt32LE(300, 4); // backlog
  queue.writeUInt32LE(q.drops, 8);
  queue.writeUInt32LE(q.requeues, 12);
  queue.writeUInt32LE(q.overlimits, 16);
  const stats2 = attr(7 | 0x8000, Buffer.concat([attr(1, Buffer.alloc(16)), attr(3, queue)]));
  const payload = Buffer.concat([tcmsg, attr(1, Buffer.from(`${kind}\0`)), stats2]);
  const msg = Buffer.alloc(16 + payload.length);
  msg.writeUInt32LE(msg.length, 0);
  msg.writeUInt16LE(36, 4);
  msg.writeUInt16LE(2, 6);
  msg.writeUInt32LE(seq, 8);
  payload.copy(msg, 16);
  return msg;
}

describe('qdisc dump: the messages', function () {
  it('reads device, kind, parent and the queue counters of TCA_STATS2', function () {
    const m = Buffer.concat([
      newQdisc(3, 7, 'tbf', TC_H_ROOT, { drops: 5, requeues: 2, overlimits: 11 }),
      newQdisc(3, 7, 'pfifo', 0x80010001, { drops: 1, requeues: 0, overlimits: 0 }),
    ]);
    assert.deepEqual(parseDumpChunk(QDISC_DUMP, m, m.length, 3).items, [
      { ifindex: 7, kind: 'tbf', handle: 0x80010000, parent: TC_H_ROOT, drops: 5, requeues: 2, overlimits: 11 },
      { ifindex: 7, kind: 'pfifo', handle: 0x80010000, parent: 0x80010001, drops: 1, requeues: 0, overlimits: 0 },
    ]);
  });

  it('skips a qdisc message without queue statistics', function () {
    const m = newQdisc(1, 2, 'noqueue', TC_H_ROOT, { drops: 0, requeues: 0, overlimits: 0 });
    assert.equal(parseNewQdisc(m, 16, m.length - 28), undefined); // TCA_STATS2 cut off
  });
});

interface TcQdisc {
  kind: string;
  root?: boolean;
  drops: number;
  overlimits: number;
  requeues: number;
}

describe('qdisc dump: the kernel', function () {
  let lab: Lab;
  const sock = new RtnetlinkSocket();

  before(function () {
    requireBpf(this);
    lab = new Lab();
  });

  after(function () {
    sock.close();
    lab?.destroy();
  });

  it('reads a dropping tbf exactly as tc -s qdisc shows it, and its drops are the sends refused', async function () {
    const ns = lab.namespace('q');
    const v = lab.veth(undefined, '', ns, '');
    // 10 kB/s, a 1.6 kB burst and a 3 kB queue: a burst of 60 frames of 200 B overflows it.
    sh('tc', ['qdisc', 'replace', 'dev', v.a, 'root', 'tbf', 'rate', '80kbit', 'burst', '1600', 'limit', '3000']);
    const refused = burst(lab, v.a, 60);
    assert.ok(refused > 0, 'the tbf dropped');
    await new Promise((r) => setTimeout(r, 1000)); // drained: the counters stand still
    const [tc] = JSON.parse(sh('tc', ['-s', '-j', 'qdisc', 'show', 'dev', v.a])) as TcQdisc[];
    const ifindex = Number((JSON.parse(sh('ip', ['-j', 'link', 'show', v.a])) as Array<{ ifindex: number }>)[0]?.ifindex);
    const dumped = sock.dump(QDISC_DUMP).filter((q) => q.ifindex === ifindex);
    assert.deepEqual(
      dumped.map((q) => ({ kind: q.kind, root: q.parent === TC_H_ROOT, drops: q.drops, overlimits: q.overlimits, requeues: q.requeues })),
      [{ kind: tc?.kind, root: tc?.root, drops: tc?.drops, overlimits: tc?.overlimits, requeues: tc?.requeues }],
    );
    assert.equal(dumped[0]?.drops, refused);
  });
});
