// A match (OXM list) in ovs-ofctl text, in the order OVS 3.1 prints it
// (lib/match.c match_format): pkt_mark, conj_id, ct_*, the ip/tcp/arp
// shorthand, regs, tunnel, metadata, in_port, vlan, L2, L3, L4. Our Oxm[]
// keeps wire order; this prints OVS's order so both texts compare equal.
import { Oxm, OxmUnknown, OXM_BY_NAME, KIND_LEN } from '../codec/oxm';
import {
  hex, ones, toBits, formatAddr, formatPort, formatFlags, CT_STATE_FLAGS, TCP_FLAGS, formatFieldValue, ctStateMask,
} from './values';
import { ovsFieldOf } from './fields';

export const ETH_TYPE_IP = 0x0800;
export const ETH_TYPE_IPV6 = 0x86dd;
export const ETH_TYPE_ARP = 0x0806;
export const ETH_TYPE_RARP = 0x8035;

/** eth_type [, ip_proto] -> shorthand keyword, as match_format prints them. */
export const SHORTHANDS: Record<string, [number, number?]> = {
  ip: [ETH_TYPE_IP], icmp: [ETH_TYPE_IP, 1], tcp: [ETH_TYPE_IP, 6], udp: [ETH_TYPE_IP, 17], sctp: [ETH_TYPE_IP, 132],
  ipv6: [ETH_TYPE_IPV6], icmp6: [ETH_TYPE_IPV6, 58], tcp6: [ETH_TYPE_IPV6, 6], udp6: [ETH_TYPE_IPV6, 17], sctp6: [ETH_TYPE_IPV6, 132],
  arp: [ETH_TYPE_ARP], rarp: [ETH_TYPE_RARP], mpls: [0x8847], mplsm: [0x8848],
};

/** A field's value and mask as integers, masked like OVS stores them; undefined when fully wildcarded. */
interface Bits { v: bigint; m?: bigint }

function bitsOf(o: Oxm): Bits | undefined {
  const d = OXM_BY_NAME.get(o.field);
  if (!d) return undefined;
  const width = KIND_LEN[d.kind] * 8;
  const v = toBits(d.kind, o.value);
  if (o.mask === undefined || o.mask === null) return { v };
  const m = toBits(d.kind, o.mask);
  if (m === ones(width)) return { v };
  if (m === 0n) return undefined;
  return { v: v & m, m };
}

