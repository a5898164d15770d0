// The ovs-ofctl text form (southbound/text) against real Open vSwitch 3.1.
// Every expected string below is what `ovs-ofctl -O OpenFlow13 --no-stats
// dump-flows` printed, pasted verbatim; every flow object is what our codec
// decoded from OVS's own flow-stats reply for that flow (so objects are in
// OVS's wire order, the canonical order parseFlow produces).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  FlowText, formatFlow, parseFlow, normalizeFlowLine, normalizeDumpFlows, formatMatch, parseMatch, formatActions,
  parseActions, formatInstructions, parseInstructions, canonicalMatch, OfctlSyntaxError, OVS_FIELDS, codecFieldName,
  fieldWidth,
} from '../../southbound/text';
import {
  Reader, Writer, readFieldHeader, writeFieldHeader, fieldBits, FIELD_TABLE, OXM_BY_NAME, encodeMessage, decodeMessage,
  flowMod, FlowMod,
} from '../../southbound/codec';

const full = (f: FlowText): Required<FlowText> => ({
  table_id: 0, priority: 0x8000, cookie: 0n, idle_timeout: 0, hard_timeout: 0, flags: 0, ...f,
});

/** (flow, what ovs-ofctl 3.1 printed for it). */
const OVS: { ovs: string; flow: FlowText }[] = [
  {
    ovs: 'cookie=0x5, table=1, priority=100,ip,in_port=1,nw_dst=10.0.0.0/24 actions=ct(commit,zone=5,nat(src=10.1.12.0-10.1.13.255:1-1023)),resubmit(,3)',
    flow: { cookie: 5n, table_id: 1, priority: 100, match: [{ field: 'in_port', value: 1 }, { field: 'eth_type', value: 0x800 }, { field: 'ipv4_dst', value: '10.0.0.0', mask: '255.255.255.0' }], instructions: [{ type: 'apply_actions', actions: [{ type: 'ct', flags: 1, recirc_table: 255, alg: 0, actions: [{ type: 'nat', flags: 1, ipv4_min: '10.1.12.0', ipv4_max: '10.1.13.255', proto_min: 1, proto_max: 0x3ff }], zone: 5 }, { type: 'resubmit', in_port: 0xfff8, table: 3 }] }] },
  },
  {
    ovs: 'cookie=0xff, table=3, idle_timeout=5, send_flow_rem no_packet_counts no_byte_counts priority=0,ip actions=output:1',
    flow: { cookie: 255n, table_id: 3, priority: 0, idle_timeout: 5, flags: 25, match: [{ field: 'eth_type', value: 0x800 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 1, max_len: 0 }] }] },
  },
  {
    ovs: 'idle_timeout=10, hard_timeout=20, send_flow_rem check_overlap reset_counts priority=10 actions=output:1',
    flow: { priority: 10, idle_timeout: 10, hard_timeout: 20, flags: 7, match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 1, max_len: 0 }] }] },
  },
  {
    ovs: 'cookie=0x123456789abcdef0, table=200, priority=65535 actions=drop',
    flow: { cookie: 0x123456789abcdef0n, table_id: 200, priority: 0xffff, match: [], instructions: [] },
  },
  {
    ovs: 'ct_state=-new+est+trk actions=drop',
    flow: { match: [{ field: 'ct_state', value: 34, mask: 35 }], instructions: [] },
  },
  {
    ovs: 'ct_state=est|trk actions=drop',
    flow: { match: [{ field: 'ct_state', value: 34, mask: 255 }], instructions: [] },
  },
  {
    ovs: 'ct_state=0 actions=drop',
    flow: { match: [{ field: 'ct_state', value: 0, mask: 255 }], instructions: [] },
  },
  {
    ovs: 'ct_state=new|est|rel|rpl|inv|trk|snat|dnat actions=drop',
    flow: { match: [{ field: 'ct_state', value: 255, mask: 255 }], instructions: [] },
  },
  {
    ovs: 'ct_state=-inv+trk,ip actions=resubmit(,3,ct)',
    flow: { match: [{ field: 'eth_type', value: 0x800 }, { field: 'ct_state', value: 32, mask: 48 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'resubmit', in_port: 0xfff8, table: 3, ct: true }] }] },
  },
  {
    ovs: 'ct_zone=5,ct_mark=0x1/0x3,ct_label=0x1/0x3 actions=drop',
    flow: { match: [{ field: 'ct_zone', value: 5 }, { field: 'ct_mark', value: 1, mask: 3 }, { field: 'ct_label', value: 1n, mask: 3n }], instructions: [] },
  },
  {
    ovs: 'ct_mark=0x1,ct_label=0xffffffff000000000000000000000000/0xffffffff000000000000000000000000 actions=drop',
    flow: { match: [{ field: 'ct_mark', value: 1 }, { field: 'ct_label', value: 0xffffffff000000000000000000000000n, mask: 0xffffffff000000000000000000000000n }], instructions: [] },
  },
  {
    ovs: 'reg0=0x5/0xffff,reg1=0x7,reg3=0/0x1,reg15=0xffffffff actions=drop',
    flow: { match: [{ field: 'reg0', value: 5, mask: 0xffff }, { field: 'reg1', value: 7 }, { field: 'reg3', value: 0, mask: 1 }, { field: 'reg15', value: 0xffffffff }], instructions: [] },
  },
  {
    ovs: 'reg0=0x5,reg1=0x3/0xffff actions=drop',
    flow: { match: [{ field: 'reg0', value: 5 }, { field: 'reg1', value: 3, mask: 0xffff }], instructions: [] },
  },
  {
    ovs: 'tun_id=0x5,tun_src=1.2.3.4,tun_dst=10.0.0.0/8 actions=drop',
    flow: { match: [{ field: 'tunnel_id', value: 5n }, { field: 'tun_ipv4_src', value: '1.2.3.4' }, { field: 'tun_ipv4_dst', value: '10.0.0.0', mask: '255.0.0.0' }], instructions: [] },
  },
  {
    ovs: 'pkt_mark=0x5/0xf,tun_id=0x5/0xff actions=drop',
    flow: { match: [{ field: 'tunnel_id', value: 5n, mask: 255n }, { field: 'pkt_mark', value: 5, mask: 15 }], instructions: [] },
  },
  {
    ovs: 'pkt_mark=0x5,metadata=0x5/0xff actions=drop',
    flow: { match: [{ field: 'pkt_mark', value: 5 }, { field: 'metadata', value: 5n, mask: 255n }], instructions: [] },
  },
  {
    ovs: 'conj_id=7,ip actions=output:3',
    flow: { match: [{ field: 'conj_id', value: 7 }, { field: 'eth_type', value: 0x800 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 3, max_len: 0 }] }] },
  },
  {
    ovs: 'ip,nw_src=10.0.0.1 actions=conjunction(7,1/2),conjunction(8,2/2)',
    flow: { match: [{ field: 'eth_type', value: 0x800 }, { field: 'ipv4_src', value: '10.0.0.1' }], instructions: [{ type: 'apply_actions', actions: [{ type: 'conjunction', clause: 0, n_clauses: 2, id: 7 }, { type: 'conjunction', clause: 1, n_clauses: 2, id: 8 }] }] },
  },
  {
    ovs: 'in_port=LOCAL actions=drop',
    flow: { match: [{ field: 'in_port', value: 0xfffffffe }], instructions: [] },
  },
  {
    ovs: 'dl_src=00:11:22:33:44:55,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,dl_type=0x88cc actions=drop',
    flow: { match: [{ field: 'eth_src', value: '00:11:22:33:44:55' }, { field: 'eth_dst', value: '01:00:00:00:00:00', mask: '01:00:00:00:00:00' }, { field: 'eth_type', value: 0x88cc }], instructions: [] },
  },
  {
    ovs: 'dl_vlan=10,dl_vlan_pcp=3 actions=pop_vlan,output:1',
    flow: { match: [{ field: 'vlan_vid', value: 0x100a }, { field: 'vlan_pcp', value: 3 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'pop_vlan' }, { type: 'output', port: 1, max_len: 0 }] }] },
  },
  {
    ovs: 'vlan_tci=0x0000/0x1fff actions=drop',
    flow: { match: [{ field: 'vlan_vid', value: 0 }], instructions: [] },
  },
  {
    ovs: 'vlan_tci=0x1000/0x1000 actions=drop',
    flow: { match: [{ field: 'vlan_vid', value: 0x1000, mask: 0x1000 }], instructions: [] },
  },
  {
    ovs: 'dl_vlan_pcp=3 actions=drop',
    flow: { match: [{ field: 'vlan_vid', value: 0x1000, mask: 0x1000 }, { field: 'vlan_pcp', value: 3 }], instructions: [] },
  },
  {
    ovs: 'ip,nw_src=10.0.0.0/255.0.255.0,nw_dst=192.168.1.1 actions=drop',
    flow: { match: [{ field: 'eth_type', value: 0x800 }, { field: 'ipv4_src', value: '10.0.0.0', mask: '255.0.255.0' }, { field: 'ipv4_dst', value: '192.168.1.1' }], instructions: [] },
  },
  {
    ovs: 'ipv6,ipv6_src=2001:db8::/64,ipv6_dst=fe80::1,ipv6_label=0x12345 actions=drop',
    flow: { match: [{ field: 'eth_type', value: 0x86dd }, { field: 'ipv6_src', value: '2001:db8::', mask: 'ffff:ffff:ffff:ffff::' }, { field: 'ipv6_dst', value: 'fe80::1' }, { field: 'ipv6_flabel', value: 0x12345 }], instructions: [] },
  },
  {
    ovs: 'tcp,tp_src=0x1000/0xf000,tp_dst=80 actions=drop',
    flow: { match: [{ field: 'eth_type', value: 0x800 }, { field: 'ip_proto', value: 6 }, { field: 'tcp_src', value: 0x1000, mask: 0xf000 }, { field: 'tcp_dst', value: 80 }], instructions: [] },
  },
  {
    ovs: 'udp,tp_dst=53 actions=drop',
    flow: { match: [{ field: 'eth_type', value: 0x800 }, { field: 'ip_proto', value: 17 }, { field: 'udp_dst', value: 53 }], instructions: [] },
  },
  {
    ovs: 'sctp,tp_dst=80 actions=drop',
    flow: { match: [{ field: 'eth_type', value: 0x800 }, { field: 'ip_proto', value: 132 }, { field: 'sctp_dst', value: 80 }], instructions: [] },
  },
  {
    ovs: 'icmp,icmp_type=8,icmp_code=0 actions=drop',
    flow: { match: [{ field: 'eth_type', value: 0x800 }, { field: 'ip_proto', value: 1 }, { field: 'icmpv4_type', value: 8 }, { field: 'icmpv4_code', value: 0 }], instructions: [] },
  },
  {
    ovs: 'icmp6,icmp_type=135,nd_target=2001:db8::1,nd_sll=00:11:22:33:44:55 actions=drop',
    flow: { match: [{ field: 'eth_type', value: 0x86dd }, { field: 'ip_proto', value: 58 }, { field: 'icmpv6_type', value: 135 }, { field: 'ipv6_nd_target', value: '2001:db8::1' }, { field: 'ipv6_nd_sll', value: '00:11:22:33:44:55' }], instructions: [] },
  },
  {
    ovs: 'arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.0/8,arp_op=1,arp_sha=00:11:22:33:44:55 actions=drop',
    flow: { match: [{ field: 'eth_type', value: 0x806 }, { field: 'arp_op', value: 1 }, { field: 'arp_spa', value: '10.0.0.1' }, { field: 'arp_tpa', value: '10.0.0.0', mask: '255.0.0.0' }, { field: 'arp_sha', value: '00:11:22:33:44:55' }], instructions: [] },
  },
  {
    ovs: 'udp,nw_tos=16,nw_ecn=1 actions=drop',
    flow: { match: [{ field: 'eth_type', value: 0x800 }, { field: 'ip_dscp', value: 4 }, { field: 'ip_ecn', value: 1 }, { field: 'ip_proto', value: 17 }], instructions: [] },
  },
  {
    ovs: 'ip,nw_proto=47 actions=drop',
    flow: { match: [{ field: 'eth_type', value: 0x800 }, { field: 'ip_proto', value: 47 }], instructions: [] },
  },
  {
    ovs: 'actions=output:1,LOCAL,CONTROLLER:65535,CONTROLLER:128,NORMAL,FLOOD,ALL,IN_PORT',
    flow: { match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 1, max_len: 0 }, { type: 'output', port: 0xfffffffe, max_len: 0 }, { type: 'output', port: 0xfffffffd, max_len: 0xffff }, { type: 'output', port: 0xfffffffd, max_len: 128 }, { type: 'output', port: 0xfffffffa, max_len: 0 }, { type: 'output', port: 0xfffffffb, max_len: 0 }, { type: 'output', port: 0xfffffffc, max_len: 0 }, { type: 'output', port: 0xfffffff8, max_len: 0 }] }] },
  },
  {
    ovs: 'actions=controller(reason=no_match,max_len=100,id=3)',
    flow: { match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'controller', max_len: 100, controller_id: 3, reason: 0 }] }] },
  },
  {
    ovs: 'ip actions=ct_clear,ct(),ct(commit),ct(table=5),ct(zone=NXM_NX_REG0[0..15])',
    flow: { match: [{ field: 'eth_type', value: 0x800 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'ct_clear' }, { type: 'ct', flags: 0, recirc_table: 255, alg: 0, actions: [], zone: 0 }, { type: 'ct', flags: 1, recirc_table: 255, alg: 0, actions: [], zone: 0 }, { type: 'ct', flags: 0, recirc_table: 5, alg: 0, actions: [], zone: 0 }, { type: 'ct', flags: 0, recirc_table: 255, alg: 0, actions: [], zone_src: 'reg0', zone_ofs: 0, zone_n_bits: 16 }] }] },
  },
  {
    ovs: 'ip actions=ct(commit,force,table=3,zone=7,exec(set_field:0x1->ct_mark,load:0x2->NXM_NX_CT_LABEL[0..1]))',
    flow: { match: [{ field: 'eth_type', value: 0x800 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'ct', flags: 3, recirc_table: 3, alg: 0, actions: [{ type: 'set_field', field: { field: 'ct_mark', value: 1 } }, { type: 'reg_load', dst: 'ct_label', ofs: 0, n_bits: 2, value: 2n }], zone: 7 }] }] },
  },
  {
    ovs: 'ip actions=ct(nat),ct(commit,nat(dst=10.0.0.1)),ct(commit,nat(src=10.0.0.1-10.0.0.5,random))',
    flow: { match: [{ field: 'eth_type', value: 0x800 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'ct', flags: 0, recirc_table: 255, alg: 0, actions: [{ type: 'nat', flags: 0 }], zone: 0 }, { type: 'ct', flags: 1, recirc_table: 255, alg: 0, actions: [{ type: 'nat', flags: 2, ipv4_min: '10.0.0.1' }], zone: 0 }, { type: 'ct', flags: 1, recirc_table: 255, alg: 0, actions: [{ type: 'nat', flags: 17, ipv4_min: '10.0.0.1', ipv4_max: '10.0.0.5' }], zone: 0 }] }] },
  },
  {
    ovs: 'ip actions=ct(commit,nat(src=10.0.0.1:80,persistent)),ct(commit,nat(dst=10.0.0.1-10.0.0.9:10-20,persistent,hash))',
    flow: { match: [{ field: 'eth_type', value: 0x800 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'ct', flags: 1, recirc_table: 255, alg: 0, actions: [{ type: 'nat', flags: 5, ipv4_min: '10.0.0.1', proto_min: 80 }], zone: 0 }, { type: 'ct', flags: 1, recirc_table: 255, alg: 0, actions: [{ type: 'nat', flags: 14, ipv4_min: '10.0.0.1', ipv4_max: '10.0.0.9', proto_min: 10, proto_max: 20 }], zone: 0 }] }] },
  },
  {
    ovs: 'ipv6 actions=ct(commit,nat(src=[2001:db8::1]-[2001:db8::9]:1-100)),ct(commit,nat(dst=2001:db8::1))',
    flow: { match: [{ field: 'eth_type', value: 0x86dd }], instructions: [{ type: 'apply_actions', actions: [{ type: 'ct', flags: 1, recirc_table: 255, alg: 0, actions: [{ type: 'nat', flags: 1, ipv6_min: '2001:db8::1', ipv6_max: '2001:db8::9', proto_min: 1, proto_max: 100 }], zone: 0 }, { type: 'ct', flags: 1, recirc_table: 255, alg: 0, actions: [{ type: 'nat', flags: 2, ipv6_min: '2001:db8::1' }], zone: 0 }] }] },
  },
  {
    ovs: 'tcp actions=ct(commit,alg=ftp)',
    flow: { match: [{ field: 'eth_type', value: 0x800 }, { field: 'ip_proto', value: 6 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'ct', flags: 1, recirc_table: 255, alg: 21, actions: [], zone: 0 }] }] },
  },
  {
    ovs: 'actions=resubmit(,3),resubmit:3,resubmit(1,2),resubmit:LOCAL,resubmit(,0)',
    flow: { match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'resubmit', in_port: 0xfff8, table: 3 }, { type: 'resubmit', in_port: 3, table: 255 }, { type: 'resubmit', in_port: 1, table: 2 }, { type: 'resubmit', in_port: 0xfffe, table: 255 }, { type: 'resubmit', in_port: 0xfff8, table: 0 }] }] },
  },
  {
    ovs: 'actions=load:0x5->NXM_NX_REG0[0..15],load:0x1->NXM_NX_REG1[],load:0x1->NXM_NX_REG2[3],load:0x5->OXM_OF_METADATA[]',
    flow: { match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'reg_load', dst: 'reg0', ofs: 0, n_bits: 16, value: 5n }, { type: 'reg_load', dst: 'reg1', ofs: 0, n_bits: 32, value: 1n }, { type: 'reg_load', dst: 'reg2', ofs: 3, n_bits: 1, value: 1n }, { type: 'reg_load', dst: 'metadata', ofs: 0, n_bits: 64, value: 5n }] }] },
  },
  {
    ovs: 'actions=move:NXM_NX_REG0[]->NXM_NX_REG1[],move:NXM_NX_REG0[0..15]->NXM_NX_TUN_ID[0..15],move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]',
    flow: { match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'reg_move', src: 'reg0', src_ofs: 0, dst: 'reg1', dst_ofs: 0, n_bits: 32 }, { type: 'reg_move', src: 'reg0', src_ofs: 0, dst: 'field:1:10', dst_ofs: 0, n_bits: 16 }, { type: 'reg_move', src: 'field:0:2', src_ofs: 0, dst: 'field:0:1', dst_ofs: 0, n_bits: 48 }] }] },
  },
  {
    ovs: 'actions=move:NXM_NX_TUN_IPV4_SRC[]->NXM_NX_REG0[],move:NXM_NX_PKT_MARK[]->NXM_NX_REG1[],move:OXM_OF_METADATA[0..31]->NXM_NX_REG5[]',
    flow: { match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'reg_move', src: 'tun_ipv4_src', src_ofs: 0, dst: 'reg0', dst_ofs: 0, n_bits: 32 }, { type: 'reg_move', src: 'pkt_mark', src_ofs: 0, dst: 'reg1', dst_ofs: 0, n_bits: 32 }, { type: 'reg_move', src: 'metadata', src_ofs: 0, dst: 'reg5', dst_ofs: 0, n_bits: 32 }] }] },
  },
  {
    ovs: 'ip actions=set_field:10.0.0.1->ip_dst,set_field:00:11:22:33:44:55->eth_dst,set_field:1.1.1.1->tun_dst,set_field:0x5->tun_id,set_field:0x5->reg0,set_field:0x1->pkt_mark',
    flow: { match: [{ field: 'eth_type', value: 0x800 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'set_field', field: { field: 'ipv4_dst', value: '10.0.0.1' } }, { type: 'set_field', field: { field: 'eth_dst', value: '00:11:22:33:44:55' } }, { type: 'set_field', field: { field: 'tun_ipv4_dst', value: '1.1.1.1' } }, { type: 'set_field', field: { field: 'tunnel_id', value: 5n } }, { type: 'set_field', field: { field: 'reg0', value: 5 } }, { type: 'set_field', field: { field: 'pkt_mark', value: 1 } }] }] },
  },
  {
    ovs: 'actions=load:0x5->NXM_NX_REG0[0..7],load:0x5->NXM_NX_REG2[0..3],load:0->NXM_NX_REG2[8..11]',
    flow: { match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'reg_load', dst: 'reg0', ofs: 0, n_bits: 8, value: 5n }, { type: 'reg_load', dst: 'reg2', ofs: 0, n_bits: 4, value: 5n }, { type: 'reg_load', dst: 'reg2', ofs: 8, n_bits: 4, value: 0n }] }] },
  },
  {
    ovs: 'ip actions=dec_ttl,dec_ttl(1,2),mod_nw_ttl:5',
    flow: { match: [{ field: 'eth_type', value: 0x800 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'dec_nw_ttl' }, { type: 'dec_ttl_cnt_ids', ids: [1, 2] }, { type: 'set_nw_ttl', nw_ttl: 5 }] }] },
  },
  {
    ovs: 'actions=meter:5,group:5',
    flow: { match: [], instructions: [{ type: 'meter', meter_id: 5 }, { type: 'apply_actions', actions: [{ type: 'group', group_id: 5 }] }] },
  },
  {
    ovs: 'actions=meter:5,output:1,clear_actions,write_actions(group:3,output:2),write_metadata:0x5/0xff,goto_table:4',
    flow: { match: [], instructions: [{ type: 'meter', meter_id: 5 }, { type: 'apply_actions', actions: [{ type: 'output', port: 1, max_len: 0 }] }, { type: 'clear_actions' }, { type: 'write_actions', actions: [{ type: 'group', group_id: 3 }, { type: 'output', port: 2, max_len: 0 }] }, { type: 'write_metadata', metadata: 5n, metadata_mask: 255n }, { type: 'goto_table', table_id: 4 }] },
  },
  {
    ovs: 'actions=write_metadata:0x5,goto_table:2',
    flow: { match: [], instructions: [{ type: 'write_metadata', metadata: 5n, metadata_mask: 0xffffffffffffffffn }, { type: 'goto_table', table_id: 2 }] },
  },
  {
    ovs: 'actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:1',
    flow: { match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'push_vlan', ethertype: 0x8100 }, { type: 'set_field', field: { field: 'vlan_vid', value: 0x1064 } }, { type: 'output', port: 1, max_len: 0 }] }] },
  },
  {
    ovs: 'actions=note:01.02.ab.cd.ef.01.02.03.04.00.00.00.00.00',
    flow: { match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'note', note: Buffer.from('0102abcdef010203040000000000', 'hex') }] }] },
  },
  {
    ovs: 'mpls actions=set_mpls_ttl(3),dec_mpls_ttl,pop_mpls:0x0800',
    flow: { match: [{ field: 'eth_type', value: 0x8847 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'set_mpls_ttl', mpls_ttl: 3 }, { type: 'dec_mpls_ttl' }, { type: 'pop_mpls', ethertype: 0x800 }] }] },
  },
  {
    ovs: 'actions=push_mpls:0x8847',
    flow: { match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'push_mpls', ethertype: 0x8847 }] }] },
  },
  {
    ovs: 'actions=output:NXM_NX_REG0[],output:NXM_NX_REG1[0..15],output(port=1,max_len=100)',
    flow: { match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'output_reg', src: 'reg0', ofs: 0, n_bits: 32, max_len: 0xffff }, { type: 'output_reg', src: 'reg1', ofs: 0, n_bits: 16, max_len: 0xffff }, { type: 'output_trunc', port: 1, max_len: 100 }] }] },
  },
  {
    ovs: 'tcp actions=fin_timeout(idle_timeout=10,hard_timeout=20)',
    flow: { match: [{ field: 'eth_type', value: 0x800 }, { field: 'ip_proto', value: 6 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'fin_timeout', fin_idle_timeout: 10, fin_hard_timeout: 20 }] }] },
  },
  {
    ovs: 'actions=set_queue:3,output:1,exit',
    flow: { match: [], instructions: [{ type: 'apply_actions', actions: [{ type: 'set_queue', queue_id: 3 }, { type: 'output', port: 1, max_len: 0 }, { type: 'exit' }] }] },
  },

  {
    // Hand-built: our codec cannot yet decode the ONF tcp_flags OXM that OVS sends back on OF1.3.
    ovs: 'tcp,tcp_flags=+syn-ack actions=drop',
    flow: { match: [{ field: 'eth_type', value: 0x800 }, { field: 'ip_proto', value: 6 }, { field: 'tcp_flags', value: 2, mask: 0x12 }], instructions: [] },
  },
];

