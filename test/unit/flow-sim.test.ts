// The flow simulator on hand-written flows (ovs-ofctl text): lookup order,
// masks, bit ranges, the action set, resubmit and ct, and the loop bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simulate, traceText, SimFlow, PacketFields } from '../../controller/flow-sim';
import { parseFlow } from '../../southbound/text';
import { OFPP_NORMAL } from '../../southbound/codec';

const flows = (...lines: string[]): SimFlow[] => lines.map(parseFlow);
const ip: PacketFields = { in_port: 1, eth_src: '02:00:00:00:00:01', eth_dst: '02:00:00:00:00:02', eth_type: 0x0800, ipv4_src: '10.0.0.1', ipv4_dst: '10.0.1.66', ip_proto: 6, tcp_src: 1000, tcp_dst: 80, nw_ttl: 64 };
const ports = (t: ReturnType<typeof simulate>) => t.outputs.map((o) => o.port);

test('the highest priority that matches wins, the first of equal priorities; a verdict names the dropping table', () => {
  const f = flows(
    'priority=10,ip actions=output:2',
    'priority=20,ip,nw_dst=10.0.1.66 actions=output:3',
    'priority=20,ip,nw_src=10.0.0.1 actions=output:4',
    'priority=30,ip,nw_dst=10.9.9.9 actions=output:5',
  );
  assert.deepEqual(ports(simulate(f, ip)), [3]);
  assert.deepEqual(ports(simulate(f, { ...ip, ipv4_dst: '10.0.0.7' })), [4]);
  assert.deepEqual(ports(simulate(f, { ...ip, ipv4_src: '10.0.0.2', ipv4_dst: '10.0.0.7' })), [2]);
  const names = ['first', 'second'];
  const miss = simulate(flows('priority=0 actions=goto_table:1', 'table=1,priority=0 actions=drop'), ip, { tableNames: names });
  assert.deepEqual(miss.verdict, { kind: 'drop', table: 1, tableName: 'second', reason: 'miss_flow', why: 'the miss flow of table 1 (second) drops' });
  const none = simulate(flows('priority=0 actions=goto_table:1', 'table=1,priority=5,arp actions=output:1'), ip, { tableNames: (id) => `t${id}` });
  assert.deepEqual([none.verdict.kind, none.verdict.kind === 'drop' && none.verdict.reason, none.verdict.kind === 'drop' && none.verdict.tableName], ['drop', 'no_match', 't1']);
  const explicit = simulate(flows('priority=5,ip actions=drop', 'priority=0 actions=NORMAL'), ip);
  assert.deepEqual(explicit.verdict.kind === 'drop' && [explicit.verdict.table, explicit.verdict.reason], [0, 'explicit']);
  assert.deepEqual(ports(simulate(flows('priority=5,ip actions=drop', 'priority=0 actions=NORMAL'), { ...ip, eth_type: 0x0806 })), [OFPP_NORMAL]);
});

test('conjunctive matches: every clause at a priority completes the conjunction, then the conj_id flow is looked up; an incomplete one falls to lower priorities', () => {
  const f = flows(
    'priority=100,ip,nw_src=10.0.0.1 actions=conjunction(7,1/2)',
    'priority=100,ip,nw_src=10.0.0.2 actions=conjunction(7,1/2),conjunction(8,1/2)',
    'priority=100,tcp,tp_dst=80 actions=conjunction(7,2/2)',
    'priority=100,tcp,tp_dst=22 actions=conjunction(8,2/2)',
    'priority=100,conj_id=7 actions=output:7',
    'priority=100,conj_id=8 actions=output:8',
    'priority=50,ip actions=output:3',
  );
  const tcp = { ...ip, ip_proto: 6, tcp_src: 1000, tcp_dst: 80 };
  assert.deepEqual(ports(simulate(f, { ...tcp, ipv4_src: '10.0.0.1' })), [7]);
  assert.deepEqual(ports(simulate(f, { ...tcp, ipv4_src: '10.0.0.2', tcp_dst: 22 })), [8], 'one clause flow serves two conjunctions');
  assert.deepEqual(ports(simulate(f, { ...tcp, ipv4_src: '10.0.0.1', tcp_dst: 22 })), [3], 'clause 1 of 7 and clause 2 of 8: neither completes');
  assert.deepEqual(ports(simulate(f, { ...tcp, ipv4_src: '10.0.0.3' })), [3]);
  // a conjunction at a priority below an ordinary match loses to it
  const below = flows('priority=10,ip actions=conjunction(9,1/2)', 'priority=10,tcp actions=conjunction(9,2/2)', 'priority=10,conj_id=9 actions=output:9', 'priority=20,ip actions=output:2');
  assert.deepEqual(ports(simulate(below, tcp)), [2]);
});

