// IPv4 address and prefix arithmetic on unsigned 32-bit integers.

export function ipToInt(ip: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) throw new RangeError(`"${ip}" is not an IPv4 address`);
  const p = m.slice(1).map(Number);
  if (p.some((x) => x > 255)) throw new RangeError(`"${ip}" is not an IPv4 address`);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

export function intToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

export function isIp(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  try {
    ipToInt(s);
    return true;
  } catch {
    return false;
  }
}

export const prefixMask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

export interface Cidr {
  /** network address as an integer */
  base: number;
  len: number;
  size: number;
  text: string;
}

/** Parse "a.b.c.d/len"; the address must be the network address. */
export function parseCidr(s: string): Cidr {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  if (!m) throw new RangeError(`"${s}" is not an IPv4 CIDR (a.b.c.d/len)`);
  const len = Number(m[2]);
  if (len > 32) throw new RangeError(`"${s}": prefix length ${len} > 32`);
  const ip = ipToInt(m[1]);
  const base = (ip & prefixMask(len)) >>> 0;
  if (base !== ip) throw new RangeError(`"${s}" has host bits set (did you mean ${intToIp(base)}/${len}?)`);
  return { base, len, size: 2 ** (32 - len), text: `${intToIp(base)}/${len}` };
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & prefixMask(c.len)) >>> 0) === c.base;
}

/** A prefix length as a dotted mask (26 -> 255.255.255.192). */
export const maskOf = (len: number): string => intToIp(prefixMask(len));

/** Whether two CIDRs share any address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  const m = prefixMask(Math.min(a.len, b.len));
  return ((a.base & m) >>> 0) === ((b.base & m) >>> 0);
}
