// Which interfaces get the tc programs: by default every veth in the node's
// network namespace (the host side of pod interfaces on most CNIs); with
// --interfaces, the names matching any of its globs, whatever their type.
// Listed every poll by an rtnetlink dump in-process (no `ip` child process).
import { globMatcher } from '../glob.js';
import { type Link, RtnetlinkSocket } from './rtnetlink.js';

export interface NetInterface {
  name: string;
  ifindex: number;
}

// One socket for the process, reused by every poll; closePodInterfaces()
// closes it when the agent stops (a later call opens another).
const links = new RtnetlinkSocket();
/** The last dump's links, or why it failed: the interface loss counters read the same dump. */
let lastDump: { links: Link[] } | { error: unknown } = { links: [] };

/** Lists the interfaces to attach to: one RTM_GETLINK dump, tens of µs. */
export function listPodInterfaces(globs: readonly string[] | undefined): NetInterface[] {
  const match = globs && globs.length > 0 ? globMatcher(globs) : undefined;
  let all: Link[];
  try {
    all = links.dumpLinks();
    lastDump = { links: all };
  } catch (error) {
    lastDump = { error };
    throw error;
  }
  return all.filter((l) => (match ? match(l.name) : l.kind === 'veth')).map((l) => ({ name: l.name, ifindex: l.ifindex }));
}

/** Every link of the last listPodInterfaces dump (this poll's); throws what made it fail. */
export function lastLinkDump(): Link[] {
  if ('error' in lastDump) throw lastDump.error;
  return lastDump.links;
}

/** Closes the netlink socket of listPodInterfaces (on agent stop). */
export function closePodInterfaces(): void {
  links.close();
}
