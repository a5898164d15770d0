// Flows that exercise the match fields and actions Weft relies on, valid for
// OVS (prerequisites satisfied). Shared by the codec and OVS integration tests.
import { flowMod, FlowMod, GroupMod, MeterMod, OFPP_CONTROLLER, OFPP_IN_PORT, OFPCML_NO_BUFFER } from '../../southbound/codec';

const IP = { field: 'eth_type', value: 0x0800 };
const IP6 = { field: 'eth_type', value: 0x86dd };
const ARP = { field: 'eth_type', value: 0x0806 };
const TCP = { field: 'ip_proto', value: 6 };
const UDP = { field: 'ip_proto', value: 17 };
const CT_TRK = 0x20, CT_NEW = 0x01, CT_EST = 0x02;

export const SAMPLE_GROUP: GroupMod = {
  type: 'group_mod', xid: 0, command: 0, group_type: 0 /* all */, group_id: 1,
  buckets: [
    { weight: 0, watch_port: 0xffffffff, watch_group: 0xffffffff, actions: [{ type: 'output', port: 1 }] },
    { weight: 0, watch_port: 0xffffffff, watch_group: 0xffffffff, actions: [{ type: 'output', port: 2 }] },
  ],
};

export const SAMPLE_METER: MeterMod = {
  type: 'meter_mod', xid: 0, command: 0, flags: 0x1 /* kbps */ | 0x4 /* burst */, meter_id: 1,
  bands: [{ type: 'drop', rate: 10000, burst_size: 1000 }],
};

