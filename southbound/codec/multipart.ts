// Multipart request/reply bodies (OpenFlow 1.3.5 §7.3.5), every OF1.3 type.
import { Reader, Writer } from './buffer';
import { OfDecodeError, OfEncodeError, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN, OFPBRC_BAD_MULTIPART } from './errors';
import { Match, decodeMatch, encodeMatch } from './match';
import { Instruction, decodeInstructions, encodeInstructions } from './instructions';
import { Port, OFP_PORT_SIZE, decodePort, encodePort, Bucket, decodeBuckets, encodeBuckets, MeterBand, decodeBands, encodeBands } from './structs';

export const OFPMP = {
  DESC: 0, FLOW: 1, AGGREGATE: 2, TABLE: 3, PORT_STATS: 4, QUEUE: 5, GROUP: 6, GROUP_DESC: 7,
  GROUP_FEATURES: 8, METER: 9, METER_CONFIG: 10, METER_FEATURES: 11, TABLE_FEATURES: 12, PORT_DESC: 13,
  EXPERIMENTER: 0xffff,
} as const;

export interface FlowStatsRequest { table_id: number; out_port: number; out_group: number; cookie: bigint; cookie_mask: bigint; match: Match }
export interface FlowStats {
  table_id: number; duration_sec: number; duration_nsec: number; priority: number; idle_timeout: number;
  hard_timeout: number; flags: number; cookie: bigint; packet_count: bigint; byte_count: bigint;
  match: Match; instructions: Instruction[];
}
export interface DescStats { mfr_desc: string; hw_desc: string; sw_desc: string; serial_num: string; dp_desc: string }
export interface TableStats { table_id: number; active_count: number; lookup_count: bigint; matched_count: bigint }
export interface PortStats {
  port_no: number; rx_packets: bigint; tx_packets: bigint; rx_bytes: bigint; tx_bytes: bigint; rx_dropped: bigint;
  tx_dropped: bigint; rx_errors: bigint; tx_errors: bigint; rx_frame_err: bigint; rx_over_err: bigint;
  rx_crc_err: bigint; collisions: bigint; duration_sec: number; duration_nsec: number;
}
export interface QueueStats { port_no: number; queue_id: number; tx_bytes: bigint; tx_packets: bigint; tx_errors: bigint; duration_sec: number; duration_nsec: number }
export interface GroupStats {
  group_id: number; ref_count: number; packet_count: bigint; byte_count: bigint; duration_sec: number;
  duration_nsec: number; bucket_stats: { packet_count: bigint; byte_count: bigint }[];
}
export interface GroupDesc { group_type: number; group_id: number; buckets: Bucket[] }
export interface GroupFeatures { types: number; capabilities: number; max_groups: number[]; actions: number[] }
export interface MeterStats {
  meter_id: number; flow_count: number; packet_in_count: bigint; byte_in_count: bigint; duration_sec: number;
  duration_nsec: number; band_stats: { packet_band_count: bigint; byte_band_count: bigint }[];
}
export interface MeterConfig { flags: number; meter_id: number; bands: MeterBand[] }
export interface MeterFeatures { max_meter: number; band_types: number; capabilities: number; max_bands: number; max_color: number }

/** ofp_table_feature_prop types (§7.3.5.5.2). */
export const OFPTFPT = {
  INSTRUCTIONS: 0, INSTRUCTIONS_MISS: 1, NEXT_TABLES: 2, NEXT_TABLES_MISS: 3, WRITE_ACTIONS: 4,
  WRITE_ACTIONS_MISS: 5, APPLY_ACTIONS: 6, APPLY_ACTIONS_MISS: 7, MATCH: 8, WILDCARDS: 10,
  WRITE_SETFIELD: 12, WRITE_SETFIELD_MISS: 13, APPLY_SETFIELD: 14, APPLY_SETFIELD_MISS: 15,
  EXPERIMENTER: 0xfffe, EXPERIMENTER_MISS: 0xffff,
} as const;
/** An instruction or action id: its type, and any bytes after the 4-byte header (experimenter ids). */
export interface TypeId { type: number; data?: Buffer }
/** An OXM id: the 32-bit OXM header, plus the experimenter id for class 0xffff. */
export interface OxmId { header: number; experimenter?: number }
export type TableFeatureProp =
  | { type: number; kind: 'instructions' | 'actions'; ids: TypeId[] }
  | { type: number; kind: 'next_tables'; table_ids: number[] }
  | { type: number; kind: 'oxm'; oxm_ids: OxmId[] }
  | { type: number; kind: 'experimenter'; experimenter: number; exp_type: number; data: Buffer };
