// A flow-table simulator: where does this packet, entering this bridge, end
// up under these flows? It walks the tables with OpenFlow 1.3 semantics
// (highest priority wins, the first of equals; apply-actions in order;
// goto_table; the action set at the end of the pipeline) plus the OVS
// extensions the controller writes (move/load over bit ranges, resubmit,
// output_reg, ct with recirculation). Tests use it to assert behaviour on
// computed flows, and a trace of the controller's desired flows needs
// nothing more, so it lives in the controller layer and knows no app.
//
// What it does not model: packet bytes (fields only), the real connection
// tracker (ct_state, ct_mark, ct_label and an un-NAT come from the options;
// a NAT with an explicit range rewrites the packet), meters, learn, MPLS, QinQ (one VLAN tag), match
// prerequisites (a header field the packet lacks never matches; an IP
// packet given without nw_ttl has a TTL of 64), and what
// OFPP_NORMAL, FLOOD or CONTROLLER would do next: those are outputs too.
// Conjunctive matches are modelled as OVS does them: flows whose actions
// are all conjunction(id, k/n) are clauses; when every clause of an id
// matches at a priority above the best ordinary match, the table is looked
// up again with conj_id set to that id. Groups are modelled when given:
// a select group runs one bucket, chosen deterministically from the
// packet's addresses and ports (OVS hashes them too, with its own hash:
// the bucket a switch picks may differ), an all group every bucket, an
// indirect or fast-failover group its first; each on a copy of the packet,
// as OVS does.
import {
  Action, CtAction, Instruction, NatAction, Oxm, OXM_BY_NAME, KIND_LEN, OxmValue,
  OFPP_IN_PORT, OFPP_CONTROLLER, NX_CT_F_COMMIT, NX_NAT_F_SRC, NX_NAT_F_DST,
} from '../southbound/codec';
import { ovsFieldOf, ovsFieldByName, CT_STATE_FLAGS, formatFlow } from '../southbound/text';

export type FieldValue = number | bigint | string;
/** A packet as named fields: codec (OXM) names or the ovs-ofctl ones (dl_dst, nw_src, tun_id, tun_dst, nw_ttl...). */
export type PacketFields = Record<string, FieldValue>;

/** A flow as the simulator reads it: a FlowMod, flow stats or a parsed text flow all fit. */
export interface SimFlow {
  table_id?: number;
  priority?: number;
  cookie?: bigint;
  match: readonly Oxm[];
  instructions: readonly Instruction[];
}

/** A group as the simulator reads it (a reconciler GroupSpec fits): OFPGT_ALL 0, SELECT 1, INDIRECT 2, FF 3. */
export interface SimGroup { group_id: number; group_type: number; buckets: readonly { actions: readonly Action[] }[] }

export interface SimOptions {
  /** The bridge's groups; a group action for a group not among them drops (as OVS refuses the flow). */
  groups?: readonly SimGroup[];
  /** Which bucket of a select group runs; deterministic from the packet's addresses and ports unless given. */
  bucket?: (g: SimGroup, packet: PacketFields) => number;
  /** Names of tables for hops and verdicts: an array by id (the br-int PIPELINE's names) or a function. */
  tableNames?: readonly string[] | ((id: number) => string | undefined);
  /** The table the packet enters; 0 unless given. */
  table?: number;
  /**
   * What the connection tracker reports after ct(): ct_state (flags or text
   * such as "+trk+est+rpl"; +trk+new unless given), the connection's
   * ct_mark and ct_label, and the fields a ct(nat) without a range restores
   * (the un-NAT of an existing connection).
   */
  ct?: { state?: number | string; mark?: number; label?: bigint; nat?: PacketFields };
  /** Resubmit and recirculation nesting bound (OVS: 64). */
  maxDepth?: number;
}

