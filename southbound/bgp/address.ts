// IPv4 addresses as BGP carries them (RFC 4271 §4.2 BGP Identifier, §4.3
// NEXT_HOP and NLRI): unsigned 32-bit integers in network order.

export function ipv4ToInt(ip: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  const p = m ? m.slice(1).map(Number) : [];
  if (!m || p.some((x) => x > 255)) throw new RangeError(`"${ip}" is not an IPv4 address`);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

export function intToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export const prefixMask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
