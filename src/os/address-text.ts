// An IP address attribute of a netlink message (4 or 16 bytes, network
// order) as text: dotted IPv4, or IPv6 as eight hexadecimal groups (not
// shortened: it is parsed again, never shown).
export function addressText(buf: Buffer, start: number, length: number): string | undefined {
  if (length === 4) return `${buf[start]}.${buf[start + 1]}.${buf[start + 2]}.${buf[start + 3]}`;
  if (length !== 16) return undefined;
  const groups: string[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(start + i * 2).toString(16));
  return groups.join(':');
}
