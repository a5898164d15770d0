/**
 * Helpers for the OpenFlow 1.3 test vectors in test/vectors/of13 (os-ken's
 * packet_data/of13 and its JSON decodings, see test/README.md), and for the
 * messages that test/tools/osken-of13-messages.py builds with os-ken at test time.
 *
 * - locate the vectors folder (WEFT_VECTORS_DIR, else <repoRoot>/test/vectors/of13);
 * - parse os-ken JSON without losing integer precision (big literals -> bigint);
 * - compare one of our decoded messages with os-ken's JSON decoding, field by field,
 *   mapping os-ken class names (OFPFlowMod, OFPActionSetField, OXMTlv, NXActionCT ...)
 *   onto our message shapes. Names are mapped here, never in the codec.
 * - build our message from os-ken JSON for the simple request classes that the
 *   lib-ofctl-* files use (they have no .packet).
 *
 * The comparison collects every difference (with a path) instead of stopping at the
 * first one, so a failing vector names all its mismatching fields.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  OfpMessage, Action, Instruction, Oxm, OxmUnknown, Port, Bucket, MeterBand, PacketQueue,
  TableFeatures, TableFeatureProp, Writer, Reader, encodeAction, encodeInstructions, encodeMatch,
  encodeBuckets, encodeBands, encodeQueues, decodeOxm, OXM_BY_NAME, ipv6ToBytes, ONF_EXPERIMENTER_ID,
  NX_VENDOR_ID, OFPXMC_EXPERIMENTER, ExperimenterBody,
} from '../../southbound/codec';

// ---------------------------------------------------------------------------
// locating the vectors

export { vectorsDir } from './paths';
import { vectorsDir } from './paths';

export interface VectorSet {
  dir: string;
  /** `packet/*.packet` names, without the directory (e.g. '4-2-ofp_flow_mod.packet'). */
  packets: string[];
  /** json files with no packet beside them (lib-ofctl-*), without the directory. */
  jsonOnly: string[];
  /** other files in packet/ (e.g. the .truncated64 one). */
  otherPackets: string[];
}

/** Natural order so 4-2 comes before 4-10. */
const natural = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

export function listVectors(dir: string = vectorsDir()): VectorSet {
  const pdir = path.join(dir, 'packet');
  const jdir = path.join(dir, 'json');
  const all = fs.readdirSync(pdir).sort(natural);
  const packets = all.filter((n) => n.endsWith('.packet'));
  const otherPackets = all.filter((n) => !n.endsWith('.packet'));
  const jsonOnly = fs.readdirSync(jdir).filter((n) => n.endsWith('.json')).filter((n) => {
    const base = n.slice(0, -'.json'.length);
    if (packets.includes(base)) return false;
    // libofproto-OFP13-flow_mod.packet.truncated64.json belongs to packet/...flow_mod.truncated64
    if (otherPackets.some((o) => base === o.replace(/\.(truncated\d+)$/, '.packet.$1'))) return false;
    return true;
  }).sort(natural);
  return { dir, packets, jsonOnly, otherPackets };
}

export function jsonPathFor(dir: string, packetName: string): string {
  return path.join(dir, 'json', `${packetName}.json`);
}

// ---------------------------------------------------------------------------
// precision-preserving JSON

/**
 * JSON.parse, except that integer literals beyond Number.MAX_SAFE_INTEGER come back
 * as bigint (from their literal text), so u64 values that os-ken wrote exactly are
 * compared exactly. (Some literals in the files were already rounded through a double,
 * e.g. 18446744073709552000; the comparison treats those as approximate.)
 */
export function parseJsonExact(text: string): unknown {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\n\r'.includes(text[i])) i++; };
  const fail = (m: string): never => { throw new SyntaxError(`JSON: ${m} at ${i}`); };
  const value = (): unknown => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      const o: Record<string, unknown> = {};
      ws();
      if (text[i] === '}') { i++; return o; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected key');
        const k = str();
        ws();
        if (text[i++] !== ':') fail('expected :');
        o[k] = value();
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return o; }
        fail('expected , or }');
      }
    }
    if (ch === '[') {
      i++;
      const a: unknown[] = [];
      ws();
      if (text[i] === ']') { i++; return a; }
      for (;;) {
        a.push(value());
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return a; }
        fail('expected , or ]');
      }
    }
    if (ch === '"') return str();
    if (text.startsWith('true', i)) { i += 4; return true; }
    if (text.startsWith('false', i)) { i += 5; return false; }
    if (text.startsWith('null', i)) { i += 4; return null; }
    const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 64));
    if (!m) return fail('unexpected token');
    i += m[0].length;
    const lit = m[0];
    if (!m[1] && !m[2]) {
      const n = Number(lit);
      return Number.isSafeInteger(n) ? n : BigInt(lit);
    }
    return Number(lit);
  };
  const str = (): string => {
    // find the closing quote, honouring escapes, then let JSON.parse decode it
    const start = i;
    i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    if (i >= text.length) fail('unterminated string');
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const v = value();
  ws();
  if (i !== text.length) fail('trailing characters');
  return v;
}

export function readJson(file: string): unknown {
  return parseJsonExact(fs.readFileSync(file, 'utf8'));
}

// ---------------------------------------------------------------------------
// comparison context

/* eslint-disable @typescript-eslint/no-explicit-any */
/** os-ken JSON node: dynamically shaped, checked field by field below. */
type J = any;

export class Ctx {
  /** Differences: each names the path, our value and os-ken's. */
  readonly problems: string[] = [];
  /** u64 comparisons that only hold up to double precision (the JSON literal is rounded). */
  readonly approx: string[] = [];
  /** Things not compared, and why. */
  readonly skipped: string[] = [];
  /** Representation notes (equal after a documented conversion). */
  readonly notes: string[] = [];
  /** Number of leaf fields compared. */
  checked = 0;
  problem(p: string, m: string): void { this.problems.push(`${p}: ${m}`); }
}

const show = (v: unknown): string => {
  if (typeof v === 'bigint') return `${v}n`;
  if (Buffer.isBuffer(v)) return `<Buffer ${v.toString('hex')}>`;
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)) ?? String(v);
  } catch {
    return String(v);
  }
};

/** Split `{ClassName: body}`. */
function unwrap(c: Ctx, p: string, j: J): [string, J] | undefined {
  if (j === null || typeof j !== 'object' || Array.isArray(j)) { c.problem(p, `expected {Class: {...}}, got ${show(j)}`); return undefined; }
  const keys = Object.keys(j);
  if (keys.length !== 1) { c.problem(p, `expected one class key, got ${keys.join(',')}`); return undefined; }
  return [keys[0], j[keys[0]]];
}

/** Integers: ours number|bigint, os-ken number|bigint (bigint = literal beyond 2^53). */
function num(c: Ctx, p: string, ours: unknown, exp: J): void {
  c.checked++;
  if (typeof ours !== 'number' && typeof ours !== 'bigint') { c.problem(p, `ours ${show(ours)} is not a number (os-ken ${show(exp)})`); return; }
  if (typeof ours === 'number' && !Number.isInteger(ours)) { c.problem(p, `ours ${ours} is not an integer`); return; }
  if (typeof exp === 'number' && Number.isInteger(exp)) {
    if (BigInt(ours) !== BigInt(exp)) c.problem(p, `ours ${show(ours)}, os-ken ${exp}`);
    return;
  }
  if (typeof exp === 'bigint') {
    if (BigInt(ours) === exp) return;
    // A literal that is exactly the shortest text of a double (18446744073709552000) may have been
    // rounded through one: there, equal as doubles is all we can say. Any other literal is exact.
    const lossy = String(Number(exp)) === exp.toString();
    if (lossy && Number(ours) === Number(exp)) { c.approx.push(`${p}: ours ${ours}, os-ken ${exp} (JSON literal not exact)`); return; }
    c.problem(p, `ours ${show(ours)}, os-ken ${exp}`);
    return;
  }
  c.problem(p, `os-ken value ${show(exp)} is not an integer (ours ${show(ours)})`);
}

