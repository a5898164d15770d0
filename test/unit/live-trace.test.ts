// The live trace on a fake br-int: observation flows copied from the
// switch's flows (and a catch per table) see the marked packet table by
// table, never change what real traffic does, keep the marked packet from
// the container, and are gone afterwards; a flow missing on the switch
// makes the live path disagree with the computed one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeTable, PacketFields } from '../helpers/fake-table';
import { LiveTracer, observationFlows, markedFrame, compare, TRACE_TAGS, LiveResult } from '../../controller/live-trace';
import type { TraceResult } from '../../controller/trace';
import type { Resources, EndpointRec, HostRec } from '../../controller/resources';
import { flow, BR_INT, REG, ETH_TYPE, CATEGORY, categoryOf, TRACE_OBSERVE } from '../../controller/pipeline';
import { OFPP_CONTROLLER, FlowStats, FlowMod, PacketIn, Action } from '../../southbound/codec';
import type { Effect } from '../../controller/app';

const A = { ip: '10.0.0.2', mac: '0a:01:0a:00:00:02', port: 1 };
const C = { ip: '10.0.0.3', mac: '0a:01:0a:00:00:03', port: 2 };
const owner = { category: 'endpoint' as const, id: 7 };
const setReg = (v: number): Action => ({ type: 'set_field', field: { field: REG.network, value: v } });

/** A one-host br-int: a and c on network 1, ARP left out but for one flow that must not be copied. */
function brInt(): FlowMod[] {
  return [
    ...BR_INT.missFlows(),
    flow('spoofGuard', owner).band('endpoint').match('in_port', A.port).match('eth_src', A.mac).match('eth_type', ETH_TYPE.ipv4).match('ipv4_src', A.ip).actions(setReg(1)).goto('l3Forwarding').build(),
    flow('spoofGuard', owner).band('endpoint').match('in_port', A.port).match('eth_src', A.mac).match('eth_type', ETH_TYPE.arp).match('arp_spa', A.ip).match('arp_sha', A.mac).actions(setReg(1)).goto('arpResponder').build(),
    flow('l2Forwarding', owner).band('endpoint').match(REG.network, 1).match('eth_dst', C.mac).actions({ type: 'output', port: C.port }).build(),
    flow('l2Forwarding', owner).band('endpoint').match(REG.network, 1).match('eth_dst', A.mac).actions({ type: 'output', port: A.port }).build(),
  ];
}
const stats = (t: FakeTable): FlowStats[] => t.flows.map((f) => ({ ...f, duration_sec: 0, duration_nsec: 0, idle_timeout: 0, hard_timeout: 0, flags: 0, packet_count: 0n, byte_count: 0n }));
const ports = new Map([['a0', A.port], ['c0', C.port], ['vxlan0', 10]]);
const host: HostRec = { name: 'h1', dpid: '0000000000000001', underlayIp: '192.0.2.1' } as HostRec;
const eps = [{ id: 'ep-a', host: 'h1', portName: 'a0', ip: A.ip, mac: A.mac }, { id: 'ep-c', host: 'h1', portName: 'c0', ip: C.ip, mac: C.mac }] as EndpointRec[];
const resources = { host: (n: string) => (n === 'h1' ? host : undefined), endpoints: () => eps } as unknown as Resources;