test('formatFlow prints each flow exactly as ovs-ofctl dump-flows does', () => {
  for (const { ovs, flow } of OVS) assert.equal(formatFlow(flow), ovs);
});

test('parseFlow of the OVS text gives back the flow OVS encoded (deep-equal, defaults filled in)', () => {
  for (const { ovs, flow } of OVS) assert.deepEqual(parseFlow(ovs), full(flow), ovs);
});

test('round trip: format(parse(format(F))) === format(F) and parse(format(F)) equals F', () => {
  for (const { flow } of OVS) {
    const text = formatFlow(flow);
    assert.equal(formatFlow(parseFlow(text)), text);
    assert.deepEqual(parseFlow(text), full(flow), text);
    // Any field order normalizes to OVS's wire order.
    assert.deepEqual(canonicalMatch([...flow.match].reverse()), flow.match, text);
  }
});

test('dump-flows lines (leading space, stats) normalize to our text', () => {
  for (const { ovs } of OVS) assert.equal(normalizeFlowLine(' ' + ovs), ovs);
});

/** (hand-written text given to ovs-ofctl add-flow, what ovs-ofctl dump-flows printed). */
const HAND: [string, string][] = [
  ['ip,in_port=1,nw_dst=10.0.0.1/24,priority=100,cookie=0x5,table=1,actions=ct(commit,zone=5,nat(src=10.1.12.0-10.1.13.255:1-1023)),resubmit(,3)',
    'cookie=0x5, table=1, priority=100,ip,in_port=1,nw_dst=10.0.0.0/24 actions=ct(commit,zone=5,nat(src=10.1.12.0-10.1.13.255:1-1023)),resubmit(,3)'],
  ['tcp,tcp_flags=+syn-ack,actions=drop',
    'tcp,tcp_flags=+syn-ack actions=drop'],
  ['tcp,tcp_flags=0x12/0xfff,actions=drop',
    'tcp,tcp_flags=syn|ack actions=drop'],
  ['dl_type=0x0800,nw_proto=6,actions=drop',
    'tcp actions=drop'],
  ['in_port=65534,actions=output:CONTROLLER',
    'in_port=LOCAL actions=CONTROLLER:65535'],
  ['actions=controller',
    'actions=CONTROLLER:65535'],
  ['actions=mod_dl_dst:00:11:22:33:44:55',
    'actions=set_field:00:11:22:33:44:55->eth_dst'],
  ['ip,actions=mod_nw_dst:1.2.3.4',
    'ip actions=set_field:1.2.3.4->ip_dst'],
  ['tcp,actions=mod_tp_dst:80',
    'tcp actions=set_field:80->tcp_dst'],
  ['actions=set_tunnel:0x5,set_tunnel64:0x100000000',
    'actions=set_field:0x5->tun_id,set_field:0x100000000->tun_id'],
  ['actions=load:0x5->reg0[0..15],move:reg3[0..7]->reg4[8..15]',
    'actions=load:0x5->NXM_NX_REG0[0..15],move:NXM_NX_REG3[0..7]->NXM_NX_REG4[8..15]'],
  ['actions=resubmit(LOCAL),resubmit(5,)',
    'actions=resubmit:LOCAL,resubmit:5'],
  ['actions=note:01.02.ab',
    'actions=note:01.02.ab.00.00.00'],
  ['actions=write_metadata:0x5/0xffffffffffffffff',
    'actions=write_metadata:0x5'],
  ['ct_state=0x21/0x21,actions=drop',
    'ct_state=+new+trk actions=drop'],
  ['ct_state=0x22,actions=drop',
    'ct_state=est|trk actions=drop'],
  ['vlan_vid=0x1005/0x1ff0,actions=drop',
    'vlan_tci=0x1000/0x1ff0 actions=drop'],
  ['vlan_tci=0x1005/0x1fff,actions=drop',
    'dl_vlan=5 actions=drop'],
  ['ip,ip_dscp=8,actions=drop',
    'ip,nw_tos=32 actions=drop'],
  ['ipv6,ipv6_src=2001:db8::1/ffff::ff,actions=drop',
    'ipv6,ipv6_src=2001::1/ffff::ff actions=drop'],
  ['ip,nw_src=10.0.0.1/255.255.0.0,actions=drop',
    'ip,nw_src=10.0.0.0/16 actions=drop'],
  ['tcp,tp_src=0/0,actions=drop',
    'tcp actions=drop'],
  ['icmp6,icmpv6_type=1,actions=drop',
    'icmp6,icmp_type=1 actions=drop'],
  ['arp,nw_src=10.0.0.1,nw_proto=2,actions=drop',
    'arp,arp_spa=10.0.0.1,arp_op=2 actions=drop'],
  ['actions=output:in_port,local,output:65534',
    'actions=IN_PORT,LOCAL,LOCAL'],
  ['ip,actions=ct(commit,nat(src=10.0.0.1-10.0.0.1:5-5))',
    'ip actions=ct(commit,nat(src=10.0.0.1:5))'],
  ['tcp,actions=ct(alg=ftp,commit)',
    'tcp actions=ct(commit,alg=ftp)'],
  ['priority=32768,actions=',
    'actions=drop'],
  ['xreg0=0x5,actions=drop',
    'reg0=0,reg1=0x5 actions=drop'],
  ['metadata=0,tun_id=0,reg0=0,pkt_mark=0,ct_mark=0,ct_label=0,actions=drop',
    'pkt_mark=0,ct_mark=0,ct_label=0,reg0=0,tun_id=0,metadata=0 actions=drop'],
  ['table=0,priority=10,idle_timeout=10,hard_timeout=20,send_flow_rem,reset_counts,check_overlap,actions=output:1',
    'idle_timeout=10, hard_timeout=20, send_flow_rem check_overlap reset_counts priority=10 actions=output:1'],
  ['ipv6,actions=ct(commit,nat(src=[2001:db8::1]:80)),ct(commit,nat(src=2001:db8::1-2001:db8::9))',
    'ipv6 actions=ct(commit,nat(src=[2001:db8::1]:80)),ct(commit,nat(src=2001:db8::1-2001:db8::9))'],
  ['sctp,sctp_dst=80,actions=drop',
    'sctp,tp_dst=80 actions=drop'],

];