function str(c: Ctx, p: string, ours: unknown, exp: J): void {
  c.checked++;
  if (typeof ours !== 'string' || typeof exp !== 'string') { c.problem(p, `ours ${show(ours)}, os-ken ${show(exp)}`); return; }
  if (ours === exp) return;
  c.problem(p, `ours ${JSON.stringify(ours)}, os-ken ${JSON.stringify(exp)}`);
}

function mac(c: Ctx, p: string, ours: unknown, exp: J): void {
  c.checked++;
  if (typeof ours !== 'string' || typeof exp !== 'string' || ours.toLowerCase() !== exp.toLowerCase()) c.problem(p, `ours ${show(ours)}, os-ken ${show(exp)}`);
}

function ip6(c: Ctx, p: string, ours: unknown, exp: J): void {
  c.checked++;
  try {
    if (ipv6ToBytes(String(ours)).equals(ipv6ToBytes(String(exp)))) return;
  } catch { /* fall through */ }
  c.problem(p, `ours ${show(ours)}, os-ken ${show(exp)}`);
}

/** os-ken bytes: base64 string, or a list of byte values. */
function bytes(c: Ctx, p: string, ours: unknown, exp: J): void {
  c.checked++;
  if (!Buffer.isBuffer(ours)) { c.problem(p, `ours ${show(ours)} is not a Buffer`); return; }
  let e: Buffer;
  if (exp === null) e = Buffer.alloc(0); // os-ken's None: no data (a packet_out of a buffered packet)
  else if (typeof exp === 'string') e = Buffer.from(exp, 'base64');
  else if (Array.isArray(exp) && exp.every((x) => typeof x === 'number' && x >= 0 && x < 256)) e = Buffer.from(exp as number[]);
  else { c.problem(p, `os-ken bytes ${show(exp)} not base64 nor a byte list`); return; }
  if (!ours.equals(e)) c.problem(p, `ours ${ours.toString('hex')}, os-ken ${e.toString('hex')}`);
}

/** Compare the listed keys, choosing the comparison by the type of our value. */
function same(c: Ctx, p: string, ours: Record<string, unknown>, exp: J, keys: string[], rename: Record<string, string> = {}): void {
  for (const k of keys) {
    const ok = rename[k] ?? k;
    if (!(k in exp)) { c.problem(`${p}.${k}`, 'missing in os-ken JSON'); continue; }
    const o = ours[ok];
    const e = exp[k];
    if (o === undefined) { c.problem(`${p}.${ok}`, `missing in ours (os-ken ${show(e)})`); continue; }
    if (typeof o === 'number' || typeof o === 'bigint') num(c, `${p}.${ok}`, o, e);
    else if (typeof o === 'string') str(c, `${p}.${ok}`, o, e);
    else if (Buffer.isBuffer(o)) bytes(c, `${p}.${ok}`, o, e);
    else if (Array.isArray(o) && o.every((x) => typeof x === 'number' || typeof x === 'bigint')) numList(c, `${p}.${ok}`, o as number[], e);
    else c.problem(`${p}.${ok}`, `no comparison for ${show(o)}`);
  }
}

function numList(c: Ctx, p: string, ours: readonly (number | bigint)[], exp: J): void {
  if (!Array.isArray(exp) || exp.length !== ours.length) { c.problem(p, `ours ${show(ours)}, os-ken ${show(exp)}`); return; }
  ours.forEach((o, i) => num(c, `${p}[${i}]`, o, exp[i]));
}

function list<T>(c: Ctx, p: string, ours: readonly T[] | undefined, exp: J, one: (c: Ctx, p: string, o: T, e: J) => void): void {
  if (!Array.isArray(ours)) { c.problem(p, `ours ${show(ours)} is not a list`); return; }
  if (!Array.isArray(exp)) { c.problem(p, `os-ken ${show(exp)} is not a list`); return; }
  if (ours.length !== exp.length) {
    c.problem(p, `ours has ${ours.length} entries, os-ken ${exp.length}`);
    return;
  }
  ours.forEach((o, i) => one(c, `${p}[${i}]`, o, exp[i]));
}

/** Check the class name and return the body, or undefined (problem recorded). */
function expectClass(c: Ctx, p: string, j: J, ...names: string[]): [string, J] | undefined {
  const u = unwrap(c, p, j);
  if (!u) return undefined;
  if (!names.includes(u[0])) { c.problem(p, `os-ken class ${u[0]}, expected ${names.join('|')}`); return undefined; }
  return u;
}

// ---------------------------------------------------------------------------
// OXM and match

/**
 * os-ken OXM field names that differ from ours (otherwise both use the OVS/spec names):
 * os-ken tells NXM_NX_TCP_FLAGS from the ONF OXM by name, ours by wire header only.
 */
const OXM_NAME: Record<string, string> = { tcp_flags_nxm: 'tcp_flags' };

export function compareOxm(c: Ctx, p: string, ours: Oxm, j: J): void {
  const u = expectClass(c, p, j, 'OXMTlv');
  if (!u) return;
  const e = u[1];
  const name = OXM_NAME[e.field] ?? e.field;
  c.checked++;
  if (ours.field === 'unknown') {
    const x = ours as OxmUnknown;
    c.problem(p, `ours unknown OXM (class 0x${x.oxmClass.toString(16)} field ${x.code}), os-ken ${e.field}`);
    return;
  }
  if (ours.field !== name) { c.problem(`${p}.field`, `ours ${ours.field}, os-ken ${e.field}`); return; }
  const def = OXM_BY_NAME.get(ours.field);
  if (!def) { c.problem(p, `no definition for ${ours.field}`); return; }
  const cmp = (q: string, o: unknown, x: J) => {
    if (def.kind === 'mac') mac(c, q, o, x);
    else if (def.kind === 'ipv4') str(c, q, o, x);
    else if (def.kind === 'ipv6') ip6(c, q, o, x);
    else num(c, q, o, x);
  };
  cmp(`${p}(${ours.field}).value`, ours.value, e.value);
  if (e.mask === null || e.mask === undefined) {
    c.checked++;
    if (ours.mask !== undefined && ours.mask !== null) c.problem(`${p}(${ours.field}).mask`, `ours ${show(ours.mask)}, os-ken none`);
  } else if (ours.mask === undefined || ours.mask === null) {
    c.problem(`${p}(${ours.field}).mask`, `ours none, os-ken ${show(e.mask)}`);
  } else cmp(`${p}(${ours.field}).mask`, ours.mask, e.mask);
}

export function compareMatch(c: Ctx, p: string, ours: Oxm[], j: J): void {
  const u = expectClass(c, p, j, 'OFPMatch');
  if (!u) return;
  const e = u[1];
  num(c, `${p}.type`, 1, e.type); // OFPMT_OXM: ours only models OXM matches
  // length: the unpadded ofp_match length, as our encoder writes it.
  const w = new Writer(64);
  encodeMatch(w, ours);
  num(c, `${p}.length`, w.buf.readUInt16BE(2), e.length);
  list(c, `${p}.oxm_fields`, ours, e.oxm_fields, compareOxm);
}

// ---------------------------------------------------------------------------
// actions

const SIMPLE_ACTIONS: Record<string, Action['type']> = {
  OFPActionCopyTtlOut: 'copy_ttl_out', OFPActionCopyTtlIn: 'copy_ttl_in', OFPActionDecMplsTtl: 'dec_mpls_ttl',
  OFPActionPopVlan: 'pop_vlan', OFPActionDecNwTtl: 'dec_nw_ttl', OFPActionPopPbb: 'pop_pbb',
};
const ETHERTYPE_ACTIONS: Record<string, Action['type']> = {
  OFPActionPushVlan: 'push_vlan', OFPActionPushMpls: 'push_mpls', OFPActionPopMpls: 'pop_mpls', OFPActionPushPbb: 'push_pbb',
};
/** Nicira actions we keep as opaque `{type:'nx', subtype, data}`: compare only the subtype. */
const OPAQUE_NX = new Set([
  'NXActionLearn', 'NXActionSample', 'NXActionSample2', 'NXActionStackPush', 'NXActionStackPop', 'NXActionController2',
]);