export interface TableFeatures {
  table_id: number; name: string; metadata_match: bigint; metadata_write: bigint; config: number;
  max_entries: number; properties: TableFeatureProp[];
}
export interface ExperimenterBody { kind: 'experimenter'; experimenter: number; exp_type: number; data: Buffer }

export type MultipartRequestBody =
  | { kind: 'desc' } | { kind: 'table' } | { kind: 'group_desc' } | { kind: 'group_features' }
  | { kind: 'meter_features' } | { kind: 'port_desc' }
  | ({ kind: 'flow' } & FlowStatsRequest) | ({ kind: 'aggregate' } & FlowStatsRequest)
  | { kind: 'port_stats'; port_no: number } | { kind: 'queue'; port_no: number; queue_id: number }
  | { kind: 'group'; group_id: number } | { kind: 'meter'; meter_id: number } | { kind: 'meter_config'; meter_id: number }
  | { kind: 'table_features'; features: TableFeatures[] }
  | ExperimenterBody;

export type MultipartReplyBody =
  | ({ kind: 'desc' } & DescStats)
  | { kind: 'flow'; stats: FlowStats[] }
  | { kind: 'aggregate'; packet_count: bigint; byte_count: bigint; flow_count: number }
  | { kind: 'table'; stats: TableStats[] }
  | { kind: 'port_stats'; stats: PortStats[] }
  | { kind: 'queue'; stats: QueueStats[] }
  | { kind: 'group'; stats: GroupStats[] }
  | { kind: 'group_desc'; stats: GroupDesc[] }
  | ({ kind: 'group_features' } & GroupFeatures)
  | { kind: 'meter'; stats: MeterStats[] }
  | { kind: 'meter_config'; stats: MeterConfig[] }
  | ({ kind: 'meter_features' } & MeterFeatures)
  | { kind: 'table_features'; features: TableFeatures[] }
  | { kind: 'port_desc'; ports: Port[] }
  | ExperimenterBody;

type Kind = MultipartRequestBody['kind'];
const KIND_CODE: Record<Kind, number> = {
  desc: 0, flow: 1, aggregate: 2, table: 3, port_stats: 4, queue: 5, group: 6, group_desc: 7, group_features: 8,
  meter: 9, meter_config: 10, meter_features: 11, table_features: 12, port_desc: 13, experimenter: 0xffff,
};
const CODE_KIND = new Map<number, Kind>(Object.entries(KIND_CODE).map(([k, v]) => [v, k as Kind]));

function kindOf(mp: number): Kind {
  const k = CODE_KIND.get(mp);
  if (!k) throw new OfDecodeError(`unknown multipart type ${mp}`, OFPET_BAD_REQUEST, OFPBRC_BAD_MULTIPART);
  return k;
}
const lenErr = (m: string) => new OfDecodeError(m, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN);
const exact = (r: Reader, n: number, what: string) => { if (r.remaining !== n) throw lenErr(`${what}: body ${r.remaining} bytes, expected ${n}`); };
/** Read a list of fixed-size records. */
function fixedList<T>(r: Reader, size: number, what: string, one: (r: Reader) => T): T[] {
  if (r.remaining % size) throw lenErr(`${what}: body ${r.remaining} bytes is not a multiple of ${size}`);
  const out: T[] = [];
  while (r.remaining) out.push(one(r));
  return out;
}
/** Read a list of records that start with their own u16 length. */
function lengthList<T>(r: Reader, what: string, min: number, one: (r: Reader) => T, lenAt = 0): T[] {
  const out: T[] = [];
  while (r.remaining) {
    if (r.remaining < lenAt + 2) throw lenErr(`${what}: truncated`);
    const len = r.buf.readUInt16BE(r.pos + lenAt);
    if (len < min) throw lenErr(`${what}: length ${len} < ${min}`);
    out.push(one(r.sub(len, what)));
  }
  return out;
}