export interface Hop {
  table: number;
  tableName?: string;
  /** How the walk got here. */
  via: 'start' | 'goto_table' | 'resubmit' | 'recirculation';
  depth: number;
  /** The packet's fields at lookup. */
  fields: PacketFields;
  /** The flow that matched; none means the table had no match. */
  flow?: SimFlow;
  /** Actions executed for this hop, in order (apply-actions, then the action set if the pipeline ended here). */
  actions: Action[];
}

export interface SimOutput {
  /** The port sent to; OFPP_IN_PORT is resolved, reserved ports (NORMAL, CONTROLLER, FLOOD...) stay as they are. */
  port: number;
  table: number;
  /** The packet's fields as they left. */
  fields: PacketFields;
  tun_id?: bigint;
  tun_dst?: string;
  /** The 12-bit VLAN id of a tagged frame. */
  vlan_vid?: number;
}

export type Effect =
  | { type: 'ct'; table: number; zone: number; commit: boolean; nat?: NatAction; natted?: PacketFields; exec: Action[]; recirc_table?: number }
  | { type: 'note'; table: number; text: string }
  /** A group action: the group's type and how many buckets it has, and the bucket(s) that ran (none: the group dropped the packet). */
  | { type: 'group'; table: number; group_id: number; group_type?: number; buckets: number; ran: number[] }
  | { type: 'skipped_output'; table: number; port: number; why: string }
  | { type: 'unsupported'; table: number; what: string };

export type DropReason = 'no_match' | 'miss_flow' | 'explicit' | 'ttl_expired' | 'loop' | 'exit';

export type Verdict =
  | { kind: 'output'; outputs: SimOutput[] }
  | { kind: 'drop'; table: number; tableName?: string; reason: DropReason; why: string };

export interface Trace {
  hops: Hop[];
  outputs: SimOutput[];
  effects: Effect[];
  verdict: Verdict;
}

// ---- fields ----------------------------------------------------------------

const EXTRA_BITS: Record<string, number> = { nw_ttl: 8 };

/** The codec name of a field named any way OVS or the codec names it (dl_dst, tun_dst, field:0:0...). */
export function fieldName(name: string): string {
  if (OXM_BY_NAME.has(name) || name in EXTRA_BITS) return name;
  const f = name.startsWith('field:') ? ovsFieldOf(name) : ovsFieldByName(name);
  return f ? f.oxm ?? f.mf : name;
}

function bitsOf(name: string): number {
  const d = OXM_BY_NAME.get(name);
  if (d) return KIND_LEN[d.kind] * 8;
  return EXTRA_BITS[name] ?? (ovsFieldByName(name)?.bytes ?? 8) * 8;
}

// A packet without these headers has no value for them: a match on one fails.
// Every other field (registers, metadata, tunnel and conntrack fields, vlan_vid
// as OFPVID_NONE) reads 0 when absent, as in OVS.
const HEADER = /^(eth_|ip_|ipv4_|ipv6_|tcp_|udp_|sctp_|icmp|arp_|mpls_|pbb_|nw_ttl|vlan_pcp)/;

function ctStateBits(text: string): bigint {
  let v = 0;
  for (const m of text.matchAll(/([+-]?)([a-z]+)/g)) {
    const flag = CT_STATE_FLAGS.find(([n]) => n === m[2]);
    if (!flag) throw new Error(`unknown ct_state flag ${m[2]}`);
    if (m[1] !== '-') v |= flag[1];
  }
  return BigInt(v);
}

/** A field value (MAC or IPv4 text, number, bigint, "0x..", "+trk+new") as an unsigned integer. */
export function toBits(v: FieldValue | OxmValue): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(v);
  const s = v.trim().toLowerCase();
  if (/^[0-9a-f]{1,2}(:[0-9a-f]{1,2}){5}$/.test(s)) return BigInt('0x' + s.split(':').map((x) => x.padStart(2, '0')).join(''));
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) return s.split('.').reduce((a, x) => (a << 8n) | BigInt(Number(x)), 0n);
  if (/^[+-]?[a-z]/.test(s) && !s.startsWith('0x')) return ctStateBits(s);
  return BigInt(s);
}

