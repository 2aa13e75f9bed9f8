// An interface's loss counters as iproute2 prints them (`ip -j -s -s link`),
// named as the kernel's rtnl_link_stats64 fields: what the tests compare the
// agent's interface loss series and its own link dump with.
import type { LinkLossStats } from '../../src/os/rtnetlink.js';
import { sh } from './lab.js';

export interface IpStats {
  dropped: number;
  over_errors?: number;
  fifo_errors: number;
  missed_errors?: number;
  /** Printed only when not zero. */
  nohandler?: number;
}

/** The loss counters of one link's `stats64`. */
export const ipLossStats = ({ rx, tx }: { rx: IpStats; tx: IpStats }): LinkLossStats => ({
  rx_dropped: rx.dropped,
  tx_dropped: tx.dropped,
  rx_over_errors: rx.over_errors ?? 0,
  rx_fifo_errors: rx.fifo_errors,
  rx_missed_errors: rx.missed_errors ?? 0,
  tx_fifo_errors: tx.fifo_errors,
  rx_nohandler: rx.nohandler ?? 0,
});

/** A root-namespace interface's loss counters now; throws when it has none. */
export function ipLoss(dev: string): LinkLossStats {
  const [link] = JSON.parse(sh('ip', ['-j', '-s', '-s', 'link', 'show', dev])) as Array<{ stats64?: { rx: IpStats; tx: IpStats } }>;
  if (!link?.stats64) throw new Error(`ip shows no stats64 for ${dev}`);
  return ipLossStats(link.stats64);
}
