// Actions (OpenFlow 1.3.5 §7.2.5) and the Nicira experimenter actions OVS
// implements (ovs-actions(7); wire layouts from OVS lib/ofp-actions.c).
// One internal form per action; unknown experimenter actions keep their bytes.
import { Reader, Writer } from './buffer';
import {
  OfDecodeError, OfEncodeError, OFPET_BAD_ACTION, OFPBAC_BAD_LEN, OFPBAC_BAD_TYPE, OFPBAC_BAD_ARGUMENT,
} from './errors';
import { decodeOxm, encodeOxm, Oxm, readFieldHeader, writeFieldHeader, fieldHeaderLen, ipv4ToString, ipv4ToBytes, ipv6ToString, ipv6ToBytes } from './oxm';

export const OFPAT_OUTPUT = 0;
export const OFPAT_COPY_TTL_OUT = 11;
export const OFPAT_COPY_TTL_IN = 12;
export const OFPAT_SET_MPLS_TTL = 15;
export const OFPAT_DEC_MPLS_TTL = 16;
export const OFPAT_PUSH_VLAN = 17;
export const OFPAT_POP_VLAN = 18;
export const OFPAT_PUSH_MPLS = 19;
export const OFPAT_POP_MPLS = 20;
export const OFPAT_SET_QUEUE = 21;
export const OFPAT_GROUP = 22;
export const OFPAT_SET_NW_TTL = 23;
export const OFPAT_DEC_NW_TTL = 24;
export const OFPAT_SET_FIELD = 25;
export const OFPAT_PUSH_PBB = 26;
export const OFPAT_POP_PBB = 27;
export const OFPAT_EXPERIMENTER = 0xffff;

export const NX_VENDOR_ID = 0x00002320;
export const NXAST_RESUBMIT = 1;
export const NXAST_SET_TUNNEL = 2;
export const NXAST_REG_MOVE = 6;
export const NXAST_REG_LOAD = 7;
export const NXAST_NOTE = 8;
export const NXAST_SET_TUNNEL64 = 9;
export const NXAST_RESUBMIT_TABLE = 14;
export const NXAST_OUTPUT_REG = 15;
export const NXAST_LEARN = 16;
export const NXAST_EXIT = 17;
export const NXAST_DEC_TTL = 18;
export const NXAST_FIN_TIMEOUT = 19;
export const NXAST_CONTROLLER = 20;
export const NXAST_DEC_TTL_CNT_IDS = 21;
export const NXAST_WRITE_METADATA = 22;
export const NXAST_REG_LOAD2 = 33;
export const NXAST_CONJUNCTION = 34;
export const NXAST_CT = 35;
export const NXAST_NAT = 36;
export const NXAST_CONTROLLER2 = 37;
export const NXAST_OUTPUT_TRUNC = 39;
export const NXAST_CT_CLEAR = 43;
export const NXAST_RESUBMIT_TABLE_CT = 44;

// ports (§7.2.1)
export const OFPP_MAX = 0xffffff00;
export const OFPP_IN_PORT = 0xfffffff8;
export const OFPP_TABLE = 0xfffffff9;
export const OFPP_NORMAL = 0xfffffffa;
export const OFPP_FLOOD = 0xfffffffb;
export const OFPP_ALL = 0xfffffffc;
export const OFPP_CONTROLLER = 0xfffffffd;
export const OFPP_LOCAL = 0xfffffffe;
export const OFPP_ANY = 0xffffffff;
export const OFPCML_NO_BUFFER = 0xffff;

// NXAST_NAT flags and range bits.
export const NX_NAT_F_SRC = 1;
export const NX_NAT_F_DST = 2;
export const NX_NAT_F_PERSISTENT = 4;
export const NX_NAT_F_PROTO_HASH = 8;
export const NX_NAT_F_PROTO_RANDOM = 16;
// NXAST_CT flags.
export const NX_CT_F_COMMIT = 1;
export const NX_CT_F_FORCE = 2;

