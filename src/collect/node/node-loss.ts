// The node's loss collectors as one poll: interfaces (this poll's link dump),
// softnet, conntrack and root qdiscs (a qdisc dump over a netlink socket of
// its own), each failing alone.
import type { Logger } from '../../log/logger.js';
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
  private readonly qdiscSocket = new RtnetlinkSocket();
  private readonly poller: Poller<NodeSample>;

  /** Reads the interfaces of the link dump listPodInterfaces made last: call this after it, in the same poll. */
  constructor(log: Logger) {
    const qdiscs = new QdiscLossSource(() => this.qdiscSocket.dump(QDISC_DUMP), lastLinkDump);
    this.poller = new Poller<NodeSample>([new InterfaceLossSource(lastLinkDump), new SoftnetSource(), new ConntrackSource(), qdiscs], log);
  }

  poll(): PollResult<NodeSample> {
    return this.poller.poll();
  }

  close(): void {
    this.qdiscSocket.close();
  }
}
