// Parse ovs-ofctl actions and instructions ("ct(commit,zone=5),resubmit(,3)")
// into the codec's Action/Instruction union. Each form parses to the action
// OVS itself sends for it on OpenFlow 1.3 (set_tunnel -> set_field tun_id,
// masked set_field -> NXAST_REG_LOAD2, resubmit:N -> NXAST_RESUBMIT_TABLE), so
// what we send dumps back as the text we parsed.
import {
  Action, CtAction, NatAction, NX_NAT_F_SRC, NX_NAT_F_DST, NX_NAT_F_PERSISTENT, NX_NAT_F_PROTO_HASH,
  NX_NAT_F_PROTO_RANDOM, NX_CT_F_COMMIT, NX_CT_F_FORCE, OFPP_CONTROLLER,
} from '../codec/actions';
import { Instruction } from '../codec/instructions';
import { Oxm, OxmUnknown, OXM_BY_NAME, KIND_LEN, isIpv4, ipv4ToString, ipv4ToBytes, ipv6ToBytes, ipv6ToString } from '../codec/oxm';
import { syntaxError, ovsFieldByName, ovsFieldOf, codecFieldName, fieldWidth, OvsField } from './fields';
import { ones, fromBits, parseUint, parseSmall, parseFieldValue, parsePort, parsePort16 } from './values';
import { PACKET_IN_REASONS } from './actions-format';

/** What the match says, for actions whose meaning depends on it (mod_tp_dst). */
export interface ActionContext { ipProto?: number }

/** Split on `sep` outside (), [] — "a,ct(b,c),d" -> ["a", "ct(b,c)", "d"]. */
export function splitTopLevel(text: string, sep = ','): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') {
      depth--;
      if (depth < 0) throw syntaxError('unbalanced parentheses', text);
    }
    if (ch === sep && depth === 0) { out.push(cur.trim()); cur = ''; } else cur += ch;
  }
  if (depth !== 0) throw syntaxError('unbalanced parentheses', text);
  out.push(cur.trim());
  return out.filter((t) => t.length > 0);
}

/** name(args) -> ["name", "args"]; name:arg -> ["name", "arg"]; name -> ["name", undefined]. */
function splitAction(tok: string): { name: string; paren?: string; arg?: string } {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:\((.*)\)|:(.*))?$/s.exec(tok);
  if (!m) throw syntaxError('cannot parse action', tok);
  return { name: m[1], paren: m[2], arg: m[3] };
}

/** `NXM_NX_REG0[0..15]` -> codec field name and bit range. */
export function parseSubfield(text: string): { name: string; ofs: number; nBits: number } {
  const m = /^([A-Za-z0-9_:]+)\[(?:(\d+)(?:\.\.(\d+))?)?\]$/.exec(text);
  if (!m) throw syntaxError('expected FIELD[], FIELD[bit] or FIELD[start..end]', text);
  let name: string;
  if (m[1].startsWith('field:')) {
    const f = ovsFieldOf(m[1]);
    name = f ? codecFieldName(f) : m[1];
  } else {
    const f = ovsFieldByName(m[1]);
    if (f) name = codecFieldName(f);
    else if (OXM_BY_NAME.has(m[1])) name = m[1];
    else throw syntaxError('unknown field', m[1]);
  }
  const width = fieldWidth(name);
  if (m[2] === undefined) {
    if (!width) throw syntaxError('width of field unknown; give a bit range', text);
    return { name, ofs: 0, nBits: width };
  }
  const ofs = Number(m[2]);
  const end = m[3] === undefined ? ofs : Number(m[3]);
  if (end < ofs) throw syntaxError('bit range ends before it starts', text);
  if (width && end >= width) throw syntaxError(`bit range beyond the field's ${width} bits`, text);
  return { name, ofs, nBits: end - ofs + 1 };
}