export type Action =
  | { type: 'output'; port: number; max_len?: number }
  | { type: 'copy_ttl_out' } | { type: 'copy_ttl_in' }
  | { type: 'set_mpls_ttl'; mpls_ttl: number } | { type: 'dec_mpls_ttl' }
  | { type: 'push_vlan'; ethertype: number } | { type: 'pop_vlan' }
  | { type: 'push_mpls'; ethertype: number } | { type: 'pop_mpls'; ethertype: number }
  | { type: 'set_queue'; queue_id: number } | { type: 'group'; group_id: number }
  | { type: 'set_nw_ttl'; nw_ttl: number } | { type: 'dec_nw_ttl' }
  | { type: 'set_field'; field: Oxm }
  | { type: 'push_pbb'; ethertype: number } | { type: 'pop_pbb' }
  | { type: 'experimenter'; experimenter: number; data: Buffer }
  // Nicira extensions
  | { type: 'resubmit'; in_port: number; table?: number; ct?: boolean }
  | { type: 'set_tunnel'; tun_id: bigint; wide?: boolean }
  | { type: 'reg_move'; src: string; src_ofs: number; dst: string; dst_ofs: number; n_bits: number }
  | { type: 'reg_load'; dst: string; ofs: number; n_bits: number; value: bigint }
  | { type: 'reg_load2'; field: Oxm }
  | { type: 'note'; note: Buffer }
  | { type: 'output_reg'; src: string; ofs: number; n_bits: number; max_len: number }
  | { type: 'exit' }
  /** NXAST_DEC_TTL: OpenFlow 1.0/1.1 only; OVS rejects it in 1.3 (use dec_nw_ttl, which OVS prints as dec_ttl). */
  | { type: 'dec_ttl' }
  | { type: 'dec_ttl_cnt_ids'; ids: number[] }
  | { type: 'fin_timeout'; fin_idle_timeout: number; fin_hard_timeout: number }
  | { type: 'controller'; max_len: number; controller_id: number; reason: number }
  | { type: 'write_metadata_nx'; metadata: bigint; mask: bigint }
  | { type: 'conjunction'; clause: number; n_clauses: number; id: number }
  | CtAction
  | NatAction
  | { type: 'ct_clear' }
  | { type: 'output_trunc'; port: number; max_len: number }
  /** Any other Nicira action (learn, sample, stack, controller2, ...): bytes after the subtype. */
  | { type: 'nx'; subtype: number; data: Buffer };

export interface CtAction {
  type: 'ct';
  flags: number;
  /** Zone from a field (zone_src) with bit range, or an immediate zone. */
  zone_src?: string;
  zone_ofs?: number;
  zone_n_bits?: number;
  zone?: number;
  recirc_table: number; // 255 = none
  alg: number;
  actions: Action[];
}

export interface NatAction {
  type: 'nat';
  flags: number;
  ipv4_min?: string; ipv4_max?: string;
  ipv6_min?: string; ipv6_max?: string;
  proto_min?: number; proto_max?: number;
}

export type ActionType = Action['type'];

const SIMPLE8: Record<number, ActionType> = {
  [OFPAT_COPY_TTL_OUT]: 'copy_ttl_out', [OFPAT_COPY_TTL_IN]: 'copy_ttl_in',
  [OFPAT_DEC_MPLS_TTL]: 'dec_mpls_ttl', [OFPAT_POP_VLAN]: 'pop_vlan',
  [OFPAT_DEC_NW_TTL]: 'dec_nw_ttl', [OFPAT_POP_PBB]: 'pop_pbb',
};
const ETHERTYPE: Record<number, ActionType> = {
  [OFPAT_PUSH_VLAN]: 'push_vlan', [OFPAT_PUSH_MPLS]: 'push_mpls', [OFPAT_POP_MPLS]: 'pop_mpls', [OFPAT_PUSH_PBB]: 'push_pbb',
};

