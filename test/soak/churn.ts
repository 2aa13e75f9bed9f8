// Pod churn against the real agent, shared by the suite's short soak
// (test/soak/pod-churn.test.ts) and the long one (bench/soak.ts).
//
// The node: one long-lived "client" pod and K seats. A seat is a network
// namespace (with a UDP receiver on :5000 and an iptables DROP for :9) that
// gets a NEW veth and a NEW pod every round, the way a kubelet and a CNI
// create them: the pod's IP alternates between two addresses per seat, so
// every other round a new pod takes the IP of a pod deleted a round before.
// Names come from a small pool per seat and are reused (with a new uid) once
// the previous holder's series are gone; pods deleted during an API outage
// are replaced under the same names while the API is still down.
//
// A round: create K veths and pods; wait until each pod's own counts show
// (probes to :5000, so traffic is only sent once the agent knows the pod);
// send to the previous round's IPs, which no pod has now (the node
// blackholes them), and check that nothing of it lands on the deleted pods
// (whose final counts stay while published) and that it is counted as the
// client's egress drops (the attribution rule: no pod at the destination,
// a pod at the source); send N to :5000 and D to :9 of each pod; check each
// pod exactly (forward ingress = probes counted + N + D, NETFILTER_DROP
// ingress = D); then delete: plainly, or during an API outage, or so that
// the agent learns it only from a relist after 410 Gone.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type KubeApiServer, makePod } from '../support/kube-api-server.js';
import { type Lab, sh } from '../support/lab.js';
import { parseExposition, type Sample, sumOf } from '../support/metrics-text.js';

export const NAMESPACE = 'churn';
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
const RECEIVE_PORT = 5000;
const DROP_PORT = 9;
const GATEWAY = '169.254.1.1';
const UDP_RECEIVER = fileURLToPath(new URL('../support/udp-receiver.js', import.meta.url));
const BLASTER = fileURLToPath(new URL('./udp-blaster.js', import.meta.url));
/** How long a count may take to show (poll interval + the API's delay), before the check reports it. */
const SHOW_TIMEOUT_MS = 15_000;

export interface ChurnOptions {
  lab: Lab;
  api: KubeApiServer;
  nodeName: string;
  /** Seats (pods alive at once besides the client). */
  seats: number;
  /** First two octets of the soak's addresses (10.218 ...): blackholed as a /16 for the run. */
  prefix: string;
  /** Every n-th round deletes during an API outage, every m-th across a 410 relist. */
  outageEvery: number;
  relistEvery: number;
  /** Scrapes the agent's /metrics. */
  scrape: () => Promise<Sample[]>;
}

interface Seat {
  index: number;
  ns: string;
  hostIf: string;
  podIf: string;
  macHost: string;
  macPod: string;
  /** The name the seat's next pod takes (set by an outage: the same name, a new uid). */
  sameNameNext?: string;
  /** The pod of this round. */
  pod?: ChurnPod;
}

interface ChurnPod {
  name: string;
  uid: string;
  ip: string;
  /** Counts of this pod known exactly (no other pod of its name can be in its series). */
  exact: boolean;
  /** Probe packets that were counted to it, then what was sent after. */
  counted: number;
  dropped: number;
  final?: { forward: number; drops: number };
}

export interface ChurnStats {
  rounds: number;
  /** Pods created and deleted. */
  cycles: number;
  /** Pods whose counts were checked exactly, and the packets in those checks. */
  podsChecked: number;
  packetsChecked: number;
  /** Packets sent to IPs no pod had any more (checked not to count to their old pods). */
  afterDeletionPackets: number;
  outages: number;
  relists: number;
  /** Same name, new uid. */
  namesReused: number;
  ipsReused: number;
  /** Every mismatch, with what was expected: the soak fails on the first. */
  failures: string[];
}

export class PodChurn {
  readonly stats: ChurnStats = {
    rounds: 0,
    cycles: 0,
    podsChecked: 0,
    packetsChecked: 0,
    afterDeletionPackets: 0,
    outages: 0,
    relists: 0,
    namesReused: 0,
    ipsReused: 0,
    failures: [],
  };
  private readonly seats: Seat[] = [];
  private readonly children: ChildProcess[] = [];
  private blaster: Blaster | undefined;
  private clientHostIf = '';
  /**
   * Names of deleted pods whose series were still published at the last
   * scrape. A name is reused only once its series are gone: when the agent
   * learns of a deletion (and so when its grace ends) depends on the watch,
   * and two pods of one name would share their series meanwhile.
   */
  private readonly published = new Set<string>();
  private readonly usedNames = new Set<string>();
  private previous: ChurnPod[] = [];
  private blackholed = false;
  private uid = 0;
  private round = 0;

