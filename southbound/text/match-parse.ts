// Parse an ovs-ofctl match ("tcp,nw_src=10.0.0.0/24,tp_dst=80") into OXMs in
// the order OVS itself puts them on the wire, so a parsed flow is deep-equal
// to the same flow decoded from an OVS dump. Ambiguous OVS keywords (nw_src,
// tp_dst, icmp_type) resolve from the eth_type/ip_proto already seen, as
// ovs-ofctl does.
import { Oxm, OxmUnknown, OXM_BY_NAME, KIND_LEN } from '../codec/oxm';
import { syntaxError, ovsFieldOf, ovsFieldByName, OvsField } from './fields';
import { ones, fromBits, parseUint, parseSmall, parseFieldValue } from './values';
import { SHORTHANDS, ETH_TYPE_ARP, ETH_TYPE_RARP, ETH_TYPE_IPV6 } from './match-format';

/** Keywords whose OXM depends on what the match already says. */
type Handler = (p: MatchParser, value: string, tok: string) => void;

const simple = (oxm: string): Handler => (p, v, tok) => p.addParsed(oxm, v, tok);

const HANDLERS: Record<string, Handler> = {
  in_port: simple('in_port'),
  dl_vlan: (p, v, tok) => {
    const n = parseSmall(v, 16, 'dl_vlan');
    if (n === 0xffff) return p.setVid(0n, undefined, tok); // OVS: 0xffff means "no VLAN header"
    if (n > 0xfff) throw syntaxError('dl_vlan: VLAN id must be 0..4095 (or 0xffff for none)', tok);
    p.setVid(BigInt(0x1000 | n), undefined, tok);
  },
  dl_vlan_pcp: (p, v, tok) => p.setPcp(v, tok),
  vlan_pcp: (p, v, tok) => p.setPcp(v, tok),
  vlan_tci: (p, v, tok) => {
    // As OVS encodes a vlan_tci match in OXM (nx-match.c nx_put_raw, OF1.2+).
    const [vs, ms] = v.split('/');
    const tci = parseSmall(vs, 16, 'vlan_tci');
    const mask = ms === undefined ? 0xffff : parseSmall(ms, 16, 'vlan_tci');
    const vid = tci & mask & 0x1fff;
    const vmask = mask & 0x1fff;
    if (vmask) p.setVid(BigInt(vid), vmask === 0x1fff ? undefined : BigInt(vmask), tok);
    if (vid && (mask & 0xe000)) p.addBits('vlan_pcp', BigInt((tci >> 13) & 7), undefined, tok);
  },
  nw_src: (p, v, tok) => p.addParsed(p.isArp() ? 'arp_spa' : 'ipv4_src', v, tok),
  nw_dst: (p, v, tok) => p.addParsed(p.isArp() ? 'arp_tpa' : 'ipv4_dst', v, tok),
  nw_proto: (p, v, tok) => p.addParsed(p.isArp() ? 'arp_op' : 'ip_proto', v, tok),
  nw_tos: (p, v, tok) => {
    const n = parseSmall(v, 8, 'nw_tos');
    if (n & 3) throw syntaxError('nw_tos: the low 2 bits (ECN) must be zero', tok);
    p.addBits('ip_dscp', BigInt(n >> 2), undefined, tok);
  },
  tp_src: (p, v, tok) => p.addParsed(`${p.l4('tp_src', tok)}_src`, v, tok),
  tp_dst: (p, v, tok) => p.addParsed(`${p.l4('tp_dst', tok)}_dst`, v, tok),
  icmp_type: (p, v, tok) => p.addParsed(p.ethType() === ETH_TYPE_IPV6 ? 'icmpv6_type' : 'icmpv4_type', v, tok),
  icmp_code: (p, v, tok) => p.addParsed(p.ethType() === ETH_TYPE_IPV6 ? 'icmpv6_code' : 'icmpv4_code', v, tok),
};

export class MatchParser {
  readonly fields: Oxm[] = [];
  /** Index of a vlan_vid=0x1000/0x1000 added only because a PCP was given. */
  private implicitVid = -1;