test('hand-written ovs-ofctl forms normalize to what OVS prints for them', () => {
  for (const [input, ovs] of HAND) assert.equal(normalizeFlowLine(input), ovs, input);
});

test('hand-written forms parse to the same flow as their OVS text', () => {
  // A nat range with min == max keeps both ends on the wire; OVS prints only one.
  const rangeKept = 'ip,actions=ct(commit,nat(src=10.0.0.1-10.0.0.1:5-5))';
  for (const [input, ovs] of HAND) if (input !== rangeKept) assert.deepEqual(parseFlow(input), parseFlow(ovs), input);
});

/**
 * Flows our codec can build that OVS stores and re-encodes: the text is what
 * dump-flows showed after we sent each one with our own codec.
 */
const REENCODED: [FlowText, string][] = [
  [apply({ type: 'set_tunnel', tun_id: 5n }), 'actions=set_field:0x5->tun_id'],
  [apply({ type: 'set_tunnel', tun_id: 5n, wide: true }), 'actions=set_field:0x5->tun_id'],
  [apply({ type: 'reg_load2', field: { field: 'reg0', value: 5 } }), 'actions=set_field:0x5->reg0'],
  [apply({ type: 'reg_load2', field: { field: 'reg0', value: 5, mask: 0xff } }), 'actions=set_field:0x5/0xff->reg0'],
  [apply({ type: 'reg_load2', field: { field: 'tun_ipv4_dst', value: '1.2.3.4' } }), 'actions=set_field:1.2.3.4->tun_dst'],
  [apply({ type: 'resubmit', in_port: 3 }), 'actions=resubmit:3'],
  [apply({ type: 'resubmit', in_port: 0xfff8, table: 4 }), 'actions=resubmit(,4)'],
  [apply({ type: 'resubmit', in_port: 0xfff8 }), 'actions=resubmit(,)'],
  [apply({ type: 'controller', max_len: 128, controller_id: 0, reason: 1 }), 'actions=CONTROLLER:128'],
  [apply({ type: 'controller', max_len: 0xffff, controller_id: 2, reason: 0 }), 'actions=controller(reason=no_match,id=2)'],
  [apply({ type: 'output', port: 1, max_len: 100 }), 'actions=output:1'],
  [apply({ type: 'output', port: 0xfffffffe }), 'actions=LOCAL'],
  [apply({ type: 'output', port: 0xfffffffd, max_len: 0 }), 'actions=CONTROLLER:0'],
  [apply({ type: 'output_trunc', port: 0xfffe, max_len: 64 }), 'actions=output(port=LOCAL,max_len=64)'],
  [apply({ type: 'note', note: Buffer.from('hello') }), 'actions=note:68.65.6c.6c.6f.00'],
  [{ match: [{ field: 'eth_type', value: 0x800 }], instructions: [{ type: 'apply_actions', actions: [
    { type: 'ct', flags: 1, zone_src: 'reg6', zone_ofs: 0, zone_n_bits: 16, recirc_table: 255, alg: 0, actions: [] }] }] },
  'ip actions=ct(commit,zone=NXM_NX_REG6[0..15])'],
  [{ match: [{ field: 'eth_type', value: 0x800 }], instructions: [{ type: 'apply_actions', actions: [
    { type: 'ct', flags: 1, zone: 3, recirc_table: 2, alg: 0, actions: [{ type: 'nat', flags: 2, ipv4_min: '10.0.0.1', ipv4_max: '10.0.0.1' }] }] }] },
  'ip actions=ct(commit,table=2,zone=3,nat(dst=10.0.0.1))'],
  [{ match: [{ field: 'xreg1', value: 7n }], instructions: [] }, 'reg2=0,reg3=0x7 actions=drop'],
  [{ match: [{ field: 'ct_state', value: 0x22 }], instructions: [] }, 'ct_state=est|trk actions=drop'],
  [{ match: [{ field: 'ct_state', value: 0x20, mask: 0x20 }, { field: 'eth_type', value: 0x800 }], instructions: [] }, 'ct_state=+trk,ip actions=drop'],
  [{ match: [{ field: 'vlan_vid', value: 0x1000, mask: 0x1000 }, { field: 'vlan_pcp', value: 5 }], instructions: [] }, 'dl_vlan_pcp=5 actions=drop'],
  [{ match: [{ field: 'eth_type', value: 0x800 }, { field: 'ip_proto', value: 6 }, { field: 'tcp_dst', value: 80, mask: 0xfff0 }], instructions: [] },
    'tcp,tp_dst=0x50/0xfff0 actions=drop'],
  [{ priority: 5, cookie: 0xffn, table_id: 3, match: [], instructions: [{ type: 'goto_table', table_id: 4 },
    { type: 'apply_actions', actions: [{ type: 'output', port: 2, max_len: 0 }] }] }, 'cookie=0xff, table=3, priority=5 actions=output:2,goto_table:4'],
  [{ match: [], instructions: [{ type: 'write_metadata', metadata: 1n, metadata_mask: 1n }, { type: 'meter', meter_id: 5 }] },
    'actions=meter:5,write_metadata:0x1/0x1'],
  [{ match: [], instructions: [{ type: 'apply_actions', actions: [] }, { type: 'goto_table', table_id: 1 }] }, 'actions=goto_table:1'],
  [{ match: [], instructions: [{ type: 'write_actions', actions: [] }] }, 'actions=drop'],
];

