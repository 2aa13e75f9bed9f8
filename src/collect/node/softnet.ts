// The per-CPU backlog (softnet_data) of the receive path: packets dropped
// because a CPU's input queue was full (netdev_max_backlog), and the times
// net_rx_action ran out of budget or time with work left (time_squeeze).
// /proc/net/softnet_stat: one line per online CPU, hex columns; the count
// varies by kernel (13 since 5.10 with the CPU's index in column 12, 15
// since 6.x; 11 before), so columns are read by position and a CPU's number
// comes from its line when the index column is missing.
import { readFileSync } from 'node:fs';
import type { NodeFamily, NodeSample, NodeSource } from './node-samples.js';

export const SOFTNET_PROCESSED: NodeFamily = {
  name: 'datapath_softnet_processed_packets',
  help: "Packets a CPU's receive backlog processed (/proc/net/softnet_stat column 1), by cpu.",
  type: 'counter',
  unit: '{packet}',
};
export const SOFTNET_DROPS: NodeFamily = {
  name: 'datapath_softnet_drop_packets',
  help: "Packets dropped because a CPU's receive backlog was full (net.core.netdev_max_backlog; softnet_stat column 2), by cpu.",
  type: 'counter',
  unit: '{packet}',
};
export const SOFTNET_SQUEEZES: NodeFamily = {
  name: 'datapath_softnet_time_squeezes',
  help: "Times a CPU's receive softirq stopped with work left, out of budget or time (net.core.netdev_budget*; softnet_stat column 3), by cpu.",
  type: 'counter',
  unit: '{event}',
};
export const SOFTNET_FLOW_LIMIT: NodeFamily = {
  name: 'datapath_softnet_flow_limit_packets',
  help: 'Packets dropped by the per-flow backlog limit (net.core.flow_limit_cpu_bitmap; softnet_stat column 11), by cpu.',
  type: 'counter',
  unit: '{packet}',
};

/** One CPU's line. flowLimit is undefined on kernels whose lines are shorter. */
export interface SoftnetCpu {
  cpu: number;
  processed: number;
  dropped: number;
  timeSqueeze: number;
  flowLimit: number | undefined;
}

const CPU_INDEX_COLUMN = 12;
const FLOW_LIMIT_COLUMN = 10;

/** Parses /proc/net/softnet_stat. Throws on a line that is not hex columns (a format this code does not know). */
export function parseSoftnetStat(text: string): SoftnetCpu[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return lines.map((line, i) => {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 3 || cols.some((c) => !/^[0-9a-f]+$/i.test(c)))
      throw new Error(`softnet_stat line ${i + 1} is not hex columns: ${line}`);
    const col = (n: number) => parseInt(cols[n] ?? '0', 16);
    return {
      cpu: cols.length > CPU_INDEX_COLUMN ? col(CPU_INDEX_COLUMN) : i,
      processed: col(0),
      dropped: col(1),
      timeSqueeze: col(2),
      flowLimit: cols.length > FLOW_LIMIT_COLUMN ? col(FLOW_LIMIT_COLUMN) : undefined,
    };
  });
}

export class SoftnetSource implements NodeSource {
  readonly name = 'softnet';
  readonly families = [SOFTNET_PROCESSED, SOFTNET_DROPS, SOFTNET_SQUEEZES, SOFTNET_FLOW_LIMIT];

  constructor(private readonly path = '/proc/net/softnet_stat') {}

  read(): NodeSample[] {
    const out: NodeSample[] = [];
    for (const c of parseSoftnetStat(readFileSync(this.path, 'utf8'))) {
      const labels = { cpu: String(c.cpu) };
      out.push({ family: SOFTNET_PROCESSED, labels, value: c.processed });
      out.push({ family: SOFTNET_DROPS, labels, value: c.dropped });
      out.push({ family: SOFTNET_SQUEEZES, labels, value: c.timeSqueeze });
      if (c.flowLimit !== undefined) out.push({ family: SOFTNET_FLOW_LIMIT, labels, value: c.flowLimit });
    }
    return out;
  }
}