const ones = (n: number) => (1n << BigInt(n)) - 1n;

/** How a field's value is shown: MAC and IPv4 as text, up to 32 bits as a number, wider as a bigint. */
function present(name: string, v: bigint): FieldValue {
  const kind = OXM_BY_NAME.get(name)?.kind;
  if (kind === 'mac') return [40n, 32n, 24n, 16n, 8n, 0n].map((sh) => ((v >> sh) & 0xffn).toString(16).padStart(2, '0')).join(':');
  if (kind === 'ipv4') return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 0xffn)).join('.');
  return bitsOf(name) <= 32 ? Number(v) : v;
}

/** A packet inside the simulator: codec field names to unsigned values. */
export type Packet = Map<string, bigint>;

export function packetOf(fields: PacketFields): Packet {
  const p: Packet = new Map();
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) p.set(fieldName(k), toBits(v));
  return p;
}

export function fieldsOf(p: Packet): PacketFields {
  const out: PacketFields = {};
  for (const [k, v] of p) out[k] = present(k, v);
  return out;
}

const read = (p: Packet, name: string): bigint | undefined => p.get(name) ?? (HEADER.test(name) ? undefined : 0n);

function readBits(p: Packet, name: string, ofs: number, n: number): bigint {
  return ((read(p, name) ?? 0n) >> BigInt(ofs)) & ones(n);
}

function writeBits(p: Packet, name: string, ofs: number, n: number, value: bigint): void {
  const m = ones(n) << BigInt(ofs);
  p.set(name, (((p.get(name) ?? 0n) & ~m) | ((value << BigInt(ofs)) & m)) & ones(bitsOf(name)));
}

function setField(p: Packet, o: Oxm): void {
  const name = fieldName(o.field);
  const bits = bitsOf(name);
  const mask = o.mask === undefined ? ones(bits) : toBits(o.mask);
  p.set(name, ((p.get(name) ?? 0n) & ~mask) | (toBits(o.value) & mask));
}

// ---- matching --------------------------------------------------------------

/** Does a flow's match (exact or masked, any field width) select this packet? */
export function matchPacket(match: readonly Oxm[], p: Packet): boolean {
  for (const o of match) {
    const v = read(p, fieldName(o.field));
    if (v === undefined) return false;
    const mask = o.mask === undefined ? undefined : toBits(o.mask);
    if (mask === undefined ? v !== toBits(o.value) : (v & mask) !== (toBits(o.value) & mask)) return false;
  }
  return true;
}

/** matchPacket for a packet given as named fields. */
export const flowMatches = (match: readonly Oxm[], fields: PacketFields): boolean => matchPacket(match, packetOf(fields));

/** An OpenFlow 1.3 table-miss flow: priority 0, everything wildcarded. */
type Conj = { id: number; clause: number; n_clauses: number };
const conjunctions = (f: SimFlow): Conj[] => f.instructions.flatMap((i) => (i.type === 'apply_actions' ? i.actions.filter((a) => a.type === 'conjunction') as unknown as Conj[] : []));
/** A clause of a conjunctive match: its only actions are conjunction actions. */
const isConjunctive = (f: SimFlow): boolean => {
  const acts = f.instructions.flatMap((i) => (i.type === 'apply_actions' ? i.actions : []));
  return acts.length > 0 && acts.every((a) => a.type === 'conjunction') && f.instructions.every((i) => i.type === 'apply_actions');
};
const isMissFlow = (f: SimFlow) => (f.priority ?? 0x8000) === 0 && f.match.length === 0;

// ---- the walk --------------------------------------------------------------

const MAX_LOOKUPS = 4096; // OVS's bound on resubmits per packet

class Walk {
  readonly hops: Hop[] = [];
  readonly outputs: SimOutput[] = [];
  readonly effects: Effect[] = [];
  /** Where the last path through the tables ended, and why: the drop, if nothing was output. */
  end: { table: number; reason: DropReason; why: string } = { table: 0, reason: 'no_match', why: 'no table visited' };
  private halted = false;
  private lookups = 0;
  private readonly byTable = new Map<number, SimFlow[]>();