  constructor(private readonly opts: ChurnOptions) {}

  get clientIp(): string {
    return `${this.opts.prefix}.0.2`;
  }

  /** Glob of every host-side interface of the soak (the agent's --interfaces). */
  get interfaceGlob(): string {
    return `dq${this.opts.lab.id}*`;
  }

  /** Network, receivers, the client pod (in the API too) and its sender. */
  async setUp(): Promise<void> {
    const { lab, prefix } = this.opts;
    sh('ip', ['route', 'add', 'blackhole', `${prefix}.0.0/16`]);
    this.blackholed = true;
    const clientNs = lab.namespace('churn-client');
    this.clientHostIf = `dq${lab.id}hc`;
    this.plugVeth(clientNs, this.clientHostIf, `dq${lab.id}pc`, '02:00:0a:ff:00:01', '02:00:0a:ff:00:02', this.clientIp);
    this.opts.api.addPod(
      makePod({ name: 'client', namespace: NAMESPACE, nodeName: this.opts.nodeName, ips: [this.clientIp], uid: 'uid-churn-client' }),
    );
    for (let i = 0; i < this.opts.seats; i++) {
      const ns = lab.namespace(`churn-seat${i}`);
      lab.exec(ns, 'iptables', ['-A', 'INPUT', '-p', 'udp', '--dport', String(DROP_PORT), '-j', 'DROP']);
      const hex = i.toString(16).padStart(2, '0');
      this.seats.push({
        index: i,
        ns,
        hostIf: `dq${lab.id}h${i}`,
        podIf: `dq${lab.id}p${i}`,
        macHost: `02:00:0a:${hex}:00:01`,
        macPod: `02:00:0a:${hex}:00:02`,
      });
      await this.receiver(ns);
    }
    this.blaster = await Blaster.start(clientNs, this.children);
  }

  /** Everything setUp() and the rounds made on the node, even after a failure. */
  tearDown(): void {
    for (const child of this.children.splice(0)) child.kill('SIGKILL');
    for (const seat of this.seats) tryRun(() => sh('ip', ['link', 'del', seat.hostIf]));
    tryRun(() => sh('ip', ['link', 'del', this.clientHostIf]));
    if (this.blackholed) tryRun(() => sh('ip', ['route', 'del', 'blackhole', `${this.opts.prefix}.0.0/16`]));
    this.blackholed = false;
    // The namespaces are the lab's: lab.destroy() removes them.
  }

