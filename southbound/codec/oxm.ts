// OXM TLVs (OpenFlow 1.3.5 §7.2.3) and the Nicira NXM fields OVS adds
// (ovs-fields(7)). Encode and decode derive from FIELD_TABLE
// (field-table.ts), which the text form shares.
import { Reader, Writer } from './buffer';
import { OfDecodeError, OfEncodeError, OFPET_BAD_MATCH, OFPBMC_BAD_LEN, OFPBMC_BAD_VALUE } from './errors';
import {
  FIELD_TABLE, FieldSpec, KIND_LEN, OxmKind, OFPXMC_EXPERIMENTER, ONF_EXPERIMENTER_ID, ovsHeaderOf,
} from './field-table';

export {
  OFPXMC_NXM_0, OFPXMC_NXM_1, OFPXMC_OPENFLOW_BASIC, OFPXMC_PACKET_REGS, OFPXMC_EXPERIMENTER,
  ONF_EXPERIMENTER_ID, NX_EXPERIMENTER_ID, OxmKind, KIND_LEN, FIELD_TABLE, FieldSpec,
} from './field-table';

/** Values: numbers up to 32 bits, bigint for 64/128 bits, strings for addresses. */
export type OxmValue = number | bigint | string;

/** A field the codec knows by name: a FIELD_TABLE row with a name. */
export type OxmFieldDef = FieldSpec & { name: string };

/** The named rows of FIELD_TABLE, in its order. */
export const OXM_FIELDS: OxmFieldDef[] = FIELD_TABLE.filter((f): f is OxmFieldDef => f.name !== undefined);
export const OXM_BY_NAME = new Map<string, OxmFieldDef>(OXM_FIELDS.map((f) => [f.name, f]));
const key = (cls: number, field: number, exp = 0, expType = 0) => `${cls}:${field}:${exp}:${expType}`;
const OXM_BY_CODE = new Map<string, OxmFieldDef>(OXM_FIELDS.map((f) => [key(f.oxmClass, f.field, f.experimenter ?? 0, f.expType ?? 0), f]));
/** Bytes between the 4-byte OXM header and the value. */
const prefixLen = (d: OxmFieldDef) => (d.experimenter === undefined ? 0 : d.expType === undefined ? 4 : 6);

/** A decoded OXM TLV. Unknown fields keep their raw bytes so they re-encode identically. */
export interface Oxm {
  field: string;
  value: OxmValue;
  mask?: OxmValue;
}
export interface OxmUnknown extends Oxm {
  field: 'unknown';
  oxmClass: number;
  code: number;
  experimenter?: number;
  expType?: number;
  value: string; // hex
  mask?: string; // hex
}

export function oxmDef(name: string): OxmFieldDef {
  const d = OXM_BY_NAME.get(name);
  if (!d) throw new OfEncodeError(`unknown match field "${name}"`);
  return d;
}

export function readValue(r: Reader, kind: OxmKind): OxmValue {
  switch (kind) {
    case 'u8': return r.u8();
    case 'u16': return r.u16();
    case 'u24': { const hi = r.u8(); return (hi << 16) | r.u16(); }
    case 'u32': return r.u32();
    case 'u64': return r.u64();
    case 'u128': { const hi = r.u64(); return (hi << 64n) | r.u64(); }
    case 'mac': return macToString(r.bytes(6));
    case 'ipv4': return ipv4ToString(r.bytes(4));
    case 'ipv6': return ipv6ToString(r.bytes(16));
  }
}

export function writeValue(w: Writer, kind: OxmKind, v: OxmValue, what: string): void {
  switch (kind) {
    case 'u8': case 'u16': case 'u24': case 'u32': {
      const n = typeof v === 'bigint' ? Number(v) : v;
      const max = 2 ** (KIND_LEN[kind] * 8) - 1;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > max) {
        throw new OfEncodeError(`${what}: ${String(v)} is not a ${kind}`);
      }
      if (kind === 'u8') w.u8(n);
      else if (kind === 'u16') w.u16(n);
      else if (kind === 'u24') w.u8(n >>> 16).u16(n & 0xffff);
      else w.u32(n);
      return;
    }
    case 'u64': w.u64(toBig(v, 64, what)); return;
    case 'u128': { const b = toBig(v, 128, what); w.u64(b >> 64n).u64(b & 0xffffffffffffffffn); return; }
    case 'mac': writeMac(w, String(v)); return;
    case 'ipv4': w.bytes(ipv4ToBytes(String(v))); return;
    case 'ipv6': w.bytes(ipv6ToBytes(String(v))); return;
  }
}

function toBig(v: OxmValue, bits: number, what: string): bigint {
  let b: bigint;
  try {
    b = BigInt(v);
  } catch {
    throw new OfEncodeError(`${what}: ${String(v)} is not an integer`);
  }
  if (b < 0n || b >= 1n << BigInt(bits)) throw new OfEncodeError(`${what}: ${String(v)} out of range for ${bits} bits`);
  return b;
}

