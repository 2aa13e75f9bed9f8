// What each interface's root qdisc refused or held back: drops (the queue
// was full, or the qdisc's policy dropped: tbf past its burst, fq_codel's
// AQM), overlimits (a shaper said "not yet"; not necessarily a drop) and
// requeues (the driver could not take a packet). From an RTM_GETQDISC dump
// each poll. Only root qdiscs are published: a classful root (htb, mq) counts
// what its children dropped in its own statistics, so children would count
// the same packets twice. Interfaces are named from the same poll's link dump.
import type { Link } from '../../os/rtnetlink.js';
import { type Qdisc, TC_H_ROOT } from '../../os/qdisc-dump.js';
import type { NodeFamily, NodeSample, NodeSource } from './node-samples.js';

export const QDISC_DROPS: NodeFamily = {
  name: 'datapath_qdisc_drop_packets',
  help: 'Packets an interface\'s root qdisc dropped (tc -s qdisc "dropped"), by interface and qdisc kind. The kernel also reports these through kfree_skb (reason QDISC_DROP and its kin): never sum the two.',
  type: 'counter',
  unit: '{packet}',
};
export const QDISC_OVERLIMITS: NodeFamily = {
  name: 'datapath_qdisc_overlimits',
  help: 'Times an interface\'s root qdisc held a packet back over its limit (tc -s qdisc "overlimits"; a shaper delaying, not only dropping), by interface and qdisc kind.',
  type: 'counter',
  unit: '{event}',
};
export const QDISC_REQUEUES: NodeFamily = {
  name: 'datapath_qdisc_requeue_packets',
  help: 'Packets an interface\'s root qdisc put back because the driver was busy (tc -s qdisc "requeues"), by interface and qdisc kind.',
  type: 'counter',
  unit: '{packet}',
};

export class QdiscLossSource implements NodeSource {
  readonly name = 'qdisc';
  readonly families = [QDISC_DROPS, QDISC_OVERLIMITS, QDISC_REQUEUES];

  /** `qdiscs`: a dump of this namespace's qdiscs; `links`: this poll's link dump, for names. */
  constructor(
    private readonly qdiscs: () => readonly Qdisc[],
    private readonly links: () => readonly Link[],
  ) {}

  read(): NodeSample[] {
    const names = new Map(this.links().map((l) => [l.ifindex, l.name]));
    const out: NodeSample[] = [];
    for (const q of this.qdiscs()) {
      const name = names.get(q.ifindex);
      // A root qdisc of a link made after the link dump: named at the next poll.
      if (q.parent !== TC_H_ROOT || name === undefined) continue;
      const labels = { interface: name, qdisc: q.kind };
      out.push({ family: QDISC_DROPS, labels, value: q.drops });
      out.push({ family: QDISC_OVERLIMITS, labels, value: q.overlimits });
      out.push({ family: QDISC_REQUEUES, labels, value: q.requeues });
    }
    return out;
  }
}
