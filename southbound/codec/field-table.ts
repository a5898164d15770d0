// The one table of match and register fields: OXM (OpenFlow 1.3.5 §7.2.3.7
// and EXT-256), the Nicira NXM headers OVS adds (nicira-ext.h,
// ovs-fields(7)) and the names of the ovs-ofctl text form. The codec
// (oxm.ts) derives its encode/decode maps and the NXM header lengths of
// load/move from it; the text form (text/fields.ts) derives its OVS field
// list. A field's facts are written once, here.

export const OFPXMC_NXM_0 = 0x0000;
export const OFPXMC_NXM_1 = 0x0001;
export const OFPXMC_OPENFLOW_BASIC = 0x8000;
export const OFPXMC_PACKET_REGS = 0x8001;
export const OFPXMC_EXPERIMENTER = 0xffff;
export const ONF_EXPERIMENTER_ID = 0x4f4e4600;
export const NX_EXPERIMENTER_ID = 0x00002320;

/** The value's wire type; its length is KIND_LEN. */
export type OxmKind = 'u8' | 'u16' | 'u24' | 'u32' | 'u64' | 'u128' | 'mac' | 'ipv4' | 'ipv6';

export const KIND_LEN: Record<OxmKind, number> = {
  u8: 1, u16: 2, u24: 3, u32: 4, u64: 8, u128: 16, mac: 6, ipv4: 4, ipv6: 16,
};

/** How OVS prints a field's value (meta-flow "string" type). */
export type ValueStyle = 'dec' | 'hex' | 'mac' | 'ipv4' | 'ipv6' | 'port' | 'port16' | 'ct_state' | 'tcp_flags';

/** A field's names in the ovs-ofctl text form. */
export interface OvsNames {
  /** Header name printed in load/move subfields: NXM_OF_ETH_DST, OXM_OF_METADATA, NXM_NX_REG0. */
  nxm: string;
  /**
   * The header OVS writes in load/move when it is not the row's own: where
   * OVS has both an NXM and an OXM header for a field, load/move use the NXM
   * one (nx-match.c mf_nxm_header).
   */
  at?: readonly [cls: number, code: number];
  /** Meta-flow name, printed by set_field. */
  mf: string;
  style: ValueStyle;
  /** More names a user may write for the field (match keywords, subfields). */
  aliases?: string[];
}

export interface FieldSpec {
  /**
   * Our name for the field (Oxm.field), under which the codec encodes and
   * decodes the header below. Absent for headers the codec only knows as
   * `field:cls:code` (OVS-only NXM fields such as nw_ttl or xxreg0).
   */
  name?: string;
  oxmClass: number;
  field: number;
  /** Experimenter id of OFPXMC_EXPERIMENTER fields. */
  experimenter?: number;
  /**
   * EXT-256 style ONF experimenter OXMs (field code 0, as os-ken encodes
   * pbb_uca) carry a 16-bit exp_type after the experimenter id; OVS's ONF
   * OXMs (tcp_flags, field 42) do not.
   */
  expType?: number;
  kind: OxmKind;
  /** Usable width in bits when narrower than the value (vlan_vid 12, tcp_flags 12). */
  bits?: number;
  /** Match keyword of the ovs-ofctl text form when it differs from `name` (e.g. tun_src). */
  ofctl?: string;
  /** The field in OVS's text form; absent for fields OVS cannot name (pbb_uca). */
  ovs?: OvsNames;
}

const OF = OFPXMC_NXM_0;
const NX = OFPXMC_NXM_1;
const B = OFPXMC_OPENFLOW_BASIC;
const EXP = OFPXMC_EXPERIMENTER;
const ovs = (nxm: string, mf: string, style: ValueStyle, more: Pick<OvsNames, 'at' | 'aliases'> = {}): OvsNames => ({ nxm, mf, style, ...more });

/**
 * Rows with a name are in the codec's order: when two rows share a name
 * (tcp_flags), the later one is what encoding by name uses.
 */