/** Decode one OXM TLV at the reader's position. */
export function decodeOxm(r: Reader): Oxm {
  const cls = r.u16();
  const fh = r.u8();
  const len = r.u8();
  const code = fh >> 1;
  const hasMask = (fh & 1) === 1;
  const body = r.sub(len, 'oxm', OFPET_BAD_MATCH, OFPBMC_BAD_LEN);
  let exp = 0;
  let expType = 0;
  if (cls === OFPXMC_EXPERIMENTER) {
    exp = body.u32();
    if (exp === ONF_EXPERIMENTER_ID && code === 0) expType = body.u16();
  }
  const def = OXM_BY_CODE.get(key(cls, code, exp, expType));
  const vlen = hasMask ? body.remaining / 2 : body.remaining;
  if (def && vlen === KIND_LEN[def.kind] && (!hasMask || body.remaining % 2 === 0)) {
    const value = readValue(body, def.kind);
    if (!hasMask) return { field: def.name, value };
    return { field: def.name, value, mask: readValue(body, def.kind) };
  }
  if (def) {
    throw new OfDecodeError(`oxm ${def.name}: length ${len} does not fit`, OFPET_BAD_MATCH, OFPBMC_BAD_LEN);
  }
  if (hasMask && body.remaining % 2 !== 0) {
    throw new OfDecodeError(`oxm class ${cls} field ${code}: odd masked length`, OFPET_BAD_MATCH, OFPBMC_BAD_LEN);
  }
  const u: OxmUnknown = {
    field: 'unknown', oxmClass: cls, code,
    value: body.bytes(vlen).toString('hex'),
  };
  if (cls === OFPXMC_EXPERIMENTER) u.experimenter = exp;
  if (exp === ONF_EXPERIMENTER_ID && code === 0) u.expType = expType;
  if (hasMask) u.mask = body.bytes(vlen).toString('hex');
  return u;
}

export function encodeOxm(w: Writer, o: Oxm): void {
  if (o.field === 'unknown') {
    const u = o as OxmUnknown;
    const v = Buffer.from(u.value, 'hex');
    const m = u.mask !== undefined ? Buffer.from(u.mask, 'hex') : undefined;
    const expLen = u.oxmClass === OFPXMC_EXPERIMENTER ? (u.expType !== undefined ? 6 : 4) : 0;
    w.u16(u.oxmClass).u8((u.code << 1) | (m ? 1 : 0)).u8(expLen + v.length + (m ? m.length : 0));
    if (expLen) w.u32(u.experimenter ?? 0);
    if (expLen === 6) w.u16(u.expType!);
    w.bytes(v);
    if (m) w.bytes(m);
    return;
  }
  const d = oxmDef(o.field);
  const hasMask = o.mask !== undefined && o.mask !== null;
  const expLen = prefixLen(d);
  const vlen = KIND_LEN[d.kind];
  w.u16(d.oxmClass).u8((d.field << 1) | (hasMask ? 1 : 0)).u8(expLen + vlen * (hasMask ? 2 : 1));
  if (expLen) w.u32(d.experimenter!);
  if (expLen === 6) w.u16(d.expType!);
  writeValue(w, d.kind, o.value, o.field);
  if (hasMask) writeValue(w, d.kind, o.mask!, o.field + ' mask');
}

/** An NXM/OXM field header as used by reg_move, reg_load, output_reg, ct zone_src. */
export interface FieldRef { field: string; }

/** Read a 4-byte NXM header (or 8-byte experimenter header) naming a field. */
export function readFieldHeader(r: Reader): string {
  const cls = r.u16();
  const fh = r.u8();
  r.u8();
  let exp = 0;
  if (cls === OFPXMC_EXPERIMENTER) exp = r.u32();
  const def = exp === ONF_EXPERIMENTER_ID ? undefined : OXM_BY_CODE.get(key(cls, fh >> 1, exp));
  if (!def) return `field:${cls.toString(16)}:${(fh >> 1).toString(16)}${exp ? ':' + exp.toString(16) : ''}`;
  return def.name;
}

export function fieldHeaderLen(name: string): number {
  if (name.startsWith('field:')) return name.split(':').length > 3 ? 8 : 4;
  return oxmDef(name).experimenter !== undefined ? 8 : 4;
}

/**
 * Value lengths of the headers load/move/output_reg may name that the codec
 * has no name for (so they travel as `field:cls:code`): the NXM twins OVS
 * prefers over OXM headers and the NXM-only fields of FIELD_TABLE.
 */
const NXM_HEADER_LEN = new Map<string, number>();
for (const f of FIELD_TABLE) {
  if (!f.ovs) continue;
  const [cls, code] = ovsHeaderOf(f);
  if (!OXM_BY_CODE.has(key(cls, code))) NXM_HEADER_LEN.set(`${cls}:${code}`, KIND_LEN[f.kind]);
}

