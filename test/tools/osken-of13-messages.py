"""Build OpenFlow 1.3 messages with os-ken and print them as JSON.

An independent encoder for test/unit/osken-generated.test.ts: every message
below is built with os-ken's ofproto_v1_3_parser (Debian python3-os-ken; run
with /usr/bin/python3, the interpreter that package installs into),
serialized by os-ken, and printed with os-ken's own decoding of it:

  [{"name": ..., "hex": <the bytes os-ken wrote>, "parsed": true|false,
    "osken": <to_jsondict()>, "reencoded": {...}}, ...]

"parsed" is true when os-ken has a parser for the class and "osken" is its
decoding of the bytes; os-ken parses only what a switch sends and a few
others (flow_mod, ...), so for the rest "osken" is the message os-ken
serialized (after serialize(), which fills in the lengths), as os-ken's own
tests do for those classes.

"reencoded" is there only where Weft writes a field in another (equally
valid) form than os-ken: {"why": ..., "hex", "parsed", "osken"} of the same
message built by os-ken in the form Weft writes.

The set covers what Weft sends: flow_mods with OXM and Nicira fields
(registers, tunnel fields, ct_state/zone/mark/label, pkt_mark, conj_id) and
the Nicira actions Weft uses (ct, nat, resubmit, reg_load, reg_move,
conjunction, ct_clear, dec_ttl, note), set_field of tun_id/tun_dst and
registers, packet_out, group_mod, meter_mod, port_mod, table_mod, the
multipart requests, and the small session messages.
"""

import json
import sys

from os_ken.ofproto import nicira_ext, ofproto_parser, ofproto_protocol, ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as p

DP = ofproto_protocol.ProtocolDesc(ofp.OFP_VERSION)
MsgBase = ofproto_parser.MsgBase


def ofs_nbits(ofs, n_bits):
    return nicira_ext.ofs_nbits(ofs, ofs + n_bits - 1)


def apply(*actions):
    return p.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, list(actions))


def flow_mod(**kw):
    return p.OFPFlowMod(DP, **kw)


# an Ethernet/IPv4/ICMP echo frame, as a packet_out's data (padded to 60 bytes)
FRAME = bytes.fromhex(
    '02000000000202000000000108004500002e000040004001f9c30a0000010a000002'
    '0800f7fc0000000048656c6c6f2c20776f726c64210000000000')

IP = {'eth_type': 0x0800}
CT_TRK, CT_NEW, CT_EST = 0x20, 0x01, 0x02
NAT_SRC, NAT_DST, NAT_PERSISTENT = 1, 2, 4
CT_COMMIT = 1