function apply(...actions: import('../../southbound/codec/actions').Action[]): FlowText {
  return { match: [], instructions: [{ type: 'apply_actions', actions }] };
}

test('flows OVS re-encodes print as the switch dumps them, and stay stable through text', () => {
  for (const [flow, ovs] of REENCODED) {
    assert.equal(formatFlow(flow), ovs);
    assert.equal(formatFlow(parseFlow(ovs)), ovs);
  }
});

test('real dump-flows output with stats normalizes line by line', () => {
  const dump = [
    'OFPST_FLOW reply (OF1.3) (xid=0x2):',
    ' cookie=0x0, duration=0.047s, table=0, n_packets=0, n_bytes=0, send_flow_rem actions=drop',
    ' cookie=0xff, duration=0.034s, table=3, n_packets=0, n_bytes=0, idle_timeout=5, send_flow_rem no_packet_counts no_byte_counts priority=0,ip actions=output:1',
    ' cookie=0x8000000000000000, duration=0.007s, table=7, n_packets=0, n_bytes=0, priority=1 actions=drop',
    ' cookie=0x7, duration=0.008s, table=2, n_packets=0, n_bytes=0, idle_timeout=60, reset_counts priority=5,ip,nw_dst=10.0.0.0/8 actions=output:1',
    '',
  ].join('\n');
  assert.deepEqual(normalizeDumpFlows(dump), [
    'send_flow_rem actions=drop',
    'cookie=0xff, table=3, idle_timeout=5, send_flow_rem no_packet_counts no_byte_counts priority=0,ip actions=output:1',
    'cookie=0x8000000000000000, table=7, priority=1 actions=drop',
    'cookie=0x7, table=2, idle_timeout=60, reset_counts priority=5,ip,nw_dst=10.0.0.0/8 actions=output:1',
  ]);
  // An OpenFlow 1.0 (NXST) dump line carries idle_age too.
  assert.equal(
    normalizeFlowLine(' cookie=0x7, duration=0.004s, table=2, n_packets=0, n_bytes=0, idle_timeout=60, idle_age=0, priority=5,ip,nw_dst=10.0.0.0/8 actions=output:1'),
    'cookie=0x7, table=2, idle_timeout=60, priority=5,ip,nw_dst=10.0.0.0/8 actions=output:1');
});