  constructor(flows: readonly SimFlow[], private readonly opts: SimOptions) {
    for (const f of flows) {
      const t = f.table_id ?? 0;
      if (!this.byTable.has(t)) this.byTable.set(t, []);
      this.byTable.get(t)!.push(f);
    }
    // stable: equal priorities keep their order, so the first of equals wins
    for (const list of this.byTable.values()) list.sort((a, b) => (b.priority ?? 0x8000) - (a.priority ?? 0x8000));
  }

  name(table: number): string | undefined {
    const n = this.opts.tableNames;
    return typeof n === 'function' ? n(table) : n?.[table];
  }

  label(table: number): string {
    const n = this.name(table);
    return n ? `table ${table} (${n})` : `table ${table}`;
  }

  /** The flow a packet meets in a table, conjunctive matches included. */
  private lookup(t: number, p: Packet): SimFlow | undefined {
    const flows = this.byTable.get(t) ?? [];
    const plain = (f: SimFlow) => !isConjunctive(f);
    const first = flows.find((f) => plain(f) && matchPacket(f.match, p));
    const floor = first?.priority ?? -1;
    // clauses matched, per priority and conjunction id
    const seen = new Map<string, { prio: number; id: number; n: number; clauses: Set<number> }>();
    for (const f of flows) {
      const prio = f.priority ?? 0x8000;
      if (prio < floor || !isConjunctive(f) || !matchPacket(f.match, p)) continue;
      for (const a of conjunctions(f)) {
        const k = `${prio}/${a.id}`;
        const e = seen.get(k) ?? { prio, id: a.id, n: a.n_clauses, clauses: new Set<number>() };
        e.clauses.add(a.clause);
        seen.set(k, e);
      }
    }
    const done = [...seen.values()].filter((e) => e.clauses.size === e.n).sort((a, b) => b.prio - a.prio)[0];
    if (!done) return first;
    const before = p.get('conj_id');
    p.set('conj_id', BigInt(done.id));
    const hit = flows.find((f) => plain(f) && f.match.some((m) => m.field === 'conj_id') && matchPacket(f.match, p));
    if (before === undefined) p.delete('conj_id'); else p.set('conj_id', before);
    return hit ?? first;
  }

  private halt(table: number, reason: DropReason, why: string): void {
    this.halted = true;
    this.end = { table, reason, why };
  }

  /** One pass through the tables from `table`, following goto_table; resubmit and recirculation nest. */
  walk(p: Packet, table: number, depth: number, via: Hop['via']): void {
    const actionSet = new Map<string, Action>();
    for (let t = table; ;) {
      if (this.halted) return;
      if (depth > (this.opts.maxDepth ?? 64) || ++this.lookups > MAX_LOOKUPS) {
        this.halt(t, 'loop', `resubmit/recirculation bound reached at ${this.label(t)}`);
        return;
      }
      const flow = this.lookup(t, p);
      const hop: Hop = { table: t, tableName: this.name(t), via, depth, fields: fieldsOf(p), flow, actions: [] };
      this.hops.push(hop);
      if (!flow) {
        this.end = { table: t, reason: 'no_match', why: `no flow in ${this.label(t)} matches` };
        return;
      }
      let next: number | undefined;
      for (const i of flow.instructions) {
        if (i.type === 'apply_actions') this.run(i.actions, p, t, depth, hop);
        else if (i.type === 'clear_actions') actionSet.clear();
        else if (i.type === 'write_actions') for (const a of i.actions) actionSet.set(setKey(a), a);
        else if (i.type === 'write_metadata') p.set('metadata', ((p.get('metadata') ?? 0n) & ~i.metadata_mask) | (i.metadata & i.metadata_mask));
        else if (i.type === 'goto_table') next = i.table_id;
        else if (i.type !== 'meter') this.effects.push({ type: 'unsupported', table: t, what: `instruction ${i.type}` });
        if (this.halted) return;
      }
      if (next === undefined) {
        // the pipeline ends here: the action set runs (OpenFlow 1.3 §5.10), output last
        if (actionSet.size) this.run([...actionSet.values()].sort((a, b) => Number(a.type === 'output') - Number(b.type === 'output')), p, t, depth, hop);
        // a flow that ends by recirculating through ct(table=N) ends where the recirculated packet ended
        const last = hop.actions[hop.actions.length - 1];
        if (!this.halted && !(last?.type === 'ct' && last.recirc_table !== 255)) {
          this.end = isMissFlow(flow)
            ? { table: t, reason: 'miss_flow', why: `the miss flow of ${this.label(t)} drops` }
            : { table: t, reason: 'explicit', why: `the flow matched in ${this.label(t)} (priority ${flow.priority ?? 0x8000}) sends nowhere further` };
        }
        return;
      }
      t = next;
      via = 'goto_table';
    }
  }