/** The field a set_field names: our OXM where OVS would send one, else OVS's NXM header. */
function setFieldTarget(name: string): { oxm?: string; f?: OvsField; raw?: number[] } {
  if (name.startsWith('oxm:')) {
    const id = name.slice(4).split(':');
    if (id.length < 2 || id.length > 4 || !id.every((x) => /^[0-9a-f]+$/i.test(x))) throw syntaxError('bad oxm:class:field', name);
    return { raw: id.map((x) => parseInt(x, 16)) };
  }
  const f = ovsFieldByName(name) ?? ovsFieldOf(name);
  if (f) return f.oxm ? { oxm: f.oxm, f } : { f };
  if (OXM_BY_NAME.has(name)) return { oxm: name };
  throw syntaxError('unknown field', name);
}

function setField(arg: string, tok: string): Action {
  const arrow = arg.lastIndexOf('->');
  if (arrow < 0) throw syntaxError('set_field needs VALUE->FIELD', tok);
  const t = setFieldTarget(arg.slice(arrow + 2));
  const text = arg.slice(0, arrow);
  let field: Oxm;
  let masked = false;
  if (t.raw) {
    const [vs, ms] = text.split('/');
    const hex = (s: string) => {
      if (!/^0x([0-9a-f]{2})+$/i.test(s)) throw syntaxError('raw OXM value must be 0x followed by whole bytes', tok);
      return s.slice(2).toLowerCase();
    };
    const [cls, code, exp, expType] = t.raw;
    const u: OxmUnknown = { field: 'unknown', oxmClass: cls, code, value: hex(vs) };
    if (exp !== undefined) u.experimenter = exp;
    if (expType !== undefined) u.expType = expType;
    if (ms !== undefined) { u.mask = hex(ms); masked = true; }
    field = u;
  } else if (t.f) {
    const { value, mask } = parseFieldValue(t.f, text, t.f.mf);
    masked = mask !== undefined;
    if (t.oxm) {
      const d = OXM_BY_NAME.get(t.oxm)!;
      field = { field: t.oxm, value: fromBits(d.kind, value) };
      if (mask !== undefined) field.mask = fromBits(d.kind, mask);
    } else {
      const h = (x: bigint) => x.toString(16).padStart(t.f!.bytes * 2, '0');
      const u: OxmUnknown = { field: 'unknown', oxmClass: t.f.cls, code: t.f.code, value: h(value) };
      if (mask !== undefined) u.mask = h(mask);
      field = u;
    }
  } else {
    const d = OXM_BY_NAME.get(t.oxm!)!;
    const bits = KIND_LEN[d.kind] * 8;
    const [vs, ms] = text.split('/');
    field = { field: t.oxm!, value: fromBits(d.kind, parseUint(vs, bits, t.oxm!)) };
    if (ms !== undefined) { field.mask = fromBits(d.kind, parseUint(ms, bits, t.oxm!)); masked = true; }
  }
  // OF1.3 set_field cannot carry a mask; OVS sends masked writes as Nicira reg_load2.
  return masked ? { type: 'reg_load2', field } : { type: 'set_field', field };
}

/** load:VALUE->FIELD[range], split in 64-bit pieces as OVS encodes NXAST_REG_LOAD. */
function load(arg: string, tok: string): Action[] {
  const arrow = arg.indexOf('->');
  if (arrow < 0) throw syntaxError('load needs VALUE->FIELD[range]', tok);
  const sf = parseSubfield(arg.slice(arrow + 2));
  const value = parseUint(arg.slice(0, arrow), 128, 'load');
  if (value >= 1n << BigInt(sf.nBits)) throw syntaxError(`load: value does not fit in ${sf.nBits} bits`, tok);
  const out: Action[] = [];
  for (let done = 0; done < sf.nBits; done += 64) {
    const n = Math.min(64, sf.nBits - done);
    out.push({ type: 'reg_load', dst: sf.name, ofs: sf.ofs + done, n_bits: n, value: (value >> BigInt(done)) & ones(n) });
  }
  return out;
}

function move(arg: string, tok: string): Action {
  const arrow = arg.indexOf('->');
  if (arrow < 0) throw syntaxError('move needs SRC[range]->DST[range]', tok);
  const src = parseSubfield(arg.slice(0, arrow));
  const dst = parseSubfield(arg.slice(arrow + 2));
  if (src.nBits !== dst.nBits) throw syntaxError(`move: source is ${src.nBits} bits but destination is ${dst.nBits}`, tok);
  return { type: 'reg_move', src: src.name, src_ofs: src.ofs, dst: dst.name, dst_ofs: dst.ofs, n_bits: src.nBits };
}