  /** One round (see the header). Resolves with the failures of this round (also in stats). */
  async runRound(): Promise<string[]> {
    const { api } = this.opts;
    const r = this.round++;
    const failuresBefore = this.stats.failures.length;
    const parity = r % 2;
    const mode = r > 0 && r % this.opts.outageEvery === 0 ? 'outage' : r > 0 && r % this.opts.relistEvery === 0 ? 'relist' : 'plain';

    // 1. New veths and pods (during an outage, the API is still down: the agent learns them at its relist).
    for (const seat of this.seats) {
      const ip = this.seatIp(seat, parity);
      this.plugVeth(seat.ns, seat.hostIf, seat.podIf, seat.macHost, seat.macPod, ip, true);
      const reused = seat.sameNameNext;
      const name = reused ?? this.freeName(seat);
      seat.sameNameNext = undefined;
      if (this.usedNames.has(name)) this.stats.namesReused++;
      this.usedNames.add(name);
      if (r >= 2) this.stats.ipsReused++;
      const uid = `uid-churn-${++this.uid}`;
      // Same name within the old one's grace: both sum into one series, so this pod is not checked exactly.
      seat.pod = { name, uid, ip, exact: reused === undefined, counted: 0, dropped: 0 };
      api.addPod(makePod({ name, namespace: NAMESPACE, nodeName: this.opts.nodeName, ips: [ip], uid }));
    }
    if (!api.listening) await api.restart();

    // 2. Each pod's own counts show: the agent has its IP and the veth's program.
    await this.waitKnown();

    // 3. The previous round's IPs belong to no pod now: their traffic is the client's egress drop.
    const before = await this.scrape();
    const M = 3;
    for (const old of this.previous) await this.send(old.ip, RECEIVE_PORT, M);
    const oldIpPackets = M * this.previous.length;

    // 4. Exact traffic to each pod.
    const plan = this.seats.map((seat) => ({ seat, n: 5 + ((r * 7 + seat.index * 3) % 17), d: 1 + ((r + seat.index) % 5) }));
    for (const { seat, n, d } of plan) {
      await this.send(seat.pod!.ip, RECEIVE_PORT, n);
      await this.send(seat.pod!.ip, DROP_PORT, d);
    }
    const clientDrops = (s: Sample[]) =>
      sumOf(s, 'datapath_drop_packets_total', { source: 'kernel', namespace: NAMESPACE, pod: 'client', direction: 'egress' });
    const expect = plan.map(({ seat, n, d }) => ({ pod: seat.pod!, forward: seat.pod!.counted + n + d, drops: d }));
    await this.waitFor(
      (s) =>
        clientDrops(s) - clientDrops(before) >= oldIpPackets &&
        expect.every((e) => !e.pod.exact || (forwardIn(s, e.pod.name) >= e.forward && dropsIn(s, e.pod.name) >= e.drops)),
    );
    await sleep(250); // two more polls: nothing more may arrive
    const after = await this.scrape();
    // 5. The checks, all on one scrape.
    const gotDrops = clientDrops(after) - clientDrops(before);
    if (gotDrops !== oldIpPackets)
      this.fail(`round ${r}: ${oldIpPackets} packets to deleted pods' IPs, the client's egress drops grew by ${gotDrops}`);
    this.stats.afterDeletionPackets += oldIpPackets;
    for (const old of this.previous) {
      if (!old.exact || old.final === undefined) continue;
      const f = forwardIn(after, old.name);
      // Published (within its grace) with its final count, or gone: never more.
      if (f !== 0 && f !== old.final.forward)
        this.fail(`round ${r}: deleted pod ${old.name} (${old.ip}) shows ${f} forwarded, its final count was ${old.final.forward}`);
    }
    for (const e of expect) {
      if (!e.pod.exact) continue;
      const f = forwardIn(after, e.pod.name);
      const d = dropsIn(after, e.pod.name);
      if (f !== e.forward || d !== e.drops) {
        this.fail(
          `round ${r}: pod ${e.pod.name} (${e.pod.ip}): forward ingress ${f}, NETFILTER_DROP ingress ${d}; sent ${e.forward}, ${e.drops}`,
        );
      } else {
        this.stats.podsChecked++;
        this.stats.packetsChecked += e.forward;
      }
      e.pod.final = { forward: f, drops: d };
    }

    // 6. Deletion.
    const pods = this.seats.map((s) => s.pod!);
    if (mode === 'outage') {
      this.stats.outages++;
      await api.stop();
      this.deleteAll(pods);
      // Replaced under the same names (new uids) while the API is down; the agent's relist sees both changes at once.
      for (const seat of this.seats) seat.sameNameNext = seat.pod!.name;
    } else if (mode === 'relist') {
      this.stats.relists++;
      // Deleted between two watches, and the next watch is 410 Gone: the agent learns it only by relisting.
      api.holdWatchResponses();
      api.closeWatches();
      this.deleteAll(pods);
      api.expireResourceVersions();
      api.releaseWatchResponses();
    } else {
      this.deleteAll(pods);
    }
    // Pods replaced under their own name share their series with the replacement: not checked after deletion.
    this.previous = pods.map((p) => (mode === 'outage' ? { ...p, exact: false } : p));
    this.stats.rounds++;
    this.stats.cycles += pods.length;
    return this.stats.failures.slice(failuresBefore);
  }

  /** After the last round: the API is up and the deleted pods' IPs are quiet. */
  async finish(): Promise<void> {
    if (!this.opts.api.listening) await this.opts.api.restart();
    for (const seat of this.seats) seat.sameNameNext = undefined;
  }

  private deleteAll(pods: ChurnPod[]): void {
    for (const seat of this.seats) tryRun(() => sh('ip', ['link', 'del', seat.hostIf]));
    for (const pod of pods) {
      this.opts.api.deletePod(NAMESPACE, pod.name);
      this.published.add(pod.name);
    }
  }

  /** The first name of the seat's pool whose last pod's series are gone. */
  private freeName(seat: Seat): string {
    for (let k = 0; ; k++) {
      const name = `web-${seat.index}-${k}`;
      if (!this.published.has(name) && !this.seats.some((s) => s !== seat && s.pod?.name === name)) return name;
    }
  }