test('masks: IPv4 and MAC masks as text, integer and 64-bit masks; absent headers never match, absent registers read 0', () => {
  const f = flows(
    'priority=50,ip,nw_dst=10.0.1.64/255.255.255.192 actions=output:1',
    'priority=40,dl_dst=0a:04:0a:04:00:00/ff:ff:ff:ff:ff:00 actions=output:2',
    'priority=30,reg3=0x10/0xf0 actions=output:3',
    'priority=20,tun_id=0x1388/0xffff,metadata=0x100000000/0xff00000000 actions=output:4',
    'priority=10,reg3=0 actions=output:5',
  );
  assert.deepEqual(ports(simulate(f, { ...ip, in_port: 9 })), [1]);
  assert.deepEqual(ports(simulate(f, { ...ip, in_port: 9, ipv4_dst: '10.0.1.128' })), [5], 'outside the /26; reg3 reads 0');
  assert.deepEqual(ports(simulate(f, { in_port: 9, eth_dst: '0A:04:0A:04:00:42' })), [2], 'no IPv4 header: the nw_dst flow cannot match');
  assert.deepEqual(ports(simulate(f, { in_port: 9, eth_dst: '0a:04:0a:05:00:42', reg3: 0x1f })), [3]);
  assert.deepEqual(ports(simulate(f, { in_port: 9, tun_id: 0x11388n, metadata: 0x7700000001n << 8n })), [5], 'metadata bits differ');
  assert.deepEqual(ports(simulate(f, { in_port: 9, reg3: 1, tunnel_id: 0x11388n, metadata: 0x0100000000n })), [4]);
});

test('move and load write bit ranges of fields of any width; output_reg reads one', () => {
  const f = flows(
    'priority=1 actions=move:NXM_OF_IP_DST[8..15]->NXM_NX_REG1[4..11],load:0x5->NXM_NX_REG2[0..3],'
      + 'set_field:0a:01:00:00:00:00->eth_dst,move:NXM_OF_IP_DST[]->NXM_OF_ETH_DST[0..31],'
      + 'move:NXM_NX_CT_LABEL[0..47]->NXM_OF_ETH_SRC[],move:NXM_OF_ETH_SRC[40..47]->NXM_NX_ARP_THA[0..7],output:NXM_NX_REG1[4..11]',
  );
  const t = simulate(f, { ...ip, in_port: 9, reg1: 0xffff000f, reg2: 0xfff0, ct_label: (0xabcdn << 48n) | 0x0e0000000001n, arp_tha: '00:00:00:00:00:00' });
  const [o] = t.outputs;
  assert.equal(o.port, 1, 'the third byte of 10.0.1.66');
  assert.equal(o.fields.reg1, 0xffff001f, 'only bits 4..11 replaced');
  assert.equal(o.fields.reg2, 0xfff5, 'bits outside the range kept');
  assert.equal(o.fields.eth_dst, '0a:01:0a:00:01:42');
  assert.equal(o.fields.eth_src, '0e:00:00:00:00:01', 'the low 48 bits of the 128-bit label');
  assert.equal(o.fields.arp_tha, '00:00:00:00:00:0e');
});