/** A packet's fields from a frame (what a switch would parse of the marked packet). */
function fieldsOf(b: Buffer, inPort: number): PacketFields {
  const ip = (o: number) => [...b.subarray(o, o + 4)].join('.');
  const mac = (o: number) => [...b.subarray(o, o + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
  return { in_port: inPort, eth_dst: mac(0), eth_src: mac(6), eth_type: b.readUInt16BE(12), ip_dscp: b[15] >> 2, ip_proto: b[23], ipv4_src: ip(26), ipv4_dst: ip(30), nw_ttl: b[22] };
}

function computed(result: 'delivered' | 'dropped'): TraceResult {
  const hop = (tableId: number, actions: string) => ({ host: 'h1', bridge: 'br-int' as const, tableId, table: BR_INT.nameOf(tableId)!, flow: 'x', owner: 'o', actions });
  return {
    arp: { target: C.ip, mac: C.mac },
    hops: [hop(0, 'goto_table:1'), hop(1, 'goto_table:3'), hop(3, 'goto_table:4'), hop(4, result === 'delivered' ? 'output:2' : 'drop')],
    verdict: result === 'delivered' ? { result, endpoint: 'ep-c', host: 'h1' } : { result, host: 'h1', bridge: 'br-int', table: 'l2Forwarding', reason: 'no route', detail: '' },
  };
}

/** The live tracer on one fake bridge: flow-mods go into the table, the packet-out runs through it, controller outputs come back as packet-ins. */
function rig(t: FakeTable, lose = 0) {
  const delivered: number[] = [];
  const sent: Effect[] = [];
  const lt: LiveTracer = new LiveTracer({
    resources, ports: () => ports, dumpFlows: async () => stats(t), barrier: async () => undefined, timeoutMs: 300,
    send: (effects: Effect[]) => {
      for (const e of effects) {
        sent.push(e);
        if (e.msg.type === 'flow_mod') t.apply(e.msg as FlowMod);
        if (e.msg.type !== 'packet_out') continue;
        if (lose-- > 0) continue; // a datapath's stale cached flow took it, unseen
        const tr = t.trace(fieldsOf(e.msg.data, e.msg.in_port));
        for (const h of tr.hops) {
          if (!h.actions.some((a) => a.type === 'output' && a.port === OFPP_CONTROLLER)) continue;
          const pi = { type: 'packet_in', table_id: h.table, cookie: h.flow!.cookie!, data: e.msg.data } as unknown as PacketIn;
          setImmediate(() => lt.onPacketIn(host.dpid, pi));
        }
        for (const o of tr.outputs) if (o.port !== OFPP_CONTROLLER) delivered.push(o.port);
      }
    },
  });
  return { lt, delivered, sent };
}

test('observation flows: a copy of each flow that can match the marked packet, above its band, and a catch per table', () => {
  const t = new FakeTable();
  for (const f of brInt()) t.apply(f);
  const index = new Map();
  const obs = observationFlows({ host, bridge: 'br-int', dpid: host.dpid, ports }, stats(t), { tag: TRACE_TAGS[0], src: A.ip, dst: C.ip, proto: 1 }, index, eps);
  // 10 catches, 10 miss flows (5 forwarding tables, 3 policy tables, 2 service tables) and 3 IPv4 flows copied; the ARP spoof-guard entry cannot match an IPv4 packet
  assert.equal(obs.length, 10 + 10 + 3);
  assert.ok(obs.every((f) => f.priority >= TRACE_OBSERVE && categoryOf(f.cookie) === CATEGORY.trace));
  assert.ok(obs.every((f) => f.match.some((m) => m.field === 'ip_dscp' && m.value === TRACE_TAGS[0])), 'every one matches the mark');
  const deliver = obs.find((f) => f.table_id === BR_INT.tableId.l2Forwarding && f.priority === TRACE_OBSERVE + 1 + 200 && f.match.some((m) => m.value === C.mac))!;
  assert.deepEqual((deliver.instructions[0] as { actions: Action[] }).actions.map((a) => (a as { port?: number }).port), [OFPP_CONTROLLER], 'the delivery copy only tells the controller');
  assert.equal([...index.values()].filter((i) => i.event === 'delivered').length, 2);
});

test('a live trace is observed table by table and agrees with the computed one; real traffic is untouched; the flows are gone after', async () => {
  const t = new FakeTable();
  for (const f of brInt()) t.apply(f);
  const before = t.flows.length;
  const { lt, delivered } = rig(t);
  // real traffic while flows are installed: check at the moment the packet-out is sent
  const live = await lt.run({ from: { endpoint: 'ep-a' }, to: { endpoint: 'ep-c' }, proto: 'icmp', live: true }, eps[0], C.ip, computed('delivered'));
  assert.deepEqual(live.observed.map((o) => `${o.table}:${o.event}`), ['classifier:forwarded', 'spoofGuard:forwarded', 'l3Forwarding:forwarded', 'l2Forwarding:delivered']);
  assert.deepEqual(live.verdict, { result: 'delivered', endpoint: 'ep-c', host: 'h1' });
  assert.deepEqual(delivered, [], 'the marked packet never reaches the container');
  assert.deepEqual(compare(computed('delivered'), live), { agree: true, difference: null });
  assert.equal(t.flows.length, before, 'observation flows removed');
  assert.ok(t.flows.every((f) => categoryOf(f.cookie) !== CATEGORY.trace));
});

test('an injection not seen to its end is repeated with another IP id', async () => {
  const t = new FakeTable();
  for (const f of brInt()) t.apply(f);
  const { lt, sent } = rig(t, 1);
  const live = await lt.run({ from: { endpoint: 'ep-a' }, to: { endpoint: 'ep-c' }, proto: 'icmp', live: true }, eps[0], C.ip, computed('delivered'));
  assert.equal(live.injections, 2);
  assert.deepEqual(sent.filter((e) => e.msg.type === 'packet_out').map((e) => (e.msg as { data: Buffer }).data.readUInt16BE(18)), [1, 2]);
  assert.equal(live.verdict.result, 'delivered');
  assert.equal(compare(computed('delivered'), live).agree, true);
});

test('observation flows do not change what real traffic does', async () => {
  const t = new FakeTable();
  for (const f of brInt()) t.apply(f);
  const index = new Map();
  const real = { in_port: A.port, eth_src: A.mac, eth_dst: C.mac, eth_type: 0x800, ip_dscp: 0, ip_proto: 1, ipv4_src: A.ip, ipv4_dst: C.ip };
  const plain = t.trace(real).outputs.map((o) => o.port);
  for (const f of observationFlows({ host, bridge: 'br-int', dpid: host.dpid, ports }, stats(t), { tag: TRACE_TAGS[0], src: A.ip, dst: C.ip, proto: 1 }, index, eps)) t.apply(f);
  assert.deepEqual(plain, [C.port]);
  assert.deepEqual(t.trace(real).outputs.map((o) => o.port), plain, 'DSCP 0: the same path');
  assert.deepEqual(t.trace({ ...real, ip_dscp: 46 }).outputs.map((o) => o.port), plain, 'EF-marked real traffic: the same path');
  assert.deepEqual(t.trace({ ...real, ip_proto: 6, tcp_src: 1, tcp_dst: 2, ip_dscp: TRACE_TAGS[0] }).outputs.map((o) => o.port), plain, 'another protocol with the tag: the same path');
});

test('a delivery flow missing on the switch: observed dropped where the computed trace delivers, and the two disagree', async () => {
  const t = new FakeTable();
  for (const f of brInt()) if (!(f.table_id === BR_INT.tableId.l2Forwarding && f.match.some((m) => m.value === C.mac))) t.apply(f);
  const { lt } = rig(t);
  const live = await lt.run({ from: { endpoint: 'ep-a' }, to: { endpoint: 'ep-c' }, proto: 'tcp', dstPort: 80, live: true }, eps[0], C.ip, computed('delivered'));
  assert.deepEqual(live.verdict, { result: 'dropped', host: 'h1', bridge: 'br-int', table: 'l2Forwarding', reason: 'a flow of the switch drops it' });
  const c = compare(computed('delivered'), live);
  assert.equal(c.agree, false);
  assert.equal(c.difference!.index, 3);
  assert.match(c.difference!.detail, /dropped the packet at h1 br-int l2Forwarding where the controller's flows deliver it/);
  // and with even the miss flow gone, the catch reports that no flow matched
  t.flows = t.flows.filter((f) => !(f.table_id === BR_INT.tableId.l2Forwarding && f.priority === 0));
  const live2 = await lt.run({ from: { endpoint: 'ep-a' }, to: { endpoint: 'ep-c' }, proto: 'udp', live: true }, eps[0], C.ip, computed('delivered'));
  assert.equal(live2.verdict.result === 'dropped' && live2.verdict.reason, 'no flow of the switch matched it');
  assert.match(compare(computed('delivered'), live2).difference!.detail, /a flow is missing on the switch/);
});

test('a computed drop observed as a drop in the same table agrees; a path that stops early says where it was last seen', () => {
  const obs = (n: number, last: 'dropped' | 'forwarded'): LiveResult => ({
    tag: 1, bridges: ['h1/br-int'], injections: 1,
    observed: [0, 1, 3, 4].slice(0, n).map((id, i) => ({ host: 'h1', bridge: 'br-int', tableId: id, table: BR_INT.nameOf(id)!, event: i === n - 1 ? last : 'forwarded', flow: 'f' })),
    verdict: last === 'dropped' ? { result: 'dropped', host: 'h1', bridge: 'br-int', table: 'l2Forwarding', reason: 'a flow of the switch drops it' } : { result: 'lost', host: 'h1', detail: '' },
  });
  assert.deepEqual(compare(computed('dropped'), obs(4, 'dropped')), { agree: true, difference: null });
  const d = compare(computed('dropped'), obs(2, 'forwarded'));
  assert.equal(d.agree, false);
  assert.match(d.difference!.detail, /not seen at h1 br-int l3Forwarding: last seen at h1 br-int spoofGuard/);
});

test('the marked packet: DSCP is the tag, checksums are right, standard code points are never tags', () => {
  const b = markedFrame({ tag: 5, src: A.ip, dst: C.ip, proto: 6 }, A.mac, C.mac, 'tcp', 9000);
  assert.equal(b[15] >> 2, 5);
  assert.equal(b.readUInt16BE(12), 0x0800);
  const sum = (x: Buffer) => { let s = 0; for (let i = 0; i < x.length; i += 2) s += (x[i] << 8) | (x[i + 1] ?? 0); while (s >> 16) s = (s & 0xffff) + (s >> 16); return s; };
  assert.equal(sum(b.subarray(14, 34)), 0xffff, 'IPv4 header checksum');
  assert.equal(b.readUInt16BE(36), 9000);
  for (const d of [0, 8, 10, 18, 26, 34, 46, 48, 56]) assert.ok(!TRACE_TAGS.includes(d));
});