function decodeFlowStatsRequest(r: Reader): FlowStatsRequest {
  const table_id = r.u8(); r.skip(3);
  const out_port = r.u32(); const out_group = r.u32(); r.skip(4);
  const cookie = r.u64(); const cookie_mask = r.u64();
  return { table_id, out_port, out_group, cookie, cookie_mask, match: decodeMatch(r) };
}

export function decodeMultipartRequest(mp: number, r: Reader): MultipartRequestBody {
  const kind = kindOf(mp);
  switch (kind) {
    case 'desc': case 'table': case 'group_desc': case 'group_features': case 'meter_features': case 'port_desc':
      exact(r, 0, kind); return { kind };
    case 'flow': case 'aggregate': { const b = decodeFlowStatsRequest(r); return { kind, ...b }; }
    case 'port_stats': { exact(r, 8, kind); const port_no = r.u32(); r.skip(4); return { kind, port_no }; }
    case 'queue': exact(r, 8, kind); return { kind, port_no: r.u32(), queue_id: r.u32() };
    case 'group': { exact(r, 8, kind); const group_id = r.u32(); r.skip(4); return { kind, group_id }; }
    case 'meter': case 'meter_config': { exact(r, 8, kind); const meter_id = r.u32(); r.skip(4); return { kind, meter_id }; }
    case 'table_features': return { kind, features: lengthList(r, 'table features', 64, decodeTableFeatures) };
    case 'experimenter': return { kind, experimenter: r.u32(), exp_type: r.u32(), data: Buffer.from(r.rest()) };
  }
}

export function decodeMultipartReply(mp: number, r: Reader): MultipartReplyBody {
  const kind = kindOf(mp);
  switch (kind) {
    case 'desc':
      exact(r, 1056, kind);
      return { kind, mfr_desc: r.str(256), hw_desc: r.str(256), sw_desc: r.str(256), serial_num: r.str(32), dp_desc: r.str(256) };
    case 'flow': return { kind, stats: lengthList(r, 'flow stats', 56, decodeFlowStats) };
    case 'aggregate': {
      exact(r, 24, kind);
      const packet_count = r.u64(); const byte_count = r.u64(); const flow_count = r.u32(); r.skip(4);
      return { kind, packet_count, byte_count, flow_count };
    }
    case 'table': return {
      kind, stats: fixedList(r, 24, kind, (t) => {
        const table_id = t.u8(); t.skip(3);
        return { table_id, active_count: t.u32(), lookup_count: t.u64(), matched_count: t.u64() };
      }),
    };
    case 'port_stats': return {
      kind, stats: fixedList(r, 112, kind, (p) => {
        const port_no = p.u32(); p.skip(4);
        return {
          port_no, rx_packets: p.u64(), tx_packets: p.u64(), rx_bytes: p.u64(), tx_bytes: p.u64(), rx_dropped: p.u64(),
          tx_dropped: p.u64(), rx_errors: p.u64(), tx_errors: p.u64(), rx_frame_err: p.u64(), rx_over_err: p.u64(),
          rx_crc_err: p.u64(), collisions: p.u64(), duration_sec: p.u32(), duration_nsec: p.u32(),
        };
      }),
    };
    case 'queue': return {
      kind, stats: fixedList(r, 40, kind, (q) => ({
        port_no: q.u32(), queue_id: q.u32(), tx_bytes: q.u64(), tx_packets: q.u64(), tx_errors: q.u64(),
        duration_sec: q.u32(), duration_nsec: q.u32(),
      })),
    };
    case 'group': return {
      kind, stats: lengthList(r, 'group stats', 40, (g) => {
        g.skip(4);
        const group_id = g.u32(); const ref_count = g.u32(); g.skip(4);
        const packet_count = g.u64(); const byte_count = g.u64(); const duration_sec = g.u32(); const duration_nsec = g.u32();
        const bucket_stats = fixedList(g, 16, 'bucket counter', (b) => ({ packet_count: b.u64(), byte_count: b.u64() }));
        return { group_id, ref_count, packet_count, byte_count, duration_sec, duration_nsec, bucket_stats };
      }),
    };
    case 'group_desc': return {
      kind, stats: lengthList(r, 'group desc', 8, (g) => {
        g.skip(2);
        const group_type = g.u8(); g.skip(1); const group_id = g.u32();
        return { group_type, group_id, buckets: decodeBuckets(g) };
      }),
    };
    case 'group_features': {
      exact(r, 40, kind);
      const types = r.u32(); const capabilities = r.u32();
      const max_groups = [r.u32(), r.u32(), r.u32(), r.u32()];
      const actions = [r.u32(), r.u32(), r.u32(), r.u32()];
      return { kind, types, capabilities, max_groups, actions };
    }
    case 'meter': return {
      kind, stats: lengthList(r, 'meter stats', 40, (m) => {
        const meter_id = m.u32(); m.skip(8);
        const flow_count = m.u32(); const packet_in_count = m.u64(); const byte_in_count = m.u64();
        const duration_sec = m.u32(); const duration_nsec = m.u32();
        const band_stats = fixedList(m, 16, 'meter band stats', (b) => ({ packet_band_count: b.u64(), byte_band_count: b.u64() }));
        return { meter_id, flow_count, packet_in_count, byte_in_count, duration_sec, duration_nsec, band_stats };
      }, 4),
    };
    case 'meter_config': return {
      kind, stats: lengthList(r, 'meter config', 8, (m) => {
        m.skip(2);
        const flags = m.u16(); const meter_id = m.u32();
        return { flags, meter_id, bands: decodeBands(m) };
      }),
    };
    case 'meter_features': {
      exact(r, 16, kind);
      const max_meter = r.u32(); const band_types = r.u32(); const capabilities = r.u32(); const max_bands = r.u8(); const max_color = r.u8();
      r.skip(2);
      return { kind, max_meter, band_types, capabilities, max_bands, max_color };
    }
    case 'table_features': return { kind, features: lengthList(r, 'table features', 64, decodeTableFeatures) };
    case 'port_desc': return { kind, ports: fixedList(r, OFP_PORT_SIZE, kind, decodePort) };
    case 'experimenter': return { kind, experimenter: r.u32(), exp_type: r.u32(), data: Buffer.from(r.rest()) };
  }
}

