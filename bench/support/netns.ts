// Network namespaces and veth pairs for the benchmarks, quiet like the test
// lab (IPv6 off, static neighbours: the only traffic is what a benchmark
// sends). Every namespace is deleted at cleanup; a veth goes with its
// namespace.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { onCleanup } from './cleanup.js';

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** Names this run's namespaces and pins; a re-executed child inherits its parent's. */
export const benchId = process.env.DPX_BENCH_ID ?? randomBytes(3).toString('hex');

/** A named namespace dpxb-<id>-<name> (in /run/netns), lo up, IPv6 off; deleted at cleanup. */
export function namespace(name: string): string {
  const ns = `dpxb-${benchId}-${name}`;
  sh('ip', ['netns', 'add', ns]);
  onCleanup(`netns ${ns}`, () => {
    if (existsSync(`/run/netns/${ns}`)) sh('ip', ['netns', 'del', ns]);
  });
  inNs(ns, 'ip', ['link', 'set', 'lo', 'up']);
  inNs(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
  return ns;
}

/** Runs a command in ns (undefined: this process's namespace). nsenter keeps bpffs visible. */
export function inNs(ns: string | undefined, cmd: string, args: string[]): string {
  return ns === undefined ? sh(cmd, args) : sh('nsenter', [`--net=/run/netns/${ns}`, cmd, ...args]);
}

export interface VethEnd {
  ns: string | undefined;
  dev: string;
  /** CIDR, or '' for none. */
  addr: string;
}

/**
 * A veth pair a.dev <-> b.dev, each end moved to its namespace (undefined:
 * this process's), addressed, up, with permanent neighbour entries so that
 * no ARP is ever sent. Returns the MAC addresses.
 */
export function veth(a: VethEnd, b: VethEnd): { macA: string; macB: string } {
  sh('ip', ['link', 'add', a.dev, 'type', 'veth', 'peer', 'name', b.dev]);
  if (a.ns === undefined || b.ns === undefined) {
    // An end left in this namespace: delete it at cleanup (its peer goes too).
    const here = a.ns === undefined ? a.dev : b.dev;
    onCleanup(`veth ${here}`, () => {
      try {
        sh('ip', ['link', 'del', here]);
      } catch {
        /* went with its peer's namespace */
      }
    });
  }
  for (const end of [a, b]) {
    if (end.ns !== undefined) sh('ip', ['link', 'set', end.dev, 'netns', end.ns]);
    if (end.addr) inNs(end.ns, 'ip', ['addr', 'add', end.addr, 'dev', end.dev]);
    inNs(end.ns, 'ip', ['link', 'set', end.dev, 'up']);
  }
  const macA = mac(a.ns, a.dev);
  const macB = mac(b.ns, b.dev);
  if (a.addr && b.addr) {
    neighbour(a.ns, a.dev, ipOf(b.addr), macB);
    neighbour(b.ns, b.dev, ipOf(a.addr), macA);
  }
  return { macA, macB };
}

export function neighbour(ns: string | undefined, dev: string, ip: string, lladdr: string): void {
  inNs(ns, 'ip', ['neigh', 'replace', ip, 'lladdr', lladdr, 'dev', dev, 'nud', 'permanent']);
}

export function mac(ns: string | undefined, dev: string): string {
  const out = JSON.parse(inNs(ns, 'ip', ['-j', 'link', 'show', dev])) as Array<{ address: string }>;
  return out[0]?.address ?? '';
}

export function ipOf(cidr: string): string {
  return cidr.split('/')[0] ?? '';
}

/** Interface counters (netlink, so right for any namespace). */
export function linkStats(
  ns: string | undefined,
  dev: string,
): { rxPackets: number; txPackets: number; txDropped: number; rxDropped: number } {
  const out = JSON.parse(inNs(ns, 'ip', ['-s', '-j', 'link', 'show', dev])) as Array<{
    stats64: { rx: { packets: number; dropped: number }; tx: { packets: number; dropped: number } };
  }>;
  const s = out[0]?.stats64;
  if (!s) throw new Error(`no statistics for ${dev}`);
  return { rxPackets: s.rx.packets, txPackets: s.tx.packets, rxDropped: s.rx.dropped, txDropped: s.tx.dropped };
}

/** IPv4 address number n (0-based) inside 10.<second>.0.0/16, skipping .0 and .255 hosts. */
export function hostIp(second: number, n: number): string {
  const idx = n + 1 + 2 * Math.floor(n / 254); // 254 usable hosts per /24
  const third = Math.floor(idx / 256);
  const fourth = idx % 256;
  if (third > 255) throw new Error(`address ${n} does not fit 10.${second}.0.0/16`);
  return `10.${second}.${third}.${fourth}`;
}
