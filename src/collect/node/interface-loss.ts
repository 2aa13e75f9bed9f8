// Loss that interfaces count and kfree_skb does not always see: the NIC or
// driver discarding (rx_missed_errors: the ring was full; rx_fifo/over
// errors), packets no protocol wanted (rx_nohandler), and what a device
// dropped itself (rx_dropped, tx_dropped: a veth whose peer is down, ...).
// Read from the IFLA_STATS64 of the rtnetlink link dump the agent already
// makes each poll to find pod interfaces: no second dump, no /proc/net/dev.
import { LINK_LOSS_FIELDS, type Link, type LinkLossStats } from '../../os/rtnetlink.js';
import type { NodeFamily, NodeSample, NodeSource } from './node-samples.js';

export const INTERFACE_DROPS: NodeFamily = {
  name: 'datapath_interface_drop_packets',
  help: "Packets an interface counted as lost, by interface and the kernel's counter (rtnl_link_stats64 field: rx_dropped, tx_dropped, rx_missed_errors, rx_fifo_errors, rx_over_errors, tx_fifo_errors, rx_nohandler), as `ip -s -s link` shows them.",
  type: 'counter',
  unit: '{packet}',
};

const COUNTERS = Object.keys(LINK_LOSS_FIELDS) as (keyof LinkLossStats)[];

export class InterfaceLossSource implements NodeSource {
  readonly name = 'interfaces';
  readonly families = [INTERFACE_DROPS];

  /** `links`: this poll's link dump (it throws what made the dump fail). */
  constructor(private readonly links: () => readonly Link[]) {}

  read(): NodeSample[] {
    const out: NodeSample[] = [];
    for (const link of this.links()) {
      if (!link.stats) continue;
      for (const counter of COUNTERS)
        out.push({ family: INTERFACE_DROPS, labels: { interface: link.name, counter }, value: link.stats[counter] });
    }
    return out;
  }
}