  /** Scrapes, and forgets the deleted names whose series are gone. */
  private async scrape(): Promise<Sample[]> {
    const s = await this.opts.scrape();
    const shown = new Set(s.filter((x) => x.labels.namespace === NAMESPACE).map((x) => x.labels.pod));
    for (const name of this.published) if (!shown.has(name)) this.published.delete(name);
    return s;
  }

  private seatIp(seat: Seat, parity: number): string {
    return `${this.opts.prefix}.${1 + parity}.${seat.index + 2}`;
  }

  /** Probes every new pod until its own series shows; `counted` = what shows then. */
  private async waitKnown(): Promise<void> {
    const deadline = Date.now() + SHOW_TIMEOUT_MS;
    const pending = new Set(this.seats.map((s) => s.pod!));
    const shownBefore = new Map<ChurnPod, number>();
    while (pending.size > 0) {
      for (const pod of pending) await this.send(pod.ip, RECEIVE_PORT, 1);
      await sleep(120);
      const s = await this.scrape();
      for (const pod of [...pending]) {
        const f = forwardIn(s, pod.name);
        if (pod.exact) {
          if (f > 0) {
            pod.counted = f;
            pending.delete(pod);
          }
        } else {
          // Its series may still hold its predecessor's final count: wait for it to move.
          const first = shownBefore.get(pod);
          if (first === undefined) shownBefore.set(pod, f);
          else if (f !== first) pending.delete(pod);
        }
      }
      if (Date.now() > deadline) {
        this.fail(`round ${this.round - 1}: pods ${[...pending].map((p) => `${p.name} (${p.ip})`).join(', ')} never showed counts`);
        for (const pod of pending) pod.exact = false;
        return;
      }
    }
  }

  private async waitFor(done: (s: Sample[]) => boolean): Promise<boolean> {
    const deadline = Date.now() + SHOW_TIMEOUT_MS;
    for (;;) {
      const s = await this.scrape();
      if (done(s)) return true;
      if (Date.now() > deadline) return false;
      await sleep(50);
    }
  }

  private async send(host: string, port: number, count: number): Promise<void> {
    const r = await this.blaster!.send(host, port, count);
    if (r.sent !== count) this.fail(`sending ${count} to ${host}:${port}: ${r.sent} sent, ${r.refused} refused`);
  }

  private fail(message: string): void {
    this.stats.failures.push(message);
  }

  /** A veth pair, pod end in `ns` with `ip`/32, wired like pod-network.ts (static neighbours, no IPv6). */
  private plugVeth(ns: string, hostIf: string, podIf: string, macHost: string, macPod: string, ip: string, replace = false): void {
    if (replace) tryRun(() => sh('ip', ['link', 'del', hostIf]));
    sh('ip', ['link', 'add', hostIf, 'address', macHost, 'type', 'veth', 'peer', 'name', podIf, 'address', macPod, 'netns', ns]);
    // IPv6 off on the node side before it is up: no router or neighbour solicitations counted as the pod's traffic.
    writeFileSync(`/proc/sys/net/ipv6/conf/${hostIf}/disable_ipv6`, '1');
    writeFileSync(`/proc/sys/net/ipv4/conf/${hostIf}/forwarding`, '1');
    sh(
      'ip',
      ['-batch', '-'],
      `link set ${hostIf} up\nroute add ${ip}/32 dev ${hostIf}\nneigh replace ${ip} lladdr ${macPod} dev ${hostIf} nud permanent\n`,
    );
    sh(
      'ip',
      ['-n', ns, '-batch', '-'],
      [
        `addr add ${ip}/32 dev ${podIf}`,
        `link set ${podIf} up`,
        `route add ${GATEWAY} dev ${podIf} scope link`,
        `route add default via ${GATEWAY} dev ${podIf}`,
        `neigh replace ${GATEWAY} lladdr ${macHost} dev ${podIf} nud permanent`,
        '',
      ].join('\n'),
    );
    // Until the carrier is up the node side has no qdisc yet, and a packet sent
    // to the pod is a QDISC_DROP (the client's egress drop): a kubelet's pod gets
    // no traffic before its network is ready either.
    const deadline = Date.now() + 5000;
    while (readFileSync(`/sys/class/net/${hostIf}/operstate`, 'utf8').trim() !== 'up') {
      if (Date.now() > deadline) throw new Error(`${hostIf} did not come up`);
      Atomics.wait(SLEEPER, 0, 0, 5);
    }
  }