/** nat(src|dst[=ADDR[-ADDR]][:PORT[-PORT]][,persistent][,hash][,random]) */
function nat(args: string | undefined, tok: string): NatAction {
  const a: NatAction = { type: 'nat', flags: 0 };
  if (args === undefined) return a;
  for (const part of splitTopLevel(args)) {
    const m = /^(src|dst)(?:=(.*))?$/.exec(part);
    if (m) {
      if (a.flags & (NX_NAT_F_SRC | NX_NAT_F_DST)) throw syntaxError('nat: only one of src and dst', tok);
      a.flags |= m[1] === 'src' ? NX_NAT_F_SRC : NX_NAT_F_DST;
      if (m[2] !== undefined) natRange(a, m[2], tok);
    } else if (part === 'persistent') a.flags |= NX_NAT_F_PERSISTENT;
    else if (part === 'hash') a.flags |= NX_NAT_F_PROTO_HASH;
    else if (part === 'random') a.flags |= NX_NAT_F_PROTO_RANDOM;
    else throw syntaxError('nat: unknown argument', part);
  }
  if ((a.flags & NX_NAT_F_PROTO_HASH) && (a.flags & NX_NAT_F_PROTO_RANDOM)) throw syntaxError('nat: hash and random are exclusive', tok);
  return a;
}

function natRange(a: NatAction, text: string, tok: string): void {
  let addrs = text;
  let ports: string | undefined;
  if (text.startsWith('[')) {
    const m = /^\[([^\]]+)\](?:-\[([^\]]+)\])?(?::(.+))?$/.exec(text);
    if (!m) throw syntaxError('nat: bad IPv6 range', tok);
    addrs = m[2] ? `${m[1]}-${m[2]}` : m[1];
    ports = m[3];
  } else if (/^\d+\.\d+\.\d+\.\d+(-\d+\.\d+\.\d+\.\d+)?(:.*)?$/.test(text)) {
    [addrs, ports] = text.split(':');
  }
  const [lo, hi, extra] = addrs.split('-');
  if (extra !== undefined) throw syntaxError('nat: bad address range', tok);
  if (isIpv4(lo) && (hi === undefined || isIpv4(hi))) {
    a.ipv4_min = ipv4ToString(ipv4ToBytes(lo));
    if (hi !== undefined) a.ipv4_max = ipv4ToString(ipv4ToBytes(hi));
  } else {
    try {
      a.ipv6_min = ipv6ToString(ipv6ToBytes(lo));
      if (hi !== undefined) a.ipv6_max = ipv6ToString(ipv6ToBytes(hi));
    } catch {
      throw syntaxError('nat: not an IPv4 or IPv6 address range', text);
    }
  }
  if (ports !== undefined) {
    const [p, q, more] = ports.split('-');
    if (more !== undefined) throw syntaxError('nat: bad port range', tok);
    a.proto_min = parseSmall(p, 16, 'nat port');
    if (q !== undefined) a.proto_max = parseSmall(q, 16, 'nat port');
  }
}

function ct(args: string | undefined, ctx: ActionContext): CtAction {
  const a: CtAction = { type: 'ct', flags: 0, zone: 0, recirc_table: 255, alg: 0, actions: [] };
  const nested: Action[] = [];
  for (const part of splitTopLevel(args ?? '')) {
    const kv = /^(\w+)=(.*)$/s.exec(part);
    const { name, paren, arg } = kv ? { name: kv[1], paren: undefined, arg: kv[2] } : splitAction(part);
    if (name === 'commit' && paren === undefined && arg === undefined) a.flags |= NX_CT_F_COMMIT;
    else if (name === 'force' && paren === undefined && arg === undefined) a.flags |= NX_CT_F_FORCE;
    else if (name === 'table' && arg !== undefined) a.recirc_table = parseSmall(arg, 8, 'ct table');
    else if (name === 'zone' && arg !== undefined) {
      if (arg.includes('[')) {
        const sf = parseSubfield(arg);
        delete a.zone;
        a.zone_src = sf.name; a.zone_ofs = sf.ofs; a.zone_n_bits = sf.nBits;
      } else a.zone = parseSmall(arg, 16, 'ct zone');
    } else if (name === 'alg' && arg !== undefined) {
      a.alg = arg === 'ftp' ? 21 : arg === 'tftp' ? 69 : parseSmall(arg, 16, 'ct alg');
    } else if (name === 'nat') nested.unshift(nat(paren, part));
    else if (name === 'exec' && paren !== undefined) nested.push(...parseActions(paren, ctx));
    else throw syntaxError('ct: unknown argument', part);
  }
  a.actions = nested;
  return a;
}

