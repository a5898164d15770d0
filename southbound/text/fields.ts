// Field names of the ovs-ofctl text form (ovs-fields(7), ovs-actions(7)),
// as Open vSwitch 3.1 prints them.
// One table of OVS fields maps each NXM/OXM header to the three names OVS
// uses: the match keyword, the meta-flow name (set_field) and the header name
// (load/move subfields).
import { OXM_BY_NAME, OXM_FIELDS, KIND_LEN } from '../codec/oxm';

/** Text that is not valid ovs-ofctl syntax. `token` is the offending piece. */
export class OfctlSyntaxError extends Error {
  override readonly name = 'OfctlSyntaxError';
  constructor(message: string, readonly token: string) {
    super(message);
  }
}

export function syntaxError(message: string, token: string): OfctlSyntaxError {
  return new OfctlSyntaxError(`${message}: "${token}"`, token);
}

/** How OVS prints a field's value (meta-flow "string" type). */
export type ValueStyle = 'dec' | 'hex' | 'mac' | 'ipv4' | 'ipv6' | 'port' | 'port16' | 'ct_state' | 'tcp_flags';

/** One OVS field: its NXM/OXM header as OVS writes it in load/move, and its names. */
export interface OvsField {
  /** Header name printed in subfields: NXM_OF_ETH_DST, OXM_OF_METADATA, NXM_NX_REG0. */
  nxm: string;
  cls: number;
  code: number;
  /** Value length in bytes (the header's length byte). */
  bytes: number;
  /** Usable width in bits; `[]` in a subfield means all of them. */
  bits: number;
  /** Meta-flow name, printed by set_field. */
  mf: string;
  /** Our OXM field that carries the same OVS field (it may use a different header). */
  oxm?: string;
  style: ValueStyle;
  aliases?: string[];
}

const F = (nxm: string, cls: number, code: number, bytes: number, bits: number, mf: string,
  oxm: string | undefined, style: ValueStyle, aliases?: string[]): OvsField => ({ nxm, cls, code, bytes, bits, mf, oxm, style, aliases });