const bad = (m: string, code = OFPBAC_BAD_LEN) => new OfDecodeError(m, OFPET_BAD_ACTION, code);

export function decodeActions(r: Reader): Action[] {
  const out: Action[] = [];
  while (r.remaining > 0) out.push(decodeAction(r));
  return out;
}

export function decodeAction(r: Reader): Action {
  if (r.remaining < 4) throw bad('action header truncated');
  const type = r.u16();
  const len = r.u16();
  if (len < 8 || len % 8 !== 0) throw bad(`action type ${type}: length ${len} not a multiple of 8`);
  const a = r.sub(len - 4, `action type ${type}`, OFPET_BAD_ACTION, OFPBAC_BAD_LEN);
  const fixed = (n: number) => { if (len !== n) throw bad(`action type ${type}: length ${len}, expected ${n}`); };
  switch (type) {
    case OFPAT_OUTPUT: fixed(16); { const port = a.u32(); const max_len = a.u16(); return { type: 'output', port, max_len }; }
    case OFPAT_SET_MPLS_TTL: fixed(8); return { type: 'set_mpls_ttl', mpls_ttl: a.u8() };
    case OFPAT_SET_QUEUE: fixed(8); return { type: 'set_queue', queue_id: a.u32() };
    case OFPAT_GROUP: fixed(8); return { type: 'group', group_id: a.u32() };
    case OFPAT_SET_NW_TTL: fixed(8); return { type: 'set_nw_ttl', nw_ttl: a.u8() };
    case OFPAT_SET_FIELD: {
      const field = decodeOxm(a);
      if (a.remaining >= 8) throw bad('set_field: trailing bytes after the OXM');
      return { type: 'set_field', field };
    }
    case OFPAT_EXPERIMENTER: {
      const experimenter = a.u32();
      if (experimenter === NX_VENDOR_ID) return decodeNx(a, len);
      return { type: 'experimenter', experimenter, data: Buffer.from(a.rest()) };
    }
  }
  if (SIMPLE8[type]) { fixed(8); return { type: SIMPLE8[type] } as Action; }
  if (ETHERTYPE[type]) { fixed(8); return { type: ETHERTYPE[type], ethertype: a.u16() } as Action; }
  throw bad(`unknown action type ${type}`, OFPBAC_BAD_TYPE);
}

