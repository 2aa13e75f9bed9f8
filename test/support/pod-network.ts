// Pods for the lab, wired like a routing CNI (Calico-style): each pod is a
// network namespace with a /32 address behind a veth whose host side, in the
// root namespace (the "node", as for a hostNetwork agent), has no address, a
// /32 route to the pod and forwarding enabled on that interface only. The
// pod's default route goes to a link-local gateway answered by a static
// neighbour entry, so no ARP or other traffic is ever sent unasked.
import { Lab, sh } from './lab.js';

export interface LabPod {
  name: string;
  ns: string;
  ip: string;
  /** Host-side interface (where the agent attaches). */
  hostIf: string;
  /** Pod-side interface and its MAC. */
  podIf: string;
  podMac: string;
}

const GATEWAY = '169.254.1.1';

export class PodNetwork {
  private n = 0;

  constructor(private readonly lab: Lab) {}

  /** Glob matching every host-side interface this network makes. */
  get interfaceGlob(): string {
    return `dp${this.lab.id}*`;
  }

  addPod(name: string, ip: string): LabPod {
    const ns = this.lab.namespace(name);
    const hostIf = `dp${this.lab.id}${this.n++}`;
    const podIf = `pd${this.lab.id}${this.n}`;
    const v = this.lab.veth(ns, `${ip}/32`, undefined, '', { a: podIf, b: hostIf });
    this.lab.exec(ns, 'ip', ['route', 'add', GATEWAY, 'dev', podIf, 'scope', 'link']);
    this.lab.exec(ns, 'ip', ['route', 'add', 'default', 'via', GATEWAY, 'dev', podIf]);
    this.lab.neighbour(ns, podIf, GATEWAY, v.macB);
    sh('sysctl', ['-qw', `net.ipv4.conf.${hostIf}.forwarding=1`]);
    sh('ip', ['route', 'add', `${ip}/32`, 'dev', hostIf]);
    this.lab.neighbour(undefined, hostIf, ip, v.macA);
    return { name, ns, ip, hostIf, podIf, podMac: v.macA };
  }

  /**
   * Gives a pod's namespace a new address, as a new pod on the same veth:
   * the agent knows pods by IP, so to it this is another pod (a rollout
   * without a namespace and veth per pod).
   */
  readdress(pod: LabPod, ip: string): LabPod {
    // Two `ip -batch` runs, not seven processes: rollouts readdress hundreds of times.
    const inPod = [
      `addr replace ${ip}/32 dev ${pod.podIf}`,
      `addr del ${pod.ip}/32 dev ${pod.podIf}`,
      `route replace default via ${GATEWAY} dev ${pod.podIf} src ${ip}`,
    ];
    const onNode = [
      `route del ${pod.ip}/32 dev ${pod.hostIf}`,
      `route add ${ip}/32 dev ${pod.hostIf}`,
      `neigh del ${pod.ip} dev ${pod.hostIf}`,
      `neigh replace ${ip} lladdr ${pod.podMac} dev ${pod.hostIf} nud permanent`,
    ];
    this.lab.exec(pod.ns, 'ip', ['-batch', '-'], inPod.join('\n'));
    sh('ip', ['-batch', '-'], onNode.join('\n'));
    return { ...pod, ip };
  }

  /** Removes a pod's namespace (its veth pair and route go with it). */
  removePod(pod: LabPod): void {
    sh('ip', ['netns', 'del', pod.ns]);
  }
}

export interface TwoPodLab {
  lab: Lab;
  net: PodNetwork;
  /** The client pod, 10.<subnet>.1.2. */
  a: LabPod;
  /** The server pod, 10.<subnet>.2.2 (a UDP receiver on `receiverPort` when asked). */
  b: LabPod;
}

/**
 * The lab most agent tests use: two pods (network namespaces) behind veths
 * on the node, in 10.<subnet>.0.0/16 (a subnet per test file, so files can
 * run side by side). The lab is destroyed if setting it up fails.
 */
export async function twoPodLab(
  names: readonly [string, string],
  subnet: number,
  opts: { receiverPort?: number } = {},
): Promise<TwoPodLab> {
  const lab = new Lab();
  try {
    const net = new PodNetwork(lab);
    const a = net.addPod(names[0], `10.${subnet}.1.2`);
    const b = net.addPod(names[1], `10.${subnet}.2.2`);
    if (opts.receiverPort !== undefined) await lab.udpReceiver(b.ns, opts.receiverPort);
    return { lab, net, a, b };
  } catch (err) {
    lab.destroy();
    throw err;
  }
}
