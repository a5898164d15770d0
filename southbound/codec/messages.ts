// OpenFlow 1.3 messages (OpenFlow Switch Specification 1.3.5, §7.1 header,
// §7.3 controller-to-switch, §7.4 asynchronous, §7.5 symmetric).
// Every message decodes and encodes; `decodeMessage(encodeMessage(m))` is m.
import { Reader, Writer } from './buffer';
import {
  OfDecodeError, OfEncodeError, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN, OFPBRC_BAD_TYPE, OFPBRC_BAD_VERSION,
} from './errors';
import { Match, decodeMatch, encodeMatch } from './match';
import { Action, decodeActions, encodeActions } from './actions';
import { Instruction, decodeInstructions, encodeInstructions } from './instructions';
import {
  Port, decodePort, encodePort, Bucket, decodeBuckets, encodeBuckets, MeterBand, decodeBands, encodeBands,
  PacketQueue, decodeQueues, encodeQueues,
} from './structs';
import { macToBytes, macToString } from './oxm';
import {
  MultipartRequestBody, MultipartReplyBody, decodeMultipartRequest, decodeMultipartReply,
  encodeMultipartRequest, encodeMultipartReply,
} from './multipart';

export const OFP_VERSION = 0x04;
export const OFP_HEADER_SIZE = 8;
export const OFP_NO_BUFFER = 0xffffffff;

export const OFPT = {
  HELLO: 0, ERROR: 1, ECHO_REQUEST: 2, ECHO_REPLY: 3, EXPERIMENTER: 4,
  FEATURES_REQUEST: 5, FEATURES_REPLY: 6, GET_CONFIG_REQUEST: 7, GET_CONFIG_REPLY: 8, SET_CONFIG: 9,
  PACKET_IN: 10, FLOW_REMOVED: 11, PORT_STATUS: 12,
  PACKET_OUT: 13, FLOW_MOD: 14, GROUP_MOD: 15, PORT_MOD: 16, TABLE_MOD: 17,
  MULTIPART_REQUEST: 18, MULTIPART_REPLY: 19, BARRIER_REQUEST: 20, BARRIER_REPLY: 21,
  QUEUE_GET_CONFIG_REQUEST: 22, QUEUE_GET_CONFIG_REPLY: 23, ROLE_REQUEST: 24, ROLE_REPLY: 25,
  GET_ASYNC_REQUEST: 26, GET_ASYNC_REPLY: 27, SET_ASYNC: 28, METER_MOD: 29,
} as const;

export const OFPFC_ADD = 0;
export const OFPFC_MODIFY = 1;
export const OFPFC_MODIFY_STRICT = 2;
export const OFPFC_DELETE = 3;
export const OFPFC_DELETE_STRICT = 4;
export const OFPFF_SEND_FLOW_REM = 1;
export const OFPFF_CHECK_OVERLAP = 2;
export const OFPFF_RESET_COUNTS = 4;
export const OFPFF_NO_PKT_COUNTS = 8;
export const OFPFF_NO_BYT_COUNTS = 16;
export const OFPTT_ALL = 0xff;
export const OFPG_ANY = 0xffffffff;
export const OFPG_ALL = 0xfffffffc;
export const OFPPR_ADD = 0;
export const OFPPR_DELETE = 1;
export const OFPPR_MODIFY = 2;
export const OFPMPF_REQ_MORE = 1;
export const OFPMPF_REPLY_MORE = 1;
export const OFPHET_VERSIONBITMAP = 1;

interface H { xid: number }
export type HelloElement = { type: 'versionbitmap'; bitmaps: number[] } | { type: 'unknown'; elemType: number; data: Buffer };

