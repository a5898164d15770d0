// Value syntax of the ovs-ofctl text form: numbers, masks, addresses, ports
// and flag fields, printed the way OVS 3.1 prints them (lib/meta-flow.c
// mf_format, lib/packets.c ip_format_masked, lib/ofp-port.c).
import {
  OxmKind, OxmValue, KIND_LEN,
  macToBytes, macToString, ipv4ToBytes, ipv4ToString, ipv6ToBytes, ipv6ToString,
} from '../codec/oxm';
import { OvsField, syntaxError } from './fields';

// ---- numbers ---------------------------------------------------------------

/** `%#x` as OVS prints it: "0" for zero, "0x..." otherwise. */
export function hex(v: bigint | number): string {
  const b = BigInt(v);
  return b === 0n ? '0' : '0x' + b.toString(16);
}

/** Parse a decimal or 0x-hex unsigned integer that fits in `bits`. */
export function parseUint(text: string, bits: number, what: string): bigint {
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(text)) throw syntaxError(`${what}: not a number`, text);
  const v = BigInt(text);
  if (v >= 1n << BigInt(bits)) throw syntaxError(`${what}: value does not fit in ${bits} bits`, text);
  return v;
}

export function parseSmall(text: string, bits: number, what: string): number {
  return Number(parseUint(text, bits, what));
}

export const ones = (bits: number): bigint => (1n << BigInt(bits)) - 1n;

// ---- OXM values as bit strings ----------------------------------------------

/** Any OXM value as an unsigned integer of the field's width (addresses included). */
export function toBits(kind: OxmKind, v: OxmValue): bigint {
  switch (kind) {
    case 'mac': return BigInt('0x' + macToBytes(String(v)).toString('hex'));
    case 'ipv4': return BigInt('0x' + ipv4ToBytes(String(v)).toString('hex'));
    case 'ipv6': return BigInt('0x' + ipv6ToBytes(String(v)).toString('hex'));
    default: return BigInt(v);
  }
}

function bitsToBuf(b: bigint, len: number): Buffer {
  return Buffer.from(b.toString(16).padStart(len * 2, '0'), 'hex');
}

/** Inverse of toBits: numbers up to 32 bits, bigint above, strings for addresses. */
export function fromBits(kind: OxmKind, b: bigint): OxmValue {
  switch (kind) {
    case 'mac': return macToString(bitsToBuf(b, 6));
    case 'ipv4': return ipv4ToString(bitsToBuf(b, 4));
    case 'ipv6': return ipv6ToString(bitsToBuf(b, 16));
    case 'u64': case 'u128': return b;
    default: return Number(b);
  }
}

/** Prefix length when `mask` is a CIDR mask of `bits` bits, else -1. */
export function cidrLen(mask: bigint, bits: number): number {
  for (let n = 0; n <= bits; n++) if (mask === (ones(n) << BigInt(bits - n))) return n;
  return -1;
}

/** Address or address/mask as OVS prints it (ip_format_masked, eth_format_masked). */
export function formatAddr(kind: 'mac' | 'ipv4' | 'ipv6', v: bigint, mask: bigint | undefined): string {
  const bits = KIND_LEN[kind] * 8;
  const s = String(fromBits(kind, v));
  if (mask === undefined || mask === ones(bits)) return s;
  if (kind !== 'mac') {
    const n = cidrLen(mask, bits);
    if (n >= 0) return `${s}/${n}`;
  }
  return `${s}/${String(fromBits(kind, mask))}`;
}

/** Parse `addr`, `addr/prefix` or `addr/mask`. */
export function parseAddr(kind: 'mac' | 'ipv4' | 'ipv6', text: string, what: string): { value: bigint; mask?: bigint } {
  const bits = KIND_LEN[kind] * 8;
  const slash = text.indexOf('/');
  const one = (t: string): bigint => {
    try {
      return toBits(kind, t);
    } catch {
      throw syntaxError(`${what}: not ${kind === 'mac' ? 'a MAC' : kind === 'ipv4' ? 'an IPv4' : 'an IPv6'} address`, text);
    }
  };
  if (slash < 0) return { value: one(text) };
  const value = one(text.slice(0, slash));
  const m = text.slice(slash + 1);
  if (kind !== 'mac' && /^\d+$/.test(m)) {
    const n = Number(m);
    if (n > bits) throw syntaxError(`${what}: prefix longer than ${bits}`, text);
    return { value, mask: ones(n) << BigInt(bits - n) };
  }
  return { value, mask: one(m) };
}