function decodeNx(a: Reader, len: number): Action {
  const subtype = a.u16();
  const fixed = (n: number) => { if (len !== n) throw bad(`nx action ${subtype}: length ${len}, expected ${n}`); };
  switch (subtype) {
    case NXAST_RESUBMIT: case NXAST_RESUBMIT_TABLE: case NXAST_RESUBMIT_TABLE_CT: {
      fixed(16);
      const in_port = a.u16();
      const table = a.u8();
      if (subtype === NXAST_RESUBMIT) return { type: 'resubmit', in_port };
      return subtype === NXAST_RESUBMIT_TABLE_CT ? { type: 'resubmit', in_port, table, ct: true } : { type: 'resubmit', in_port, table };
    }
    case NXAST_SET_TUNNEL: fixed(16); a.skip(2); return { type: 'set_tunnel', tun_id: BigInt(a.u32()) };
    case NXAST_SET_TUNNEL64: fixed(24); a.skip(6); return { type: 'set_tunnel', tun_id: a.u64(), wide: true };
    case NXAST_REG_MOVE: {
      const n_bits = a.u16(); const src_ofs = a.u16(); const dst_ofs = a.u16();
      const src = readFieldHeader(a); const dst = readFieldHeader(a);
      return { type: 'reg_move', src, src_ofs, dst, dst_ofs, n_bits };
    }
    case NXAST_REG_LOAD: {
      fixed(24);
      const ofsNbits = a.u16(); const dst = readFieldHeader(a); const value = a.u64();
      return { type: 'reg_load', dst, ofs: ofsNbits >> 6, n_bits: (ofsNbits & 0x3f) + 1, value };
    }
    case NXAST_REG_LOAD2: return { type: 'reg_load2', field: decodeOxm(a) };
    case NXAST_NOTE: return { type: 'note', note: Buffer.from(a.rest()) };
    case NXAST_OUTPUT_REG: {
      fixed(24);
      const ofsNbits = a.u16(); const src = readFieldHeader(a); const max_len = a.u16();
      return { type: 'output_reg', src, ofs: ofsNbits >> 6, n_bits: (ofsNbits & 0x3f) + 1, max_len };
    }
    case NXAST_EXIT: fixed(16); return { type: 'exit' };
    case NXAST_DEC_TTL: fixed(16); return { type: 'dec_ttl' };
    case NXAST_FIN_TIMEOUT: fixed(16); return { type: 'fin_timeout', fin_idle_timeout: a.u16(), fin_hard_timeout: a.u16() };
    case NXAST_CONTROLLER: fixed(16); return { type: 'controller', max_len: a.u16(), controller_id: a.u16(), reason: a.u8() };
    case NXAST_DEC_TTL_CNT_IDS: {
      const n = a.u16(); a.skip(4);
      const ids: number[] = [];
      for (let i = 0; i < n; i++) ids.push(a.u16());
      if (a.remaining >= 8) throw bad('dec_ttl: trailing bytes');
      return { type: 'dec_ttl_cnt_ids', ids };
    }
    case NXAST_WRITE_METADATA: fixed(32); a.skip(6); return { type: 'write_metadata_nx', metadata: a.u64(), mask: a.u64() };
    case NXAST_CONJUNCTION: fixed(16); return { type: 'conjunction', clause: a.u8(), n_clauses: a.u8(), id: a.u32() };
    case NXAST_CT: {
      if (len < 24) throw bad('ct: too short');
      const flags = a.u16();
      const zoneSrc = a.u32();
      const zoneVal = a.u16();
      const recirc_table = a.u8();
      a.skip(3);
      const alg = a.u16();
      const nested = decodeActions(a);
      const ct: CtAction = { type: 'ct', flags, recirc_table, alg, actions: nested };
      if (zoneSrc === 0) ct.zone = zoneVal;
      else {
        const hb = Buffer.alloc(4); hb.writeUInt32BE(zoneSrc);
        ct.zone_src = readFieldHeader(new Reader(hb));
        ct.zone_ofs = zoneVal >> 6; ct.zone_n_bits = (zoneVal & 0x3f) + 1;
      }
      return ct;
    }
    case NXAST_NAT: {
      a.skip(2);
      const flags = a.u16();
      const present = a.u16();
      const nat: NatAction = { type: 'nat', flags };
      if (present & 1) nat.ipv4_min = ipv4ToString(a.bytes(4));
      if (present & 2) nat.ipv4_max = ipv4ToString(a.bytes(4));
      if (present & 4) nat.ipv6_min = ipv6ToString(a.bytes(16));
      if (present & 8) nat.ipv6_max = ipv6ToString(a.bytes(16));
      if (present & 16) nat.proto_min = a.u16();
      if (present & 32) nat.proto_max = a.u16();
      if (present & ~63) throw bad('nat: unknown range bits', OFPBAC_BAD_ARGUMENT);
      if (a.remaining >= 8) throw bad('nat: trailing bytes');
      return nat;
    }
    case NXAST_CT_CLEAR: fixed(16); return { type: 'ct_clear' };
    case NXAST_OUTPUT_TRUNC: fixed(16); return { type: 'output_trunc', port: a.u16(), max_len: a.u32() };
  }
  return { type: 'nx', subtype, data: Buffer.from(a.rest()) };
}

export function encodeActions(w: Writer, actions: readonly Action[]): void {
  for (const a of actions) encodeAction(w, a);
}