export interface Hello extends H { type: 'hello'; version?: number; elements: HelloElement[] }
export interface ErrorMsg extends H {
  type: 'error'; errType: number; code: number; data: Buffer;
  /** only for errType OFPET_EXPERIMENTER (0xffff): code is exp_type. */
  experimenter?: number;
}
export interface Echo extends H { type: 'echo_request' | 'echo_reply'; data: Buffer }
export interface Experimenter extends H { type: 'experimenter'; experimenter: number; exp_type: number; data: Buffer }
export interface Empty extends H {
  type: 'features_request' | 'get_config_request' | 'barrier_request' | 'barrier_reply' | 'get_async_request';
}
export interface FeaturesReply extends H {
  type: 'features_reply'; datapath_id: bigint; n_buffers: number; n_tables: number; auxiliary_id: number;
  capabilities: number; reserved: number;
}
export interface SwitchConfig extends H { type: 'get_config_reply' | 'set_config'; flags: number; miss_send_len: number }
export interface PacketIn extends H {
  type: 'packet_in'; buffer_id: number; total_len: number; reason: number; table_id: number; cookie: bigint;
  match: Match; data: Buffer;
}
export interface FlowRemoved extends H {
  type: 'flow_removed'; cookie: bigint; priority: number; reason: number; table_id: number;
  duration_sec: number; duration_nsec: number; idle_timeout: number; hard_timeout: number;
  packet_count: bigint; byte_count: bigint; match: Match;
}
export interface PortStatus extends H { type: 'port_status'; reason: number; desc: Port }
export interface PacketOut extends H { type: 'packet_out'; buffer_id: number; in_port: number; actions: Action[]; data: Buffer }
export interface FlowMod extends H {
  type: 'flow_mod'; cookie: bigint; cookie_mask: bigint; table_id: number; command: number;
  idle_timeout: number; hard_timeout: number; priority: number; buffer_id: number;
  out_port: number; out_group: number; flags: number; match: Match; instructions: Instruction[];
}
export interface GroupMod extends H { type: 'group_mod'; command: number; group_type: number; group_id: number; buckets: Bucket[] }
export interface PortMod extends H { type: 'port_mod'; port_no: number; hw_addr: string; config: number; mask: number; advertise: number }
export interface TableMod extends H { type: 'table_mod'; table_id: number; config: number }
export interface MultipartRequest extends H { type: 'multipart_request'; flags: number; body: MultipartRequestBody }
export interface MultipartReply extends H { type: 'multipart_reply'; flags: number; body: MultipartReplyBody }
export interface QueueGetConfigRequest extends H { type: 'queue_get_config_request'; port: number }
export interface QueueGetConfigReply extends H { type: 'queue_get_config_reply'; port: number; queues: PacketQueue[] }
export interface Role extends H { type: 'role_request' | 'role_reply'; role: number; generation_id: bigint }
export interface AsyncConfig extends H {
  type: 'get_async_reply' | 'set_async';
  /** [master/equal, slave] masks. */
  packet_in_mask: [number, number]; port_status_mask: [number, number]; flow_removed_mask: [number, number];
}
export interface MeterMod extends H { type: 'meter_mod'; command: number; flags: number; meter_id: number; bands: MeterBand[] }

export type OfpMessage =
  | Hello | ErrorMsg | Echo | Experimenter | Empty | FeaturesReply | SwitchConfig | PacketIn | FlowRemoved
  | PortStatus | PacketOut | FlowMod | GroupMod | PortMod | TableMod | MultipartRequest | MultipartReply
  | QueueGetConfigRequest | QueueGetConfigReply | Role | AsyncConfig | MeterMod;
export type OfpMessageType = OfpMessage['type'];
/** A message without its xid, as apps and the channel build them. */
export type Outgoing = OfpMessage extends infer M ? M extends OfpMessage ? Omit<M, 'xid'> & { xid?: number } : never : never;