MESSAGES = [
    # classifier: in_port + eth_src, a register loaded two ways, then goto
    ('flow_mod classifier (set_field reg0, reg_load reg1, goto_table)', flow_mod(
        cookie=0x1000000000000001, table_id=0, priority=100,
        match=p.OFPMatch(in_port=1, eth_src='02:00:00:00:00:01'),
        instructions=[
            apply(p.OFPActionSetField(reg0=5),
                  p.NXActionRegLoad(ofs_nbits=ofs_nbits(0, 16), dst='reg1', value=0x1234)),
            p.OFPInstructionGotoTable(1)])),
    ('flow_mod table-miss to the controller', flow_mod(
        priority=0, match=p.OFPMatch(),
        instructions=[apply(p.OFPActionOutput(ofp.OFPP_CONTROLLER, ofp.OFPCML_NO_BUFFER))])),
    ('flow_mod untracked tcp through ct(zone=5,table=2)', flow_mod(
        table_id=1, priority=200, idle_timeout=60, hard_timeout=300,
        flags=ofp.OFPFF_SEND_FLOW_REM | ofp.OFPFF_CHECK_OVERLAP,
        match=p.OFPMatch(eth_type=0x0800, ip_proto=6, ct_state=(0, CT_TRK)),
        instructions=[apply(p.NXActionCT(flags=0, zone_src='', zone_ofs_nbits=5, recirc_table=2, alg=0, actions=[]))])),
    ('flow_mod ct(commit,nat(src=range:ports)) and resubmit(,3)', flow_mod(
        table_id=2, priority=300,
        match=p.OFPMatch(eth_type=0x0800, ip_proto=6, ipv4_src=('10.0.0.0', '255.255.255.0'),
                         ct_state=(CT_TRK | CT_NEW, CT_TRK | CT_NEW)),
        instructions=[apply(
            p.NXActionCT(flags=CT_COMMIT, zone_src='', zone_ofs_nbits=5, recirc_table=255, alg=0, actions=[
                p.NXActionNAT(flags=NAT_SRC | NAT_PERSISTENT, range_ipv4_min='10.1.12.0', range_ipv4_max='10.1.13.255',
                              range_proto_min=1, range_proto_max=1023)]),
            p.NXActionResubmitTable(in_port=0xfff8, table_id=3))])),
    ('flow_mod ct(commit,zone=reg4[0..15],table=4,nat(dst=ip:port))', flow_mod(
        table_id=2, priority=290,
        match=p.OFPMatch(eth_type=0x0800, ip_proto=6, tcp_dst=8080, ct_state=(CT_TRK | CT_EST, CT_TRK | CT_EST)),
        instructions=[apply(
            p.NXActionCT(flags=CT_COMMIT, zone_src='reg4', zone_ofs_nbits=ofs_nbits(0, 16), recirc_table=4, alg=0, actions=[
                p.NXActionNAT(flags=NAT_DST, range_ipv4_min='10.0.0.7', range_ipv4_max='10.0.0.7',
                              range_proto_min=80, range_proto_max=80)]))])),
    ('flow_mod ct(commit,nat(src=ipv6))', flow_mod(
        table_id=2, priority=280,
        match=p.OFPMatch(eth_type=0x86dd, ct_state=(CT_TRK | CT_NEW, CT_TRK | CT_NEW)),
        instructions=[apply(
            p.NXActionCT(flags=CT_COMMIT, zone_src='', zone_ofs_nbits=7, recirc_table=255, alg=0, actions=[
                p.NXActionNAT(flags=NAT_SRC, range_ipv6_min='fd00::1', range_ipv6_max='fd00::ff')]))])),
    ('flow_mod conntrack and register matches, reg_move, ct_clear, write_metadata', flow_mod(
        table_id=3, priority=400,
        match=p.OFPMatch(pkt_mark=(0x10, 0xff), ct_zone=5, ct_mark=1, ct_label=(1 << 64) | 1,
                         reg0=(5, 0xffff), reg7=7),
        instructions=[
            apply(p.NXActionRegMove(src_field='reg0', dst_field='reg3', n_bits=16, src_ofs=0, dst_ofs=16),
                  p.NXActionCTClear()),
            p.OFPInstructionWriteMetadata(0x42, 0xff),
            p.OFPInstructionGotoTable(4)])),
    ('flow_mod tunnel match (tun_id, tun_src, tun_dst)', flow_mod(
        table_id=4, priority=500,
        match=p.OFPMatch(tunnel_id=0x1389, tun_ipv4_src='192.168.50.2', tun_ipv4_dst='192.168.50.1'),
        instructions=[apply(p.OFPActionOutput(1))])),
    ('flow_mod set_field tun_dst/tun_id, dec_ttl, eth_dst, output', flow_mod(
        table_id=4, priority=450,
        match=p.OFPMatch(eth_type=0x0800, ipv4_dst=('10.0.2.0', '255.255.255.0')),
        instructions=[apply(
            p.OFPActionSetField(tun_ipv4_dst='192.168.50.3'),
            p.OFPActionSetField(tunnel_id=0x138a),
            p.NXActionDecTtl(),
            p.OFPActionSetField(eth_dst='02:00:00:00:02:01'),
            p.OFPActionOutput(2))])),
    ('flow_mod arp responder (reg_move of eth/arp fields, set_field)', flow_mod(
        table_id=5, priority=600,
        match=p.OFPMatch(eth_type=0x0806, arp_op=1, arp_tpa='10.0.0.1'),
        instructions=[apply(
            p.NXActionRegMove(src_field='eth_src_nxm', dst_field='eth_dst_nxm', n_bits=48),
            p.OFPActionSetField(eth_src='02:00:00:00:00:fe'),
            p.OFPActionSetField(arp_op=2),
            p.NXActionRegMove(src_field='arp_sha_nxm', dst_field='arp_tha_nxm', n_bits=48),
            p.OFPActionSetField(arp_sha='02:00:00:00:00:fe'),
            p.NXActionRegMove(src_field='arp_spa_nxm', dst_field='arp_tpa_nxm', n_bits=32),
            p.OFPActionSetField(arp_spa='10.0.0.1'),
            p.OFPActionOutput(ofp.OFPP_IN_PORT))])),
    ('flow_mod conjunction clause 1/2', flow_mod(
        table_id=6, priority=700, match=p.OFPMatch(eth_type=0x0800, ipv4_src='10.0.0.1'),
        instructions=[apply(p.NXActionConjunction(clause=0, n_clauses=2, id_=9))])),
    ('flow_mod conjunction clause 2/2', flow_mod(
        table_id=6, priority=700, match=p.OFPMatch(eth_type=0x0800, ip_proto=6, tcp_dst=443),
        instructions=[apply(p.NXActionConjunction(clause=1, n_clauses=2, id_=9))])),
    ('flow_mod conj_id match to a group', flow_mod(
        table_id=6, priority=700, match=p.OFPMatch(eth_type=0x0800, conj_id=9),
        instructions=[apply(p.OFPActionGroup(1))])),
    ('flow_mod icmpv6 with masked ipv6_src', flow_mod(
        table_id=7, priority=800,
        match=p.OFPMatch(eth_type=0x86dd, ip_proto=58, ipv6_src=('fd00::', 'ffff:ffff::'), ipv6_dst='fd00::1',
                         icmpv6_type=128),
        instructions=[])),
    ('flow_mod vlan, meter, clear_actions, write_actions', flow_mod(
        table_id=8, priority=900,
        match=p.OFPMatch(vlan_vid=0x1000 | 10, eth_type=0x0800, ip_dscp=46, ip_proto=17, udp_dst=4789),
        instructions=[
            p.OFPInstructionMeter(1),
            apply(p.OFPActionPopVlan(), p.OFPActionPushVlan(0x8100), p.OFPActionSetField(vlan_vid=0x1000 | 20)),
            p.OFPInstructionActions(ofp.OFPIT_CLEAR_ACTIONS, []),
            p.OFPInstructionActions(ofp.OFPIT_WRITE_ACTIONS, [p.OFPActionOutput(2)])])),
    ('flow_mod metadata/icmp match, note, set_field xreg2, controller', flow_mod(
        table_id=9, priority=1000, match=p.OFPMatch(metadata=(0x42, 0xff), eth_type=0x0800, ip_proto=1, icmpv4_type=8),
        instructions=[apply(
            p.NXActionNote(note=[0xde, 0xad, 0xbe, 0xef]),
            p.OFPActionSetField(xreg2=0x1122334455667788),
            p.OFPActionOutput(ofp.OFPP_CONTROLLER, 128))])),
    ('flow_mod plain resubmit, reg_load of tun_id bits', flow_mod(
        table_id=10, priority=1100, match=p.OFPMatch(eth_type=0x0800, ip_proto=6),
        instructions=[apply(
            p.NXActionRegLoad(ofs_nbits=ofs_nbits(0, 32), dst='tunnel_id_nxm', value=5),
            p.NXActionResubmit(in_port=3))])),
    # os-ken writes tcp_flags as the ONF experimenter OXM (EXT-109), as OVS does in
    # OF1.3 replies; Weft decodes it and writes NXM_NX_TCP_FLAGS (southbound/codec/oxm.ts).
    ('flow_mod tcp_flags match (ONF EXT-109 OXM)', flow_mod(
        table_id=10, priority=1000, match=p.OFPMatch(eth_type=0x0800, ip_proto=6, tcp_flags=(0x002, 0x012)),
        instructions=[apply(p.OFPActionOutput(1))]),
     ('Weft encodes tcp_flags as NXM_NX_TCP_FLAGS', flow_mod(
         table_id=10, priority=1000, match=p.OFPMatch(_ordered_fields=[  # os-ken would put the NXM field first
             ('eth_type', 0x0800), ('ip_proto', 6), ('tcp_flags_nxm', (0x002, 0x012))]),
         instructions=[apply(p.OFPActionOutput(1))]))),
    ('flow_mod delete_strict with out_port/out_group and cookie mask', flow_mod(
        cookie=0xff00, cookie_mask=0xffff, table_id=3, command=ofp.OFPFC_DELETE_STRICT, priority=400,
        out_port=2, out_group=ofp.OFPG_ANY, match=p.OFPMatch(reg0=(5, 0xffff)), instructions=[])),
    ('flow_mod delete all tables', flow_mod(
        table_id=ofp.OFPTT_ALL, command=ofp.OFPFC_DELETE, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
        match=p.OFPMatch(), instructions=[])),

    ('packet_out flood with data', p.OFPPacketOut(
        DP, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
        actions=[p.OFPActionOutput(ofp.OFPP_FLOOD)], data=FRAME)),
    ('packet_out set_field tun_id then output, from port 3', p.OFPPacketOut(
        DP, buffer_id=ofp.OFP_NO_BUFFER, in_port=3,
        actions=[p.OFPActionSetField(tunnel_id=0x1389), p.OFPActionSetField(tun_ipv4_dst='192.168.50.2'),
                 p.OFPActionOutput(7)], data=FRAME)),
    ('packet_out of a buffered packet, no data', p.OFPPacketOut(
        DP, buffer_id=0x1234, in_port=1, actions=[p.OFPActionOutput(ofp.OFPP_TABLE)], data=None)),

    ('group_mod all, two buckets', p.OFPGroupMod(
        DP, command=ofp.OFPGC_ADD, type_=ofp.OFPGT_ALL, group_id=1, buckets=[
            p.OFPBucket(actions=[p.OFPActionOutput(1)]),
            p.OFPBucket(actions=[p.OFPActionOutput(2)])])),
    ('group_mod select, weighted buckets with set_field', p.OFPGroupMod(
        DP, command=ofp.OFPGC_ADD, type_=ofp.OFPGT_SELECT, group_id=7, buckets=[
            p.OFPBucket(weight=3, actions=[p.OFPActionSetField(eth_dst='02:00:00:00:00:07'), p.OFPActionOutput(3)]),
            p.OFPBucket(weight=1, actions=[p.OFPActionSetField(reg1=2), p.NXActionResubmitTable(table_id=5)])])),
    ('group_mod fast_failover with watch ports', p.OFPGroupMod(
        DP, command=ofp.OFPGC_MODIFY, type_=ofp.OFPGT_FF, group_id=9, buckets=[
            p.OFPBucket(watch_port=1, watch_group=ofp.OFPG_ANY, actions=[p.OFPActionOutput(1)]),
            p.OFPBucket(watch_port=2, watch_group=ofp.OFPG_ANY, actions=[p.OFPActionOutput(2)])])),
    ('group_mod delete', p.OFPGroupMod(DP, command=ofp.OFPGC_DELETE, type_=ofp.OFPGT_ALL, group_id=ofp.OFPG_ALL, buckets=[])),

    ('meter_mod drop band, kbps burst', p.OFPMeterMod(
        DP, command=ofp.OFPMC_ADD, flags=ofp.OFPMF_KBPS | ofp.OFPMF_BURST, meter_id=1,
        bands=[p.OFPMeterBandDrop(rate=10000, burst_size=1000)])),
    ('meter_mod dscp_remark band, pktps', p.OFPMeterMod(
        DP, command=ofp.OFPMC_MODIFY, flags=ofp.OFPMF_PKTPS, meter_id=2,
        bands=[p.OFPMeterBandDscpRemark(rate=500, burst_size=0, prec_level=1)])),

    ('port_mod', p.OFPPortMod(
        DP, port_no=3, hw_addr='02:00:00:00:00:03', config=ofp.OFPPC_NO_FWD, mask=ofp.OFPPC_NO_FWD | ofp.OFPPC_PORT_DOWN,
        advertise=0)),
    ('table_mod', p.OFPTableMod(DP, table_id=ofp.OFPTT_ALL, config=3)),

    ('multipart flow stats request with match and cookie mask', p.OFPFlowStatsRequest(
        DP, flags=0, table_id=3, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, cookie=0x1000000000000000,
        cookie_mask=0xf000000000000000, match=p.OFPMatch(reg0=5, eth_type=0x0800))),
    ('multipart aggregate stats request', p.OFPAggregateStatsRequest(
        DP, flags=0, table_id=ofp.OFPTT_ALL, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, cookie=0,
        cookie_mask=0, match=p.OFPMatch(in_port=2))),
    ('multipart desc request', p.OFPDescStatsRequest(DP, flags=0)),
    ('multipart table stats request', p.OFPTableStatsRequest(DP, flags=0)),
    ('multipart port stats request', p.OFPPortStatsRequest(DP, flags=0, port_no=ofp.OFPP_ANY)),
    ('multipart port desc request', p.OFPPortDescStatsRequest(DP, flags=0)),
    ('multipart queue stats request', p.OFPQueueStatsRequest(DP, flags=0, port_no=1, queue_id=ofp.OFPQ_ALL)),
    ('multipart group stats request', p.OFPGroupStatsRequest(DP, flags=0, group_id=ofp.OFPG_ALL)),
    ('multipart group desc request', p.OFPGroupDescStatsRequest(DP, flags=0)),
    ('multipart group features request', p.OFPGroupFeaturesStatsRequest(DP, flags=0)),
    ('multipart meter stats request', p.OFPMeterStatsRequest(DP, flags=0, meter_id=ofp.OFPM_ALL)),
    ('multipart meter config request', p.OFPMeterConfigStatsRequest(DP, flags=0, meter_id=1)),
    ('multipart meter features request', p.OFPMeterFeaturesStatsRequest(DP, flags=0)),
    ('multipart table features request (empty)', p.OFPTableFeaturesStatsRequest(DP, flags=0, body=[])),

    ('hello with version bitmap', p.OFPHello(DP, elements=[p.OFPHelloElemVersionBitmap(versions=[1, 4])])),
    ('echo_request with data', p.OFPEchoRequest(DP, data=b'weft keepalive')),
    ('echo_reply with data', p.OFPEchoReply(DP, data=b'weft keepalive')),
    ('features_request', p.OFPFeaturesRequest(DP)),
    ('get_config_request', p.OFPGetConfigRequest(DP)),
    ('set_config', p.OFPSetConfig(DP, flags=ofp.OFPC_FRAG_NORMAL, miss_send_len=ofp.OFPCML_NO_BUFFER)),
    ('barrier_request', p.OFPBarrierRequest(DP)),
    ('role_request master', p.OFPRoleRequest(DP, role=ofp.OFPCR_ROLE_MASTER, generation_id=0x8000000000000001)),
    ('get_async_request', p.OFPGetAsyncRequest(DP)),
    ('set_async', p.OFPSetAsync(DP, packet_in_mask=[0b111, 0b001], port_status_mask=[0b111, 0b000],
                                flow_removed_mask=[0b1111, 0b0000])),
    ('queue_get_config_request', p.OFPQueueGetConfigRequest(DP, port=2)),
]


def has_own_parser(cls):
    return cls.parser.__func__ is not MsgBase.parser.__func__


def encode(msg, xid):
    msg.set_xid(xid)
    msg.serialize()
    raw = bytes(msg.buf)
    parsed = has_own_parser(type(msg))
    if parsed:
        version, msg_type, msg_len, xid = ofproto_parser.header(raw)
        doc = ofproto_parser.msg(DP, version, msg_type, msg_len, xid, raw).to_jsondict()
    else:
        doc = msg.to_jsondict()
    return {'hex': raw.hex(), 'parsed': parsed, 'osken': doc}


def main():
    out = []
    for i, (name, msg, *twin) in enumerate(MESSAGES):
        entry = {'name': name, **encode(msg, 0x100 + i)}
        if twin:
            why, other = twin[0]
            entry['reencoded'] = {'why': why, **encode(other, 0x100 + i)}
        out.append(entry)
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
