// Loss that interfaces count and kfree_skb does not always see: the NIC or
// driver discarding (rx_missed_errors: the ring was full; rx_fifo/over
// errors), packets no protocol wanted (rx_nohandler), and what a device
// dropped itself (rx_dropped, tx_dropped: a veth whose peer is down, ...).
// Read from the IFLA_STATS64 of the rtnetlink link dump the agent already
// makes each poll to find pod interfaces: no second dump, no /proc/net/dev.
// Each interface's samples carry the addresses behind it (a pod's veth: the
// pod's), so the export can name the pod.
import type { AddressesBehind } from '../../os/addresses-behind.js';
import { LINK_LOSS_FIELDS, type Link, type LinkLossStats } from '../../os/rtnetlink.js';
import type { NodeFamily, NodeSample, NodeSource } from './node-samples.js';

export const INTERFACE_DROPS: NodeFamily = {
  name: 'datapath_interface_drop_packets',
  help: "Packets an interface counted as lost, by interface and the kernel's counter (rtnl_link_stats64 field: rx_dropped, tx_dropped, rx_missed_errors, rx_fifo_errors, rx_over_errors, tx_fifo_errors, rx_nohandler), as `ip -s -s link` shows them; a pod's veth carries the pod's labels.",
  type: 'counter',
  unit: '{packet}',
  perPod: true,
};

const COUNTERS = Object.keys(LINK_LOSS_FIELDS) as (keyof LinkLossStats)[];

export class InterfaceLossSource implements NodeSource {
  readonly name = 'interfaces';
  readonly families = [INTERFACE_DROPS];

  /**
   * `links`: this poll's link dump (it throws what made the dump fail);
   * `addressesBehind`: which addresses each of them leads to (`known`: an
   * interface whose addresses were found before, which it may skip).
   */
  constructor(
    private readonly links: () => readonly Link[],
    private readonly addressesBehind: (links: readonly Link[], known: (ifindex: number) => boolean) => AddressesBehind,
  ) {}

  /**
   * What was last found behind each interface: a bridge forgets an idle
   * pod's MAC after its ageing time (300 s), but the veth is still that
   * pod's, so its series keep their labels while it exists. Keyed by ifindex
   * and name (an ifindex is reused only after its device is gone).
   */
  private readonly remembered = new Map<number, { name: string; addresses: readonly string[] }>();

  read(): NodeSample[] {
    const links = this.links();
    // Forget what was behind a device that is gone (or whose ifindex now names another).
    const nameOf = new Map(links.map((l) => [l.ifindex, l.name]));
    for (const [ifindex, { name }] of this.remembered) if (nameOf.get(ifindex) !== name) this.remembered.delete(ifindex);
    const behind = this.addressesBehind(links, (ifindex) => this.remembered.has(ifindex));
    const out: NodeSample[] = [];
    for (const link of links) {
      const found = behind.get(link.ifindex);
      if (found) this.remembered.set(link.ifindex, { name: link.name, addresses: found });
      if (!link.stats) continue;
      const podAddresses = found ?? this.remembered.get(link.ifindex)?.addresses;
      for (const counter of COUNTERS)
        out.push({ family: INTERFACE_DROPS, labels: { interface: link.name, counter }, value: link.stats[counter], podAddresses });
    }
    return out;
  }
}
