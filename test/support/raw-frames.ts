// Raw Ethernet frames sent through AF_PACKET (python3), for loss that needs
// no IP: EtherType 0x88b5 (local experimental) has no protocol handler, so a
// receiver counts it as rx_dropped; sent through a qdisc, a drop there is
// the sender's ENOBUFS.
import type { Lab } from './lab.js';

/** Sends n frames of 0x88b5 out of dev (in ns; undefined = the root namespace) to dstMac. */
export function unhandledFrames(lab: Lab, ns: string | undefined, dev: string, dstMac: string, n: number): void {
  lab.exec(ns, 'python3', [
    '-c',
    `
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('${dev}', 0))
for _ in range(${n}): s.send(bytes.fromhex('${dstMac.replace(/:/g, '')}') + s.getsockname()[4] + b'\\x88\\xb5' + bytes(50))
`,
  ]);
}

/** Sends n broadcast frames of `size` bytes out of a root-namespace dev through its qdisc; returns how many the qdisc refused (ENOBUFS). */
export function burst(lab: Lab, dev: string, n: number, size = 200): number {
  return Number(
    lab
      .exec(undefined, 'python3', [
        '-c',
        `
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(('${dev}', 0))
refused = 0
for _ in range(${n}):
    try: s.send(b'\\xff' * 6 + s.getsockname()[4] + b'\\x88\\xb5' + bytes(${size - 14}))
    except OSError: refused += 1
print(refused)
`,
      ])
      .trim(),
  );
}