  private run(actions: readonly Action[], p: Packet, table: number, depth: number, hop: Hop): void {
    for (const a of actions) {
      if (this.halted) return;
      hop.actions.push(a);
      if (modify(a, p)) continue;
      switch (a.type) {
        case 'dec_nw_ttl': case 'dec_ttl': case 'dec_ttl_cnt_ids': {
          const et = p.get('eth_type');
          if (et !== 0x800n && et !== 0x86ddn) break; // not IP: OVS leaves it alone
          const ttl = p.get('nw_ttl') ?? 64n;
          if (ttl <= 1n) { this.halt(table, 'ttl_expired', `TTL ${ttl} expired in ${this.label(table)}`); return; }
          p.set('nw_ttl', ttl - 1n);
          break;
        }
        case 'set_nw_ttl': p.set('nw_ttl', BigInt(a.nw_ttl)); break;
        case 'push_vlan': p.set('vlan_vid', 0x1000n | ((p.get('vlan_vid') ?? 0n) & 0xfffn)); break;
        case 'pop_vlan': p.delete('vlan_vid'); p.delete('vlan_pcp'); break;
        case 'output': case 'output_trunc': this.output(a.port, p, table); break;
        case 'output_reg': this.output(Number(readBits(p, fieldName(a.src), a.ofs, a.n_bits)), p, table); break;
        case 'controller': this.output(OFPP_CONTROLLER, p, table); break;
        case 'resubmit': {
          const inPort = p.get('in_port');
          // 0xfff8 is OFPP_IN_PORT in the 16-bit port space: keep the packet's in_port
          if (a.in_port !== 0xfff8) p.set('in_port', BigInt(a.in_port));
          this.walk(p, a.table === undefined || a.table === 255 ? table : a.table, depth + 1, 'resubmit');
          // OVS restores in_port when the resubmit returns
          if (inPort === undefined) p.delete('in_port'); else p.set('in_port', inPort);
          break;
        }
        case 'ct': this.ct(a, p, table, depth); break;
        case 'group': this.group(a.group_id, p, table, depth, hop); break;
        case 'ct_clear': for (const k of ['ct_state', 'ct_zone', 'ct_mark', 'ct_label']) p.delete(k); break;
        case 'note': this.effects.push({ type: 'note', table, text: a.note.toString('utf8').replace(/\0+$/, '') }); break;
        case 'exit': this.halt(table, 'exit', `exit in ${this.label(table)}`); return;
        case 'set_queue': case 'fin_timeout': break; // no effect on where the packet goes
        default: this.effects.push({ type: 'unsupported', table, what: `action ${a.type}` });
      }
    }
  }