export const SAMPLE_FLOWS: FlowMod[] = [
  // classifier: in_port + L2, registers loaded, goto
  flowMod({
    table_id: 0, priority: 100, cookie: 0x1000000000000001n,
    match: [{ field: 'in_port', value: 1 }, { field: 'eth_src', value: '02:00:00:00:00:01' }],
    instructions: [
      { type: 'apply_actions', actions: [{ type: 'set_field', field: { field: 'reg0', value: 5 } }, { type: 'reg_load', dst: 'reg1', ofs: 0, n_bits: 16, value: 0x1234n }] },
      { type: 'goto_table', table_id: 1 },
    ],
  }),
  // table-miss to the controller
  flowMod({ table_id: 0, priority: 0, instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: OFPP_CONTROLLER, max_len: OFPCML_NO_BUFFER }] }] }),
  // conntrack: untracked TCP goes through ct() to table 2
  flowMod({
    table_id: 1, priority: 200, idle_timeout: 60, hard_timeout: 300,
    match: [IP, TCP, { field: 'ct_state', value: 0, mask: CT_TRK }],
    instructions: [{ type: 'apply_actions', actions: [{ type: 'ct', flags: 0, zone: 5, recirc_table: 2, alg: 0, actions: [] }] }],
  }),
  // commit new connections with SNAT (address and port range) then resubmit
  flowMod({
    table_id: 2, priority: 300,
    match: [IP, TCP, { field: 'ct_state', value: CT_TRK | CT_NEW, mask: CT_TRK | CT_NEW }, { field: 'ipv4_src', value: '10.0.0.0', mask: '255.255.255.0' }],
    instructions: [{
      type: 'apply_actions', actions: [
        { type: 'ct', flags: 1, zone: 5, recirc_table: 255, alg: 0, actions: [{ type: 'nat', flags: 1 | 4, ipv4_min: '10.1.12.0', ipv4_max: '10.1.13.255', proto_min: 1, proto_max: 1023 }] },
        { type: 'resubmit', in_port: 0xfff8, table: 3 },
      ],
    }],
  }),
  // DNAT for established, zone from a register
  flowMod({
    table_id: 2, priority: 290,
    match: [IP, TCP, { field: 'ct_state', value: CT_TRK | CT_EST, mask: CT_TRK | CT_EST }, { field: 'tcp_dst', value: 8080 }],
    instructions: [{
      type: 'apply_actions', actions: [
        { type: 'ct', flags: 1, zone_src: 'reg4', zone_ofs: 0, zone_n_bits: 16, recirc_table: 4, alg: 0, actions: [{ type: 'nat', flags: 2, ipv4_min: '10.0.0.7', proto_min: 80 }] },
      ],
    }],
  }),
  // ct fields and registers with masks; move between registers
  flowMod({
    table_id: 3, priority: 400,
    match: [
      { field: 'reg0', value: 5, mask: 0xffff }, { field: 'reg7', value: 7 }, { field: 'pkt_mark', value: 0x10, mask: 0xff },
      { field: 'ct_mark', value: 1 }, { field: 'ct_zone', value: 5 }, { field: 'ct_label', value: 0x10000000000000001n },
    ],
    instructions: [
      { type: 'apply_actions', actions: [{ type: 'reg_move', src: 'reg0', src_ofs: 0, dst: 'reg3', dst_ofs: 16, n_bits: 16 }, { type: 'ct_clear' }] },
      { type: 'write_metadata', metadata: 0x42n, metadata_mask: 0xffn },
      { type: 'goto_table', table_id: 4 },
    ],
  }),
  // tunnel fields: match and set (overlay output)
  flowMod({
    table_id: 4, priority: 500,
    match: [{ field: 'tunnel_id', value: 5001n }, { field: 'tun_ipv4_src', value: '192.168.50.2' }, { field: 'tun_ipv4_dst', value: '192.168.50.1' }],
    instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 1 }] }],
  }),
  flowMod({
    table_id: 4, priority: 450, match: [IP, { field: 'ipv4_dst', value: '10.0.2.0', mask: '255.255.255.0' }],
    instructions: [{
      type: 'apply_actions', actions: [
        { type: 'set_field', field: { field: 'tun_ipv4_dst', value: '192.168.50.3' } },
        { type: 'set_field', field: { field: 'tunnel_id', value: 5002n } },
        { type: 'dec_nw_ttl' },
        { type: 'set_field', field: { field: 'eth_dst', value: '02:00:00:00:02:01' } },
        { type: 'output', port: 2 },
      ],
    }],
  }),
  // ARP responder: swap fields, answer out the in_port
  flowMod({
    table_id: 5, priority: 600,
    match: [ARP, { field: 'arp_op', value: 1 }, { field: 'arp_tpa', value: '10.0.0.1' }],
    instructions: [{
      type: 'apply_actions', actions: [
        { type: 'reg_move', src: 'eth_src', src_ofs: 0, dst: 'eth_dst', dst_ofs: 0, n_bits: 48 },
        { type: 'set_field', field: { field: 'eth_src', value: '02:00:00:00:00:fe' } },
        { type: 'set_field', field: { field: 'arp_op', value: 2 } },
        { type: 'reg_move', src: 'arp_sha', src_ofs: 0, dst: 'arp_tha', dst_ofs: 0, n_bits: 48 },
        { type: 'set_field', field: { field: 'arp_sha', value: '02:00:00:00:00:fe' } },
        { type: 'reg_move', src: 'arp_spa', src_ofs: 0, dst: 'arp_tpa', dst_ofs: 0, n_bits: 32 },
        { type: 'set_field', field: { field: 'arp_spa', value: '10.0.0.1' } },
        { type: 'output', port: OFPP_IN_PORT },
      ],
    }],
  }),
  // conjunctive match
  flowMod({ table_id: 6, priority: 700, match: [IP, { field: 'ipv4_src', value: '10.0.0.1' }], instructions: [{ type: 'apply_actions', actions: [{ type: 'conjunction', id: 9, clause: 0, n_clauses: 2 }] }] }),
  flowMod({ table_id: 6, priority: 700, match: [IP, TCP, { field: 'tcp_dst', value: 443 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'conjunction', id: 9, clause: 1, n_clauses: 2 }] }] }),
  flowMod({ table_id: 6, priority: 700, match: [{ field: 'conj_id', value: 9 }, IP], instructions: [{ type: 'apply_actions', actions: [{ type: 'group', group_id: 1 }] }] }),
  // IPv6 with masks, dropped (no instructions)
  flowMod({
    table_id: 7, priority: 800,
    match: [IP6, { field: 'ipv6_src', value: 'fd00::', mask: 'ffff:ffff::' }, { field: 'ipv6_dst', value: 'fd00::1' }, { field: 'ip_proto', value: 58 }, { field: 'icmpv6_type', value: 128 }],
  }),
  // UDP with VLAN push/pop, write/clear actions, meter
  flowMod({
    table_id: 8, priority: 900, match: [{ field: 'vlan_vid', value: 0x1000 | 10 }, IP, UDP, { field: 'udp_dst', value: 4789 }, { field: 'ip_dscp', value: 46 }],
    instructions: [
      { type: 'meter', meter_id: 1 },
      { type: 'apply_actions', actions: [{ type: 'pop_vlan' }, { type: 'push_vlan', ethertype: 0x8100 }, { type: 'set_field', field: { field: 'vlan_vid', value: 0x1000 | 20 } }] },
      { type: 'clear_actions' },
      { type: 'write_actions', actions: [{ type: 'output', port: 2 }] },
    ],
  }),
  // load/move naming NXM-only headers (NXM_NX_TUN_ID, NXM_OF_ETH_SRC/DST), as ovs-ofctl writes them
  flowMod({
    table_id: 10, priority: 1100, match: [IP, TCP, { field: 'tcp_flags', value: 0x002, mask: 0x0fff }],
    instructions: [{
      type: 'apply_actions', actions: [
        { type: 'reg_load', dst: 'field:1:10', ofs: 0, n_bits: 32, value: 5n },
        { type: 'reg_move', src: 'field:0:2', src_ofs: 0, dst: 'field:0:1', dst_ofs: 0, n_bits: 48 },
        { type: 'output', port: 1 },
      ],
    }],
  }),
  // metadata match, ICMP, note, reg_load2-like set_field on xreg, output to controller with reason
  flowMod({
    table_id: 9, priority: 1000, match: [{ field: 'metadata', value: 0x42n, mask: 0xffn }, IP, { field: 'ip_proto', value: 1 }, { field: 'icmpv4_type', value: 8 }],
    instructions: [{
      type: 'apply_actions', actions: [
        { type: 'note', note: Buffer.from([0xde, 0xad, 0xbe, 0xef, 0, 0]) },
        { type: 'set_field', field: { field: 'xreg2', value: 0x1122334455667788n } },
        { type: 'controller', max_len: 128, controller_id: 0, reason: 1 },
      ],
    }],
  }),
];