const TYPE_CODE: Record<OfpMessageType, number> = {
  hello: OFPT.HELLO, error: OFPT.ERROR, echo_request: OFPT.ECHO_REQUEST, echo_reply: OFPT.ECHO_REPLY,
  experimenter: OFPT.EXPERIMENTER, features_request: OFPT.FEATURES_REQUEST, features_reply: OFPT.FEATURES_REPLY,
  get_config_request: OFPT.GET_CONFIG_REQUEST, get_config_reply: OFPT.GET_CONFIG_REPLY, set_config: OFPT.SET_CONFIG,
  packet_in: OFPT.PACKET_IN, flow_removed: OFPT.FLOW_REMOVED, port_status: OFPT.PORT_STATUS,
  packet_out: OFPT.PACKET_OUT, flow_mod: OFPT.FLOW_MOD, group_mod: OFPT.GROUP_MOD, port_mod: OFPT.PORT_MOD,
  table_mod: OFPT.TABLE_MOD, multipart_request: OFPT.MULTIPART_REQUEST, multipart_reply: OFPT.MULTIPART_REPLY,
  barrier_request: OFPT.BARRIER_REQUEST, barrier_reply: OFPT.BARRIER_REPLY,
  queue_get_config_request: OFPT.QUEUE_GET_CONFIG_REQUEST, queue_get_config_reply: OFPT.QUEUE_GET_CONFIG_REPLY,
  role_request: OFPT.ROLE_REQUEST, role_reply: OFPT.ROLE_REPLY, get_async_request: OFPT.GET_ASYNC_REQUEST,
  get_async_reply: OFPT.GET_ASYNC_REPLY, set_async: OFPT.SET_ASYNC, meter_mod: OFPT.METER_MOD,
};
export const TYPE_NAME: OfpMessageType[] = [];
for (const [k, v] of Object.entries(TYPE_CODE)) TYPE_NAME[v] = k as OfpMessageType;

export function messageTypeCode(t: OfpMessageType): number {
  return TYPE_CODE[t];
}

/**
 * Decode one complete frame (header included). Throws OfDecodeError with the
 * OFPT_ERROR type/code to answer with.
 */
export function decodeMessage(buf: Buffer): OfpMessage {
  if (buf.length < OFP_HEADER_SIZE) throw new OfDecodeError(`frame of ${buf.length} bytes is shorter than a header`);
  const version = buf[0];
  const code = buf[1];
  const length = buf.readUInt16BE(2);
  const xid = buf.readUInt32BE(4);
  if (length !== buf.length) throw new OfDecodeError(`header length ${length} but frame has ${buf.length} bytes`);
  if (version !== OFP_VERSION && code !== OFPT.HELLO) {
    throw new OfDecodeError(`version ${version} is not OpenFlow 1.3`, OFPET_BAD_REQUEST, OFPBRC_BAD_VERSION);
  }
  const r = new Reader(buf, OFP_HEADER_SIZE, length);
  const type = TYPE_NAME[code];
  if (type === undefined) throw new OfDecodeError(`unknown message type ${code}`, OFPET_BAD_REQUEST, OFPBRC_BAD_TYPE);
  const m = decodeBody(type, xid, r);
  if (type === 'hello' && version !== OFP_VERSION) (m as Hello).version = version;
  // Trailing bytes: only padding up to 7 bytes is tolerated where the spec pads.
  if (r.remaining > 0) throw new OfDecodeError(`${type}: ${r.remaining} trailing bytes`);
  return m;
}

const fixedLen = (r: Reader, n: number, t: string) => {
  if (r.remaining !== n) throw new OfDecodeError(`${t}: body is ${r.remaining} bytes, expected ${n}`, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN);
};