test('match, action and instruction helpers', () => {
  assert.equal(formatMatch([]), '');
  assert.equal(formatMatch([{ field: 'ipv4_dst', value: '10.0.0.7', mask: '255.255.255.0' }, { field: 'eth_type', value: 0x800 }, { field: 'in_port', value: 1 }]),
    'ip,in_port=1,nw_dst=10.0.0.0/24');
  assert.deepEqual(parseMatch('ip,in_port=1,nw_dst=10.0.0.0/24'),
    [{ field: 'in_port', value: 1 }, { field: 'eth_type', value: 0x800 }, { field: 'ipv4_dst', value: '10.0.0.0', mask: '255.255.255.0' }]);
  assert.deepEqual(canonicalMatch([{ field: 'ipv4_dst', value: '10.0.0.7', mask: '255.255.255.0' }, { field: 'eth_type', value: 0x800 }]),
    [{ field: 'eth_type', value: 0x800 }, { field: 'ipv4_dst', value: '10.0.0.0', mask: '255.255.255.0' }]);
  assert.equal(formatActions([]), 'drop');
  assert.deepEqual(parseActions('drop'), []);
  assert.deepEqual(parseActions('output:1,NORMAL'), [{ type: 'output', port: 1, max_len: 0 }, { type: 'output', port: 0xfffffffa, max_len: 0 }]);
  assert.equal(formatActions(parseActions('ct(commit,exec(set_field:0x1->ct_mark)),ct_clear')), 'ct(commit,exec(set_field:0x1->ct_mark)),ct_clear');
  assert.deepEqual(parseActions('load:0x1->NXM_NX_CT_LABEL[]'), [
    { type: 'reg_load', dst: 'ct_label', ofs: 0, n_bits: 64, value: 1n }, { type: 'reg_load', dst: 'ct_label', ofs: 64, n_bits: 64, value: 0n }]);
  assert.deepEqual(parseActions('set_field:0x1/0x1->ct_mark'), [{ type: 'reg_load2', field: { field: 'ct_mark', value: 1, mask: 1 } }]);
  assert.deepEqual(parseActions('set_field:LOCAL->in_port'), [{ type: 'set_field', field: { field: 'unknown', oxmClass: 0, code: 0, value: 'fffe' } }]);
  assert.equal(formatInstructions([]), 'drop');
  assert.equal(formatInstructions([{ type: 'goto_table', table_id: 3 }, { type: 'apply_actions', actions: [{ type: 'dec_nw_ttl' }] }]), 'dec_ttl,goto_table:3');
  assert.deepEqual(parseInstructions('goto_table:3,dec_ttl,meter:2'),
    [{ type: 'meter', meter_id: 2 }, { type: 'apply_actions', actions: [{ type: 'dec_nw_ttl' }] }, { type: 'goto_table', table_id: 3 }]);
  assert.equal(formatFlow(parseFlow('tcp,actions=mod_tp_dst:80')), 'tcp actions=set_field:80->tcp_dst');
});