function controller(args: string): Action {
  let reason = 1;
  let maxLen = 0xffff;
  let id = 0;
  for (const part of splitTopLevel(args)) {
    const [k, v] = part.split('=');
    if (k === 'reason' && v !== undefined) {
      const r = PACKET_IN_REASONS.indexOf(v);
      if (r < 0) throw syntaxError('controller: unknown reason', part);
      reason = r;
    } else if (k === 'max_len' && v !== undefined) maxLen = parseSmall(v, 16, 'max_len');
    else if (k === 'id' && v !== undefined) id = parseSmall(v, 16, 'controller id');
    else throw syntaxError('controller: unsupported argument', part);
  }
  // Like ovs-ofctl: the plain case is an OpenFlow output to CONTROLLER.
  if (reason === 1 && id === 0) return { type: 'output', port: OFPP_CONTROLLER, max_len: maxLen };
  return { type: 'controller', max_len: maxLen, controller_id: id, reason };
}

function output(port: number): Action {
  return { type: 'output', port, max_len: port === OFPP_CONTROLLER ? 0xffff : 0 };
}

const BARE: Record<string, Action> = {
  pop_vlan: { type: 'pop_vlan' }, strip_vlan: { type: 'pop_vlan' }, dec_ttl: { type: 'dec_nw_ttl' },
  dec_mpls_ttl: { type: 'dec_mpls_ttl' }, copy_ttl_in: { type: 'copy_ttl_in' }, copy_ttl_out: { type: 'copy_ttl_out' },
  pop_pbb: { type: 'pop_pbb' }, exit: { type: 'exit' }, ct_clear: { type: 'ct_clear' },
};
const PORT_WORDS = new Set(['IN_PORT', 'TABLE', 'NORMAL', 'FLOOD', 'ALL', 'CONTROLLER', 'LOCAL']);
const INSTRUCTION_WORDS = new Set(['goto_table', 'meter', 'clear_actions', 'write_actions', 'write_metadata']);