function decodeFlowStats(f: Reader): FlowStats {
  f.skip(2);
  const table_id = f.u8(); f.skip(1);
  const duration_sec = f.u32(); const duration_nsec = f.u32(); const priority = f.u16(); const idle_timeout = f.u16();
  const hard_timeout = f.u16(); const flags = f.u16(); f.skip(4);
  const cookie = f.u64(); const packet_count = f.u64(); const byte_count = f.u64();
  const match = decodeMatch(f);
  return { table_id, duration_sec, duration_nsec, priority, idle_timeout, hard_timeout, flags, cookie, packet_count, byte_count, match, instructions: decodeInstructions(f) };
}

function decodeTableFeatures(t: Reader): TableFeatures {
  t.skip(2);
  const table_id = t.u8(); t.skip(5);
  const name = t.str(32);
  const metadata_match = t.u64(); const metadata_write = t.u64(); const config = t.u32(); const max_entries = t.u32();
  const properties: TableFeatureProp[] = [];
  while (t.remaining) {
    const type = t.u16(); const len = t.u16();
    if (len < 4) throw lenErr(`table feature property length ${len}`);
    const p = t.sub(len - 4, 'table feature property');
    properties.push(decodeTfProp(type, p));
    t.skip(Math.min(((len + 7) & ~7) - len, t.remaining));
  }
  return { table_id, name, metadata_match, metadata_write, config, max_entries, properties };
}