function decodeBody(type: OfpMessageType, xid: number, r: Reader): OfpMessage {
  switch (type) {
    case 'hello': {
      const elements: HelloElement[] = [];
      while (r.remaining > 0) {
        const et = r.u16(); const el = r.u16();
        if (el < 4) throw new OfDecodeError(`hello element length ${el}`);
        const e = r.sub(el - 4, 'hello element');
        if (et === OFPHET_VERSIONBITMAP) {
          if (e.remaining % 4) throw new OfDecodeError('hello version bitmap length not a multiple of 4');
          const bitmaps: number[] = [];
          while (e.remaining) bitmaps.push(e.u32());
          elements.push({ type: 'versionbitmap', bitmaps });
        } else elements.push({ type: 'unknown', elemType: et, data: Buffer.from(e.rest()) });
        const pad = ((el + 7) & ~7) - el;
        r.skip(Math.min(pad, r.remaining));
      }
      return { type, xid, elements };
    }
    case 'error': {
      const errType = r.u16(); const code = r.u16();
      if (errType === 0xffff) { const experimenter = r.u32(); return { type, xid, errType, code, experimenter, data: Buffer.from(r.rest()) }; }
      return { type, xid, errType, code, data: Buffer.from(r.rest()) };
    }
    case 'echo_request': case 'echo_reply': return { type, xid, data: Buffer.from(r.rest()) };
    case 'experimenter': return { type, xid, experimenter: r.u32(), exp_type: r.u32(), data: Buffer.from(r.rest()) };
    case 'features_request': case 'get_config_request': case 'barrier_request': case 'barrier_reply': case 'get_async_request':
      fixedLen(r, 0, type);
      return { type, xid };
    case 'features_reply': {
      fixedLen(r, 24, type);
      const datapath_id = r.u64(); const n_buffers = r.u32(); const n_tables = r.u8(); const auxiliary_id = r.u8();
      r.skip(2);
      return { type, xid, datapath_id, n_buffers, n_tables, auxiliary_id, capabilities: r.u32(), reserved: r.u32() };
    }
    case 'get_config_reply': case 'set_config': fixedLen(r, 4, type); return { type, xid, flags: r.u16(), miss_send_len: r.u16() };
    case 'packet_in': {
      const buffer_id = r.u32(); const total_len = r.u16(); const reason = r.u8(); const table_id = r.u8(); const cookie = r.u64();
      const match = decodeMatch(r);
      r.skip(2);
      return { type, xid, buffer_id, total_len, reason, table_id, cookie, match, data: Buffer.from(r.rest()) };
    }
    case 'flow_removed': {
      const cookie = r.u64(); const priority = r.u16(); const reason = r.u8(); const table_id = r.u8();
      const duration_sec = r.u32(); const duration_nsec = r.u32(); const idle_timeout = r.u16(); const hard_timeout = r.u16();
      const packet_count = r.u64(); const byte_count = r.u64();
      return { type, xid, cookie, priority, reason, table_id, duration_sec, duration_nsec, idle_timeout, hard_timeout, packet_count, byte_count, match: decodeMatch(r) };
    }
    case 'port_status': {
      fixedLen(r, 72, type);
      const reason = r.u8(); r.skip(7);
      return { type, xid, reason, desc: decodePort(r) };
    }
    case 'packet_out': {
      const buffer_id = r.u32(); const in_port = r.u32(); const alen = r.u16(); r.skip(6);
      const actions = decodeActions(r.sub(alen, 'packet_out actions'));
      return { type, xid, buffer_id, in_port, actions, data: Buffer.from(r.rest()) };
    }
    case 'flow_mod': {
      const cookie = r.u64(); const cookie_mask = r.u64(); const table_id = r.u8(); const command = r.u8();
      const idle_timeout = r.u16(); const hard_timeout = r.u16(); const priority = r.u16(); const buffer_id = r.u32();
      const out_port = r.u32(); const out_group = r.u32(); const flags = r.u16(); r.skip(2);
      const match = decodeMatch(r);
      return { type, xid, cookie, cookie_mask, table_id, command, idle_timeout, hard_timeout, priority, buffer_id, out_port, out_group, flags, match, instructions: decodeInstructions(r) };
    }
    case 'group_mod': {
      const command = r.u16(); const group_type = r.u8(); r.skip(1); const group_id = r.u32();
      return { type, xid, command, group_type, group_id, buckets: decodeBuckets(r) };
    }
    case 'port_mod': {
      fixedLen(r, 32, type);
      const port_no = r.u32(); r.skip(4); const hw_addr = macToString(r.bytes(6)); r.skip(2);
      const config = r.u32(); const mask = r.u32(); const advertise = r.u32(); r.skip(4);
      return { type, xid, port_no, hw_addr, config, mask, advertise };
    }
    case 'table_mod': { fixedLen(r, 8, type); const table_id = r.u8(); r.skip(3); return { type, xid, table_id, config: r.u32() }; }
    case 'multipart_request': { const mp = r.u16(); const flags = r.u16(); r.skip(4); return { type, xid, flags, body: decodeMultipartRequest(mp, r) }; }
    case 'multipart_reply': { const mp = r.u16(); const flags = r.u16(); r.skip(4); return { type, xid, flags, body: decodeMultipartReply(mp, r) }; }
    case 'queue_get_config_request': { fixedLen(r, 8, type); const port = r.u32(); r.skip(4); return { type, xid, port }; }
    case 'queue_get_config_reply': { const port = r.u32(); r.skip(4); return { type, xid, port, queues: decodeQueues(r) }; }
    case 'role_request': case 'role_reply': { fixedLen(r, 16, type); const role = r.u32(); r.skip(4); return { type, xid, role, generation_id: r.u64() }; }
    case 'get_async_reply': case 'set_async': {
      fixedLen(r, 24, type);
      return { type, xid, packet_in_mask: [r.u32(), r.u32()], port_status_mask: [r.u32(), r.u32()], flow_removed_mask: [r.u32(), r.u32()] };
    }
    case 'meter_mod': {
      const command = r.u16(); const flags = r.u16(); const meter_id = r.u32();
      return { type, xid, command, flags, meter_id, bands: decodeBands(r) };
    }
  }
}