function parseAction(tok: string, ctx: ActionContext): Action[] {
  if (/^\d+$/.test(tok) || PORT_WORDS.has(tok.toUpperCase()) && !/[(:]/.test(tok)) return [output(parsePort(tok))];
  const { name, paren, arg } = splitAction(tok);
  const need = (x: string | undefined) => { if (x === undefined || x === '') throw syntaxError(`${name}: missing argument`, tok); return x; };
  if (paren === undefined && arg === undefined && BARE[name]) return [{ ...BARE[name] }];
  switch (name) {
    case 'output':
      if (paren !== undefined) {
        const kv = Object.fromEntries(splitTopLevel(paren).map((p) => p.split('=')));
        if (kv.port === undefined || kv.max_len === undefined) throw syntaxError('output(port=P,max_len=N) needs both', tok);
        return [{ type: 'output_trunc', port: parsePort16(kv.port), max_len: Number(parseUint(kv.max_len, 32, 'max_len')) }];
      }
      if (need(arg).includes('[')) {
        const sf = parseSubfield(arg!);
        return [{ type: 'output_reg', src: sf.name, ofs: sf.ofs, n_bits: sf.nBits, max_len: 0xffff }];
      }
      return [output(parsePort(arg!, 'output'))];
    case 'CONTROLLER': case 'controller':
      if (paren !== undefined) return [controller(paren)];
      return [{ type: 'output', port: OFPP_CONTROLLER, max_len: arg === undefined ? 0xffff : parseSmall(arg, 16, 'max_len') }];
    case 'group': return [{ type: 'group', group_id: parseSmall(need(arg), 32, 'group') }];
    case 'set_queue': return [{ type: 'set_queue', queue_id: parseSmall(need(arg), 32, 'queue') }];
    case 'push_vlan': return [{ type: 'push_vlan', ethertype: parseSmall(need(arg), 16, 'ethertype') }];
    case 'push_mpls': return [{ type: 'push_mpls', ethertype: parseSmall(need(arg), 16, 'ethertype') }];
    case 'pop_mpls': return [{ type: 'pop_mpls', ethertype: parseSmall(need(arg), 16, 'ethertype') }];
    case 'push_pbb': return [{ type: 'push_pbb', ethertype: parseSmall(need(arg), 16, 'ethertype') }];
    case 'mod_nw_ttl': return [{ type: 'set_nw_ttl', nw_ttl: parseSmall(need(arg), 8, 'ttl') }];
    case 'set_mpls_ttl': return [{ type: 'set_mpls_ttl', mpls_ttl: parseSmall(need(paren ?? arg), 8, 'ttl') }];
    case 'dec_ttl': return [{ type: 'dec_ttl_cnt_ids', ids: splitTopLevel(need(paren)).map((x) => parseSmall(x, 16, 'controller id')) }];
    case 'set_field': return [setField(need(arg), tok)];
    case 'load': return load(need(arg), tok);
    case 'move': return [move(need(arg), tok)];
    case 'set_tunnel': case 'set_tunnel64':
      return [{ type: 'set_field', field: { field: 'tunnel_id', value: parseUint(need(arg), 64, name) } }];
    case 'mod_dl_src': case 'mod_dl_dst': case 'mod_nw_src': case 'mod_nw_dst':
      return [setField(`${need(arg)}->${{ mod_dl_src: 'eth_src', mod_dl_dst: 'eth_dst', mod_nw_src: 'ipv4_src', mod_nw_dst: 'ipv4_dst' }[name]}`, tok)];
    case 'mod_tp_src': case 'mod_tp_dst': {
      const l4 = ctx.ipProto === 6 ? 'tcp' : ctx.ipProto === 17 ? 'udp' : ctx.ipProto === 132 ? 'sctp' : undefined;
      if (!l4) throw syntaxError(`${name} needs a tcp, udp or sctp match`, tok);
      return [setField(`${need(arg)}->${l4}_${name.slice(7)}`, tok)];
    }
    case 'resubmit': {
      if (paren === undefined) return [{ type: 'resubmit', in_port: parsePort16(need(arg), 'resubmit port'), table: 255 }];
      const [p, t, c, more] = paren.split(',').map((x) => x.trim());
      if (more !== undefined || (c !== undefined && c !== 'ct')) throw syntaxError('resubmit([port],[table][,ct])', tok);
      const r: Action = { type: 'resubmit', in_port: p ? parsePort16(p, 'resubmit port') : 0xfff8, table: t ? parseSmall(t, 8, 'resubmit table') : 255 };
      if (c === 'ct') r.ct = true;
      return [r];
    }
    case 'note': {
      const hex = (arg ?? '').replace(/\./g, '');
      if (!/^([0-9a-f]{2})*$/i.test(hex)) throw syntaxError('note: expected hex bytes like 01.02.ab', tok);
      // Padded as on the wire, so the parsed action equals the one decoded back.
      const note = Buffer.from(hex, 'hex');
      const padded = Math.ceil((10 + note.length) / 8) * 8 - 10;
      return [{ type: 'note', note: Buffer.concat([note, Buffer.alloc(padded - note.length)]) }];
    }
    case 'conjunction': {
      const m = /^\s*(\d+)\s*,\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(need(paren));
      if (!m) throw syntaxError('conjunction(id,k/n) expected', tok);
      const [id, k, n] = [Number(m[1]), Number(m[2]), Number(m[3])];
      if (n < 2 || n > 64 || k < 1 || k > n) throw syntaxError('conjunction: need 2 <= n <= 64 and 1 <= k <= n', tok);
      return [{ type: 'conjunction', id, clause: k - 1, n_clauses: n }];
    }
    case 'fin_timeout': {
      const a: Action = { type: 'fin_timeout', fin_idle_timeout: 0, fin_hard_timeout: 0 };
      for (const part of splitTopLevel(paren ?? '')) {
        const [k, v] = part.split('=');
        if (k === 'idle_timeout' && v) a.fin_idle_timeout = parseSmall(v, 16, k);
        else if (k === 'hard_timeout' && v) a.fin_hard_timeout = parseSmall(v, 16, k);
        else throw syntaxError('fin_timeout: unknown argument', part);
      }
      return [a];
    }
    case 'ct': return [ct(paren, ctx)];
    case 'nat': return [nat(paren, tok)];
    case 'nx': case 'experimenter': {
      const m = /^(0x[0-9a-f]+|\d+),0x((?:[0-9a-f]{2})*)$/i.exec(need(paren));
      if (!m) throw syntaxError(`${name}(ID,0xHEX) expected`, tok);
      const data = Buffer.from(m[2], 'hex');
      return [name === 'nx' ? { type: 'nx', subtype: parseSmall(m[1], 16, 'subtype'), data }
        : { type: 'experimenter', experimenter: parseSmall(m[1], 32, 'experimenter'), data }];
    }
  }
  if (INSTRUCTION_WORDS.has(name)) throw syntaxError(`${name} is an instruction, not an action`, tok);
  if (name.startsWith('mod_vlan')) throw syntaxError(`${name} is OpenFlow 1.0 only; use push_vlan and set_field`, tok);
  throw syntaxError('unknown action', tok);
}

/** Parse an action list ("output:1,ct(commit)"); "drop" or "" is the empty list. */
export function parseActions(text: string, ctx: ActionContext = {}): Action[] {
  const toks = splitTopLevel(text);
  if (toks.length === 1 && toks[0] === 'drop') return [];
  const out: Action[] = [];
  for (const t of toks) {
    if (t === 'drop') throw syntaxError('"drop" must not be accompanied by any other action', text);
    out.push(...parseAction(t, ctx));
  }
  return out;
}

/**
 * Parse the text after "actions=" into instructions, in the order OVS sends
 * them: meter, apply_actions (the plain actions), clear_actions,
 * write_actions, write_metadata, goto_table.
 */
export function parseInstructions(text: string, ctx: ActionContext = {}): Instruction[] {
  const toks = splitTopLevel(text);
  if (toks.length === 1 && toks[0] === 'drop') return [];
  const apply: Action[] = [];
  const byType = new Map<string, Instruction>();
  const once = (i: Instruction, tok: string) => {
    if (byType.has(i.type)) throw syntaxError(`${i.type} given twice`, tok);
    byType.set(i.type, i);
  };
  for (const t of toks) {
    if (t === 'drop') throw syntaxError('"drop" must not be accompanied by any other action or instruction', text);
    const { name, paren, arg } = splitAction(t);
    if (name === 'goto_table' && arg !== undefined) once({ type: 'goto_table', table_id: parseSmall(arg, 8, 'goto_table') }, t);
    else if (name === 'meter' && arg !== undefined) once({ type: 'meter', meter_id: parseSmall(arg, 32, 'meter') }, t);
    else if (name === 'clear_actions' && arg === undefined && paren === undefined) once({ type: 'clear_actions' }, t);
    else if (name === 'write_actions' && paren !== undefined) once({ type: 'write_actions', actions: parseActions(paren, ctx) }, t);
    else if (name === 'write_metadata' && arg !== undefined) {
      const [v, m] = arg.split('/');
      once({ type: 'write_metadata', metadata: parseUint(v, 64, name), metadata_mask: m === undefined ? ones(64) : parseUint(m, 64, name) }, t);
    } else apply.push(...parseAction(t, ctx));
  }
  const out: Instruction[] = [];
  const add = (type: string) => { const i = byType.get(type); if (i) out.push(i); };
  add('meter');
  if (apply.length) out.push({ type: 'apply_actions', actions: apply });
  for (const type of ['clear_actions', 'write_actions', 'write_metadata', 'goto_table']) add(type);
  return out;
}
