// IPv4 address and prefix arithmetic on unsigned 32-bit integers.
//
// Addresses that come in (the API, the CLI) must be canonical dotted quads:
// exactly four decimal parts 0-255, no leading zeros (10.90.0.010 is refused:
// inet_aton reads 010 as octal 8), no signs, spaces or other characters.
// parseIp and isIp check that; ipToInt also reads the looser form that older
// databases may hold (leading zeros, read as decimal), for stored values only.

/** A canonical dotted-quad part: 0, or 1-255 without leading zeros. */
const PART = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const CANONICAL_IP = new RegExp(`^${PART}\\.${PART}\\.${PART}\\.${PART}$`);

/** A canonical IPv4 address as an unsigned integer; RangeError otherwise. */
export function parseIp(ip: string): number {
  if (typeof ip !== 'string' || !CANONICAL_IP.test(ip)) throw new RangeError(`"${ip}" is not an IPv4 address (four decimal parts 0-255, no leading zeros)`);
  return ipToInt(ip);
}

/** An IPv4 address as an unsigned integer (stored values; check inputs with parseIp or isIp). */
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

/** Whether s is a canonical dotted-quad IPv4 address (see parseIp). */
export function isIp(s: unknown): s is string {
  return typeof s === 'string' && CANONICAL_IP.test(s);
}

export const prefixMask = (len: number): number => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

export interface Cidr {
  /** network address as an integer */
  base: number;
  len: number;
  size: number;
  text: string;
}

/**
 * Parse "a.b.c.d/len": a canonical address (parseIp) and a length 0-32
 * without leading zeros. The address must be the network address (no host
 * bits set): it is refused, not rounded down, so what was asked is what is
 * stored.
 */
export function parseCidr(s: string): Cidr {
  const m = typeof s === 'string' ? /^([\d.]+)\/(\d{1,2})$/.exec(s) : null;
  if (!m) throw new RangeError(`"${s}" is not an IPv4 CIDR (a.b.c.d/len)`);
  const len = Number(m[2]);
  if (len > 32) throw new RangeError(`"${s}": prefix length ${len} > 32`);
  if (m[2]!.length > 1 && m[2]!.startsWith('0')) throw new RangeError(`"${s}": prefix length must be written without leading zeros`);
  const ip = parseIp(m[1]!);
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

/** Whether every address of `inner` is in `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return inner.len >= outer.len && cidrContains(outer, inner.base);
}