export function writeFieldHeader(w: Writer, name: string): void {
  if (name.startsWith('field:')) {
    const [, c, f, e] = name.split(':');
    const cls = parseInt(c, 16);
    const code = parseInt(f, 16);
    const len = NXM_HEADER_LEN.get(`${cls}:${code}`);
    if (!e && len === undefined) throw new OfEncodeError(`unknown field header ${name}: its length is not known`);
    w.u16(cls).u8(code << 1).u8(e ? 4 : len!);
    if (e) w.u32(parseInt(e, 16));
    return;
  }
  const d = oxmDef(name);
  w.u16(d.oxmClass).u8(d.field << 1).u8(KIND_LEN[d.kind] + (d.experimenter !== undefined ? 4 : 0));
  if (d.experimenter !== undefined) w.u32(d.experimenter);
}

export function fieldBits(name: string): number {
  const d = OXM_BY_NAME.get(name);
  return d ? KIND_LEN[d.kind] * 8 : 0;
}

// ---- address helpers -------------------------------------------------------

export function macToString(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const x = b[i];
    s += (i ? ':' : '') + (x < 16 ? '0' : '') + x.toString(16);
  }
  return s;
}

const hexVal = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1);

/** Write a MAC: a fast path for the canonical aa:bb:cc:dd:ee:ff form, the parser for anything else. */
export function writeMac(w: Writer, s: string): void {
  if (s.length === 17) {
    const out = [0, 0, 0, 0, 0, 0];
    let ok = true;
    for (let i = 0; i < 6 && ok; i++) {
      const hi = hexVal(s.charCodeAt(i * 3));
      const lo = hexVal(s.charCodeAt(i * 3 + 1));
      if (hi < 0 || lo < 0 || (i < 5 && s.charCodeAt(i * 3 + 2) !== 58 && s.charCodeAt(i * 3 + 2) !== 45)) ok = false;
      else out[i] = (hi << 4) | lo;
    }
    if (ok) { for (const b of out) w.u8(b); return; }
  }
  w.bytes(macToBytes(s));
}

const MAC_RE = /^([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})$/i;
export function macToBytes(s: string): Buffer {
  const m = MAC_RE.exec(s);
  if (!m) throw new OfEncodeError(`"${s}" is not a MAC address`);
  return Buffer.from(m.slice(1).map((x) => parseInt(x, 16)));
}

export function ipv4ToString(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}
const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
export function ipv4ToBytes(s: string): Buffer {
  const m = IPV4_RE.exec(s);
  if (!m) throw new OfEncodeError(`"${s}" is not an IPv4 address`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) throw new OfEncodeError(`"${s}" is not an IPv4 address`);
  return Buffer.from(parts);
}
export function isIpv4(s: string): boolean {
  return IPV4_RE.test(s) && s.split('.').every((p) => Number(p) <= 255);
}

/** RFC 5952 canonical text (as ovs-ofctl prints). */
export function ipv6ToString(b: Uint8Array): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i] << 8) | b[i + 1]);
  let bestS = -1, bestL = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestL && j - i > 1) { bestS = i; bestL = j - i; }
    i = j;
  }
  const hex = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestS < 0) return hex(g);
  return hex(g.slice(0, bestS)) + '::' + hex(g.slice(bestS + bestL));
}

export function ipv6ToBytes(s: string): Buffer {
  const bad = () => new OfEncodeError(`"${s}" is not an IPv6 address`);
  let str = s;
  const tail: number[] = [];
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(str);
  if (v4) {
    const b = ipv4ToBytes(v4[1]);
    tail.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
    str = str.slice(0, -v4[1].length) + (str.endsWith('::' + v4[1]) ? '' : '0');
    if (str.endsWith(':0')) str = str.slice(0, -2);
  }
  const halves = str.split('::');
  if (halves.length > 2) throw bad();
  const parse = (h: string) => (h === '' ? [] : h.split(':').map((x) => {
    if (!/^[0-9a-f]{1,4}$/i.test(x)) throw bad();
    return parseInt(x, 16);
  }));
  const head = parse(halves[0]);
  const rest = halves.length === 2 ? parse(halves[1]) : [];
  const total = head.length + rest.length + tail.length;
  let groups: number[];
  if (halves.length === 2) {
    if (total > 7) throw bad();
    groups = [...head, ...new Array(8 - total).fill(0), ...rest, ...tail];
  } else {
    if (total !== 8) throw bad();
    groups = [...head, ...tail];
  }
  const out = Buffer.alloc(16);
  groups.forEach((x, i) => out.writeUInt16BE(x, i * 2));
  return out;
}

export function checkOxmValue(o: Oxm): void {
  if (o.field === 'unknown') return;
  const w = new Writer(32);
  try {
    encodeOxm(w, o);
  } catch (e) {
    throw new OfDecodeError((e as Error).message, OFPET_BAD_MATCH, OFPBMC_BAD_VALUE);
  }
}
