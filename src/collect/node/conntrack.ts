// The connection tracking table of the node's network namespace: how full it
// is, and the per-CPU statistics of packets it dropped or could not track
// (insert_failed: a race between two packets of a new flow lost, the DNS
// timeouts of Kubernetes nodes; drop: the table was full; early_drop: an
// entry evicted to make room). From /proc/sys/net/netfilter/nf_conntrack_{count,max}
// and /proc/net/stat/nf_conntrack (a header naming the hex columns, one line
// per CPU; columns differ between kernels, so they are found by name).
// Without conntrack (no nf_conntrack module) the files do not exist and the
// families are absent, not zero.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeFamily, NodeSample, NodeSource } from './node-samples.js';

export const CONNTRACK_ENTRIES: NodeFamily = {
  name: 'datapath_conntrack_entries',
  help: 'Entries in the connection tracking table (net.netfilter.nf_conntrack_count); absent without conntrack.',
  type: 'gauge',
  unit: '{entry}',
};
export const CONNTRACK_LIMIT: NodeFamily = {
  name: 'datapath_conntrack_entries_limit',
  help: 'Size limit of the connection tracking table (net.netfilter.nf_conntrack_max); absent without conntrack.',
  type: 'gauge',
  unit: '{entry}',
};
export const CONNTRACK_EVENTS: NodeFamily = {
  name: 'datapath_conntrack_events',
  help: 'Conntrack statistics of the node, summed over CPUs (/proc/net/stat/nf_conntrack), by event: insert_failed, drop (table full), early_drop, invalid, search_restart, clash_resolve; absent without conntrack.',
  type: 'counter',
  unit: '{event}',
};

/** The statistics published, by the `event` label, with the header's column name. */
const EVENTS: Readonly<Record<string, string>> = {
  insert_failed: 'insert_failed',
  drop: 'drop',
  early_drop: 'early_drop',
  invalid: 'invalid',
  search_restart: 'search_restart',
  clash_resolve: 'clashres',
};

/** Sums each named column of /proc/net/stat/nf_conntrack over its CPU lines. */
export function parseConntrackStat(text: string): Map<string, number> {
  const [header, ...lines] = text.split('\n').filter((l) => l.trim() !== '');
  if (header === undefined) throw new Error('nf_conntrack statistics are empty');
  const names = header.trim().split(/\s+/);
  const sums = new Map<string, number>(names.map((n) => [n, 0]));
  for (const [i, line] of lines.entries()) {
    const cols = line.trim().split(/\s+/);
    if (cols.length !== names.length || cols.some((c) => !/^[0-9a-f]+$/i.test(c))) {
      throw new Error(`nf_conntrack statistics line ${i + 2} does not match its header: ${line}`);
    }
    for (const [j, name] of names.entries()) if (name !== 'entries') sums.set(name, (sums.get(name) ?? 0) + parseInt(cols[j] ?? '0', 16));
  }
  return sums;
}

export class ConntrackSource implements NodeSource {
  readonly name = 'conntrack';
  readonly families = [CONNTRACK_ENTRIES, CONNTRACK_LIMIT, CONNTRACK_EVENTS];

  /** `proc`: where procfs is (the agent's network namespace's view). */
  constructor(private readonly proc = '/proc') {}

  read(): NodeSample[] {
    let count: string;
    try {
      count = readFileSync(join(this.proc, 'sys/net/netfilter/nf_conntrack_count'), 'utf8');
    } catch (err) {
      // No conntrack on this node (the module is not loaded): nothing to publish, not an error.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const max = readFileSync(join(this.proc, 'sys/net/netfilter/nf_conntrack_max'), 'utf8');
    const stats = parseConntrackStat(readFileSync(join(this.proc, 'net/stat/nf_conntrack'), 'utf8'));
    const out: NodeSample[] = [
      { family: CONNTRACK_ENTRIES, labels: {}, value: integer(count, 'nf_conntrack_count') },
      { family: CONNTRACK_LIMIT, labels: {}, value: integer(max, 'nf_conntrack_max') },
    ];
    for (const [event, column] of Object.entries(EVENTS)) {
      const value = stats.get(column);
      if (value !== undefined) out.push({ family: CONNTRACK_EVENTS, labels: { event }, value });
    }
    return out;
  }
}

function integer(text: string, what: string): number {
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what} is not a count: ${text.trim()}`);
  return n;
}
