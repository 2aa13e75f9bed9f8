// Test packets for BPF_PROG_TEST_RUN: Ethernet + IPv4 + UDP, as a pod's
// veth carries them.

function ipBytes(ip: string): number[] {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !(p >= 0 && p <= 255))) throw new Error(`not an IPv4 address: ${ip}`);
  return parts;
}

/** An Ethernet frame carrying IPv4/UDP with `payload` bytes, valid IP header checksum. */
export function udpFrame(saddr: string, daddr: string, payload: number, sport = 40000, dport = 8080): Buffer {
  const ipLen = 20 + 8 + payload;
  const b = Buffer.alloc(14 + ipLen);
  Buffer.from([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01]).copy(b, 0); // dst, src MAC
  b.writeUInt16BE(0x0800, 12);
  const ip = 14;
  b[ip] = 0x45;
  b.writeUInt16BE(ipLen, ip + 2);
  b.writeUInt16BE(0x1234, ip + 4);
  b.writeUInt16BE(0x4000, ip + 6); // DF
  b[ip + 8] = 64;
  b[ip + 9] = 17; // UDP
  Buffer.from(ipBytes(saddr)).copy(b, ip + 12);
  Buffer.from(ipBytes(daddr)).copy(b, ip + 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += b.readUInt16BE(ip + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  b.writeUInt16BE(~sum & 0xffff, ip + 10);
  const udp = ip + 20;
  b.writeUInt16BE(sport, udp);
  b.writeUInt16BE(dport, udp + 2);
  b.writeUInt16BE(8 + payload, udp + 4);
  b.fill(0x61, udp + 8);
  return b;
}