// Where OVS has both an NXM header and an OXM header for a field, load/move use
// the NXM one (nx-match.c: mf_nxm_header), so that is the one listed here.
export const OVS_FIELDS: OvsField[] = [
  F('NXM_OF_IN_PORT', 0, 0, 2, 16, 'in_port', undefined, 'port16'),
  F('OXM_OF_IN_PORT', 0x8000, 0, 4, 32, 'in_port_oxm', 'in_port', 'port'),
  F('OXM_OF_IN_PHY_PORT', 0x8000, 1, 4, 32, 'in_phy_port', 'in_phy_port', 'port'),
  F('OXM_OF_METADATA', 0x8000, 2, 8, 64, 'metadata', 'metadata', 'hex'),
  F('NXM_OF_ETH_DST', 0, 1, 6, 48, 'eth_dst', 'eth_dst', 'mac', ['dl_dst']),
  F('NXM_OF_ETH_SRC', 0, 2, 6, 48, 'eth_src', 'eth_src', 'mac', ['dl_src']),
  F('NXM_OF_ETH_TYPE', 0, 3, 2, 16, 'eth_type', 'eth_type', 'hex', ['dl_type']),
  F('NXM_OF_VLAN_TCI', 0, 4, 2, 16, 'vlan_tci', undefined, 'hex'),
  F('OXM_OF_VLAN_VID', 0x8000, 6, 2, 12, 'vlan_vid', 'vlan_vid', 'dec'),
  F('OXM_OF_VLAN_PCP', 0x8000, 7, 1, 3, 'vlan_pcp', 'vlan_pcp', 'dec', ['dl_vlan_pcp']),
  F('NXM_OF_IP_TOS', 0, 5, 1, 8, 'nw_tos', undefined, 'dec'),
  F('OXM_OF_IP_DSCP', 0x8000, 8, 1, 6, 'ip_dscp', 'ip_dscp', 'dec'),
  F('NXM_NX_IP_ECN', 1, 28, 1, 2, 'nw_ecn', 'ip_ecn', 'dec', ['ip_ecn']),
  F('NXM_OF_IP_PROTO', 0, 6, 1, 8, 'nw_proto', 'ip_proto', 'dec', ['ip_proto']),
  F('NXM_OF_IP_SRC', 0, 7, 4, 32, 'ip_src', 'ipv4_src', 'ipv4', ['nw_src']),
  F('NXM_OF_IP_DST', 0, 8, 4, 32, 'ip_dst', 'ipv4_dst', 'ipv4', ['nw_dst']),
  F('NXM_OF_TCP_SRC', 0, 9, 2, 16, 'tcp_src', 'tcp_src', 'dec'),
  F('NXM_OF_TCP_DST', 0, 10, 2, 16, 'tcp_dst', 'tcp_dst', 'dec'),
  F('NXM_OF_UDP_SRC', 0, 11, 2, 16, 'udp_src', 'udp_src', 'dec'),
  F('NXM_OF_UDP_DST', 0, 12, 2, 16, 'udp_dst', 'udp_dst', 'dec'),
  F('OXM_OF_SCTP_SRC', 0x8000, 17, 2, 16, 'sctp_src', 'sctp_src', 'dec'),
  F('OXM_OF_SCTP_DST', 0x8000, 18, 2, 16, 'sctp_dst', 'sctp_dst', 'dec'),
  F('NXM_OF_ICMP_TYPE', 0, 13, 1, 8, 'icmp_type', 'icmpv4_type', 'dec'),
  F('NXM_OF_ICMP_CODE', 0, 14, 1, 8, 'icmp_code', 'icmpv4_code', 'dec'),
  F('NXM_OF_ARP_OP', 0, 15, 2, 16, 'arp_op', 'arp_op', 'dec'),
  F('NXM_OF_ARP_SPA', 0, 16, 4, 32, 'arp_spa', 'arp_spa', 'ipv4'),
  F('NXM_OF_ARP_TPA', 0, 17, 4, 32, 'arp_tpa', 'arp_tpa', 'ipv4'),
  F('NXM_NX_TUN_ID', 1, 16, 8, 64, 'tun_id', 'tunnel_id', 'hex'),
  F('NXM_NX_ARP_SHA', 1, 17, 6, 48, 'arp_sha', 'arp_sha', 'mac'),
  F('NXM_NX_ARP_THA', 1, 18, 6, 48, 'arp_tha', 'arp_tha', 'mac'),
  F('NXM_NX_IPV6_SRC', 1, 19, 16, 128, 'ipv6_src', 'ipv6_src', 'ipv6'),
  F('NXM_NX_IPV6_DST', 1, 20, 16, 128, 'ipv6_dst', 'ipv6_dst', 'ipv6'),
  F('NXM_NX_ICMPV6_TYPE', 1, 21, 1, 8, 'icmpv6_type', 'icmpv6_type', 'dec'),
  F('NXM_NX_ICMPV6_CODE', 1, 22, 1, 8, 'icmpv6_code', 'icmpv6_code', 'dec'),
  F('NXM_NX_ND_TARGET', 1, 23, 16, 128, 'nd_target', 'ipv6_nd_target', 'ipv6'),
  F('NXM_NX_ND_SLL', 1, 24, 6, 48, 'nd_sll', 'ipv6_nd_sll', 'mac'),
  F('NXM_NX_ND_TLL', 1, 25, 6, 48, 'nd_tll', 'ipv6_nd_tll', 'mac'),
  F('NXM_NX_IP_FRAG', 1, 26, 1, 2, 'ip_frag', undefined, 'dec', ['nw_frag']),
  F('NXM_NX_IPV6_LABEL', 1, 27, 4, 20, 'ipv6_label', 'ipv6_flabel', 'hex'),
  F('NXM_NX_IP_TTL', 1, 29, 1, 8, 'nw_ttl', undefined, 'dec'),
  F('NXM_NX_MPLS_TTL', 1, 30, 1, 8, 'mpls_ttl', undefined, 'dec'),
  F('OXM_OF_MPLS_LABEL', 0x8000, 34, 4, 20, 'mpls_label', 'mpls_label', 'dec'),
  F('OXM_OF_MPLS_TC', 0x8000, 35, 1, 3, 'mpls_tc', 'mpls_tc', 'dec'),
  F('OXM_OF_MPLS_BOS', 0x8000, 36, 1, 1, 'mpls_bos', 'mpls_bos', 'dec'),
  F('OXM_OF_PBB_ISID', 0x8000, 37, 3, 24, 'pbb_isid', 'pbb_isid', 'dec'),
  F('OXM_OF_IPV6_EXTHDR', 0x8000, 39, 2, 9, 'ipv6_exthdr', 'ipv6_exthdr', 'hex'),
  ...Array.from({ length: 16 }, (_, i) => F(`NXM_NX_REG${i}`, 1, i, 4, 32, `reg${i}`, `reg${i}`, 'hex')),
  F('NXM_NX_TUN_IPV4_SRC', 1, 31, 4, 32, 'tun_src', 'tun_ipv4_src', 'ipv4'),
  F('NXM_NX_TUN_IPV4_DST', 1, 32, 4, 32, 'tun_dst', 'tun_ipv4_dst', 'ipv4'),
  F('NXM_NX_PKT_MARK', 1, 33, 4, 32, 'pkt_mark', 'pkt_mark', 'hex'),
  F('NXM_NX_TCP_FLAGS', 1, 34, 2, 12, 'tcp_flags', 'tcp_flags', 'tcp_flags'),
  F('NXM_NX_DP_HASH', 1, 35, 4, 32, 'dp_hash', 'dp_hash', 'hex'),
  F('NXM_NX_RECIRC_ID', 1, 36, 4, 32, 'recirc_id', 'recirc_id', 'dec'),
  F('NXM_NX_CONJ_ID', 1, 37, 4, 32, 'conj_id', 'conj_id', 'dec'),
  F('NXM_NX_CT_STATE', 1, 105, 4, 32, 'ct_state', 'ct_state', 'ct_state'),
  F('NXM_NX_CT_ZONE', 1, 106, 2, 16, 'ct_zone', 'ct_zone', 'dec'),
  F('NXM_NX_CT_MARK', 1, 107, 4, 32, 'ct_mark', 'ct_mark', 'hex'),
  F('NXM_NX_CT_LABEL', 1, 108, 16, 128, 'ct_label', 'ct_label', 'hex'),
  F('NXM_NX_TUN_IPV6_SRC', 1, 109, 16, 128, 'tun_ipv6_src', undefined, 'ipv6'),
  F('NXM_NX_TUN_IPV6_DST', 1, 110, 16, 128, 'tun_ipv6_dst', undefined, 'ipv6'),
  ...Array.from({ length: 4 }, (_, i) => F(`NXM_NX_XXREG${i}`, 1, 111 + i, 16, 128, `xxreg${i}`, undefined, 'hex')),
  ...Array.from({ length: 8 }, (_, i) => F(`OXM_OF_PKT_REG${i}`, 0x8001, i, 8, 64, `xreg${i}`, `xreg${i}`, 'hex')),
];