/** os-ken NXM/OXM field-reference names (reg_load dst, reg_move src/dst, ct zone_src) to ours. */
/**
 * os-ken's names for NXM headers that have no OXM twin in our field table
 * (NXM_OF_* of class 0, and the class 1 NXM_NX_* ones OVS keeps beside their
 * OXM twins); our codec names them field:<class>:<code> in hex.
 */
const NXM_HEADER_NAME: Record<string, string> = {
  ...Object.fromEntries([
    'in_port_nxm', 'eth_dst_nxm', 'eth_src_nxm', 'eth_type_nxm', 'vlan_tci', 'nw_tos', 'ip_proto_nxm', 'ipv4_src_nxm', 'ipv4_dst_nxm',
    'tcp_src_nxm', 'tcp_dst_nxm', 'udp_src_nxm', 'udp_dst_nxm', 'icmpv4_type_nxm', 'icmpv4_code_nxm', 'arp_op_nxm', 'arp_spa_nxm', 'arp_tpa_nxm',
  ].map((n, code) => [n, `field:0:${code.toString(16)}`])),
  ...Object.fromEntries([
    'tunnel_id_nxm', 'arp_sha_nxm', 'arp_tha_nxm', 'ipv6_src_nxm', 'ipv6_dst_nxm', 'icmpv6_type_nxm', 'icmpv6_code_nxm', 'nd_target', 'nd_sll',
    'nd_tll', 'ip_frag', 'ipv6_label', 'ip_ecn_nxm', 'nw_ttl', 'mpls_ttl',
  ].map((n, i) => [n, `field:1:${(16 + i).toString(16)}`])),
};

/** Our name for the field an os-ken NXM header (reg_load, reg_move, ct zone_src) names. */
function fieldRef(name: string): string {
  return NXM_HEADER_NAME[name] ?? OXM_NAME[name] ?? name;
}

export function compareAction(c: Ctx, p: string, ours: Action, j: J): void {
  const u = unwrap(c, p, j);
  if (!u) return;
  const [cls, e] = u;
  const at = `${p}<${cls}>`;
  const want = (t: Action['type']): boolean => {
    c.checked++;
    if (ours.type !== t) { c.problem(at, `ours type '${ours.type}', expected '${t}' for ${cls}`); return false; }
    return true;
  };
  // Wire header as our encoder writes it: type, len, experimenter, subtype.
  let wire: Buffer | undefined;
  try {
    const w = new Writer(64);
    encodeAction(w, ours);
    wire = Buffer.from(w.finish());
  } catch (err) {
    c.problem(at, `our encoder rejects it: ${(err as Error).message}`);
  }
  if (wire) {
    if (e.type !== undefined) num(c, `${at}.type(wire)`, wire.readUInt16BE(0), e.type);
    if (e.len !== undefined) num(c, `${at}.len(wire)`, wire.readUInt16BE(2), e.len);
    if (e.experimenter !== undefined && wire.length >= 8) num(c, `${at}.experimenter(wire)`, wire.readUInt32BE(4), e.experimenter);
    if (e.subtype !== undefined && wire.length >= 10) num(c, `${at}.subtype(wire)`, wire.readUInt16BE(8), e.subtype);
  }
  const o = ours as any;
  if (SIMPLE_ACTIONS[cls]) { want(SIMPLE_ACTIONS[cls]); return; }
  if (ETHERTYPE_ACTIONS[cls]) { if (want(ETHERTYPE_ACTIONS[cls])) same(c, at, o, e, ['ethertype']); return; }
  if (OPAQUE_NX.has(cls)) {
    if (want('nx')) num(c, `${at}.subtype`, o.subtype, e.subtype);
    return;
  }
  switch (cls) {
    case 'OFPActionOutput': if (want('output')) same(c, at, o, e, ['port', 'max_len']); return;
    case 'OFPActionSetMplsTtl': if (want('set_mpls_ttl')) same(c, at, o, e, ['mpls_ttl']); return;
    case 'OFPActionSetNwTtl': if (want('set_nw_ttl')) same(c, at, o, e, ['nw_ttl']); return;
    case 'OFPActionSetQueue': if (want('set_queue')) same(c, at, o, e, ['queue_id']); return;
    case 'OFPActionGroup': if (want('group')) same(c, at, o, e, ['group_id']); return;
    case 'OFPActionSetField': if (want('set_field')) compareOxm(c, `${at}.field`, o.field, e.field); return;
    case 'OFPActionExperimenterUnknown': if (want('experimenter')) same(c, at, o, e, ['experimenter', 'data']); return;
    case 'NXActionUnknown':
      if (want('nx')) { num(c, `${at}.experimenter`, NX_VENDOR_ID, e.experimenter); same(c, at, o, e, ['subtype', 'data']); }
      return;
    case 'NXActionResubmit':
      if (want('resubmit')) {
        same(c, at, o, e, ['in_port']);
        c.checked++;
        if (o.table !== undefined || o.ct) c.problem(at, `ours has table/ct (${show(o)}), os-ken plain resubmit`);
      }
      return;
    case 'NXActionResubmitTable':
      if (want('resubmit')) { same(c, at, o, e, ['in_port', 'table_id'], { table_id: 'table' }); c.checked++; if (o.ct) c.problem(at, 'ours resubmit is ct'); }
      return;
    case 'NXActionResubmitTableCT':
      if (want('resubmit')) { same(c, at, o, e, ['in_port', 'table_id'], { table_id: 'table' }); c.checked++; if (!o.ct) c.problem(at, 'ours resubmit is not ct'); }
      return;
    case 'NXActionCT':
      if (!want('ct')) return;
      same(c, at, o, e, ['flags', 'recirc_table', 'alg']);
      c.checked++;
      if (e.zone_src === '' || e.zone_src === null) {
        // immediate zone: os-ken keeps the zone value in zone_ofs_nbits
        if (o.zone_src !== undefined) c.problem(`${at}.zone_src`, `ours ${o.zone_src}, os-ken immediate zone`);
        num(c, `${at}.zone`, o.zone ?? 0, e.zone_ofs_nbits);
      } else {
        if (o.zone_src !== fieldRef(e.zone_src)) c.problem(`${at}.zone_src`, `ours ${show(o.zone_src)}, os-ken ${e.zone_src}`);
        num(c, `${at}.zone_ofs_nbits`, ((o.zone_ofs ?? 0) << 6) | ((o.zone_n_bits ?? 16) - 1), e.zone_ofs_nbits);
      }
      list(c, `${at}.actions`, o.actions, e.actions, compareAction);
      return;
    case 'NXActionNAT': {
      if (!want('nat')) return;
      same(c, at, o, e, ['flags']);
      const opt = (ourKey: string, k: string, cmp: (c: Ctx, p: string, a: unknown, b: J) => void) => {
        const x = e[k];
        const absent = x === '' || x === null || x === undefined;
        c.checked++;
        if (absent) { if (o[ourKey] !== undefined) c.problem(`${at}.${ourKey}`, `ours ${show(o[ourKey])}, os-ken absent`); }
        else if (o[ourKey] === undefined) c.problem(`${at}.${ourKey}`, `ours absent, os-ken ${show(x)}`);
        else cmp(c, `${at}.${ourKey}`, o[ourKey], x);
      };
      opt('ipv4_min', 'range_ipv4_min', str);
      opt('ipv4_max', 'range_ipv4_max', str);
      opt('ipv6_min', 'range_ipv6_min', ip6);
      opt('ipv6_max', 'range_ipv6_max', ip6);
      opt('proto_min', 'range_proto_min', num);
      opt('proto_max', 'range_proto_max', num);
      return;
    }
    case 'NXActionCTClear': want('ct_clear'); return;
    case 'NXActionRegLoad':
      if (!want('reg_load')) return;
      c.checked++;
      if (o.dst !== fieldRef(e.dst)) c.problem(`${at}.dst`, `ours ${o.dst}, os-ken ${e.dst}`);
      num(c, `${at}.ofs_nbits`, (o.ofs << 6) | (o.n_bits - 1), e.ofs_nbits);
      num(c, `${at}.value`, o.value, e.value);
      return;
    case 'NXActionRegMove':
      if (!want('reg_move')) return;
      c.checked += 2;
      if (o.src !== fieldRef(e.src_field)) c.problem(`${at}.src`, `ours ${o.src}, os-ken ${e.src_field}`);
      if (o.dst !== fieldRef(e.dst_field)) c.problem(`${at}.dst`, `ours ${o.dst}, os-ken ${e.dst_field}`);
      same(c, at, o, e, ['n_bits', 'src_ofs', 'dst_ofs']);
      return;
    case 'NXActionConjunction': if (want('conjunction')) same(c, at, o, e, ['clause', 'n_clauses', 'id']); return;
    case 'NXActionDecTtlCntIds': if (want('dec_ttl_cnt_ids')) numList(c, `${at}.ids`, o.ids, e.cnt_ids); return;
    case 'NXActionController': if (want('controller')) same(c, at, o, e, ['max_len', 'controller_id', 'reason']); return;
    case 'NXActionNote': if (want('note')) bytes(c, `${at}.note`, o.note, e.note); return;
    case 'NXActionOutputTrunc': if (want('output_trunc')) same(c, at, o, e, ['port', 'max_len']); return;
    case 'NXActionFinTimeout': if (want('fin_timeout')) same(c, at, o, e, ['fin_idle_timeout', 'fin_hard_timeout']); return;
    case 'NXActionDecTtl': want('dec_ttl'); return;
    case 'NXActionExit': want('exit'); return;
  }
  c.problem(at, `no mapping for os-ken action class ${cls} (ours ${ours.type})`);
}