// ---- ports ------------------------------------------------------------------

const PORT_NAMES: [string, number][] = [
  ['IN_PORT', 0xfff8], ['TABLE', 0xfff9], ['NORMAL', 0xfffa], ['FLOOD', 0xfffb],
  ['ALL', 0xfffc], ['CONTROLLER', 0xfffd], ['LOCAL', 0xfffe], ['ANY', 0xffff],
];
const OFPP11_OFFSET = 0xffff0000;

/** An OpenFlow 1.3 (32-bit) port: reserved ports by name, others in decimal. */
export function formatPort(p: number): string {
  if (p >= 0xfffffff8) return PORT_NAMES[p - 0xfffffff8][0];
  return String(p);
}

/** A 16-bit (OpenFlow 1.0 style) port, as in resubmit and NXM_OF_IN_PORT. */
export function formatPort16(p: number): string {
  if (p >= 0xfff8 && p <= 0xffff) return PORT_NAMES[p - 0xfff8][0];
  return String(p);
}

function portByName(text: string): number | undefined {
  const u = text.toUpperCase();
  if (u === 'NONE') return 0xffff;
  const e = PORT_NAMES.find(([n]) => n === u);
  return e ? e[1] : undefined;
}

/** Port name or number to a 32-bit port; 16-bit reserved numbers (65534) map like OVS (to 0xfffffffe). */
export function parsePort(text: string, what = 'port'): number {
  const named = portByName(text);
  if (named !== undefined) return named + OFPP11_OFFSET;
  const n = Number(parseUint(text, 32, what));
  return n >= 0xff00 && n <= 0xffff ? n + OFPP11_OFFSET : n;
}

export function parsePort16(text: string, what = 'port'): number {
  const named = portByName(text);
  if (named !== undefined) return named;
  return Number(parseUint(text, 16, what));
}

// ---- flag fields ------------------------------------------------------------

export const CT_STATE_FLAGS: readonly (readonly [string, number])[] = [
  ['new', 0x01], ['est', 0x02], ['rel', 0x04], ['rpl', 0x08], ['inv', 0x10], ['trk', 0x20], ['snat', 0x40], ['dnat', 0x80],
];
export const TCP_FLAGS: readonly (readonly [string, number])[] = [
  ['fin', 0x001], ['syn', 0x002], ['rst', 0x004], ['psh', 0x008], ['ack', 0x010], ['urg', 0x020],
  ['ece', 0x040], ['cwr', 0x080], ['ns', 0x100], ['[200]', 0x200], ['[400]', 0x400], ['[800]', 0x800],
];

/**
 * OVS format_flags / format_flags_masked: an exact value prints as "est|trk"
 * (or "0"), a masked one as "-new+est+trk" in bit order.
 */
export function formatFlags(names: readonly (readonly [string, number])[], value: number, mask: number | undefined, maxMask: number): string {
  const nameOf = (bit: number) => names.find(([, b]) => b === bit)?.[0];
  const bitsOf = (x: number) => { const out: number[] = []; for (let i = 0; i < 32; i++) if ((x >>> i) & 1) out.push((1 << i) >>> 0); return out; };
  if (mask === undefined || (mask >>> 0) === (maxMask >>> 0)) {
    if (value === 0) return '0';
    let bad = 0;
    const parts: string[] = [];
    for (const bit of bitsOf(value)) {
      const n = nameOf(bit);
      if (n) parts.push(n); else bad |= bit;
    }
    if (bad) parts.push(hex(bad >>> 0));
    return parts.join('|');
  }
  if (mask === 0) return '0/0';
  return bitsOf(mask).map((bit) => ((value & bit) ? '+' : '-') + (nameOf(bit) ?? '[Unknown]')).join('');
}

