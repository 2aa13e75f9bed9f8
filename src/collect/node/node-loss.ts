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
  /** This poll's read of Cilium's endpoint map failed. */
  private ciliumFailed = false;
  private ciliumFailing = false;
  private ciliumLast: AddressesBehind = new Map();

  /** Reads the interfaces of the link dump listPodInterfaces made last: call this after it, in the same poll. */
  constructor(
    private readonly log: Logger,
    opts: NodeLossOptions = {},
  ) {
    this.cilium = opts.ciliumEndpointMap === undefined ? undefined : new CiliumEndpointMap(opts.ciliumEndpointMap, log);
    const interfaces = new InterfaceLossSource(lastLinkDump, (links) => this.addressesBehind(links));
    const qdiscs = new QdiscLossSource(() => this.socket.dump(QDISC_DUMP), lastLinkDump);
    this.poller = new Poller<NodeSample>([interfaces, new SoftnetSource(), new ConntrackSource(), qdiscs], log);
  }

  poll(): PollResult<NodeSample> {
    this.ciliumFailed = false;
    const result = this.poller.poll();
    if (this.ciliumFailed) result.failed.push(CILIUM_ENDPOINTS_SOURCE);
    return result;
  }

  close(): void {
    this.cilium?.close();
    this.socket.close();
  }

  private addressesBehind(links: readonly Link[]): AddressesBehind {
    return mergeAddressesBehind(readAddressesBehind(this.socket, links), this.readCilium());
  }

  /** What Cilium's endpoint map says; its last good read when this one fails (logged once per streak). */
  private readCilium(): AddressesBehind {
    if (!this.cilium) return this.ciliumLast;
    try {
      this.ciliumLast = this.cilium.read();
      if (this.ciliumFailing) this.log.info({ source: CILIUM_ENDPOINTS_SOURCE }, 'reading counters works again');
      this.ciliumFailing = false;
    } catch (err) {
      this.ciliumFailed = true;
      if (!this.ciliumFailing) {
        this.log.warn(
          { source: CILIUM_ENDPOINTS_SOURCE, err: String(err) },
          "reading Cilium's endpoint map failed (logged once until it works again; counted in datapath_exporter_poll_errors_total)",
        );
      }
      this.ciliumFailing = true;
    }
    return this.ciliumLast;
  }
}