// ---------------------------------------------------------------------------
// instructions

export function compareInstruction(c: Ctx, p: string, ours: Instruction, j: J): void {
  const u = unwrap(c, p, j);
  if (!u) return;
  const [cls, e] = u;
  const at = `${p}<${cls}>`;
  try {
    const w = new Writer(64);
    encodeInstructions(w, [ours]);
    const wire = w.finish();
    if (e.type !== undefined) num(c, `${at}.type(wire)`, wire.readUInt16BE(0), e.type);
    if (e.len !== undefined) num(c, `${at}.len(wire)`, wire.readUInt16BE(2), e.len);
  } catch (err) {
    c.problem(at, `our encoder rejects it: ${(err as Error).message}`);
  }
  const o = ours as any;
  const want = (...t: Instruction['type'][]) => {
    c.checked++;
    if (!t.includes(ours.type)) { c.problem(at, `ours '${ours.type}', expected ${t.join('|')}`); return false; }
    return true;
  };
  switch (cls) {
    case 'OFPInstructionActions': {
      const t = ({ 3: 'write_actions', 4: 'apply_actions', 5: 'clear_actions' } as Record<number, Instruction['type']>)[e.type];
      if (!t) { c.problem(at, `os-ken actions instruction type ${e.type}`); return; }
      if (!want(t)) return;
      if (t === 'clear_actions') { c.checked++; if (Array.isArray(e.actions) && e.actions.length) c.problem(at, 'os-ken clear_actions has actions'); return; }
      list(c, `${at}.actions`, o.actions, e.actions, compareAction);
      return;
    }
    case 'OFPInstructionGotoTable': if (want('goto_table')) same(c, at, o, e, ['table_id']); return;
    case 'OFPInstructionWriteMetadata': if (want('write_metadata')) same(c, at, o, e, ['metadata', 'metadata_mask']); return;
    case 'OFPInstructionMeter': if (want('meter')) same(c, at, o, e, ['meter_id']); return;
  }
  c.problem(at, `no mapping for os-ken instruction class ${cls}`);
}

// ---------------------------------------------------------------------------
// shared structures

const PORT_KEYS = ['port_no', 'hw_addr', 'name', 'config', 'state', 'curr', 'advertised', 'supported', 'peer', 'curr_speed', 'max_speed'];

export function comparePort(c: Ctx, p: string, ours: Port, j: J): void {
  const u = expectClass(c, p, j, 'OFPPort');
  if (!u) return;
  const e = u[1];
  same(c, p, ours as unknown as Record<string, unknown>, e, PORT_KEYS.filter((k) => k !== 'hw_addr'));
  mac(c, `${p}.hw_addr`, ours.hw_addr, e.hw_addr);
}

function compareBucket(c: Ctx, p: string, ours: Bucket, j: J): void {
  const u = expectClass(c, p, j, 'OFPBucket');
  if (!u) return;
  const e = u[1];
  same(c, p, ours as unknown as Record<string, unknown>, e, ['weight', 'watch_port', 'watch_group']);
  const w = new Writer(64);
  encodeBuckets(w, [ours]);
  if (e.len !== undefined) num(c, `${p}.len(wire)`, w.buf.readUInt16BE(0), e.len);
  list(c, `${p}.actions`, ours.actions, e.actions, compareAction);
}

const BAND_CLASS: Record<string, MeterBand['type']> = {
  OFPMeterBandDrop: 'drop', OFPMeterBandDscpRemark: 'dscp_remark', OFPMeterBandExperimenter: 'experimenter',
};

function compareBand(c: Ctx, p: string, ours: MeterBand, j: J): void {
  const u = unwrap(c, p, j);
  if (!u) return;
  const [cls, e] = u;
  const at = `${p}<${cls}>`;
  c.checked++;
  if (BAND_CLASS[cls] !== ours.type) { c.problem(at, `ours '${ours.type}', os-ken ${cls}`); return; }
  const w = new Writer(32);
  encodeBands(w, [ours]);
  num(c, `${at}.type(wire)`, w.buf.readUInt16BE(0), e.type);
  num(c, `${at}.len(wire)`, w.buf.readUInt16BE(2), e.len);
  const keys = ['rate', 'burst_size'];
  if (ours.type === 'dscp_remark') keys.push('prec_level');
  if (ours.type === 'experimenter') keys.push('experimenter');
  same(c, at, ours as unknown as Record<string, unknown>, e, keys);
}

function compareQueue(c: Ctx, p: string, ours: PacketQueue, j: J): void {
  const u = expectClass(c, p, j, 'OFPPacketQueue');
  if (!u) return;
  const e = u[1];
  same(c, p, ours as unknown as Record<string, unknown>, e, ['queue_id', 'port']);
  const w = new Writer(64);
  encodeQueues(w, [ours]);
  num(c, `${p}.len(wire)`, w.buf.readUInt16BE(8), e.len);
  list(c, `${p}.properties`, ours.properties, e.properties, (c2, q, o, x) => {
    const v = unwrap(c2, q, x);
    if (!v) return;
    const [cls, b] = v;
    const want = ({ OFPQueuePropMinRate: 'min_rate', OFPQueuePropMaxRate: 'max_rate', OFPQueuePropExperimenter: 'experimenter' } as Record<string, string>)[cls];
    c2.checked++;
    if (want !== o.type) { c2.problem(q, `ours '${o.type}', os-ken ${cls}`); return; }
    num(c2, `${q}.property`, { min_rate: 1, max_rate: 2, experimenter: 0xffff }[o.type], b.property);
    if (o.type === 'experimenter') same(c2, q, o as unknown as Record<string, unknown>, b, ['experimenter', 'data']);
    else same(c2, q, o as unknown as Record<string, unknown>, b, ['rate']);
  });
}

