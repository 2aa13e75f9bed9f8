// A stand-in for Cilium in the lab: the fixture program (test/fixtures/bpf/
// cilium_metrics*.bpf.c) with Cilium's metrics map, pinned under a bpffs
// directory of the test's own and attached (tcx ingress) to the node side
// of a veth whose other end is a "pod" namespace, so that real packets from
// the pod are counted into the map the way Cilium counts them.
// destroy() removes everything: link, programs, pins, namespace, veth.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { close, type Fd, lastErrno, libbpf } from '../../src/bpf/libbpf.js';
import { ifNameToIndex } from '../../src/os/libc.js';
import { BpfError } from '../../src/bpf/errors.js';
import { BpfMap } from '../../src/bpf/map.js';
import { BpfObject } from '../../src/bpf/object.js';
import type { Logger } from '../../src/log/logger.js';
import { Lab } from '../support/lab.js';

const fixture = (name: string) => fileURLToPath(new URL(`../../../test/fixtures/bpf/${name}.bpf.o`, import.meta.url));
export const FIXTURES = {
  /** Cilium 1.16+ key (line, file). */
  current: fixture('cilium_metrics'),
  /** Key of Cilium before 1.16 (reserved[3]). */
  old: fixture('cilium_metrics_old'),
  /** Value of 24 bytes: not Cilium's layout. Only a map. */
  wrongSize: fixture('cilium_metrics_wrong_size'),
};
/** Stand-ins for Cilium's endpoint map (cilium_lxc): only the map, filled by the test. */
export const ENDPOINT_FIXTURES = {
  /** Cilium's layout: key 20 B, value 48 B. */
  current: fixture('cilium_lxc'),
  /** A value of 64 bytes (ifindex and flags where they were): not Cilium's layout. */
  wrongSize: fixture('cilium_lxc_wrong_size'),
};
export const ENDPOINT_MAP = 'cilium_lxc';
export const PROGRAM = 'cilium_metrics_fixture';
export const MAP = 'cilium_metrics';

/** What tc sees of a UDP/IPv4 datagram: Ethernet 14 + IPv4 20 + UDP 8 + payload (skb->len). */
export const L2_UDP_IPV4_OVERHEAD = 42;

const BPF_TCX_INGRESS = 46;