test('resubmit returns and continues with its changes; a loop is cut by the depth bound', () => {
  const f = flows(
    'priority=1,in_port=1 actions=resubmit(,1),output:2',
    'table=1,priority=1 actions=set_field:0x7->reg0,dec_ttl,output:3',
    'table=2,priority=1,in_port=5 actions=output:6',
    'priority=1,in_port=4 actions=resubmit(5,2),output:IN_PORT,output:4',
  );
  const t = simulate(f, ip);
  assert.deepEqual(ports(t), [3, 2]);
  assert.deepEqual([t.outputs[1].fields.reg0, t.outputs[1].fields.nw_ttl], [7, 63]);
  assert.deepEqual(t.hops.map((h) => [h.table, h.via, h.depth]), [[0, 'start', 0], [1, 'resubmit', 1]]);
  // resubmit with another in_port; in_port is restored after it; output to the in_port needs IN_PORT
  const r = simulate(f, { ...ip, in_port: 4 });
  assert.deepEqual(ports(r), [6, 4]);
  assert.deepEqual(r.effects.map((e) => e.type), ['skipped_output']);
  const loop = simulate(flows('priority=1 actions=resubmit(,0)'), ip, { maxDepth: 10 });
  assert.equal(loop.verdict.kind === 'drop' && loop.verdict.reason, 'loop');
  assert.equal(loop.hops.length, 11);
  const deep = simulate(flows('table=3,priority=1 actions=resubmit(,3),output:2'), ip, { table: 3 });
  assert.deepEqual(deep.verdict.kind === 'drop' && [deep.verdict.table, deep.verdict.reason], [3, 'loop'], 'nothing is output after the cut');
});

test('ct forks into its table with the tracker\'s state; NAT with a range rewrites, commit is recorded', () => {
  const f = flows(
    'priority=1,ip actions=ct(commit,zone=5,nat(dst=10.9.9.9:8080),exec(move:NXM_OF_ETH_SRC[]->NXM_NX_CT_LABEL[0..47]),table=2),output:7',
    'table=2,priority=5,ct_state=+trk+new+dnat,ct_zone=5 actions=output:8',
    'table=2,priority=1 actions=drop',
  );
  const t = simulate(f, ip);
  assert.deepEqual(ports(t), [8, 7]);
  assert.deepEqual([t.outputs[0].fields.ipv4_dst, t.outputs[0].fields.tcp_dst, t.outputs[0].fields.ct_label], ['10.9.9.9', 8080, 0x020000000001n]);
  assert.deepEqual([t.outputs[1].fields.ipv4_dst, t.outputs[1].fields.ct_state], ['10.0.1.66', undefined], 'the original goes on untouched');
  const [ct] = t.effects;
  assert.ok(ct.type === 'ct' && ct.commit && ct.zone === 5 && ct.recirc_table === 2 && ct.natted?.ipv4_dst === '10.9.9.9');
  // an established connection, as the options describe it
  const est = simulate(f, ip, { ct: { state: '+trk+est' } });
  assert.deepEqual(ports(est), [7]);
  assert.equal(est.hops[1].via, 'recirculation');
});

test('dec_ttl drops at TTL 1; VLAN push and pop; the action set runs at the end of the pipeline, output last', () => {
  const ttl = simulate(flows('priority=1 actions=dec_ttl,output:2'), { ...ip, nw_ttl: 1 });
  assert.deepEqual(ttl.verdict.kind === 'drop' && [ttl.verdict.reason, ttl.verdict.table], ['ttl_expired', 0]);
  const vlan = simulate(flows('priority=1,vlan_vid=0 actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:2,pop_vlan,output:3'), ip);
  assert.deepEqual(vlan.outputs.map((o) => [o.port, o.vlan_vid]), [[2, 100], [3, undefined]]);
  // a pushed tag without a VID is tagged with VID 0 (priority tagged), not untagged
  assert.deepEqual(simulate(flows('priority=1 actions=push_vlan:0x8100,output:2'), ip).outputs.map((o) => o.vlan_vid), [0]);
  assert.equal(simulate(flows('priority=1,vlan_vid=0 actions=output:2'), { ...ip, vlan_vid: 0x1064 }).verdict.kind, 'drop');
  const set = simulate(flows(
    'priority=1 actions=write_actions(output:9),goto_table:1',
    'table=1,priority=1 actions=write_actions(set_field:0x3->reg4,output:5),write_metadata:0x12/0xff',
  ), ip);
  assert.deepEqual(set.outputs.map((o) => [o.port, o.fields.reg4, o.fields.metadata]), [[5, 3, 0x12n]]);
  const cleared = simulate(flows('priority=1 actions=write_actions(output:9),goto_table:1', 'table=1,priority=1 actions=clear_actions'), ip);
  assert.equal(cleared.verdict.kind, 'drop');
  const exit = simulate(flows('priority=1 actions=output:2,exit,output:3'), ip);
  assert.deepEqual(ports(exit), [2]);
  assert.match(traceText(exit), /output: 2/);
});