  /** One `key` or `key=value` token of a match. */
  token(tok: string): void {
    const eq = tok.indexOf('=');
    const key = eq < 0 ? tok : tok.slice(0, eq);
    const value = eq < 0 ? undefined : tok.slice(eq + 1);
    if (value === undefined) {
      const sh = SHORTHANDS[key];
      if (!sh) throw syntaxError('unknown match keyword (or missing "=value")', tok);
      this.addBits('eth_type', BigInt(sh[0]), undefined, tok);
      if (sh[1] !== undefined) this.addBits('ip_proto', BigInt(sh[1]), undefined, tok);
      return;
    }
    if (value === '') throw syntaxError(`${key}: missing value`, tok);
    const h = HANDLERS[key];
    if (h) return h(this, value, tok);
    if (key.startsWith('oxm:')) return this.addRaw(key, value, tok);
    const xreg = /^xreg([0-7])$/.exec(key);
    if (xreg) return this.addXreg(Number(xreg[1]), value, tok);
    if (OXM_BY_NAME.has(key)) return this.addParsed(key, value, tok);
    const f = ovsFieldByName(key);
    if (f?.oxm) return this.addParsed(f.oxm, value, tok);
    if (f) return this.addNxm(f, value, tok);
    throw syntaxError('unknown match field', tok);
  }

  ethType(): number | undefined {
    const o = this.fields.find((x) => x.field === 'eth_type');
    return o ? Number(o.value) : undefined;
  }

  isArp(): boolean {
    const t = this.ethType();
    return t === ETH_TYPE_ARP || t === ETH_TYPE_RARP;
  }

  /** tcp/udp/sctp, from the ip_proto already in the match. */
  l4(key: string, tok: string): string {
    const o = this.fields.find((x) => x.field === 'ip_proto');
    const p = o ? Number(o.value) : undefined;
    if (p === 6) return 'tcp';
    if (p === 17) return 'udp';
    if (p === 132) return 'sctp';
    throw syntaxError(`${key} needs tcp, udp or sctp (ip_proto 6, 17 or 132) earlier in the match`, tok);
  }

  setVid(v: bigint, m: bigint | undefined, tok: string): void {
    if (this.implicitVid >= 0) {
      this.fields.splice(this.implicitVid, 1);
      this.implicitVid = -1;
    }
    this.addBits('vlan_vid', v, m, tok);
  }

  setPcp(v: string, tok: string): void {
    const pcp = parseSmall(v, 3, 'vlan_pcp');
    // OF1.3 requires a VLAN to be present before VLAN_PCP; OVS sends vlan_vid=0x1000/0x1000.
    if (!this.fields.some((x) => x.field === 'vlan_vid')) {
      this.addBits('vlan_vid', 0x1000n, 0x1000n, tok);
      this.implicitVid = this.fields.length - 1;
    }
    this.addBits('vlan_pcp', BigInt(pcp), undefined, tok);
  }

  /** `value[/mask]` in the syntax of OXM field `name`. */
  addParsed(name: string, text: string, tok: string): void {
    const f = ovsFieldOf(name);
    if (f) {
      const { value, mask } = parseFieldValue(f, text, name);
      return this.addBits(name, value, mask, tok);
    }
    const d = OXM_BY_NAME.get(name)!;
    const bits = KIND_LEN[d.kind] * 8;
    const [v, m] = text.split('/');
    this.addBits(name, parseUint(v, bits, name), m === undefined ? undefined : parseUint(m, bits, name), tok);
  }

  /** Add an OXM; an all-ones mask means exact, an all-zero mask means "any" (nothing added). */
  addBits(name: string, v: bigint, m: bigint | undefined, tok: string): void {
    const d = OXM_BY_NAME.get(name)!;
    const width = KIND_LEN[d.kind] * 8;
    if (m !== undefined) {
      if (m === ones(width)) m = undefined;
      else if (m === 0n) return;
      else v &= m;
    }
    const o: Oxm = { field: name, value: fromBits(d.kind, v) };
    if (m !== undefined) o.mask = fromBits(d.kind, m);
    this.push(o, tok);
  }

  /** OVS sends an xreg as its two 32-bit registers on OpenFlow 1.3 (reg2N is the high half). */
  private addXreg(n: number, text: string, tok: string): void {
    const [v, m] = text.split('/');
    const value = parseUint(v, 64, `xreg${n}`);
    const mask = m === undefined ? ones(64) : parseUint(m, 64, `xreg${n}`);
    this.addBits(`reg${2 * n}`, (value >> 32n) & mask >> 32n, mask >> 32n, tok);
    this.addBits(`reg${2 * n + 1}`, value & mask & 0xffffffffn, mask & 0xffffffffn, tok);
  }

  /** An OVS field with no OXM in our table (nw_ttl, xxreg0, ...): an unknown OXM with OVS's NXM header. */
  private addNxm(f: OvsField, text: string, tok: string): void {
    const { value, mask } = parseFieldValue(f, text, f.mf);
    if (mask === 0n) return;
    const h = (x: bigint) => x.toString(16).padStart(f.bytes * 2, '0');
    const u: OxmUnknown = { field: 'unknown', oxmClass: f.cls, code: f.code, value: h(value) };
    if (mask !== undefined) u.mask = h(mask);
    this.push(u, tok);
  }