  private async receiver(ns: string): Promise<void> {
    const child = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, UDP_RECEIVER, String(RECEIVE_PORT)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    this.children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`udp receiver exited ${code}`)));
    });
  }
}

/** Forward packets counted INTO a pod (tc, its veth's node side egress). */
export function forwardIn(s: Sample[], pod: string): number {
  return sumOf(s, 'datapath_forward_packets_total', { source: 'tc', namespace: NAMESPACE, pod, direction: 'ingress' });
}

function dropsIn(s: Sample[], pod: string): number {
  return sumOf(s, 'datapath_drop_packets_total', {
    source: 'kernel',
    reason: 'NETFILTER_DROP',
    namespace: NAMESPACE,
    pod,
    direction: 'ingress',
  });
}

class Blaster {
  private readonly replies: Array<(line: string) => void> = [];

  private constructor(private readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (line) => this.replies.shift()?.(line));
  }

  static async start(ns: string, children: ChildProcess[]): Promise<Blaster> {
    const child = spawn('nsenter', [`--net=/run/netns/${ns}`, process.execPath, BLASTER], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    const b = new Blaster(child);
    await new Promise<void>((resolve, reject) => {
      b.replies.push(() => resolve());
      child.once('exit', (code) => reject(new Error(`udp blaster exited ${code}`)));
    });
    return b;
  }

  send(host: string, port: number, count: number): Promise<{ sent: number; refused: number }> {
    return new Promise((resolve) => {
      this.replies.push((line) => resolve(JSON.parse(line) as { sent: number; refused: number }));
      this.child.stdin!.write(`${JSON.stringify({ host, port, count, size: 64 })}\n`);
    });
  }
}

// ---- the agent process: what must not grow ---------------------------------

export interface ProcessFootprint {
  rssMb: number;
  anonMb: number;
  fds: number;
  /** Open fds by kind: bpf-map, bpf-prog, bpf_link, socket, ... */
  fdKinds: Record<string, number>;
  /** Files under the agent's pin directory. */
  pins: number;
}

export function footprint(pid: number, pinDir: string): ProcessFootprint {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const fdKinds: Record<string, number> = {};
  let fds = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    fds++;
    const kind = /^anon_inode:\[?([^\]]+)\]?/.exec(target)?.[1] ?? /^(socket|pipe):/.exec(target)?.[1] ?? 'file';
    fdKinds[kind] = (fdKinds[kind] ?? 0) + 1;
  }
  return { rssMb: (kb('VmRSS') * 1024) / 1e6, anonMb: (kb('RssAnon') * 1024) / 1e6, fds, fdKinds, pins: countFiles(pinDir) };
}

function countFiles(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    n += statSync(path).isDirectory() ? countFiles(path) : 1;
  }
  return n;
}

/**
 * BPF links in the kernel (bpftool link) of the agent's programs (the prog ids
 * of its open program fds): held by its fds or by pins, a leak shows here
 * even when a link outlives its interface.
 */
export function agentBpfLinks(pid: number): number {
  const progIds = new Set<number>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (!readlinkSync(`/proc/${pid}/fd/${fd}`).includes('bpf-prog')) continue;
      const id = /^prog_id:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
      if (id !== undefined) progIds.add(Number(id));
    } catch {
      /* closed meanwhile */
    }
  }
  const links = JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show'], { encoding: 'utf8' })) as Array<{ prog_id?: number }>;
  return links.filter((l) => l.prog_id !== undefined && progIds.has(l.prog_id)).length;
}

/** datapath_* series (not the agent's own datapath_exporter_*), all and those of a pod. */
export function seriesCount(s: Sample[]): { all: number; ofPods: number } {
  const data = s.filter((x) => x.name.startsWith('datapath_') && !x.name.startsWith('datapath_exporter_'));
  return { all: data.length, ofPods: data.filter((x) => (x.labels.pod ?? '') !== '').length };
}

export function gauge(s: Sample[], name: string, labels: Record<string, string> = {}): number {
  return sumOf(s, name, labels);
}

export function scrapeOf(port: number): () => Promise<Sample[]> {
  return async () => parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
}

function tryRun(f: () => unknown): void {
  try {
    f();
  } catch {
    /* already gone */
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