/** Encode one action; the header length is patched after the body, padded to 8. */
export function encodeAction(w: Writer, a: Action): void {
  const start = w.pos;
  const nx = (subtype: number) => w.u16(OFPAT_EXPERIMENTER).u16(0).u32(NX_VENDOR_ID).u16(subtype);
  switch (a.type) {
    case 'output': w.u16(OFPAT_OUTPUT).u16(16).u32(a.port).u16(a.max_len ?? 0).zeros(6); break;
    case 'copy_ttl_out': w.u16(OFPAT_COPY_TTL_OUT).u16(8).zeros(4); break;
    case 'copy_ttl_in': w.u16(OFPAT_COPY_TTL_IN).u16(8).zeros(4); break;
    case 'dec_mpls_ttl': w.u16(OFPAT_DEC_MPLS_TTL).u16(8).zeros(4); break;
    case 'pop_vlan': w.u16(OFPAT_POP_VLAN).u16(8).zeros(4); break;
    case 'dec_nw_ttl': w.u16(OFPAT_DEC_NW_TTL).u16(8).zeros(4); break;
    case 'pop_pbb': w.u16(OFPAT_POP_PBB).u16(8).zeros(4); break;
    case 'set_mpls_ttl': w.u16(OFPAT_SET_MPLS_TTL).u16(8).u8(a.mpls_ttl).zeros(3); break;
    case 'set_nw_ttl': w.u16(OFPAT_SET_NW_TTL).u16(8).u8(a.nw_ttl).zeros(3); break;
    case 'push_vlan': w.u16(OFPAT_PUSH_VLAN).u16(8).u16(a.ethertype).zeros(2); break;
    case 'push_mpls': w.u16(OFPAT_PUSH_MPLS).u16(8).u16(a.ethertype).zeros(2); break;
    case 'pop_mpls': w.u16(OFPAT_POP_MPLS).u16(8).u16(a.ethertype).zeros(2); break;
    case 'push_pbb': w.u16(OFPAT_PUSH_PBB).u16(8).u16(a.ethertype).zeros(2); break;
    case 'set_queue': w.u16(OFPAT_SET_QUEUE).u16(8).u32(a.queue_id); break;
    case 'group': w.u16(OFPAT_GROUP).u16(8).u32(a.group_id); break;
    case 'set_field': w.u16(OFPAT_SET_FIELD).u16(0); encodeOxm(w, a.field); w.pad(8, start); break;
    case 'experimenter': w.u16(OFPAT_EXPERIMENTER).u16(0).u32(a.experimenter).bytes(a.data); w.pad(8, start); break;
    case 'resubmit':
      if (a.table === undefined && !a.ct) nx(NXAST_RESUBMIT).u16(a.in_port).zeros(4);
      else nx(a.ct ? NXAST_RESUBMIT_TABLE_CT : NXAST_RESUBMIT_TABLE).u16(a.in_port).u8(a.table ?? 255).zeros(3);
      break;
    case 'set_tunnel':
      if (a.wide || a.tun_id > 0xffffffffn) nx(NXAST_SET_TUNNEL64).zeros(6).u64(a.tun_id);
      else nx(NXAST_SET_TUNNEL).zeros(2).u32(Number(a.tun_id));
      break;
    case 'reg_move':
      nx(NXAST_REG_MOVE).u16(a.n_bits).u16(a.src_ofs).u16(a.dst_ofs);
      writeFieldHeader(w, a.src); writeFieldHeader(w, a.dst); w.pad(8, start);
      break;
    case 'reg_load':
      checkBits(a.n_bits, a.ofs);
      nx(NXAST_REG_LOAD).u16((a.ofs << 6) | (a.n_bits - 1));
      if (fieldHeaderLen(a.dst) !== 4) throw new OfEncodeError('reg_load: experimenter field; use reg_load2');
      writeFieldHeader(w, a.dst); w.u64(a.value);
      break;
    case 'reg_load2': nx(NXAST_REG_LOAD2); encodeOxm(w, a.field); w.pad(8, start); break;
    case 'note': nx(NXAST_NOTE).bytes(a.note); w.pad(8, start); break;
    case 'output_reg':
      checkBits(a.n_bits, a.ofs);
      nx(NXAST_OUTPUT_REG).u16((a.ofs << 6) | (a.n_bits - 1));
      writeFieldHeader(w, a.src); w.u16(a.max_len).zeros(6);
      break;
    case 'exit': nx(NXAST_EXIT).zeros(6); break;
    case 'dec_ttl': nx(NXAST_DEC_TTL).zeros(6); break;
    case 'dec_ttl_cnt_ids': nx(NXAST_DEC_TTL_CNT_IDS).u16(a.ids.length).zeros(4); for (const id of a.ids) w.u16(id); w.pad(8, start); break;
    case 'fin_timeout': nx(NXAST_FIN_TIMEOUT).u16(a.fin_idle_timeout).u16(a.fin_hard_timeout).zeros(2); break;
    case 'controller': nx(NXAST_CONTROLLER).u16(a.max_len).u16(a.controller_id).u8(a.reason).u8(0); break;
    case 'write_metadata_nx': nx(NXAST_WRITE_METADATA).zeros(6).u64(a.metadata).u64(a.mask); break;
    case 'conjunction': nx(NXAST_CONJUNCTION).u8(a.clause).u8(a.n_clauses).u32(a.id); break;
    case 'ct': {
      nx(NXAST_CT).u16(a.flags);
      if (a.zone_src !== undefined) {
        checkBits(a.zone_n_bits ?? 16, a.zone_ofs ?? 0);
        if (fieldHeaderLen(a.zone_src) !== 4) throw new OfEncodeError('ct: zone field must have a 4-byte header');
        writeFieldHeader(w, a.zone_src);
        w.u16(((a.zone_ofs ?? 0) << 6) | ((a.zone_n_bits ?? 16) - 1));
      } else {
        w.u32(0).u16(a.zone ?? 0);
      }
      w.u8(a.recirc_table).zeros(3).u16(a.alg);
      encodeActions(w, a.actions);
      break;
    }
    case 'nat': {
      nx(NXAST_NAT).zeros(2).u16(a.flags);
      const present = (a.ipv4_min !== undefined ? 1 : 0) | (a.ipv4_max !== undefined ? 2 : 0) | (a.ipv6_min !== undefined ? 4 : 0)
        | (a.ipv6_max !== undefined ? 8 : 0) | (a.proto_min !== undefined ? 16 : 0) | (a.proto_max !== undefined ? 32 : 0);
      w.u16(present);
      if (a.ipv4_min !== undefined) w.bytes(ipv4ToBytes(a.ipv4_min));
      if (a.ipv4_max !== undefined) w.bytes(ipv4ToBytes(a.ipv4_max));
      if (a.ipv6_min !== undefined) w.bytes(ipv6ToBytes(a.ipv6_min));
      if (a.ipv6_max !== undefined) w.bytes(ipv6ToBytes(a.ipv6_max));
      if (a.proto_min !== undefined) w.u16(a.proto_min);
      if (a.proto_max !== undefined) w.u16(a.proto_max);
      w.pad(8, start);
      break;
    }
    case 'ct_clear': nx(NXAST_CT_CLEAR).zeros(6); break;
    case 'output_trunc': nx(NXAST_OUTPUT_TRUNC).u16(a.port).u32(a.max_len); break;
    case 'nx': nx(a.subtype).bytes(a.data); w.pad(8, start); break;
    default: throw new OfEncodeError(`unknown action ${(a as { type: string }).type}`);
  }
  w.patchU16(start + 2, w.pos - start);
}

function checkBits(nBits: number, ofs: number): void {
  if (!Number.isInteger(nBits) || nBits < 1 || nBits > 64 || !Number.isInteger(ofs) || ofs < 0 || ofs > 1023) {
    throw new OfEncodeError(`bad bit range ofs=${ofs} n_bits=${nBits}`);
  }
}