/** The fields of a match as `key=value` tokens in OVS order. */
export function matchTokens(match: readonly Oxm[]): string[] {
  const first = new Map<string, Oxm>();
  const rest: Oxm[] = [];
  for (const o of match) {
    if (o.field !== 'unknown' && !first.has(o.field)) first.set(o.field, o);
    else rest.push(o);
  }
  const used = new Set<string>();
  const take = (name: string): Bits | undefined => {
    const o = first.get(name);
    if (!o) return undefined;
    used.add(name);
    return bitsOf(o);
  };
  const out: string[] = [];
  const put = (s: string) => out.push(s);
  /** format_uint32_masked / format_be64_masked: %#x[/%#x]. */
  const hexMasked = (key: string, b: Bits | undefined) => { if (b) put(`${key}=${hex(b.v)}${b.m !== undefined ? '/' + hex(b.m) : ''}`); };
  /** format_be16_masked / format_uint16_masked: decimal, or 0x%x/0x%x. */
  const decMasked = (key: string, b: Bits | undefined) => {
    if (b) put(b.m === undefined ? `${key}=${b.v}` : `${key}=0x${b.v.toString(16)}/0x${b.m.toString(16)}`);
  };
  const dec = (key: string, b: Bits | undefined) => { if (b) put(`${key}=${b.v}`); };
  const addr = (key: string, kind: 'mac' | 'ipv4' | 'ipv6', b: Bits | undefined) => { if (b) put(`${key}=${formatAddr(kind, b.v, b.m)}`); };

  hexMasked('pkt_mark', take('pkt_mark'));
  hexMasked('recirc_id', take('recirc_id'));
  hexMasked('dp_hash', take('dp_hash'));
  dec('conj_id', take('conj_id'));
  const cs = take('ct_state');
  if (cs) put(`ct_state=${formatFlags(CT_STATE_FLAGS, Number(cs.v & 0xffn), ctStateMask(cs.m), 0xff)}`);
  decMasked('ct_zone', take('ct_zone'));
  hexMasked('ct_mark', take('ct_mark'));
  hexMasked('ct_label', take('ct_label'));

  // The dl_type/nw_proto shorthand ("tcp" for eth_type=0x0800,ip_proto=6).
  const et = first.get('eth_type');
  const etBits = et ? bitsOf(et) : undefined;
  const ethType = etBits && etBits.m === undefined ? Number(etBits.v) : undefined;
  const pr = first.get('ip_proto');
  const prBits = pr ? bitsOf(pr) : undefined;
  const proto = prBits ? Number(prBits.v) : undefined;
  let shorthand: string | undefined;
  let protoInShorthand = false;
  for (const [name, [t, p]] of Object.entries(SHORTHANDS)) {
    if (t !== ethType) continue;
    if (p === undefined && shorthand === undefined) shorthand = name;
    if (p !== undefined && p === proto) { shorthand = name; protoInShorthand = true; }
  }
  if (shorthand) {
    put(shorthand);
    used.add('eth_type');
    if (protoInShorthand) used.add('ip_proto');
  }

  for (let i = 0; i < 16; i++) hexMasked(`reg${i}`, regBits(i, first, used));
  hexMasked('tun_id', take('tunnel_id'));
  addr('tun_src', 'ipv4', take('tun_ipv4_src'));
  addr('tun_dst', 'ipv4', take('tun_ipv4_dst'));
  hexMasked('metadata', take('metadata'));
  const ip = take('in_port');
  if (ip) put(`in_port=${formatPort(Number(ip.v))}`);
  const vlan = vlanToken(take('vlan_vid'), take('vlan_pcp'));
  out.push(...vlan);
  addr('dl_src', 'mac', take('eth_src'));
  addr('dl_dst', 'mac', take('eth_dst'));
  if (!shorthand) {
    const t = take('eth_type');
    if (t) put(`dl_type=0x${t.v.toString(16).padStart(4, '0')}${t.m !== undefined ? '/0x' + t.m.toString(16).padStart(4, '0') : ''}`);
  }
  addr('ipv6_src', 'ipv6', take('ipv6_src'));
  addr('ipv6_dst', 'ipv6', take('ipv6_dst'));
  const fl = take('ipv6_flabel');
  if (fl) put(`ipv6_label=0x${fl.v.toString(16).padStart(5, '0')}${fl.m !== undefined ? '/0x' + fl.m.toString(16).padStart(5, '0') : ''}`);
  addr('arp_spa', 'ipv4', take('arp_spa'));
  addr('arp_tpa', 'ipv4', take('arp_tpa'));
  addr('nw_src', 'ipv4', take('ipv4_src'));
  addr('nw_dst', 'ipv4', take('ipv4_dst'));
  if (!protoInShorthand) dec('nw_proto', take('ip_proto'));
  dec('arp_op', take('arp_op'));
  addr('arp_sha', 'mac', take('arp_sha'));
  addr('arp_tha', 'mac', take('arp_tha'));
  const dscp = take('ip_dscp');
  if (dscp) put(`nw_tos=${(dscp.v & 0x3fn) << 2n}`);
  dec('nw_ecn', take('ip_ecn'));
  dec('mpls_label', take('mpls_label'));
  dec('mpls_tc', take('mpls_tc'));
  dec('mpls_bos', take('mpls_bos'));
  decMasked('icmp_type', take('icmpv4_type'));
  decMasked('icmp_code', take('icmpv4_code'));
  decMasked('icmp_type', take('icmpv6_type'));
  decMasked('icmp_code', take('icmpv6_code'));
  addr('nd_target', 'ipv6', take('ipv6_nd_target'));
  addr('nd_sll', 'mac', take('ipv6_nd_sll'));
  addr('nd_tll', 'mac', take('ipv6_nd_tll'));
  for (const p of ['tcp', 'udp', 'sctp']) {
    decMasked('tp_src', take(`${p}_src`));
    decMasked('tp_dst', take(`${p}_dst`));
  }
  const tf = take('tcp_flags');
  if (tf) {
    const m = tf.m === undefined || (tf.m & 0xfffn) === 0xfffn ? undefined : Number(tf.m);
    put(`tcp_flags=${formatFlags(TCP_FLAGS, Number(tf.v), m, 0xfff)}`);
  }

  // Fields OVS has no match keyword for, duplicates and unknown OXMs: our own spelling, at the end.
  for (const [name, o] of first) if (!used.has(name)) rest.unshift(o);
  for (const o of rest) { const t = extraToken(o); if (t) out.push(t); }
  return out;
}