// ---------------------------------------------------------------------------
// table features

function compareTableFeatures(c: Ctx, p: string, ours: TableFeatures, j: J): void {
  const u = expectClass(c, p, j, 'OFPTableFeaturesStats');
  if (!u) return;
  const e = u[1];
  same(c, p, ours as unknown as Record<string, unknown>, e, ['table_id', 'name', 'metadata_match', 'metadata_write', 'config', 'max_entries']);
  list(c, `${p}.properties`, ours.properties, e.properties, compareTfProp);
}

function compareTfProp(c: Ctx, p: string, ours: TableFeatureProp, j: J): void {
  const u = unwrap(c, p, j);
  if (!u) return;
  const [cls, e] = u;
  const at = `${p}<${cls}>`;
  num(c, `${at}.type`, ours.type, e.type);
  const kind = ({
    OFPTableFeaturePropInstructions: 'instructions', OFPTableFeaturePropActions: 'actions',
    OFPTableFeaturePropNextTables: 'next_tables', OFPTableFeaturePropOxm: 'oxm', OFPTableFeaturePropExperimenter: 'experimenter',
  } as Record<string, string>)[cls];
  c.checked++;
  if (kind !== ours.kind) { c.problem(at, `ours kind '${ours.kind}', os-ken ${cls}`); return; }
  switch (ours.kind) {
    case 'instructions': case 'actions': {
      const ids = ours.kind === 'instructions' ? e.instruction_ids : e.action_ids;
      const idCls = ours.kind === 'instructions' ? 'OFPInstructionId' : 'OFPActionId';
      list(c, `${at}.ids`, ours.ids, ids, (c2, q, o, x) => {
        const v = expectClass(c2, q, x, idCls);
        if (!v) return;
        num(c2, `${q}.type`, o.type, v[1].type);
        num(c2, `${q}.len`, 4 + (o.data?.length ?? 0), v[1].len);
      });
      return;
    }
    case 'next_tables': numList(c, `${at}.table_ids`, ours.table_ids, e.table_ids); return;
    case 'oxm':
      list(c, `${at}.oxm_ids`, ours.oxm_ids, e.oxm_ids, (c2, q, o, x) => {
        const v = expectClass(c2, q, x, 'OFPOxmId');
        if (!v) return;
        const b = v[1];
        const cls16 = o.header >>> 16;
        const field = (o.header >>> 9) & 0x7f;
        num(c2, `${q}.hasmask`, (o.header >>> 8) & 1, b.hasmask);
        num(c2, `${q}.length`, o.header & 0xff, b.length);
        const def = OXM_BY_NAME.get(OXM_NAME[b.type] ?? b.type);
        c2.checked++;
        if (!def) { c2.problem(q, `os-ken OXM id ${b.type} unknown to our field table (ours header 0x${o.header.toString(16)})`); return; }
        if (def.oxmClass !== cls16 || def.field !== field || (cls16 === OFPXMC_EXPERIMENTER && def.experimenter !== o.experimenter)) {
          c2.problem(q, `ours header 0x${(o.header >>> 0).toString(16)} is not ${b.type}`);
        }
      });
      return;
    case 'experimenter': {
      same(c, at, ours as unknown as Record<string, unknown>, e, ['experimenter', 'exp_type']);
      // os-ken lists the experimenter data as u32 words
      const d = ours.data;
      c.checked++;
      if (d.length % 4) { c.problem(`${at}.data`, `ours ${d.length} bytes, not whole u32 words`); return; }
      const words: number[] = [];
      for (let i = 0; i < d.length; i += 4) words.push(d.readUInt32BE(i));
      numList(c, `${at}.data`, words, e.data);
      return;
    }
  }
}

// ---------------------------------------------------------------------------
// ONF flow monitor (an experimenter multipart in ours)

export const ONF_ET_FLOW_MONITOR = 1870;

/** Parse onf_flow_monitor_request records from our experimenter multipart data. */
function compareOnfFlowMonitor(c: Ctx, p: string, data: Buffer, exp: J): void {
  const r = new Reader(data);
  const recs: { id: number; flags: number; match_len: number; out_port: number; table_id: number; fields: Oxm[] }[] = [];
  try {
    while (r.remaining > 0) {
      const id = r.u32(); const flags = r.u16(); const match_len = r.u16(); const out_port = r.u32(); const table_id = r.u8();
      r.skip(3);
      const m = r.sub(match_len, 'onf flow monitor match');
      const fields: Oxm[] = [];
      while (m.remaining > 0) fields.push(decodeOxm(m));
      r.skip(((match_len + 7) & ~7) - match_len);
      recs.push({ id, flags, match_len, out_port, table_id, fields });
    }
  } catch (err) {
    c.problem(p, `cannot parse ONF flow monitor requests from our data: ${(err as Error).message}`);
    return;
  }
  list(c, p, recs, exp, (c2, q, o, x) => {
    const v = expectClass(c2, q, x, 'ONFFlowMonitorRequest');
    if (!v) return;
    same(c2, q, o, v[1], ['id', 'flags', 'match_len', 'out_port', 'table_id']);
    compareMatch(c2, `${q}.match`, o.fields, v[1].match);
  });
}

// ---------------------------------------------------------------------------
// packet data given as os-ken's parsed Packet (ethernet / ipv4 / icmp echo)

function comparePacket(c: Ctx, p: string, data: Buffer, j: J): void {
  const protos: J[] = j.protocols;
  if (!Array.isArray(protos)) { c.problem(p, 'Packet without protocols'); return; }
  const r = new Reader(data);
  try {
    let next = '';
    for (const [i, pj] of protos.entries()) {
      const [name, b] = Object.entries(pj as Record<string, J>)[0];
      const q = `${p}.protocols[${i}].${name}`;
      if (i > 0 && name !== next) { c.problem(q, `our bytes carry ${next || 'nothing known'} here`); return; }
      if (name === 'ethernet') {
        mac(c, `${q}.dst`, macStr(r.bytes(6)), b.dst);
        mac(c, `${q}.src`, macStr(r.bytes(6)), b.src);
        const et = r.u16();
        num(c, `${q}.ethertype`, et, b.ethertype);
        next = et === 0x0800 ? 'ipv4' : '';
      } else if (name === 'ipv4') {
        const vh = r.u8();
        num(c, `${q}.version`, vh >> 4, b.version);
        num(c, `${q}.header_length`, vh & 15, b.header_length);
        num(c, `${q}.tos`, r.u8(), b.tos);
        num(c, `${q}.total_length`, r.u16(), b.total_length);
        num(c, `${q}.identification`, r.u16(), b.identification);
        const fo = r.u16();
        num(c, `${q}.flags`, fo >> 13, b.flags);
        num(c, `${q}.offset`, fo & 0x1fff, b.offset);
        num(c, `${q}.ttl`, r.u8(), b.ttl);
        const proto = r.u8();
        num(c, `${q}.proto`, proto, b.proto);
        num(c, `${q}.csum`, r.u16(), b.csum);
        str(c, `${q}.src`, [...r.bytes(4)].join('.'), b.src);
        str(c, `${q}.dst`, [...r.bytes(4)].join('.'), b.dst);
        if ((vh & 15) > 5) r.skip(((vh & 15) - 5) * 4);
        else { c.checked++; if (b.option !== null && b.option !== undefined) c.problem(`${q}.option`, `os-ken ${show(b.option)}, ours none`); }
        next = proto === 1 ? 'icmp' : '';
      } else if (name === 'icmp') {
        const type = r.u8();
        num(c, `${q}.type`, type, b.type);
        num(c, `${q}.code`, r.u8(), b.code);
        num(c, `${q}.csum`, r.u16(), b.csum);
        if ((type === 8 || type === 0) && b.data && b.data.echo) {
          num(c, `${q}.data.echo.id`, r.u16(), b.data.echo.id);
          num(c, `${q}.data.echo.seq`, r.u16(), b.data.echo.seq);
          bytes(c, `${q}.data.echo.data`, Buffer.from(r.rest()), b.data.echo.data);
        } else c.skipped.push(`${q}.data: only ICMP echo bodies are compared`);
        next = '';
      } else {
        c.skipped.push(`${q}: protocol ${name} not parsed by the test`);
        return;
      }
    }
    c.checked++;
    if (r.remaining > 0) c.problem(p, `${r.remaining} bytes left after the protocols os-ken lists`);
  } catch (err) {
    c.problem(p, `our data does not parse as os-ken's packet: ${(err as Error).message}`);
  }
}