  /** `oxm:class:code[:experimenter[:exp_type]]=0xHEX[/0xHEX]`, our spelling for an OXM OVS cannot name. */
  private addRaw(key: string, text: string, tok: string): void {
    const id = key.slice(4).split(':');
    const hexRe = /^[0-9a-f]+$/i;
    if (id.length < 2 || id.length > 4 || !id.every((x) => hexRe.test(x))) throw syntaxError('bad oxm:class:field key', tok);
    const [vs, ms] = text.split('/');
    const raw = (s: string) => {
      if (!/^0x([0-9a-f]{2})*$/i.test(s)) throw syntaxError('raw OXM value must be 0x followed by whole bytes', tok);
      return s.slice(2).toLowerCase();
    };
    const [cls, code, exp, expType] = id.map((x) => parseInt(x, 16));
    const u: OxmUnknown = { field: 'unknown', oxmClass: cls, code, value: raw(vs) };
    if (exp !== undefined) u.experimenter = exp;
    if (expType !== undefined) u.expType = expType;
    if (ms !== undefined) u.mask = raw(ms);
    this.push(u, tok);
  }

  private push(o: Oxm, tok: string): void {
    const same = (a: Oxm) => a.field === o.field && (o.field !== 'unknown'
      || ((a as OxmUnknown).oxmClass === (o as OxmUnknown).oxmClass && (a as OxmUnknown).code === (o as OxmUnknown).code));
    const prev = this.fields.find(same);
    if (prev) {
      if (String(prev.value) === String(o.value) && String(prev.mask) === String(o.mask)) return;
      throw syntaxError(`${o.field === 'unknown' ? 'field' : o.field} is given twice with different values`, tok);
    }
    this.fields.push(o);
  }
}

/**
 * The order OVS 3.1 writes OXMs on the wire (nx-match.c nx_put_raw): what a
 * flow dumped from OVS decodes to. Prerequisites come before the fields that
 * need them. Fields OVS never sends over OpenFlow 1.3 go last.
 */
const WIRE_ORDER = [
  'dp_hash', 'recirc_id', 'conj_id', 'in_port', 'in_phy_port', 'eth_src', 'eth_dst', 'eth_type', 'vlan_vid', 'vlan_pcp',
  'mpls_tc', 'mpls_bos', 'nxm:1:1e', 'mpls_label', 'ipv4_src', 'ipv4_dst', 'ipv6_src', 'ipv6_dst', 'nxm:1:1a', 'ip_dscp',
  'ip_ecn', 'nxm:1:1d', 'ipv6_flabel', 'ip_proto', 'tcp_src', 'tcp_dst', 'tcp_flags', 'udp_src', 'udp_dst', 'sctp_src',
  'sctp_dst', 'icmpv4_type', 'icmpv4_code', 'icmpv6_type', 'icmpv6_code', 'ipv6_nd_target', 'ipv6_nd_sll', 'ipv6_nd_tll',
  'arp_op', 'arp_spa', 'arp_tpa', 'arp_sha', 'arp_tha', 'tunnel_id', 'tun_ipv4_src', 'tun_ipv4_dst', 'nxm:1:6d', 'nxm:1:6e',
  ...Array.from({ length: 16 }, (_, i) => `reg${i}`), 'pkt_mark', 'ct_state', 'ct_zone', 'ct_mark', 'ct_label', 'metadata',
];
const RANK = new Map(WIRE_ORDER.map((n, i) => [n, i]));

function rank(o: Oxm): number {
  const u = o as OxmUnknown;
  const key = o.field === 'unknown' ? `nxm:${u.oxmClass.toString(16)}:${u.code.toString(16)}` : o.field;
  return RANK.get(key) ?? WIRE_ORDER.length;
}

/** Sort OXMs into OVS's wire order (stable for fields it does not know). */
export function wireOrder(fields: readonly Oxm[]): Oxm[] {
  return fields.map((o, i) => ({ o, i, r: rank(o) })).sort((a, b) => a.r - b.r || a.i - b.i).map((x) => x.o);
}

/** Split a match or flow head on commas and white space. */
export function matchWords(text: string): string[] {
  return text.split(/[\s,]+/).filter((t) => t.length > 0);
}

/** Parse an ovs-ofctl match ("ip,in_port=1,nw_dst=10.0.0.0/24") to OXMs, in OVS's wire order. */
export function parseMatch(text: string): Oxm[] {
  const p = new MatchParser();
  for (const t of matchWords(text)) p.token(t);
  return wireOrder(p.fields);
}