export const FIELD_TABLE: readonly FieldSpec[] = [
  // OpenFlow basic class (OpenFlow 1.3.5 §7.2.3.7).
  { name: 'in_port', oxmClass: B, field: 0, kind: 'u32', ovs: ovs('OXM_OF_IN_PORT', 'in_port_oxm', 'port') },
  { name: 'in_phy_port', oxmClass: B, field: 1, kind: 'u32', ovs: ovs('OXM_OF_IN_PHY_PORT', 'in_phy_port', 'port') },
  { name: 'metadata', oxmClass: B, field: 2, kind: 'u64', ovs: ovs('OXM_OF_METADATA', 'metadata', 'hex') },
  { name: 'eth_dst', oxmClass: B, field: 3, kind: 'mac', ofctl: 'dl_dst', ovs: ovs('NXM_OF_ETH_DST', 'eth_dst', 'mac', { at: [OF, 1], aliases: ['dl_dst'] }) },
  { name: 'eth_src', oxmClass: B, field: 4, kind: 'mac', ofctl: 'dl_src', ovs: ovs('NXM_OF_ETH_SRC', 'eth_src', 'mac', { at: [OF, 2], aliases: ['dl_src'] }) },
  { name: 'eth_type', oxmClass: B, field: 5, kind: 'u16', ofctl: 'dl_type', ovs: ovs('NXM_OF_ETH_TYPE', 'eth_type', 'hex', { at: [OF, 3], aliases: ['dl_type'] }) },
  { name: 'vlan_vid', oxmClass: B, field: 6, kind: 'u16', bits: 12, ovs: ovs('OXM_OF_VLAN_VID', 'vlan_vid', 'dec') },
  { name: 'vlan_pcp', oxmClass: B, field: 7, kind: 'u8', bits: 3, ovs: ovs('OXM_OF_VLAN_PCP', 'vlan_pcp', 'dec', { aliases: ['dl_vlan_pcp'] }) },
  { name: 'ip_dscp', oxmClass: B, field: 8, kind: 'u8', bits: 6, ovs: ovs('OXM_OF_IP_DSCP', 'ip_dscp', 'dec') },
  { name: 'ip_ecn', oxmClass: B, field: 9, kind: 'u8', bits: 2, ofctl: 'nw_ecn', ovs: ovs('NXM_NX_IP_ECN', 'nw_ecn', 'dec', { at: [NX, 28], aliases: ['ip_ecn'] }) },
  { name: 'ip_proto', oxmClass: B, field: 10, kind: 'u8', ofctl: 'nw_proto', ovs: ovs('NXM_OF_IP_PROTO', 'nw_proto', 'dec', { at: [OF, 6], aliases: ['ip_proto'] }) },
  { name: 'ipv4_src', oxmClass: B, field: 11, kind: 'ipv4', ofctl: 'nw_src', ovs: ovs('NXM_OF_IP_SRC', 'ip_src', 'ipv4', { at: [OF, 7], aliases: ['nw_src'] }) },
  { name: 'ipv4_dst', oxmClass: B, field: 12, kind: 'ipv4', ofctl: 'nw_dst', ovs: ovs('NXM_OF_IP_DST', 'ip_dst', 'ipv4', { at: [OF, 8], aliases: ['nw_dst'] }) },
  { name: 'tcp_src', oxmClass: B, field: 13, kind: 'u16', ofctl: 'tp_src', ovs: ovs('NXM_OF_TCP_SRC', 'tcp_src', 'dec', { at: [OF, 9] }) },
  { name: 'tcp_dst', oxmClass: B, field: 14, kind: 'u16', ofctl: 'tp_dst', ovs: ovs('NXM_OF_TCP_DST', 'tcp_dst', 'dec', { at: [OF, 10] }) },
  { name: 'udp_src', oxmClass: B, field: 15, kind: 'u16', ofctl: 'tp_src', ovs: ovs('NXM_OF_UDP_SRC', 'udp_src', 'dec', { at: [OF, 11] }) },
  { name: 'udp_dst', oxmClass: B, field: 16, kind: 'u16', ofctl: 'tp_dst', ovs: ovs('NXM_OF_UDP_DST', 'udp_dst', 'dec', { at: [OF, 12] }) },
  { name: 'sctp_src', oxmClass: B, field: 17, kind: 'u16', ofctl: 'tp_src', ovs: ovs('OXM_OF_SCTP_SRC', 'sctp_src', 'dec') },
  { name: 'sctp_dst', oxmClass: B, field: 18, kind: 'u16', ofctl: 'tp_dst', ovs: ovs('OXM_OF_SCTP_DST', 'sctp_dst', 'dec') },
  { name: 'icmpv4_type', oxmClass: B, field: 19, kind: 'u8', ofctl: 'icmp_type', ovs: ovs('NXM_OF_ICMP_TYPE', 'icmp_type', 'dec', { at: [OF, 13] }) },
  { name: 'icmpv4_code', oxmClass: B, field: 20, kind: 'u8', ofctl: 'icmp_code', ovs: ovs('NXM_OF_ICMP_CODE', 'icmp_code', 'dec', { at: [OF, 14] }) },
  { name: 'arp_op', oxmClass: B, field: 21, kind: 'u16', ovs: ovs('NXM_OF_ARP_OP', 'arp_op', 'dec', { at: [OF, 15] }) },
  { name: 'arp_spa', oxmClass: B, field: 22, kind: 'ipv4', ovs: ovs('NXM_OF_ARP_SPA', 'arp_spa', 'ipv4', { at: [OF, 16] }) },
  { name: 'arp_tpa', oxmClass: B, field: 23, kind: 'ipv4', ovs: ovs('NXM_OF_ARP_TPA', 'arp_tpa', 'ipv4', { at: [OF, 17] }) },
  { name: 'arp_sha', oxmClass: B, field: 24, kind: 'mac', ovs: ovs('NXM_NX_ARP_SHA', 'arp_sha', 'mac', { at: [NX, 17] }) },
  { name: 'arp_tha', oxmClass: B, field: 25, kind: 'mac', ovs: ovs('NXM_NX_ARP_THA', 'arp_tha', 'mac', { at: [NX, 18] }) },
  { name: 'ipv6_src', oxmClass: B, field: 26, kind: 'ipv6', ovs: ovs('NXM_NX_IPV6_SRC', 'ipv6_src', 'ipv6', { at: [NX, 19] }) },
  { name: 'ipv6_dst', oxmClass: B, field: 27, kind: 'ipv6', ovs: ovs('NXM_NX_IPV6_DST', 'ipv6_dst', 'ipv6', { at: [NX, 20] }) },
  { name: 'ipv6_flabel', oxmClass: B, field: 28, kind: 'u32', bits: 20, ovs: ovs('NXM_NX_IPV6_LABEL', 'ipv6_label', 'hex', { at: [NX, 27] }) },
  { name: 'icmpv6_type', oxmClass: B, field: 29, kind: 'u8', ovs: ovs('NXM_NX_ICMPV6_TYPE', 'icmpv6_type', 'dec', { at: [NX, 21] }) },
  { name: 'icmpv6_code', oxmClass: B, field: 30, kind: 'u8', ovs: ovs('NXM_NX_ICMPV6_CODE', 'icmpv6_code', 'dec', { at: [NX, 22] }) },
  { name: 'ipv6_nd_target', oxmClass: B, field: 31, kind: 'ipv6', ofctl: 'nd_target', ovs: ovs('NXM_NX_ND_TARGET', 'nd_target', 'ipv6', { at: [NX, 23] }) },
  { name: 'ipv6_nd_sll', oxmClass: B, field: 32, kind: 'mac', ofctl: 'nd_sll', ovs: ovs('NXM_NX_ND_SLL', 'nd_sll', 'mac', { at: [NX, 24] }) },
  { name: 'ipv6_nd_tll', oxmClass: B, field: 33, kind: 'mac', ofctl: 'nd_tll', ovs: ovs('NXM_NX_ND_TLL', 'nd_tll', 'mac', { at: [NX, 25] }) },
  { name: 'mpls_label', oxmClass: B, field: 34, kind: 'u32', bits: 20, ovs: ovs('OXM_OF_MPLS_LABEL', 'mpls_label', 'dec') },
  { name: 'mpls_tc', oxmClass: B, field: 35, kind: 'u8', bits: 3, ovs: ovs('OXM_OF_MPLS_TC', 'mpls_tc', 'dec') },
  { name: 'mpls_bos', oxmClass: B, field: 36, kind: 'u8', bits: 1, ovs: ovs('OXM_OF_MPLS_BOS', 'mpls_bos', 'dec') },
  { name: 'pbb_isid', oxmClass: B, field: 37, kind: 'u24', ovs: ovs('OXM_OF_PBB_ISID', 'pbb_isid', 'dec') },
  { name: 'tunnel_id', oxmClass: B, field: 38, kind: 'u64', ofctl: 'tun_id', ovs: ovs('NXM_NX_TUN_ID', 'tun_id', 'hex', { at: [NX, 16] }) },
  { name: 'ipv6_exthdr', oxmClass: B, field: 39, kind: 'u16', bits: 9, ovs: ovs('OXM_OF_IPV6_EXTHDR', 'ipv6_exthdr', 'hex') },
  // OF1.3 extension EXT-256 (ONF experimenter OXM), as OVS and os-ken encode it.
  { name: 'pbb_uca', oxmClass: EXP, field: 0, kind: 'u8', experimenter: ONF_EXPERIMENTER_ID, expType: 2560 },

  // NXM_OF_* (class 0) fields with no OXM of their own.
  { oxmClass: OF, field: 0, kind: 'u16', ovs: ovs('NXM_OF_IN_PORT', 'in_port', 'port16') },
  { oxmClass: OF, field: 4, kind: 'u16', ovs: ovs('NXM_OF_VLAN_TCI', 'vlan_tci', 'hex') },
  { oxmClass: OF, field: 5, kind: 'u8', ovs: ovs('NXM_OF_IP_TOS', 'nw_tos', 'dec') },

  // Nicira extensible match (NXM_NX_*), class 0x0001.
  ...Array.from({ length: 16 }, (_, i): FieldSpec => ({ name: `reg${i}`, oxmClass: NX, field: i, kind: 'u32', ovs: ovs(`NXM_NX_REG${i}`, `reg${i}`, 'hex') })),
  { oxmClass: NX, field: 26, kind: 'u8', bits: 2, ovs: ovs('NXM_NX_IP_FRAG', 'ip_frag', 'dec', { aliases: ['nw_frag'] }) },
  { oxmClass: NX, field: 29, kind: 'u8', ovs: ovs('NXM_NX_IP_TTL', 'nw_ttl', 'dec') },
  { oxmClass: NX, field: 30, kind: 'u8', ovs: ovs('NXM_NX_MPLS_TTL', 'mpls_ttl', 'dec') },
  { name: 'tun_ipv4_src', oxmClass: NX, field: 31, kind: 'ipv4', ofctl: 'tun_src', ovs: ovs('NXM_NX_TUN_IPV4_SRC', 'tun_src', 'ipv4') },
  { name: 'tun_ipv4_dst', oxmClass: NX, field: 32, kind: 'ipv4', ofctl: 'tun_dst', ovs: ovs('NXM_NX_TUN_IPV4_DST', 'tun_dst', 'ipv4') },
  { name: 'pkt_mark', oxmClass: NX, field: 33, kind: 'u32', ovs: ovs('NXM_NX_PKT_MARK', 'pkt_mark', 'hex') },
  // OVS sends tcp_flags as an ONF experimenter OXM in OF1.3 dumps; we decode
  // both and encode the NXM form (listed last, so encoding by name picks it).
  { name: 'tcp_flags', oxmClass: EXP, field: 42, kind: 'u16', experimenter: ONF_EXPERIMENTER_ID },
  { name: 'tcp_flags', oxmClass: NX, field: 34, kind: 'u16', bits: 12, ovs: ovs('NXM_NX_TCP_FLAGS', 'tcp_flags', 'tcp_flags') },
  { name: 'dp_hash', oxmClass: NX, field: 35, kind: 'u32', ovs: ovs('NXM_NX_DP_HASH', 'dp_hash', 'hex') },
  { name: 'recirc_id', oxmClass: NX, field: 36, kind: 'u32', ovs: ovs('NXM_NX_RECIRC_ID', 'recirc_id', 'dec') },
  { name: 'conj_id', oxmClass: NX, field: 37, kind: 'u32', ovs: ovs('NXM_NX_CONJ_ID', 'conj_id', 'dec') },
  { name: 'ct_state', oxmClass: NX, field: 105, kind: 'u32', ovs: ovs('NXM_NX_CT_STATE', 'ct_state', 'ct_state') },
  { name: 'ct_zone', oxmClass: NX, field: 106, kind: 'u16', ovs: ovs('NXM_NX_CT_ZONE', 'ct_zone', 'dec') },
  { name: 'ct_mark', oxmClass: NX, field: 107, kind: 'u32', ovs: ovs('NXM_NX_CT_MARK', 'ct_mark', 'hex') },
  { name: 'ct_label', oxmClass: NX, field: 108, kind: 'u128', ovs: ovs('NXM_NX_CT_LABEL', 'ct_label', 'hex') },
  { oxmClass: NX, field: 109, kind: 'ipv6', ovs: ovs('NXM_NX_TUN_IPV6_SRC', 'tun_ipv6_src', 'ipv6') },
  { oxmClass: NX, field: 110, kind: 'ipv6', ovs: ovs('NXM_NX_TUN_IPV6_DST', 'tun_ipv6_dst', 'ipv6') },
  ...Array.from({ length: 4 }, (_, i): FieldSpec => ({ oxmClass: NX, field: 111 + i, kind: 'u128', ovs: ovs(`NXM_NX_XXREG${i}`, `xxreg${i}`, 'hex') })),

  // Packet registers (OXM_OF_PKT_REG, class 0x8001): xreg0..7, 64 bits.
  ...Array.from({ length: 8 }, (_, i): FieldSpec => ({ name: `xreg${i}`, oxmClass: OFPXMC_PACKET_REGS, field: i, kind: 'u64', ovs: ovs(`OXM_OF_PKT_REG${i}`, `xreg${i}`, 'hex') })),
];

/** The header OVS writes for a field in load/move: the NXM twin when there is one, else the row's own. */
export function ovsHeaderOf(f: FieldSpec): readonly [cls: number, code: number] {
  return f.ovs?.at ?? [f.oxmClass, f.field];
}