const macStr = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

// ---------------------------------------------------------------------------
// messages

/** os-ken message class -> our message type (multipart handled below). */
const MSG_TYPE: Record<string, OfpMessage['type']> = {
  OFPHello: 'hello', OFPErrorMsg: 'error', OFPEchoRequest: 'echo_request', OFPEchoReply: 'echo_reply',
  OFPExperimenter: 'experimenter', OFPFeaturesRequest: 'features_request', OFPSwitchFeatures: 'features_reply',
  OFPGetConfigRequest: 'get_config_request', OFPGetConfigReply: 'get_config_reply', OFPSetConfig: 'set_config',
  OFPPacketIn: 'packet_in', OFPFlowRemoved: 'flow_removed', OFPPortStatus: 'port_status', OFPPacketOut: 'packet_out',
  OFPFlowMod: 'flow_mod', OFPGroupMod: 'group_mod', OFPPortMod: 'port_mod', OFPTableMod: 'table_mod',
  OFPBarrierRequest: 'barrier_request', OFPBarrierReply: 'barrier_reply',
  OFPQueueGetConfigRequest: 'queue_get_config_request', OFPQueueGetConfigReply: 'queue_get_config_reply',
  OFPRoleRequest: 'role_request', OFPRoleReply: 'role_reply', OFPGetAsyncRequest: 'get_async_request',
  OFPGetAsyncReply: 'get_async_reply', OFPSetAsync: 'set_async', OFPMeterMod: 'meter_mod',
};

type MpKind = ExperimenterBody['kind'] | 'desc' | 'flow' | 'aggregate' | 'table' | 'port_stats' | 'queue' | 'group'
  | 'group_desc' | 'group_features' | 'meter' | 'meter_config' | 'meter_features' | 'table_features' | 'port_desc';
/** os-ken multipart class stem -> our body kind and OFPMP code. */
const MP: Record<string, [MpKind, number]> = {
  Desc: ['desc', 0], Flow: ['flow', 1], Aggregate: ['aggregate', 2], Table: ['table', 3], Port: ['port_stats', 4],
  Queue: ['queue', 5], Group: ['group', 6], GroupDesc: ['group_desc', 7], GroupFeatures: ['group_features', 8],
  Meter: ['meter', 9], MeterConfig: ['meter_config', 10], MeterFeatures: ['meter_features', 11],
  TableFeatures: ['table_features', 12], PortDesc: ['port_desc', 13], Experimenter: ['experimenter', 0xffff],
};

function mpClass(cls: string): { dir: 'request' | 'reply'; kind: MpKind; code: number } | undefined {
  if (cls === 'ONFFlowMonitorStatsRequest') return { dir: 'request', kind: 'experimenter', code: 0xffff };
  const m = /^OFP(\w+?)Stats(Request|Reply)$/.exec(cls);
  if (!m || !MP[m[1]]) return undefined;
  return { dir: m[2] === 'Request' ? 'request' : 'reply', kind: MP[m[1]][0], code: MP[m[1]][1] };
}

/**
 * Compare our decoded message with os-ken's JSON decoding. Returns the context
 * with problems (empty when they agree), approximations, skips and notes.
 */
export function compareMessage(ours: OfpMessage, osken: unknown, c: Ctx = new Ctx()): Ctx {
  const u = unwrap(c, '$', osken);
  if (!u) return c;
  let [cls, e] = u;
  if (cls === 'OFPTruncatedMessage') {
    c.problem('$', 'os-ken decoded this as a truncated message; ours accepted it');
    return c;
  }
  const p = cls;
  const mp = mpClass(cls);
  const wantType = mp ? (mp.dir === 'request' ? 'multipart_request' : 'multipart_reply') : MSG_TYPE[cls];
  if (!wantType) { c.problem(p, `no mapping for os-ken message class ${cls}`); return c; }
  c.checked++;
  if (ours.type !== wantType) { c.problem(`${p}.type`, `ours '${ours.type}', expected '${wantType}'`); return c; }
  const o = ours as any;
  if (mp) { compareMultipart(c, p, o, e, mp, cls); return c; }
  switch (ours.type) {
    case 'hello': {
      list(c, `${p}.elements`, ours.elements, e.elements, (c2, q, el, x) => {
        const v = unwrap(c2, q, x);
        if (!v) return;
        c2.checked++;
        if (v[0] !== 'OFPHelloElemVersionBitmap' || el.type !== 'versionbitmap') { c2.problem(q, `ours '${el.type}', os-ken ${v[0]}`); return; }
        const versions: number[] = [];
        el.bitmaps.forEach((bm, i) => { for (let b = 0; b < 32; b++) if ((bm >>> b) & 1) versions.push(i * 32 + b); });
        numList(c2, `${q}.versions`, versions, v[1].versions);
        num(c2, `${q}.type`, 1, v[1].type);
        num(c2, `${q}.length`, 4 + 4 * el.bitmaps.length, v[1].length);
      });
      return c;
    }
    case 'error':
      num(c, `${p}.type`, ours.errType, e.type);
      if (ours.errType === 0xffff) {
        num(c, `${p}.exp_type`, ours.code, e.exp_type);
        num(c, `${p}.experimenter`, ours.experimenter, e.experimenter);
      } else num(c, `${p}.code`, ours.code, e.code);
      bytes(c, `${p}.data`, ours.data, e.data);
      return c;
    case 'echo_request': case 'echo_reply': bytes(c, `${p}.data`, ours.data, e.data); return c;
    case 'experimenter': same(c, p, o, e, ['experimenter', 'exp_type', 'data']); return c;
    case 'features_request': case 'get_config_request': case 'barrier_request': case 'barrier_reply': case 'get_async_request':
      return c;
    case 'features_reply': same(c, p, o, e, ['datapath_id', 'n_buffers', 'n_tables', 'auxiliary_id', 'capabilities']); return c;
    case 'get_config_reply': case 'set_config': same(c, p, o, e, ['flags', 'miss_send_len']); return c;
    case 'packet_in':
      same(c, p, o, e, ['buffer_id', 'total_len', 'reason', 'table_id', 'cookie', 'data']);
      compareMatch(c, `${p}.match`, ours.match, e.match);
      return c;
    case 'flow_removed':
      same(c, p, o, e, ['cookie', 'priority', 'reason', 'table_id', 'duration_sec', 'duration_nsec', 'idle_timeout', 'hard_timeout', 'packet_count', 'byte_count']);
      compareMatch(c, `${p}.match`, ours.match, e.match);
      return c;
    case 'port_status': same(c, p, o, e, ['reason']); comparePort(c, `${p}.desc`, ours.desc, e.desc); return c;
    case 'packet_out': {
      same(c, p, o, e, ['buffer_id', 'in_port']);
      const w = new Writer(64);
      for (const a of ours.actions) encodeAction(w, a);
      num(c, `${p}.actions_len(wire)`, w.pos, e.actions_len);
      list(c, `${p}.actions`, ours.actions, e.actions, compareAction);
      if (e.data && typeof e.data === 'object' && !Array.isArray(e.data) && 'Packet' in e.data) comparePacket(c, `${p}.data<Packet>`, ours.data, e.data.Packet);
      else bytes(c, `${p}.data`, ours.data, e.data);
      return c;
    }
    case 'flow_mod':
      same(c, p, o, e, ['cookie', 'cookie_mask', 'table_id', 'command', 'idle_timeout', 'hard_timeout', 'priority', 'buffer_id', 'out_port', 'out_group', 'flags']);
      compareMatch(c, `${p}.match`, ours.match, e.match);
      list(c, `${p}.instructions`, ours.instructions, e.instructions, compareInstruction);
      return c;
    case 'group_mod':
      same(c, p, o, e, ['command', 'type', 'group_id'], { type: 'group_type' });
      list(c, `${p}.buckets`, ours.buckets, e.buckets, compareBucket);
      return c;
    case 'port_mod': same(c, p, o, e, ['port_no', 'config', 'mask', 'advertise']); mac(c, `${p}.hw_addr`, ours.hw_addr, e.hw_addr); return c;
    case 'table_mod': same(c, p, o, e, ['table_id', 'config']); return c;
    case 'queue_get_config_request': same(c, p, o, e, ['port']); return c;
    case 'queue_get_config_reply': same(c, p, o, e, ['port']); list(c, `${p}.queues`, ours.queues, e.queues, compareQueue); return c;
    case 'role_request': case 'role_reply': same(c, p, o, e, ['role', 'generation_id']); return c;
    case 'get_async_reply': case 'set_async': same(c, p, o, e, ['packet_in_mask', 'port_status_mask', 'flow_removed_mask']); return c;
    case 'meter_mod': same(c, p, o, e, ['command', 'flags', 'meter_id']); list(c, `${p}.bands`, ours.bands, e.bands, compareBand); return c;
  }
  c.problem(p, `no comparison for our type ${ours.type}`);
  return c;
}