test('invalid text throws OfctlSyntaxError naming the offending token', () => {
  const bad: [string, string][] = [
    ['ip,nw_dst=10.0.0.300,actions=drop', '10.0.0.300'],
    ['ip,nw_dts=10.0.0.1,actions=drop', 'nw_dts=10.0.0.1'],
    ['bogus,actions=drop', 'bogus'],
    ['tp_dst=80,actions=drop', 'tp_dst=80'],
    ['reg0=0x100000000,actions=drop', '0x100000000'],
    ['ct_state=+trk+bogus,actions=drop', '+trk+bogus'],
    ['dl_vlan=5000,actions=drop', 'dl_vlan=5000'],
    ['ip,nw_tos=3,actions=drop', 'nw_tos=3'],
    ['in_port=FOO,actions=drop', 'FOO'],
    ['ip,arp,actions=drop', 'arp'],
    ['cookie=0x1/0xff,actions=drop', 'cookie=0x1/0xff'],
    ['ip', 'ip'],
    ['actions=frobnicate:1', 'frobnicate:1'],
    ['actions=output:1,drop', 'output:1,drop'],
    ['actions=ct(commit,zone=NXM_NX_REG99[0..15])', 'NXM_NX_REG99'],
    ['actions=ct(commit,nat(src=10.0.0.1-10.0.0.2-10.0.0.3))', 'nat(src=10.0.0.1-10.0.0.2-10.0.0.3)'],
    ['actions=ct(commit,bogus)', 'bogus'],
    ['actions=ct(commit', 'ct(commit'],
    ['actions=load:0x10000->NXM_NX_REG0[0..15]', 'load:0x10000->NXM_NX_REG0[0..15]'],
    ['actions=load:0x1->NXM_NX_REG0[0..40]', 'NXM_NX_REG0[0..40]'],
    ['actions=move:NXM_NX_REG0[0..7]->NXM_NX_REG1[0..15]', 'move:NXM_NX_REG0[0..7]->NXM_NX_REG1[0..15]'],
    ['actions=set_field:1->nosuchfield', 'nosuchfield'],
    ['actions=set_field:10.0.0.1', 'set_field:10.0.0.1'],
    ['actions=resubmit(,300)', '300'],
    ['actions=conjunction(1,3/2)', 'conjunction(1,3/2)'],
    ['actions=goto_table:1,goto_table:2', 'goto_table:2'],
    ['actions=write_actions(goto_table:1)', 'goto_table:1'],
    ['actions=mod_tp_dst:80', 'mod_tp_dst:80'],
    ['actions=mod_vlan_vid:10', 'mod_vlan_vid:10'],
    ['actions=note:0g', 'note:0g'],
  ];
  for (const [text, token] of bad) {
    assert.throws(() => parseFlow(text), (e: unknown) => {
      assert.ok(e instanceof OfctlSyntaxError, `${text}: ${String(e)}`);
      assert.equal(e.token, token, `${text}: ${e.message}`);
      assert.ok(e.message.includes(`"${token}"`), e.message);
      return true;
    }, text);
  }
});