/** A bpffs directory of the test's own; removed with removeTestPinDir(). */
export function makeTestPinDir(): string {
  const dir = `/sys/fs/bpf/datapath-exporter-test-cilium-${randomBytes(3).toString('hex')}`;
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

export function removeTestPinDir(dir: string | undefined): void {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}

/** Loads a fixture object with its maps pinned under pinDir (as Cilium pins its own). */
export function loadFixture(object: string, pinDir: string): BpfObject {
  return BpfObject.load(object, pinDir);
}

export class FakeCilium {
  readonly lab = new Lab();
  readonly pod: string;
  /** The node-side interface (root namespace), where the program is attached. */
  readonly nodeDev: string;
  readonly nodeAddr: string;
  readonly pinPath: string;
  private readonly objects: BpfObject[] = [];
  private link: Fd | undefined;

  /** Addresses: pod 10.250.N.1/30, node 10.250.N.2/30. */
  constructor(
    readonly pinDir: string,
    object: string,
    subnet: number,
  ) {
    this.pinPath = join(pinDir, MAP);
    try {
      this.pod = this.lab.namespace('cil');
      const veth = this.lab.veth(this.pod, `10.250.${subnet}.1/30`, undefined, `10.250.${subnet}.2/30`);
      this.nodeDev = veth.b;
      this.nodeAddr = `10.250.${subnet}.2`;
      const obj = loadFixture(object, pinDir);
      this.objects.push(obj);
      this.link = attachTcxIngress(obj.programFd(PROGRAM), this.nodeDev);
    } catch (err) {
      this.destroy();
      throw err;
    }
  }

  /** Sends `count` UDP datagrams of `payload` bytes from the pod to the node's `port`. */
  send(port: number, count: number, payload: number): void {
    const { sent } = this.lab.sendUdp(this.pod, this.nodeAddr, port, count, payload);
    if (sent !== count) throw new Error(`sent ${sent} of ${count} datagrams`);
  }

  /**
   * Does what Cilium does when it re-creates its map: a new map pinned at
   * the same path (the attached program keeps the old one).
   */
  recreateMap(object: string): void {
    rmSync(this.pinPath);
    this.objects.push(loadFixture(object, this.pinDir));
  }

  destroy(): void {
    if (this.link !== undefined) close(this.link);
    this.link = undefined;
    for (const obj of this.objects.splice(0)) obj.close();
    removeTestPinDir(this.pinDir);
    this.lab.destroy();
  }
}

/** tcx ingress link on a root-namespace interface; detached when its fd is closed. */
export function attachTcxIngress(progFd: Fd, dev: string): Fd {
  const ifindex = ifNameToIndex(dev);
  if (ifindex === 0) throw new Error(`no interface ${dev}`);
  const fd = libbpf.bpf_link_create(progFd, ifindex, BPF_TCX_INGRESS, null);
  if (fd < 0) throw BpfError.fromErrno(`tcx attach to ${dev}`, lastErrno());
  return fd as Fd;
}

/** Cilium's endpoint flags (ENDPOINT_F_* in bpf/lib/eps.h). */
export const ENDPOINT_F_HOST = 1;
export const ENDPOINT_F_ATHOSTNS = 2;

export interface StandInEndpoint {
  /** IPv4 dotted or IPv6 text. */
  address: string;
  ifindex: number;
  flags?: number;
  lxcId?: number;
}

/**
 * Writes an entry into a stand-in endpoint map the way Cilium's agent does
 * (lxcmap WriteEndpoint; AddHostEntry: flags HOST, ifindex 0): struct
 * endpoint_key and struct endpoint_info laid out by hand here, the test's
 * own copy of Cilium's layout, not the agent's decoder. valueSize: the
 * map's (a wider stand-in keeps the fields where they were).
 */
export function writeCiliumEndpoint(pinPath: string, e: StandInEndpoint, valueSize = 48): void {
  const key = Buffer.alloc(20);
  if (isIPv4(e.address)) {
    e.address.split('.').forEach((octet, i) => key.writeUInt8(Number(octet), i));
    key.writeUInt8(1, 16); // ENDPOINT_KEY_IPV4
  } else {
    ipv6Bytes(e.address).copy(key, 0);
    key.writeUInt8(2, 16); // ENDPOINT_KEY_IPV6
  }
  const value = Buffer.alloc(valueSize);
  value.writeUInt32LE(e.ifindex, 0);
  value.writeUInt16LE(e.lxcId ?? 0, 6);
  value.writeUInt32LE(e.flags ?? 0, 8);
  if ((e.flags ?? 0) === 0) {
    Buffer.from([0x0a, 0x58, 0x0a, 0xf7, 0x00, e.lxcId ?? 0]).copy(value, 16); // mac
    Buffer.from([0x0a, 0x58, 0x0a, 0xf7, 0xff, 0x01]).copy(value, 24); // node_mac
    value.writeUInt32LE(12345, 32); // sec_id: the pod's security identity
  }
  const map = BpfMap.fromPin(pinPath, 'stand-in cilium_lxc');
  try {
    map.update(key, value);
  } finally {
    map.close();
  }
}

function ipv6Bytes(text: string): Buffer {
  const [head = '', tail = ''] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = text.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** The map's id and every entry as bpftool (not the agent) reads them. */
export function bpftoolSnapshot(pinPath: string): { id: number; dump: string } {
  const show = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show', 'pinned', pinPath], { encoding: 'utf8' })) as { id: number };
  const dump = execFileSync('bpftool', ['-j', 'map', 'dump', 'pinned', pinPath], { encoding: 'utf8', maxBuffer: 256 << 20 });
  return { id: show.id, dump };
}

export interface LogLine {
  level: number;
  msg: string;
  [field: string]: unknown;
}
export const INFO = 30;
export const WARN = 40;

/** A logger that keeps its lines for the test to read. */
export function captureLogger(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = pino({ level: 'debug', base: undefined }, { write: (msg: string) => void lines.push(JSON.parse(msg) as LogLine) });
  return { log, lines };
}

export { sleep, waitFor } from '../support/exporter.js';