/** regN from a regN OXM, or from half of the xreg(N/2) OXM that overlays it (OVS prints xregs as reg pairs). */
function regBits(i: number, first: Map<string, Oxm>, used: Set<string>): Bits | undefined {
  const r = first.get(`reg${i}`);
  if (r) { used.add(`reg${i}`); return bitsOf(r); }
  const x = first.get(`xreg${i >> 1}`);
  if (!x) return undefined;
  used.add(`xreg${i >> 1}`);
  const b = bitsOf(x);
  if (!b) return undefined;
  const shift = i % 2 === 0 ? 32n : 0n;
  const v = (b.v >> shift) & 0xffffffffn;
  const m = ((b.m ?? ones(64)) >> shift) & 0xffffffffn;
  if (m === 0n) return undefined;
  return m === 0xffffffffn ? { v } : { v, m };
}

/** vlan_vid/vlan_pcp as OVS prints its vlan_tci: dl_vlan, dl_vlan_pcp or vlan_tci=v/m. */
function vlanToken(vid: Bits | undefined, pcp: Bits | undefined): string[] {
  let tci = 0;
  let mask = 0;
  if (vid) {
    tci = Number(vid.v) & 0x1fff;
    mask = Number(vid.m ?? 0x1fffn) & 0x1fff;
  }
  if (pcp) {
    // OXM_OF_VLAN_PCP implies a VLAN header: OVS sets and matches the CFI bit.
    tci |= ((Number(pcp.v) & 7) << 13) | 0x1000;
    mask |= 0xe000 | 0x1000;
  }
  tci &= mask;
  if (!mask) return [];
  const vidMask = mask & 0x0fff;
  const pcpMask = mask & 0xe000;
  if ((mask & 0x1000) && (tci & 0x1000) && (vidMask === 0 || vidMask === 0xfff) && (pcpMask === 0 || pcpMask === 0xe000)
    && (vidMask || pcpMask)) {
    const out: string[] = [];
    if (vidMask) out.push(`dl_vlan=${tci & 0xfff}`);
    if (pcpMask) out.push(`dl_vlan_pcp=${tci >> 13}`);
    return out;
  }
  const h4 = (x: number) => '0x' + x.toString(16).padStart(4, '0');
  return [mask === 0xffff ? `vlan_tci=${h4(tci)}` : `vlan_tci=${h4(tci)}/${h4(mask)}`];
}

function extraToken(o: Oxm): string | undefined {
  if (o.field === 'unknown') {
    const u = o as OxmUnknown;
    const f = u.experimenter === undefined ? ovsFieldOf(`field:${u.oxmClass.toString(16)}:${u.code.toString(16)}`) : undefined;
    if (f) {
      const v = BigInt('0x' + (u.value || '0'));
      const m = u.mask !== undefined ? BigInt('0x' + (u.mask || '0')) : undefined;
      return `${f.mf}=${formatFieldValue(f, m === undefined ? v : v & m, m)}`;
    }
    const id = [u.oxmClass, u.code, ...(u.experimenter !== undefined ? [u.experimenter] : []), ...(u.expType !== undefined ? [u.expType] : [])];
    return `oxm:${id.map((x) => x.toString(16)).join(':')}=0x${u.value || '0'}${u.mask !== undefined ? '/0x' + (u.mask || '0') : ''}`;
  }
  const b = bitsOf(o);
  if (!b) return undefined;
  const f = ovsFieldOf(o.field);
  const key = o.field;
  if (f) return `${key}=${formatFieldValue(f, b.v, b.m)}`;
  return `${key}=${hex(b.v)}${b.m !== undefined ? '/' + hex(b.m) : ''}`;
}

/** A match in ovs-ofctl text (no priority): "ip,in_port=1,nw_dst=10.0.0.0/24". Empty for match-all. */
export function formatMatch(match: readonly Oxm[]): string {
  return matchTokens(match).join(',');
}