const FLOW_STATS_KEYS = ['table_id', 'duration_sec', 'duration_nsec', 'priority', 'idle_timeout', 'hard_timeout', 'flags', 'cookie', 'packet_count', 'byte_count'];
const PORT_STATS_KEYS = ['port_no', 'rx_packets', 'tx_packets', 'rx_bytes', 'tx_bytes', 'rx_dropped', 'tx_dropped', 'rx_errors', 'tx_errors',
  'rx_frame_err', 'rx_over_err', 'rx_crc_err', 'collisions', 'duration_sec', 'duration_nsec'];

function compareMultipart(c: Ctx, p: string, o: any, e: J, mp: { dir: 'request' | 'reply'; kind: MpKind; code: number }, cls: string): void {
  num(c, `${p}.flags`, o.flags, e.flags);
  num(c, `${p}.type(code)`, mp.code, e.type);
  const b = o.body;
  c.checked++;
  if (b.kind !== mp.kind) { c.problem(`${p}.body.kind`, `ours '${b.kind}', expected '${mp.kind}'`); return; }
  if (cls === 'ONFFlowMonitorStatsRequest') {
    num(c, `${p}.experimenter`, b.experimenter, e.experimenter);
    num(c, `${p}.experimenter(ONF)`, b.experimenter, ONF_EXPERIMENTER_ID);
    num(c, `${p}.exp_type`, b.exp_type, e.exp_type);
    compareOnfFlowMonitor(c, `${p}.body`, b.data, e.body);
    return;
  }
  if (mp.dir === 'request') {
    switch (b.kind as MpKind) {
      case 'flow': case 'aggregate':
        same(c, p, b, e, ['table_id', 'out_port', 'out_group', 'cookie', 'cookie_mask']);
        compareMatch(c, `${p}.match`, b.match, e.match);
        return;
      case 'port_stats': same(c, p, b, e, ['port_no']); return;
      case 'queue': same(c, p, b, e, ['port_no', 'queue_id']); return;
      case 'group': same(c, p, b, e, ['group_id']); return;
      case 'meter': case 'meter_config': same(c, p, b, e, ['meter_id']); return;
      case 'table_features': list(c, `${p}.body`, b.features, e.body, compareTableFeatures); return;
      case 'experimenter': same(c, p, b, e, ['experimenter', 'exp_type', 'data']); return;
      default: return; // empty bodies
    }
  }
  // replies: os-ken's body is a list, or a single object for one-record bodies
  const one = (cn: string): J | undefined => {
    let x = e.body;
    if (Array.isArray(x)) {
      if (x.length !== 1) { c.problem(`${p}.body`, `os-ken has ${x.length} records, ours one`); return undefined; }
      x = x[0];
    }
    const v = expectClass(c, `${p}.body`, x, cn);
    return v?.[1];
  };
  const many = <T>(ours: T[], cn: string, f: (c: Ctx, q: string, o: T, x: J) => void) =>
    list(c, `${p}.body`, ours, e.body, (c2, q, oo, x) => { const v = expectClass(c2, q, x, cn); if (v) f(c2, `${q}<${cn}>`, oo, v[1]); });
  switch (b.kind as MpKind) {
    case 'desc': { const x = one('OFPDescStats'); if (x) same(c, `${p}.body`, b, x, ['mfr_desc', 'hw_desc', 'sw_desc', 'serial_num', 'dp_desc']); return; }
    case 'aggregate': { const x = one('OFPAggregateStats'); if (x) same(c, `${p}.body`, b, x, ['packet_count', 'byte_count', 'flow_count']); return; }
    case 'group_features': { const x = one('OFPGroupFeaturesStats'); if (x) same(c, `${p}.body`, b, x, ['types', 'capabilities', 'max_groups', 'actions']); return; }
    case 'meter_features': { const x = one('OFPMeterFeaturesStats'); if (x) same(c, `${p}.body`, b, x, ['max_meter', 'band_types', 'capabilities', 'max_bands', 'max_color']); return; }
    case 'experimenter': { const x = one('OFPExperimenterMultipart'); if (x) same(c, `${p}.body`, b, x, ['experimenter', 'exp_type', 'data']); return; }
    case 'flow':
      many(b.stats, 'OFPFlowStats', (c2, q, f: any, x) => {
        same(c2, q, f, x, FLOW_STATS_KEYS);
        compareMatch(c2, `${q}.match`, f.match, x.match);
        list(c2, `${q}.instructions`, f.instructions, x.instructions, compareInstruction);
      });
      return;
    case 'table': many(b.stats, 'OFPTableStats', (c2, q, t: any, x) => same(c2, q, t, x, ['table_id', 'active_count', 'lookup_count', 'matched_count'])); return;
    case 'port_stats': many(b.stats, 'OFPPortStats', (c2, q, s: any, x) => same(c2, q, s, x, PORT_STATS_KEYS)); return;
    case 'queue': many(b.stats, 'OFPQueueStats', (c2, q, s: any, x) => same(c2, q, s, x, ['port_no', 'queue_id', 'tx_bytes', 'tx_packets', 'tx_errors', 'duration_sec', 'duration_nsec'])); return;
    case 'group':
      many(b.stats, 'OFPGroupStats', (c2, q, g: any, x) => {
        same(c2, q, g, x, ['group_id', 'ref_count', 'packet_count', 'byte_count', 'duration_sec', 'duration_nsec']);
        num(c2, `${q}.length`, 40 + 16 * g.bucket_stats.length, x.length);
        list(c2, `${q}.bucket_stats`, g.bucket_stats, x.bucket_stats, (c3, r, bs: any, y) => {
          const v = expectClass(c3, r, y, 'OFPBucketCounter');
          if (v) same(c3, r, bs, v[1], ['packet_count', 'byte_count']);
        });
      });
      return;
    case 'group_desc':
      many(b.stats, 'OFPGroupDescStats', (c2, q, g: any, x) => {
        same(c2, q, g, x, ['type', 'group_id'], { type: 'group_type' });
        list(c2, `${q}.buckets`, g.buckets, x.buckets, compareBucket);
      });
      return;
    case 'meter':
      many(b.stats, 'OFPMeterStats', (c2, q, m: any, x) => {
        same(c2, q, m, x, ['meter_id', 'flow_count', 'packet_in_count', 'byte_in_count', 'duration_sec', 'duration_nsec']);
        num(c2, `${q}.len`, 40 + 16 * m.band_stats.length, x.len);
        list(c2, `${q}.band_stats`, m.band_stats, x.band_stats, (c3, r, bs: any, y) => {
          const v = expectClass(c3, r, y, 'OFPMeterBandStats');
          if (v) same(c3, r, bs, v[1], ['packet_band_count', 'byte_band_count']);
        });
      });
      return;
    case 'meter_config':
      many(b.stats, 'OFPMeterConfigStats', (c2, q, m: any, x) => {
        same(c2, q, m, x, ['flags', 'meter_id']);
        list(c2, `${q}.bands`, m.bands, x.bands, compareBand);
      });
      return;
    case 'table_features': list(c, `${p}.body`, b.features, e.body, compareTableFeatures); return;
    case 'port_desc': list(c, `${p}.body`, b.ports, e.body, comparePort); return;
  }
  c.problem(p, `no comparison for reply kind ${b.kind}`);
}

