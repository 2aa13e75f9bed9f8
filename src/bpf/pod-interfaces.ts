// Which interfaces get the tc programs: by default every veth in the node's
// network namespace (the host side of pod interfaces on most CNIs); with
// --interfaces, the names matching any of its globs, whatever their type.
import { execFileSync } from 'node:child_process';

export interface NetInterface {
  name: string;
  ifindex: number;
}

interface IpLink {
  ifindex: number;
  ifname: string;
  linkinfo?: { info_kind?: string };
}

/** "veth*,lxc*" -> matcher. Only * and ? are special. */
export function globMatcher(globs: readonly string[]): (name: string) => boolean {
  const res = globs.map(
    (g) => new RegExp(`^${g.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`),
  );
  return (name) => res.some((r) => r.test(name));
}

/** Lists the interfaces to attach to. One `ip` call: cheap next to a poll interval. */
export function listPodInterfaces(globs: readonly string[] | undefined): NetInterface[] {
  const links = JSON.parse(execFileSync('ip', ['-j', '-d', 'link', 'show'], { encoding: 'utf8' })) as IpLink[];
  const match = globs && globs.length > 0 ? globMatcher(globs) : undefined;
  return links
    .filter((l) => (match ? match(l.ifname) : l.linkinfo?.info_kind === 'veth'))
    .map((l) => ({ name: l.ifname, ifindex: l.ifindex }));
}
