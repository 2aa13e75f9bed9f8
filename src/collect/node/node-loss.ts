// The node's loss collectors as one poll: interfaces (this poll's link dump),
// softnet, conntrack and root qdiscs, each failing alone. The qdisc dump and
// the route/neighbour dumps that find pods behind interfaces share a netlink
// socket of their own. On Cilium nodes, Cilium's endpoint map adds the pod
// addresses behind its lxc interfaces (it fails alone too: the interfaces
// keep what routes and bridges say).
import type { Logger } from '../../log/logger.js';
import { type AddressesBehind, mergeAddressesBehind, readAddressesBehind } from '../../os/addresses-behind.js';
import { lastLinkDump } from '../../os/pod-interfaces.js';
import { QDISC_DUMP } from '../../os/qdisc-dump.js';
import { type Link, RtnetlinkSocket } from '../../os/rtnetlink.js';
import { CiliumEndpointMap } from '../cilium/endpoint-map.js';
import { Poller, type PollResult } from '../poller.js';
import { ConntrackSource } from './conntrack.js';
import { InterfaceLossSource } from './interface-loss.js';
import type { NodeSample } from './node-samples.js';
import { QdiscLossSource } from './qdisc-loss.js';
import { SoftnetSource } from './softnet.js';

/** The poll error metric's `source` when Cilium's endpoint map cannot be read. */
export const CILIUM_ENDPOINTS_SOURCE = 'cilium_endpoints';

export interface NodeLossOptions {
  /** Cilium's pinned endpoint map; undefined: not read. */
  ciliumEndpointMap?: string;
}

export class NodeLoss {
  private readonly socket = new RtnetlinkSocket();
  private readonly poller: Poller<NodeSample>;
  private readonly cilium: CiliumEndpointMap | undefined;
  /** Cilium's endpoint map read as a source of its own: failing alone, counted, logged once per streak, its last read kept. */
  private readonly ciliumPoller: Poller<AddressesBehind> | undefined;
  /** What this poll's (or the last good) read of Cilium's endpoint map says. */
  private ciliumBehind: AddressesBehind = new Map();

  /** Reads the interfaces of the link dump listPodInterfaces made last: call this after it, in the same poll. */
  constructor(log: Logger, opts: NodeLossOptions = {}) {
    const cilium = opts.ciliumEndpointMap === undefined ? undefined : new CiliumEndpointMap(opts.ciliumEndpointMap, log);
    this.cilium = cilium;
    this.ciliumPoller = cilium && new Poller<AddressesBehind>([{ name: CILIUM_ENDPOINTS_SOURCE, read: () => [cilium.read()] }], log);
    const interfaces = new InterfaceLossSource(lastLinkDump, (links, known) => this.addressesBehind(links, known));
    const qdiscs = new QdiscLossSource(() => this.socket.dump(QDISC_DUMP), lastLinkDump);
    this.poller = new Poller<NodeSample>([interfaces, new SoftnetSource(), new ConntrackSource(), qdiscs], log);
  }

  poll(): PollResult<NodeSample> {
    const cilium = this.ciliumPoller?.poll(); // before the interfaces source, which joins it in
    this.ciliumBehind = cilium?.rows[0] ?? this.ciliumBehind;
    const result = this.poller.poll();
    if (cilium) {
      result.failed.push(...cilium.failed);
      result.seconds += cilium.seconds;
    }
    return result;
  }

  close(): void {
    this.cilium?.close();
    this.socket.close();
  }

  private addressesBehind(links: readonly Link[], known: (ifindex: number) => boolean): AddressesBehind {
    return mergeAddressesBehind(readAddressesBehind(this.socket, links, known), this.ciliumBehind);
  }
}