function decodeTfProp(type: number, p: Reader): TableFeatureProp {
  switch (type) {
    case OFPTFPT.INSTRUCTIONS: case OFPTFPT.INSTRUCTIONS_MISS:
    case OFPTFPT.WRITE_ACTIONS: case OFPTFPT.WRITE_ACTIONS_MISS: case OFPTFPT.APPLY_ACTIONS: case OFPTFPT.APPLY_ACTIONS_MISS: {
      const ids: TypeId[] = [];
      while (p.remaining) {
        const it = p.u16(); const il = p.u16();
        if (il < 4) throw lenErr(`id length ${il}`);
        ids.push(il > 4 ? { type: it, data: Buffer.from(p.bytes(il - 4)) } : { type: it });
      }
      const kind = type <= OFPTFPT.INSTRUCTIONS_MISS ? 'instructions' : 'actions';
      return { type, kind, ids };
    }
    case OFPTFPT.NEXT_TABLES: case OFPTFPT.NEXT_TABLES_MISS: {
      const table_ids: number[] = [];
      while (p.remaining) table_ids.push(p.u8());
      return { type, kind: 'next_tables', table_ids };
    }
    case OFPTFPT.MATCH: case OFPTFPT.WILDCARDS: case OFPTFPT.WRITE_SETFIELD: case OFPTFPT.WRITE_SETFIELD_MISS:
    case OFPTFPT.APPLY_SETFIELD: case OFPTFPT.APPLY_SETFIELD_MISS: {
      const oxm_ids: OxmId[] = [];
      while (p.remaining) {
        const header = p.u32();
        oxm_ids.push(header >>> 16 === 0xffff ? { header, experimenter: p.u32() } : { header });
      }
      return { type, kind: 'oxm', oxm_ids };
    }
    case OFPTFPT.EXPERIMENTER: case OFPTFPT.EXPERIMENTER_MISS:
      return { type, kind: 'experimenter', experimenter: p.u32(), exp_type: p.u32(), data: Buffer.from(p.rest()) };
  }
  throw new OfDecodeError(`unknown table feature property ${type}`, 13 /* OFPET_TABLE_FEATURES_FAILED */, 5 /* OFPTFFC_BAD_ARGUMENT */);
}

function encodeFlowStatsRequest(w: Writer, b: FlowStatsRequest): void {
  w.u8(b.table_id).zeros(3).u32(b.out_port).u32(b.out_group).zeros(4).u64(b.cookie).u64(b.cookie_mask);
  encodeMatch(w, b.match);
}

function header(w: Writer, kind: Kind, flags: number): void {
  w.u16(KIND_CODE[kind]).u16(flags).zeros(4);
}

export function encodeMultipartRequest(w: Writer, flags: number, b: MultipartRequestBody): void {
  header(w, b.kind, flags);
  switch (b.kind) {
    case 'desc': case 'table': case 'group_desc': case 'group_features': case 'meter_features': case 'port_desc': return;
    case 'flow': case 'aggregate': encodeFlowStatsRequest(w, b); return;
    case 'port_stats': w.u32(b.port_no).zeros(4); return;
    case 'queue': w.u32(b.port_no).u32(b.queue_id); return;
    case 'group': w.u32(b.group_id).zeros(4); return;
    case 'meter': case 'meter_config': w.u32(b.meter_id).zeros(4); return;
    case 'table_features': for (const f of b.features) encodeTableFeatures(w, f); return;
    case 'experimenter': w.u32(b.experimenter).u32(b.exp_type).bytes(b.data); return;
  }
  throw new OfEncodeError(`unknown multipart kind ${(b as { kind: string }).kind}`);
}