  private output(port: number, p: Packet, table: number): void {
    const inPort = Number(p.get('in_port') ?? 0n);
    if (port === inPort) {
      // OpenFlow sends a packet back out of its in_port only when asked with OFPP_IN_PORT
      this.effects.push({ type: 'skipped_output', table, port, why: 'output to the in_port without OFPP_IN_PORT' });
      return;
    }
    const out: SimOutput = { port: port === OFPP_IN_PORT ? inPort : port, table, fields: fieldsOf(p) };
    const tun = p.get('tunnel_id');
    if (tun) out.tun_id = tun;
    const dst = p.get('tun_ipv4_dst');
    if (dst) out.tun_dst = present('tun_ipv4_dst', dst) as string;
    const vid = p.get('vlan_vid');
    if (vid !== undefined && vid & 0x1000n) out.vlan_vid = Number(vid & 0xfffn);
    this.outputs.push(out);
  }

  /** A group: its bucket(s) run on a copy of the packet (what follows the group action sees the packet as it was). */
  private group(id: number, p: Packet, table: number, depth: number, hop: Hop): void {
    const g = this.opts.groups?.find((x) => x.group_id === id);
    if (!g) {
      this.effects.push({ type: 'group', table, group_id: id, buckets: 0, ran: [] });
      return;
    }
    const n = g.buckets.length;
    let ran: number[] = [];
    if (g.group_type === 0) ran = g.buckets.map((_, i) => i);
    else if (n && g.group_type === 1) ran = [(this.opts.bucket ?? defaultBucket)(g, fieldsOf(p)) % n];
    else if (n) ran = [0];
    this.effects.push({ type: 'group', table, group_id: id, group_type: g.group_type, buckets: n, ran });
    for (const i of ran) this.run(g.buckets[i]!.actions, new Map(p), table, depth + 1, hop);
  }

  /**
   * ct(): recorded as an effect. With a table, the packet forks: a copy with
   * the tracker's state goes on from that table, the original goes on with
   * the next action. A NAT with a range rewrites the packet (a new
   * connection); one without restores what the options say.
   */
  private ct(a: CtAction, p: Packet, table: number, depth: number): void {
    const zone = a.zone_src ? Number(readBits(p, fieldName(a.zone_src), a.zone_ofs ?? 0, a.zone_n_bits ?? 16)) : a.zone ?? 0;
    const nat = a.actions.find((x): x is NatAction => x.type === 'nat');
    const exec = a.actions.filter((x) => x.type !== 'nat');
    const recirc = a.recirc_table === 255 ? undefined : a.recirc_table;
    const effect: Effect & { type: 'ct' } = { type: 'ct', table, zone, commit: (a.flags & NX_CT_F_COMMIT) !== 0, exec, ...(nat && { nat }), ...(recirc !== undefined && { recirc_table: recirc }) };
    this.effects.push(effect);
    const c = this.opts.ct ?? {};
    const target = recirc === undefined ? p : new Map(p);
    let state = c.state === undefined ? 0x21n : toBits(c.state);
    if (c.mark !== undefined) target.set('ct_mark', BigInt(c.mark));
    if (c.label !== undefined) target.set('ct_label', c.label);
    if (nat) {
      const natted = natRewrite(nat, target, c.nat);
      effect.natted = natted;
      if (nat.flags & NX_NAT_F_SRC || (!nat.ipv4_min && natted.ipv4_src !== undefined)) state |= 0x40n;
      if (nat.flags & NX_NAT_F_DST || (!nat.ipv4_min && natted.ipv4_dst !== undefined)) state |= 0x80n;
    }
    for (const x of exec) if (!modify(x, target)) this.effects.push({ type: 'unsupported', table, what: `ct exec ${x.type}` });
    if (recirc === undefined) return;
    target.set('ct_state', state);
    target.set('ct_zone', BigInt(zone));
    this.walk(target, recirc, depth + 1, 'recirculation');
  }
}

/** A select group's bucket: a hash of the packet's addresses, protocol and ports (FNV-1a). */
function defaultBucket(g: SimGroup, f: PacketFields): number {
  const key = ['ipv4_src', 'ipv4_dst', 'ip_proto', 'tcp_src', 'tcp_dst', 'udp_src', 'udp_dst'].map((k) => String(f[k] ?? '')).join('|');
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) { h ^= key.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h % Math.max(1, g.buckets.length);
}