// ---------------------------------------------------------------------------
// the reverse direction: our message from os-ken JSON (lib-ofctl-* files)

/** Plain JS number from an os-ken integer (throws if it does not fit exactly). */
function n(x: J, what: string): number {
  if (typeof x === 'number' && Number.isSafeInteger(x)) return x;
  throw new Error(`${what}: ${show(x)} is not a safe integer`);
}

/**
 * Build our message from os-ken JSON, for the request classes that carry no match,
 * actions or instructions (what the lib-ofctl-* vectors hold). xid is 0 (os-ken's
 * JSON has none). Throws for classes it does not build.
 */
export function messageFromOsken(osken: unknown): OfpMessage {
  const c = new Ctx();
  const u = unwrap(c, '$', osken);
  if (!u) throw new Error(c.problems.join('; '));
  const [cls, e] = u;
  const xid = 0;
  const mp = mpClass(cls);
  if (mp && mp.dir === 'request') {
    const flags = n(e.flags, 'flags');
    switch (mp.kind) {
      case 'desc': case 'table': case 'group_desc': case 'group_features': case 'meter_features': case 'port_desc':
        return { type: 'multipart_request', xid, flags, body: { kind: mp.kind } };
      case 'port_stats': return { type: 'multipart_request', xid, flags, body: { kind: 'port_stats', port_no: n(e.port_no, 'port_no') } };
      case 'queue': return { type: 'multipart_request', xid, flags, body: { kind: 'queue', port_no: n(e.port_no, 'port_no'), queue_id: n(e.queue_id, 'queue_id') } };
      case 'group': return { type: 'multipart_request', xid, flags, body: { kind: 'group', group_id: n(e.group_id, 'group_id') } };
      case 'meter': case 'meter_config': return { type: 'multipart_request', xid, flags, body: { kind: mp.kind, meter_id: n(e.meter_id, 'meter_id') } };
      case 'table_features':
        if (Array.isArray(e.body) && e.body.length === 0) return { type: 'multipart_request', xid, flags, body: { kind: 'table_features', features: [] } };
        throw new Error('messageFromOsken: table features with a body are not built');
      case 'experimenter':
        if (cls !== 'OFPExperimenterStatsRequest') break;
        return {
          type: 'multipart_request', xid, flags,
          body: { kind: 'experimenter', experimenter: n(e.experimenter, 'experimenter'), exp_type: n(e.exp_type, 'exp_type'), data: Buffer.from(e.data, 'base64') },
        };
      default: break;
    }
    throw new Error(`messageFromOsken: ${cls} not built`);
  }
  switch (cls) {
    case 'OFPFeaturesRequest': return { type: 'features_request', xid };
    case 'OFPGetConfigRequest': return { type: 'get_config_request', xid };
    case 'OFPBarrierRequest': return { type: 'barrier_request', xid };
    case 'OFPBarrierReply': return { type: 'barrier_reply', xid };
    case 'OFPGetAsyncRequest': return { type: 'get_async_request', xid };
    case 'OFPEchoRequest': return { type: 'echo_request', xid, data: Buffer.from(e.data, 'base64') };
    case 'OFPEchoReply': return { type: 'echo_reply', xid, data: Buffer.from(e.data, 'base64') };
    case 'OFPGetConfigReply': return { type: 'get_config_reply', xid, flags: n(e.flags, 'flags'), miss_send_len: n(e.miss_send_len, 'miss_send_len') };
    case 'OFPSetConfig': return { type: 'set_config', xid, flags: n(e.flags, 'flags'), miss_send_len: n(e.miss_send_len, 'miss_send_len') };
    case 'OFPQueueGetConfigRequest': return { type: 'queue_get_config_request', xid, port: n(e.port, 'port') };
    case 'OFPTableMod': return { type: 'table_mod', xid, table_id: n(e.table_id, 'table_id'), config: n(e.config, 'config') };
    case 'OFPRoleRequest': case 'OFPRoleReply':
      return { type: cls === 'OFPRoleRequest' ? 'role_request' : 'role_reply', xid, role: n(e.role, 'role'), generation_id: BigInt(e.generation_id) };
    case 'OFPExperimenter':
      return { type: 'experimenter', xid, experimenter: n(e.experimenter, 'experimenter'), exp_type: n(e.exp_type, 'exp_type'), data: Buffer.from(e.data, 'base64') };
  }
  throw new Error(`messageFromOsken: ${cls} not built`);
}

/** Classes messageFromOsken can build (for choosing where to run the reverse check). */
export function canBuildFromOsken(osken: unknown): boolean {
  try {
    messageFromOsken(osken);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// sensitivity: does the comparison notice a change to each of our fields?

type PathKey = string | number;

function leafPaths(o: unknown, p: PathKey[], out: PathKey[][]): void {
  if (Buffer.isBuffer(o) || o === null || typeof o !== 'object') { out.push(p); return; }
  if (Array.isArray(o)) { o.forEach((x, i) => leafPaths(x, [...p, i], out)); return; }
  for (const k of Object.keys(o)) leafPaths((o as Record<string, unknown>)[k], [...p, k], out);
}

function perturb(v: unknown): unknown {
  if (typeof v === 'number') return v ^ 1;
  if (typeof v === 'bigint') return v ^ 1n;
  if (typeof v === 'boolean') return !v;
  if (typeof v === 'string') return v.endsWith('1') ? `${v.slice(0, -1)}2` : `${v.slice(0, -1)}1`;
  if (Buffer.isBuffer(v)) return v.length ? Buffer.concat([v.subarray(0, -1), Buffer.from([v[v.length - 1] ^ 1])]) : Buffer.from([1]);
  return undefined;
}

/**
 * Decode `bytes` once per leaf field of our message, change that one field, and
 * return the paths whose change compareMessage did NOT report (xid excluded: os-ken's
 * JSON has none). The test checks this list against the fields os-ken does not carry.
 */
export function insensitiveFields(decode: () => OfpMessage, osken: unknown): { path: PathKey[]; message: OfpMessage }[] {
  const paths: PathKey[][] = [];
  leafPaths(decode(), [], paths);
  const out: { path: PathKey[]; message: OfpMessage }[] = [];
  for (const p of paths) {
    if (p[p.length - 1] === 'xid') continue;
    const m = decode();
    let parent: any = m;
    for (const k of p.slice(0, -1)) parent = parent[k];
    const last = p[p.length - 1];
    parent[last] = perturb(parent[last]);
    let c: Ctx;
    try {
      c = compareMessage(m, osken);
    } catch {
      continue; // a crash in the comparison counts as noticed
    }
    if (c.problems.length === 0) out.push({ path: p, message: decode() });
  }
  return out;
}

/** Read the value at a path. */
export function at(o: unknown, p: readonly PathKey[]): any {
  let x: any = o;
  for (const k of p) x = x?.[k];
  return x;
}