/** Encode a message into a fresh buffer (header length patched). */
export function encodeMessage(m: OfpMessage): Buffer {
  const w = new Writer(m.type === 'packet_out' || m.type === 'packet_in' ? 64 + m.data.length : 128);
  encodeInto(w, m);
  return w.finish();
}

/**
 * Encode a message at the writer's position; used to batch messages into one
 * buffer. `xid` overrides the message's own (saves copying the message).
 */
export function encodeInto(w: Writer, m: Outgoing, xid: number = m.xid ?? 0): void {
  const start = w.pos;
  const version = m.type === 'hello' && m.version !== undefined ? m.version : OFP_VERSION;
  w.u8(version).u8(TYPE_CODE[m.type]).u16(0).u32(xid);
  encodeBody(w, m);
  const len = w.pos - start;
  if (len > 0xffff) throw new OfEncodeError(`${m.type}: ${len} bytes exceeds the 64 KiB OpenFlow frame limit`);
  w.patchU16(start + 2, len);
}

function encodeBody(w: Writer, m: Outgoing): void {
  switch (m.type) {
    case 'hello':
      for (const e of m.elements) {
        const s = w.pos;
        if (e.type === 'versionbitmap') { w.u16(OFPHET_VERSIONBITMAP).u16(4 + 4 * e.bitmaps.length); for (const b of e.bitmaps) w.u32(b); }
        else { w.u16(e.elemType).u16(4 + e.data.length).bytes(e.data); w.pad(8, s); }
      }
      return;
    case 'error':
      w.u16(m.errType).u16(m.code);
      if (m.errType === 0xffff) w.u32(m.experimenter ?? 0);
      w.bytes(m.data);
      return;
    case 'echo_request': case 'echo_reply': w.bytes(m.data); return;
    case 'experimenter': w.u32(m.experimenter).u32(m.exp_type).bytes(m.data); return;
    case 'features_request': case 'get_config_request': case 'barrier_request': case 'barrier_reply': case 'get_async_request': return;
    case 'features_reply':
      w.u64(m.datapath_id).u32(m.n_buffers).u8(m.n_tables).u8(m.auxiliary_id).zeros(2).u32(m.capabilities).u32(m.reserved);
      return;
    case 'get_config_reply': case 'set_config': w.u16(m.flags).u16(m.miss_send_len); return;
    case 'packet_in':
      w.u32(m.buffer_id).u16(m.total_len).u8(m.reason).u8(m.table_id).u64(m.cookie);
      encodeMatch(w, m.match);
      w.zeros(2).bytes(m.data);
      return;
    case 'flow_removed':
      w.u64(m.cookie).u16(m.priority).u8(m.reason).u8(m.table_id).u32(m.duration_sec).u32(m.duration_nsec)
        .u16(m.idle_timeout).u16(m.hard_timeout).u64(m.packet_count).u64(m.byte_count);
      encodeMatch(w, m.match);
      return;
    case 'port_status': w.u8(m.reason).zeros(7); encodePort(w, m.desc); return;
    case 'packet_out': {
      w.u32(m.buffer_id).u32(m.in_port);
      const at = w.pos;
      w.u16(0).zeros(6);
      const as = w.pos;
      encodeActions(w, m.actions);
      w.patchU16(at, w.pos - as);
      w.bytes(m.data);
      return;
    }
    case 'flow_mod':
      w.u64(m.cookie).u64(m.cookie_mask).u8(m.table_id).u8(m.command).u16(m.idle_timeout).u16(m.hard_timeout)
        .u16(m.priority).u32(m.buffer_id).u32(m.out_port).u32(m.out_group).u16(m.flags).zeros(2);
      encodeMatch(w, m.match);
      encodeInstructions(w, m.instructions);
      return;
    case 'group_mod': w.u16(m.command).u8(m.group_type).zeros(1).u32(m.group_id); encodeBuckets(w, m.buckets); return;
    case 'port_mod':
      w.u32(m.port_no).zeros(4).bytes(macToBytes(m.hw_addr)).zeros(2).u32(m.config).u32(m.mask).u32(m.advertise).zeros(4);
      return;
    case 'table_mod': w.u8(m.table_id).zeros(3).u32(m.config); return;
    case 'multipart_request': encodeMultipartRequest(w, m.flags, m.body); return;
    case 'multipart_reply': encodeMultipartReply(w, m.flags, m.body); return;
    case 'queue_get_config_request': w.u32(m.port).zeros(4); return;
    case 'queue_get_config_reply': w.u32(m.port).zeros(4); encodeQueues(w, m.queues); return;
    case 'role_request': case 'role_reply': w.u32(m.role).zeros(4).u64(m.generation_id); return;
    case 'get_async_reply': case 'set_async':
      w.u32(m.packet_in_mask[0]).u32(m.packet_in_mask[1]).u32(m.port_status_mask[0]).u32(m.port_status_mask[1])
        .u32(m.flow_removed_mask[0]).u32(m.flow_removed_mask[1]);
      return;
    case 'meter_mod': w.u16(m.command).u16(m.flags).u32(m.meter_id); encodeBands(w, m.bands); return;
  }
}

/** A FLOW_MOD with spec defaults filled in. */
export function flowMod(p: Partial<Omit<FlowMod, 'type'>> & { match?: Match; instructions?: Instruction[] }): FlowMod {
  return {
    type: 'flow_mod', xid: 0, cookie: 0n, cookie_mask: 0n, table_id: 0, command: OFPFC_ADD, idle_timeout: 0,
    hard_timeout: 0, priority: 0x8000, buffer_id: OFP_NO_BUFFER, out_port: 0xffffffff, out_group: OFPG_ANY, flags: 0,
    match: [], instructions: [], ...p,
  };
}