/** Key of an action in the action set: one per type, one per field for set_field. */
const setKey = (a: Action) => (a.type === 'set_field' ? `set_field:${fieldName(a.field.field)}` : a.type);

/** Field-changing actions; false for anything else. */
function modify(a: Action, p: Packet): boolean {
  switch (a.type) {
    case 'set_field': case 'reg_load2': setField(p, a.field); return true;
    case 'reg_load': writeBits(p, fieldName(a.dst), a.ofs, a.n_bits, a.value); return true;
    case 'reg_move': writeBits(p, fieldName(a.dst), a.dst_ofs, a.n_bits, readBits(p, fieldName(a.src), a.src_ofs, a.n_bits)); return true;
    case 'set_tunnel': p.set('tunnel_id', a.tun_id); return true;
    case 'write_metadata_nx': p.set('metadata', ((p.get('metadata') ?? 0n) & ~a.mask) | (a.metadata & a.mask)); return true;
    default: return false;
  }
}

/** Apply a NAT to the packet; the fields it rewrote. */
function natRewrite(nat: NatAction, p: Packet, restore: PacketFields | undefined): PacketFields {
  const changed: PacketFields = {};
  const set = (name: string, v: bigint) => { p.set(name, v); changed[name] = present(name, v); };
  if (nat.ipv4_min === undefined) {
    for (const [k, v] of Object.entries(restore ?? {})) set(fieldName(k), toBits(v));
    return changed;
  }
  const proto = ({ 6: 'tcp', 17: 'udp', 132: 'sctp' } as Record<number, string>)[Number(p.get('ip_proto') ?? 0n)];
  const dir = nat.flags & NX_NAT_F_SRC ? 'src' : nat.flags & NX_NAT_F_DST ? 'dst' : undefined;
  if (!dir) return changed;
  set(`ipv4_${dir}`, toBits(nat.ipv4_min));
  if (proto && nat.proto_min !== undefined) set(`${proto}_${dir}`, BigInt(nat.proto_min));
  return changed;
}

/** Run a packet through a bridge's flows. */
export function simulate(flows: readonly SimFlow[], packet: PacketFields, opts: SimOptions = {}): Trace {
  const w = new Walk(flows, opts);
  w.walk(packetOf(packet), opts.table ?? 0, 0, 'start');
  // a flow that only outputs to the in_port drops, but say so: it is a likely cause
  const skipped = w.effects.filter((e) => e.type === 'skipped_output').map((e) => `port ${(e as { port: number }).port} in ${w.label(e.table)}`);
  const why = w.end.why + (skipped.length ? `; output to the in_port was skipped (${skipped.join(', ')})` : '');
  const verdict: Verdict = w.outputs.length
    ? { kind: 'output', outputs: w.outputs }
    : { kind: 'drop', table: w.end.table, ...(w.name(w.end.table) !== undefined && { tableName: w.name(w.end.table) }), reason: w.end.reason, why };
  return { hops: w.hops, outputs: w.outputs, effects: w.effects, verdict };
}

/** A trace as text, one line per hop, then the verdict: for logs and assertion messages. */
export function traceText(t: Trace, opts: Pick<SimOptions, 'tableNames'> = {}): string {
  const names = opts.tableNames;
  const name = (id: number) => (typeof names === 'function' ? names(id) : names?.[id]);
  const lines = t.hops.map((h) => `${'  '.repeat(h.depth)}${h.table}${h.tableName ?? name(h.table) ? ` ${h.tableName ?? name(h.table)}` : ''}: ${h.flow ? formatFlow({ ...h.flow, table_id: 0, cookie: 0n, match: [...h.flow.match], instructions: [...h.flow.instructions] }) : 'no match'}`);
  const v = t.verdict;
  lines.push(v.kind === 'drop' ? `drop: ${v.why}` : `output: ${v.outputs.map((o) => o.port).join(', ')}`);
  return lines.join('\n');
}
