// The lab: network namespaces as hosts and pods, joined by veth pairs, quiet
// (IPv6 off, static neighbours) so that the only traffic is what a test
// sends. Everything a Lab makes is removed by destroy(), which tests call in
// after()/afterEach() so that a failing test leaves nothing behind.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export interface Veth {
  /** Interface names, as seen in each end's namespace. */
  a: string;
  b: string;
  macA: string;
  macB: string;
}

export class Lab {
  readonly id = randomBytes(3).toString('hex');
  private readonly namespaces: string[] = [];
  private readonly hostLinks: string[] = [];
  private readonly children: ChildProcess[] = [];

  /** A namespace named dpx-<id>-<name>, lo up, IPv6 off. */
  namespace(name: string): string {
    const ns = `dpx-${this.id}-${name}`;
    sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    this.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
    this.exec(ns, 'sysctl', ['-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    return ns;
  }

  /** Runs a command in a namespace. nsenter keeps bpffs visible, unlike `ip netns exec`. */
  exec(ns: string | undefined, cmd: string, args: string[], input?: string): string {
    if (ns === undefined) return sh(cmd, args, input);
    return sh('nsenter', [`--net=/run/netns/${ns}`, cmd, ...args], input);
  }

  /**
   * A veth pair between two namespaces (undefined = the root namespace),
   * with addresses (CIDR) on each end, up, and static neighbour entries.
   */
  veth(nsA: string | undefined, addrA: string, nsB: string | undefined, addrB: string, names?: { a?: string; b?: string }): Veth {
    const n = this.namespaces.length + this.hostLinks.length;
    const a = names?.a ?? `dx${this.id}a${n}`;
    const b = names?.b ?? `dx${this.id}b${n}`;
    sh('ip', ['link', 'add', a, 'type', 'veth', 'peer', 'name', b]);
    if (nsA === undefined || nsB === undefined) this.hostLinks.push(nsA === undefined ? a : b);
    if (nsA !== undefined) sh('ip', ['link', 'set', a, 'netns', nsA]);
    if (nsB !== undefined) sh('ip', ['link', 'set', b, 'netns', nsB]);
    for (const [ns, dev] of [
      [nsA, a],
      [nsB, b],
    ] as const) {
      if (ns === undefined) sh('sysctl', ['-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
    }
    if (addrA) this.exec(nsA, 'ip', ['addr', 'add', addrA, 'dev', a]);
    if (addrB) this.exec(nsB, 'ip', ['addr', 'add', addrB, 'dev', b]);
    this.exec(nsA, 'ip', ['link', 'set', a, 'up']);
    this.exec(nsB, 'ip', ['link', 'set', b, 'up']);
    const macA = this.mac(nsA, a);
    const macB = this.mac(nsB, b);
    if (addrA && addrB) {
      this.neighbour(nsA, a, addrB.split('/')[0] ?? '', macB);
      this.neighbour(nsB, b, addrA.split('/')[0] ?? '', macA);
    }
    return { a, b, macA, macB };
  }

  /** A root-namespace link made outside veth(): removed by destroy(). */
  adoptHostLink(name: string): void {
    this.hostLinks.push(name);
  }

  neighbour(ns: string | undefined, dev: string, ip: string, mac: string): void {
    this.exec(ns, 'ip', ['neigh', 'replace', ip, 'lladdr', mac, 'dev', dev, 'nud', 'permanent']);
  }

  mac(ns: string | undefined, dev: string): string {
    const out = JSON.parse(this.exec(ns, 'ip', ['-j', 'link', 'show', dev])) as Array<{ address: string }>;
    return out[0]?.address ?? '';
  }

  /**
   * Sends exactly `count` UDP datagrams of `payload` bytes from namespace
   * `ns` to host:port. Returns how many the kernel refused at send (EPERM
   * from an OUTPUT DROP rule), which were still dropped by the kernel.
   */
  sendUdp(
    ns: string | undefined,
    host: string,
    port: number,
    count: number,
    payload: number,
    sourcePort?: number,
  ): { sent: number; refused: number } {
    const out = this.exec(ns, process.execPath, [UDP_SENDER, host, String(port), String(count), String(payload), String(sourcePort ?? 0)]);
    return JSON.parse(out) as { sent: number; refused: number };
  }

  /** Sends to several targets from one process (see sendUdp); returns the totals. */
  sendUdpMany(
    ns: string | undefined,
    targets: ReadonlyArray<{ host: string; port: number; count: number; payload: number }>,
  ): { sent: number; refused: number } {
    const args = targets.flatMap((t) => [t.host, String(t.port), String(t.count), String(t.payload), '0']);
    return JSON.parse(this.exec(ns, process.execPath, [UDP_SENDER, ...args])) as { sent: number; refused: number };
  }

  /** Starts a UDP receiver on `port` in `ns`; stopped by destroy() at the latest. */
  async udpReceiver(ns: string, port: number): Promise<void> {
    const child = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, UDP_RECEIVER, String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`udp receiver exited ${code}`)));
    });
  }

  /** A counter of the kernel's SNMP MIB in a namespace, through nstat. */
  nstat(ns: string | undefined, counter: string): number {
    const out = this.exec(ns, 'nstat', ['-asz', counter]);
    const m = new RegExp(`^${counter}\\s+(\\d+)`, 'm').exec(out);
    return m ? Number(m[1]) : 0;
  }

  destroy(): void {
    for (const child of this.children.splice(0)) child.kill('SIGKILL');
    for (const ns of this.namespaces.splice(0).reverse()) {
      try {
        sh('ip', ['netns', 'del', ns]);
      } catch {
        /* already gone */
      }
    }
    for (const link of this.hostLinks.splice(0)) {
      try {
        sh('ip', ['link', 'del', link]);
      } catch {
        /* went with its peer's namespace */
      }
    }
  }
}

/** IPv4 + UDP headers: the IP packet size the exporter counts is payload + this. */
export const UDP_IPV4_OVERHEAD = 28;
/** IPv6 + UDP headers. */
export const UDP_IPV6_OVERHEAD = 48;

const UDP_SENDER = fileURLToPath(new URL('./udp-sender.js', import.meta.url));
const UDP_RECEIVER = fileURLToPath(new URL('./udp-receiver.js', import.meta.url));