/** Parse "+trk-new", "est|trk", "0x22" or "0x21/0x21". An exact value has no mask. */
export function parseFlags(names: readonly (readonly [string, number])[], text: string, bits: number, what: string): { value: number; mask?: number } {
  const full = Number(ones(bits));
  if (/^[+-]/.test(text)) {
    let value = 0;
    let mask = 0;
    const re = /([+-])([a-z0-9[\]]+)/gy;
    let m: RegExpExecArray | null;
    let end = 0;
    while ((m = re.exec(text)) !== null) {
      const bit = names.find(([n]) => n === m![2])?.[1];
      if (bit === undefined) throw syntaxError(`${what}: unknown flag "${m[2]}"`, text);
      if (mask & bit) throw syntaxError(`${what}: flag "${m[2]}" given twice`, text);
      mask |= bit;
      if (m[1] === '+') value |= bit;
      end = re.lastIndex;
    }
    if (end !== text.length) throw syntaxError(`${what}: bad flags`, text);
    return mask === full ? { value } : { value, mask };
  }
  if (/^(0x[0-9a-f]+|\d+)(\/(0x[0-9a-f]+|\d+))?$/i.test(text)) {
    const [v, m] = text.split('/');
    const value = parseSmall(v, bits, what);
    if (m === undefined) return { value };
    const mask = parseSmall(m, bits, what);
    return mask === full ? { value: value & mask } : { value: value & mask, mask };
  }
  let value = 0;
  for (const n of text.split('|')) {
    const bit = names.find(([x]) => x === n)?.[1];
    if (bit === undefined) throw syntaxError(`${what}: unknown flag "${n}"`, text);
    value |= bit;
  }
  return { value };
}

/**
 * OVS keeps ct_state in 8 bits: an exact match goes on the wire with mask 0xff
 * and prints as "est|trk". Returns the mask to print, undefined for exact.
 */
export function ctStateMask(mask: bigint | number | undefined): number | undefined {
  if (mask === undefined) return undefined;
  const m = Number(BigInt(mask) & 0xffn);
  return m === 0xff ? undefined : m;
}

// ---- whole field values (set_field, reg_load2, unknown NXM matches) ---------

/** A value [/mask] of an OVS field, as mf_format prints it. `mask` undefined means exact. */
export function formatFieldValue(f: OvsField, v: bigint, m?: bigint): string {
  const full = ones(f.bytes * 8);
  const mask = m === undefined || m === full ? undefined : m;
  const num = (s: string) => (mask === undefined ? s : `${s}/${hex(mask)}`);
  switch (f.style) {
    case 'dec': return num(v.toString());
    case 'hex': return num(hex(v));
    case 'mac': case 'ipv4': case 'ipv6': return formatAddr(f.style, v, mask);
    case 'port': return num(formatPort(Number(v)));
    case 'port16': return num(formatPort16(Number(v)));
    case 'ct_state': return formatFlags(CT_STATE_FLAGS, Number(v), ctStateMask(mask), 0xff);
    case 'tcp_flags': return formatFlags(TCP_FLAGS, Number(v), mask === undefined ? undefined : Number(mask) & 0xfff, 0xfff);
  }
}

/** Parse a value [/mask] of an OVS field. An all-ones mask is dropped. */
export function parseFieldValue(f: OvsField, text: string, what: string): { value: bigint; mask?: bigint } {
  const bits = f.bytes * 8;
  let r: { value: bigint; mask?: bigint };
  switch (f.style) {
    case 'mac': case 'ipv4': case 'ipv6': r = parseAddr(f.style, text, what); break;
    case 'ct_state': case 'tcp_flags': {
      const fl = parseFlags(f.style === 'ct_state' ? CT_STATE_FLAGS : TCP_FLAGS, text, f.style === 'ct_state' ? 32 : 12, what);
      r = { value: BigInt(fl.value), ...(fl.mask !== undefined ? { mask: BigInt(fl.mask) } : {}) };
      // An exact ct_state is 8 bits wide in OVS; it dumps back with mask 0xff.
      if (f.style === 'ct_state' && (r.mask === undefined || (r.mask & 0xffn) === 0xffn)) return { value: r.value & 0xffn, mask: 0xffn };
      break;
    }
    default: {
      const [v, m, extra] = text.split('/');
      if (extra !== undefined) throw syntaxError(`${what}: bad value`, text);
      const value = f.style === 'port' ? BigInt(parsePort(v, what)) : f.style === 'port16' ? BigInt(parsePort16(v, what)) : parseUint(v, bits, what);
      r = m === undefined ? { value } : { value, mask: parseUint(m, bits, what) };
    }
  }
  if (r.mask !== undefined && r.mask === ones(bits)) return { value: r.value };
  return r.mask === undefined ? r : { value: r.value & r.mask, mask: r.mask };
}