test('one field table: the codec writes and reads back every header the text form names', () => {
  assert.ok(OVS_FIELDS.length > 80);
  for (const f of OVS_FIELDS) {
    const name = codecFieldName(f);
    const w = new Writer(16);
    writeFieldHeader(w, name);
    const b = w.finish();
    assert.deepEqual([b.readUInt16BE(0), b[2]! >> 1, b[3]], [f.cls, f.code, f.bytes], f.nxm);
    assert.equal(readFieldHeader(new Reader(b)), name, f.nxm);
    assert.equal(fieldWidth(name), f.bits, f.nxm);
  }
  // A field whose OVS header is an NXM twin: the codec keeps its OXM header, the text its NXM one.
  const ethDst = OVS_FIELDS.find((f) => f.nxm === 'NXM_OF_ETH_DST')!;
  assert.deepEqual([ethDst.cls, ethDst.code, ethDst.oxm, codecFieldName(ethDst)], [0, 1, 'eth_dst', 'field:0:1']);
  assert.deepEqual([OXM_BY_NAME.get('eth_dst')!.oxmClass, OXM_BY_NAME.get('eth_dst')!.field], [0x8000, 3]);
  // Width as OVS counts it (text) and as the value is carried (codec) come from the same row.
  assert.deepEqual([fieldWidth('vlan_vid'), fieldBits('vlan_vid')], [12, 16]);
  // tcp_flags has two OXM headers; encoding by name uses the NXM one, as OVS accepts it.
  assert.equal(FIELD_TABLE.filter((r) => r.name === 'tcp_flags').length, 2);
  assert.equal(OXM_BY_NAME.get('tcp_flags')!.oxmClass, 1);
});

test('moves on NXM-only fields (xxreg, tun_ipv6) encode and decode back to the same text', () => {
  const text = 'move:NXM_NX_XXREG0[0..31]->NXM_NX_REG0[],move:NXM_NX_TUN_IPV6_SRC[64..127]->NXM_NX_XXREG1[0..63]';
  const fm = flowMod({ xid: 1, match: [], instructions: [{ type: 'apply_actions', actions: parseActions(text) }] });
  const back = decodeMessage(encodeMessage(fm)) as FlowMod;
  assert.equal(formatInstructions(back.instructions), text);
});
