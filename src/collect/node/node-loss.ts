// The node's loss collectors as one poll: interfaces (this poll's link dump),
// softnet, conntrack and root qdiscs, each failing alone. The qdisc dump and
// the route/neighbour dumps that find pods behind interfaces share a netlink
// socket of their own.
import type { Logger } from '../../log/logger.js';
import { readAddressesBehind } from '../../os/addresses-behind.js';
import { lastLinkDump } from '../../os/pod-interfaces.js';
import { QDISC_DUMP } from '../../os/qdisc-dump.js';
import { RtnetlinkSocket } from '../../os/rtnetlink.js';
import { Poller, type PollResult } from '../poller.js';
import { ConntrackSource } from './conntrack.js';
import { InterfaceLossSource } from './interface-loss.js';
import type { NodeSample } from './node-samples.js';
import { QdiscLossSource } from './qdisc-loss.js';
import { SoftnetSource } from './softnet.js';

export class NodeLoss {
  private readonly socket = new RtnetlinkSocket();
  private readonly poller: Poller<NodeSample>;

  /** Reads the interfaces of the link dump listPodInterfaces made last: call this after it, in the same poll. */
  constructor(log: Logger) {
    const interfaces = new InterfaceLossSource(lastLinkDump, (links) => readAddressesBehind(this.socket, links));
    const qdiscs = new QdiscLossSource(() => this.socket.dump(QDISC_DUMP), lastLinkDump);
    this.poller = new Poller<NodeSample>([interfaces, new SoftnetSource(), new ConntrackSource(), qdiscs], log);
  }

  poll(): PollResult<NodeSample> {
    return this.poller.poll();
  }

  close(): void {
    this.socket.close();
  }
}