export function encodeMultipartReply(w: Writer, flags: number, b: MultipartReplyBody): void {
  header(w, b.kind, flags);
  switch (b.kind) {
    case 'desc': w.str(b.mfr_desc, 256).str(b.hw_desc, 256).str(b.sw_desc, 256).str(b.serial_num, 32).str(b.dp_desc, 256); return;
    case 'flow':
      for (const f of b.stats) {
        const s = w.pos;
        w.u16(0).u8(f.table_id).zeros(1).u32(f.duration_sec).u32(f.duration_nsec).u16(f.priority).u16(f.idle_timeout)
          .u16(f.hard_timeout).u16(f.flags).zeros(4).u64(f.cookie).u64(f.packet_count).u64(f.byte_count);
        encodeMatch(w, f.match);
        encodeInstructions(w, f.instructions);
        w.patchU16(s, w.pos - s);
      }
      return;
    case 'aggregate': w.u64(b.packet_count).u64(b.byte_count).u32(b.flow_count).zeros(4); return;
    case 'table': for (const t of b.stats) w.u8(t.table_id).zeros(3).u32(t.active_count).u64(t.lookup_count).u64(t.matched_count); return;
    case 'port_stats':
      for (const p of b.stats) {
        w.u32(p.port_no).zeros(4).u64(p.rx_packets).u64(p.tx_packets).u64(p.rx_bytes).u64(p.tx_bytes).u64(p.rx_dropped)
          .u64(p.tx_dropped).u64(p.rx_errors).u64(p.tx_errors).u64(p.rx_frame_err).u64(p.rx_over_err).u64(p.rx_crc_err)
          .u64(p.collisions).u32(p.duration_sec).u32(p.duration_nsec);
      }
      return;
    case 'queue':
      for (const q of b.stats) w.u32(q.port_no).u32(q.queue_id).u64(q.tx_bytes).u64(q.tx_packets).u64(q.tx_errors).u32(q.duration_sec).u32(q.duration_nsec);
      return;
    case 'group':
      for (const g of b.stats) {
        const s = w.pos;
        w.u16(0).zeros(2).u32(g.group_id).u32(g.ref_count).zeros(4).u64(g.packet_count).u64(g.byte_count).u32(g.duration_sec).u32(g.duration_nsec);
        for (const c of g.bucket_stats) w.u64(c.packet_count).u64(c.byte_count);
        w.patchU16(s, w.pos - s);
      }
      return;
    case 'group_desc':
      for (const g of b.stats) {
        const s = w.pos;
        w.u16(0).u8(g.group_type).zeros(1).u32(g.group_id);
        encodeBuckets(w, g.buckets);
        w.patchU16(s, w.pos - s);
      }
      return;
    case 'group_features':
      w.u32(b.types).u32(b.capabilities);
      for (let i = 0; i < 4; i++) w.u32(b.max_groups[i] ?? 0);
      for (let i = 0; i < 4; i++) w.u32(b.actions[i] ?? 0);
      return;
    case 'meter':
      for (const m of b.stats) {
        const s = w.pos;
        w.u32(m.meter_id).u16(0).zeros(6).u32(m.flow_count).u64(m.packet_in_count).u64(m.byte_in_count).u32(m.duration_sec).u32(m.duration_nsec);
        for (const c of m.band_stats) w.u64(c.packet_band_count).u64(c.byte_band_count);
        w.patchU16(s + 4, w.pos - s);
      }
      return;
    case 'meter_config':
      for (const m of b.stats) {
        const s = w.pos;
        w.u16(0).u16(m.flags).u32(m.meter_id);
        encodeBands(w, m.bands);
        w.patchU16(s, w.pos - s);
      }
      return;
    case 'meter_features': w.u32(b.max_meter).u32(b.band_types).u32(b.capabilities).u8(b.max_bands).u8(b.max_color).zeros(2); return;
    case 'table_features': for (const f of b.features) encodeTableFeatures(w, f); return;
    case 'port_desc': for (const p of b.ports) encodePort(w, p); return;
    case 'experimenter': w.u32(b.experimenter).u32(b.exp_type).bytes(b.data); return;
  }
  throw new OfEncodeError(`unknown multipart kind ${(b as { kind: string }).kind}`);
}

function encodeTableFeatures(w: Writer, f: TableFeatures): void {
  const s = w.pos;
  w.u16(0).u8(f.table_id).zeros(5).str(f.name, 32).u64(f.metadata_match).u64(f.metadata_write).u32(f.config).u32(f.max_entries);
  for (const p of f.properties) {
    const ps = w.pos;
    w.u16(p.type).u16(0);
    switch (p.kind) {
      case 'instructions': case 'actions':
        for (const id of p.ids) { w.u16(id.type).u16(4 + (id.data?.length ?? 0)); if (id.data) w.bytes(id.data); }
        break;
      case 'next_tables': for (const t of p.table_ids) w.u8(t); break;
      case 'oxm': for (const o of p.oxm_ids) { w.u32(o.header); if (o.experimenter !== undefined) w.u32(o.experimenter); } break;
      case 'experimenter': w.u32(p.experimenter).u32(p.exp_type).bytes(p.data); break;
    }
    w.patchU16(ps + 2, w.pos - ps);
    w.pad(8, ps);
  }
  w.patchU16(s, w.pos - s);
}
