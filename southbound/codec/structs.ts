// Shared structures: ofp_port (§7.2.1), buckets (§7.3.4.2), meter bands (§7.3.4.4),
// packet queues (§7.3.5.8). Experimenter queue properties are not padded
// (their length may be odd), as the independent vectors show. Used by several messages and multipart bodies.
import { Reader, Writer } from './buffer';
import { OfDecodeError, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN } from './errors';
import { Action, decodeActions, encodeActions } from './actions';
import { macToBytes, macToString } from './oxm';

export interface Port {
  port_no: number;
  hw_addr: string;
  name: string;
  config: number;
  state: number;
  curr: number;
  advertised: number;
  supported: number;
  peer: number;
  curr_speed: number;
  max_speed: number;
}
export const OFP_PORT_SIZE = 64;
export const OFPPC_PORT_DOWN = 1;
export const OFPPS_LINK_DOWN = 1;

export function decodePort(r: Reader): Port {
  const port_no = r.u32();
  r.skip(4);
  const hw_addr = macToString(r.bytes(6));
  r.skip(2);
  const name = r.str(16);
  return {
    port_no, hw_addr, name, config: r.u32(), state: r.u32(), curr: r.u32(), advertised: r.u32(),
    supported: r.u32(), peer: r.u32(), curr_speed: r.u32(), max_speed: r.u32(),
  };
}

export function encodePort(w: Writer, p: Port): void {
  w.u32(p.port_no).zeros(4).bytes(macToBytes(p.hw_addr)).zeros(2).str(p.name, 16)
    .u32(p.config).u32(p.state).u32(p.curr).u32(p.advertised).u32(p.supported).u32(p.peer)
    .u32(p.curr_speed).u32(p.max_speed);
}

export interface Bucket {
  weight: number;
  watch_port: number;
  watch_group: number;
  actions: Action[];
}

export function decodeBuckets(r: Reader): Bucket[] {
  const out: Bucket[] = [];
  while (r.remaining > 0) {
    const len = r.u16();
    if (len < 16) throw new OfDecodeError(`bucket length ${len} < 16`, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN);
    const b = r.sub(len - 2, 'bucket');
    const weight = b.u16(); const watch_port = b.u32(); const watch_group = b.u32();
    b.skip(4);
    out.push({ weight, watch_port, watch_group, actions: decodeActions(b) });
  }
  return out;
}

export function encodeBuckets(w: Writer, buckets: readonly Bucket[]): void {
  for (const b of buckets) {
    const start = w.pos;
    w.u16(0).u16(b.weight).u32(b.watch_port).u32(b.watch_group).zeros(4);
    encodeActions(w, b.actions);
    w.patchU16(start, w.pos - start);
  }
}

export const OFPMBT_DROP = 1;
export const OFPMBT_DSCP_REMARK = 2;
export const OFPMBT_EXPERIMENTER = 0xffff;

export type MeterBand =
  | { type: 'drop'; rate: number; burst_size: number }
  | { type: 'dscp_remark'; rate: number; burst_size: number; prec_level: number }
  | { type: 'experimenter'; rate: number; burst_size: number; experimenter: number; data: Buffer };

export function decodeBands(r: Reader): MeterBand[] {
  const out: MeterBand[] = [];
  while (r.remaining > 0) {
    const type = r.u16();
    const len = r.u16();
    if (len < 16 || len % 8) throw new OfDecodeError(`meter band length ${len}`, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN);
    const b = r.sub(len - 4, 'meter band');
    const rate = b.u32(); const burst_size = b.u32();
    if (type === OFPMBT_DROP) out.push({ type: 'drop', rate, burst_size });
    else if (type === OFPMBT_DSCP_REMARK) out.push({ type: 'dscp_remark', rate, burst_size, prec_level: b.u8() });
    else if (type === OFPMBT_EXPERIMENTER) out.push({ type: 'experimenter', rate, burst_size, experimenter: b.u32(), data: Buffer.from(b.rest()) });
    else throw new OfDecodeError(`unknown meter band type ${type}`, 12 /* OFPET_METER_MOD_FAILED */, 9 /* OFPMMFC_BAD_BAND */);
  }
  return out;
}

export function encodeBands(w: Writer, bands: readonly MeterBand[]): void {
  for (const b of bands) {
    const start = w.pos;
    if (b.type === 'drop') w.u16(OFPMBT_DROP).u16(16).u32(b.rate).u32(b.burst_size).zeros(4);
    else if (b.type === 'dscp_remark') w.u16(OFPMBT_DSCP_REMARK).u16(16).u32(b.rate).u32(b.burst_size).u8(b.prec_level).zeros(3);
    else { w.u16(OFPMBT_EXPERIMENTER).u16(0).u32(b.rate).u32(b.burst_size).u32(b.experimenter).bytes(b.data); w.pad(8, start); }
    w.patchU16(start + 2, w.pos - start);
  }
}

export const OFPQT_MIN_RATE = 1;
export const OFPQT_MAX_RATE = 2;
export const OFPQT_EXPERIMENTER = 0xffff;
export type QueueProp =
  | { type: 'min_rate'; rate: number }
  | { type: 'max_rate'; rate: number }
  | { type: 'experimenter'; experimenter: number; data: Buffer };
export interface PacketQueue { queue_id: number; port: number; properties: QueueProp[] }

export function decodeQueues(r: Reader): PacketQueue[] {
  const out: PacketQueue[] = [];
  while (r.remaining > 0) {
    const queue_id = r.u32(); const port = r.u32(); const len = r.u16();
    r.skip(6);
    if (len < 16) throw new OfDecodeError(`packet queue length ${len}`, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN);
    const q = r.sub(len - 16, 'packet queue');
    const properties: QueueProp[] = [];
    while (q.remaining > 0) {
      const type = q.u16(); const plen = q.u16();
      if (plen < 8) throw new OfDecodeError(`queue property length ${plen}`, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN);
      const p = q.sub(plen - 4, 'queue property');
      p.skip(4);
      if (type === OFPQT_MIN_RATE) { properties.push({ type: 'min_rate', rate: p.u16() }); }
      else if (type === OFPQT_MAX_RATE) { properties.push({ type: 'max_rate', rate: p.u16() }); }
      else if (type === OFPQT_EXPERIMENTER) { const experimenter = p.u32(); p.skip(4); properties.push({ type: 'experimenter', experimenter, data: Buffer.from(p.rest()) }); }
      else throw new OfDecodeError(`unknown queue property ${type}`, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN);
    }
    out.push({ queue_id, port, properties });
  }
  return out;
}

export function encodeQueues(w: Writer, queues: readonly PacketQueue[]): void {
  for (const q of queues) {
    const start = w.pos;
    w.u32(q.queue_id).u32(q.port).u16(0).zeros(6);
    for (const p of q.properties) {
      const ps = w.pos;
      if (p.type === 'experimenter') { w.u16(OFPQT_EXPERIMENTER).u16(0).zeros(4).u32(p.experimenter).zeros(4).bytes(p.data); }
      else w.u16(p.type === 'min_rate' ? OFPQT_MIN_RATE : OFPQT_MAX_RATE).u16(16).zeros(4).u16(p.rate).zeros(6);
      w.patchU16(ps + 2, w.pos - ps);
    }
    w.patchU16(start + 8, w.pos - start);
  }
}