const headerKey = (cls: number, code: number) => `${cls}:${code}`;
const BY_HEADER = new Map(OVS_FIELDS.map((f) => [headerKey(f.cls, f.code), f]));
const BY_OXM = new Map(OVS_FIELDS.filter((f) => f.oxm).map((f) => [f.oxm!, f]));
/** Any name a user may write for a field in a subfield or set_field: header, mf name, alias, our OXM name. */
const BY_ANY_NAME = new Map<string, OvsField>();
for (const f of OVS_FIELDS) {
  for (const n of [f.oxm, f.mf, ...(f.aliases ?? [])]) if (n && !BY_ANY_NAME.has(n)) BY_ANY_NAME.set(n, f);
}
// OVS reads a bare "in_port" as its 16-bit NXM field in actions.
BY_ANY_NAME.set('in_port', BY_HEADER.get(headerKey(0, 0))!);
for (const f of OVS_FIELDS) BY_ANY_NAME.set(f.nxm, f);

/** The OVS field behind one of our OXM field names or a `field:cls:code` name from the codec. */
export function ovsFieldOf(name: string): OvsField | undefined {
  const raw = /^field:([0-9a-f]+):([0-9a-f]+)$/i.exec(name);
  if (raw) return BY_HEADER.get(headerKey(parseInt(raw[1], 16), parseInt(raw[2], 16)));
  return BY_OXM.get(name);
}

export function ovsFieldByName(name: string): OvsField | undefined {
  return BY_ANY_NAME.get(name);
}

/**
 * The field name the codec uses for the header OVS writes for `f`: our OXM
 * name when our table has that exact header, otherwise `field:cls:code`
 * (the codec's readFieldHeader spelling).
 */
export function codecFieldName(f: OvsField): string {
  for (const d of OXM_FIELDS) if (d.oxmClass === f.cls && d.field === f.code && d.experimenter === undefined) return d.name;
  return `field:${f.cls.toString(16)}:${f.code.toString(16)}`;
}

/** Width in bits of a codec field name, as OVS counts it (vlan_vid is 12, tcp_flags 12). */
export function fieldWidth(name: string): number {
  const f = ovsFieldOf(name);
  if (f) return f.bits;
  const d = OXM_BY_NAME.get(name);
  return d ? KIND_LEN[d.kind] * 8 : 0;
}
