// Services by behaviour (apps/container/service.ts): the flows and groups a
// host computes, walked by the flow simulator with its groups. A client's
// packet to a VIP goes to the port's select group, whose bucket DNATs it to
// a backend (local or through the tunnel); affinity picks the backend of
// the source address's slot; a hairpin is SNATed to the gateway; replies
// from the tunnel pass ct(nat); only ready endpoints are buckets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerFlows, containerGroups, HostState } from '../../apps/container-network';
import { serviceGroupId, slotBackend, AFFINITY_SLOTS, GROUP_SELECT } from '../../apps/container/service';
import { PIPELINE, GATEWAY_MAC, derivedMac, hairpinZone, TABLE_ID } from '../../controller/pipeline';
import type { EndpointRec, HostRec, NetworkRec, ServiceRec, PolicySpec } from '../../controller/resources';
import { simulate, traceText, Trace, SimOptions, PacketFields } from '../../controller/flow-sim';
import { NX_NAT_F_DST, NX_NAT_F_SRC } from '../../southbound/codec';

const NAMES = PIPELINE.map((t) => t.name);
const TUN = 1;
const host = (name: string, underlayIp: string): HostRec => ({ name, dpid: `00000000000000${name.slice(1).padStart(2, '0')}`, underlayIp, phyDpid: null, createdAt: '' } as HostRec);
const HOSTS = new Map([host('h1', '192.168.0.1'), host('h2', '192.168.0.2')].map((h) => [h.name, h]));
const net: NetworkRec = { id: 1, name: 'n1', cidr: '10.1.0.0/16', gateway: '10.1.0.1', mode: 'overlay', vni: 5001, blockSize: 26, vlan: null, mtu: 1500, createdAt: '' };
let nextPort = 10;
const endpoint = (hostName: string, ip: string, state: EndpointRec['state'] = 'ready'): EndpointRec & { port: number } => {
  const port = nextPort++;
  return {
    id: `ep-${ip}`, containerId: `c-${ip}`, ifName: 'eth0', host: hostName, network: 'n1', networkId: 1, portName: `veth${port}`,
    mac: derivedMac(1, ip), ip, requestedIp: null, netns: null, state, createdAt: '', readyAt: null, ofportRequest: port, port,
  };
};
const client = endpoint('h1', '10.1.0.2');
const b1 = endpoint('h1', '10.1.0.3');
const b2 = endpoint('h2', '10.1.0.66');
const pending = endpoint('h2', '10.1.0.67', 'pending');
const blocks = [{ networkId: 1, base: 0x0a010000, len: 26, host: 'h1' }, { networkId: 1, base: 0x0a010040, len: 26, host: 'h2' }];
const svc = (name: string, vip: string, extra: Partial<ServiceRec> = {}, seq = 1): ServiceRec => ({
  name, network: 'n1', networkId: 1, vip, ports: [{ protocol: 'tcp', port: 80, targetPort: 8080 }],
  endpoints: [b1.id, b2.id, pending.id], affinity: 'none', createdAt: '', seq, ...extra,
});
const WEB = svc('web', '10.1.200.10');

function state(name: string, services: ServiceRec[], extra: Partial<HostState> = {}): HostState {
  const eps = [client, b1, b2, pending];
  const ports = new Map(eps.filter((e) => e.host === name).map((e) => [e.portName, e.port]));
  return {
    host: name, hosts: HOSTS, networks: new Map([[1, net]]), endpoints: eps, blocks, ofport: (p) => ports.get(p), tunnelPort: TUN, services, ...extra,
  };
}
function walk(s: HostState, pkt: PacketFields, opts: SimOptions = {}): Trace {
  return simulate(containerFlows(s), pkt, { tableNames: NAMES, groups: containerGroups(s), ...opts });
}
const toVip = (from: typeof client, vip: string, extra: PacketFields = {}): PacketFields => ({
  in_port: from.port, eth_src: from.mac, eth_dst: derivedMac(1, vip), eth_type: 0x0800, ipv4_src: from.ip, ipv4_dst: vip,
  ip_proto: 6, tcp_src: 40000, tcp_dst: 80, nw_ttl: 64, ...extra,
});
const dnatOf = (t: Trace) => t.effects.flatMap((e) => (e.type === 'ct' && e.nat && e.nat.flags & NX_NAT_F_DST ? [`${e.nat.ipv4_min}:${e.nat.proto_min}`] : []));

test('a select group per service port: a bucket per ready backend, each a committed DNAT; none for a pending endpoint', () => {
  const groups = containerGroups(state('h1', [WEB]));
  assert.equal(groups.length, 1);
  const [g] = groups;
  assert.equal(g!.group_id, serviceGroupId(WEB, 0));
  assert.equal(g!.group_type, GROUP_SELECT);
  assert.deepEqual(g!.buckets.map((b) => b.actions.map((a) => a.type === 'ct' && a.actions[0]!.type === 'nat' ? `${a.actions[0]!.ipv4_min}:${a.actions[0]!.proto_min}` : a.type)), [['10.1.0.3:8080'], ['10.1.0.66:8080']]);
  // a host without endpoints of the network has neither groups nor service flows
  const empty: HostState = { ...state('h1', [WEB]), endpoints: [b2] };
  assert.deepEqual(containerGroups(empty), []);
  assert.ok(!containerFlows(empty).some((f) => f.table_id === TABLE_ID.serviceLB && f.priority > 0));
});

test('a client\'s new connection to the VIP: conntrack, the group, a DNAT to a backend, routed there (local port or tunnel)', () => {
  const s = state('h1', [WEB]);
  const seen = new Set<string>();
  for (const bucket of [0, 1]) {
    const t = walk(s, toVip(client, WEB.vip), { bucket: () => bucket });
    const g = t.effects.find((e) => e.type === 'group');
    assert.deepEqual(g && g.type === 'group' && [g.group_id, g.buckets, g.ran], [serviceGroupId(WEB, 0), 2, [bucket]], traceText(t));
    assert.equal(t.verdict.kind, 'output', traceText(t));
    const [o] = t.outputs;
    seen.add(dnatOf(t)[0]!);
    if (bucket === 0) {
      assert.equal(o!.port, b1.port, traceText(t));
      assert.deepEqual([o!.fields.ipv4_dst, o!.fields.tcp_dst, o!.fields.eth_dst, o!.fields.eth_src], [b1.ip, 8080, b1.mac, GATEWAY_MAC]);
    } else {
      assert.deepEqual([o!.port, o!.tun_dst, o!.fields.ipv4_dst, o!.fields.eth_dst], [TUN, '192.168.0.2', b2.ip, b2.mac], traceText(t));
    }
    assert.equal(o!.fields.ipv4_src, client.ip, 'DNAT only: the backend sees the client');
  }
  assert.deepEqual([...seen].sort(), ['10.1.0.3:8080', '10.1.0.66:8080']);
  // the DNAT is committed in the network's zone
  const t = walk(s, toVip(client, WEB.vip), { bucket: () => 0 });
  const commit = t.effects.find((e) => e.type === 'ct' && e.commit);
  assert.ok(commit && commit.type === 'ct' && commit.zone === 1, traceText(t));
  // another port of the VIP is dropped in serviceLB
  const other = walk(s, toVip(client, WEB.vip, { tcp_dst: 81 }));
  assert.equal(other.verdict.kind === 'drop' && other.verdict.tableName, 'serviceLB', traceText(other));
});

test('established traffic is DNATed by conntrack (no group); a reply is un-DNATed on the client\'s host, from the tunnel too', () => {
  const s = state('h1', [WEB]);
  // an established packet: ct(nat) restores the DNAT the connection has
  const est = walk(s, toVip(client, WEB.vip), { ct: { state: '+trk+est+dnat', nat: { ipv4_dst: b2.ip, tcp_dst: 8080 } } });
  assert.ok(!est.effects.some((e) => e.type === 'group'), traceText(est));
  assert.deepEqual([est.outputs[0]?.port, est.outputs[0]?.fields.ipv4_dst], [TUN, b2.ip], traceText(est));
  // b2's reply comes through the tunnel: ct(nat) in the network's zone un-DNATs it to the VIP
  const reply = walk(s, { in_port: TUN, tunnel_id: 5001n, eth_src: b2.mac, eth_dst: client.mac, eth_type: 0x0800, ipv4_src: b2.ip, ipv4_dst: client.ip, ip_proto: 6, tcp_src: 8080, tcp_dst: 40000 },
    { ct: { state: '+trk+est+rpl+dnat', nat: { ipv4_src: WEB.vip, tcp_src: 80 } } });
  assert.deepEqual([reply.outputs[0]?.port, reply.outputs[0]?.fields.ipv4_src, reply.outputs[0]?.fields.tcp_src], [client.port, WEB.vip, 80], traceText(reply));
  assert.ok(reply.effects.some((e) => e.type === 'ct' && e.zone === 1 && e.nat), 'ct(nat) in the network\'s zone');
  // with the policy stage on, its tunnel conntrack does the un-DNAT (nat) too
  const pol: PolicySpec = { name: 'p', selector: { matchLabels: {} }, ingress: [{ action: 'allow' }], priority: 100 };
  const withPolicy = walk(state('h1', [WEB], { policies: [pol] }), { in_port: TUN, tunnel_id: 5001n, eth_src: b2.mac, eth_dst: client.mac, eth_type: 0x0800, ipv4_src: b2.ip, ipv4_dst: client.ip, ip_proto: 6, tcp_src: 8080, tcp_dst: 40000 },
    { ct: { state: '+trk+est+rpl+dnat', nat: { ipv4_src: WEB.vip, tcp_src: 80 } } });
  assert.deepEqual([withPolicy.outputs[0]?.port, withPolicy.outputs[0]?.fields.ipv4_src], [client.port, WEB.vip], traceText(withPolicy));
});

test('clientIP affinity: the backend of the source address\'s slot, whatever the port; a slot flow per slot', () => {
  const sticky = svc('sticky', '10.1.200.11', { affinity: 'clientIP' }, 2);
  const s = state('h1', [sticky]);
  assert.deepEqual(containerGroups(s), [], 'no group: slot flows choose');
  const slots = containerFlows(s).filter((f) => f.table_id === TABLE_ID.serviceLB && f.match.some((m) => m.field === 'ipv4_src'));
  assert.equal(slots.length, AFFINITY_SLOTS);
  const ready = [b1, b2].sort((x, y) => (x.id < y.id ? -1 : 1));
  for (const last of [2, 5, 9, 77]) {
    const src = { ...client, ip: `10.1.0.${last}` };
    const want = slotBackend(last % AFFINITY_SLOTS, ready)!;
    for (const sport of [40000, 40001, 51234]) {
      const t = walk({ ...s, endpoints: [...s.endpoints, { ...client, id: 'x', ip: src.ip, mac: derivedMac(1, src.ip) }] }, toVip({ ...src, mac: derivedMac(1, src.ip) }, sticky.vip, { tcp_src: sport }));
      assert.deepEqual(dnatOf(t), [`${want.ip}:8080`], traceText(t));
    }
  }
  // both backends own slots; one gone: only its slots move
  const owners = Array.from({ length: AFFINITY_SLOTS }, (_, k) => slotBackend(k, ready)!.id);
  assert.ok(owners.includes(b1.id) && owners.includes(b2.id));
  const after = Array.from({ length: AFFINITY_SLOTS }, (_, k) => slotBackend(k, [b2])!.id);
  owners.forEach((o, k) => { if (o === b2.id) assert.equal(after[k], b2.id); });
});

test('hairpin: a backend that reaches itself is SNATed to the gateway in the hairpin zone and leaves by its own port', () => {
  const solo = svc('solo', '10.1.200.12', { endpoints: [b1.id] }, 3);
  const s = state('h1', [solo]);
  const t = walk(s, toVip(b1, solo.vip));
  assert.deepEqual(t.outputs.map((o) => o.port), [b1.port], traceText(t));
  const o = t.outputs[0]!;
  assert.deepEqual([o.fields.ipv4_src, o.fields.ipv4_dst, o.fields.tcp_dst], [net.gateway, b1.ip, 8080]);
  const snat = t.effects.find((e) => e.type === 'ct' && e.nat && e.nat.flags & NX_NAT_F_SRC);
  assert.ok(snat && snat.type === 'ct' && snat.zone === hairpinZone(1) && snat.commit, traceText(t));
  // its reply, to the gateway: un-SNATed in the hairpin zone, then un-DNATed in the network's, back out of its port
  const reply = walk(s, { in_port: b1.port, eth_src: b1.mac, eth_dst: GATEWAY_MAC, eth_type: 0x0800, ipv4_src: b1.ip, ipv4_dst: net.gateway, ip_proto: 6, tcp_src: 8080, tcp_dst: 40000, nw_ttl: 64 },
    { ct: { state: '+trk+est+rpl', nat: { ipv4_dst: b1.ip, ipv4_src: solo.vip, tcp_src: 80 } } });
  assert.deepEqual(reply.outputs.map((x) => x.port), [b1.port], traceText(reply));
  assert.deepEqual(reply.effects.filter((e) => e.type === 'ct').map((e) => e.type === 'ct' && e.zone), [hairpinZone(1), 1], traceText(reply));
});

test('routed: a remote backend\'s reply from the underlay passes ct(nat) in the classifier, then is routed to the client', () => {
  const rnet: NetworkRec = { ...net, mode: 'routed' };
  const PATCH = 2;
  const PHY_MAC = 'aa:00:00:00:00:01';
  const s: HostState = { ...state('h1', [WEB]), networks: new Map([[1, rnet]]), patchPort: PATCH, phyMac: (h) => (h === 'h1' ? PHY_MAC : 'aa:00:00:00:00:02') };
  const reply = walk(s, { in_port: PATCH, eth_src: 'aa:00:00:00:00:02', eth_dst: PHY_MAC, eth_type: 0x0800, ipv4_src: b2.ip, ipv4_dst: client.ip, ip_proto: 6, tcp_src: 8080, tcp_dst: 40000, nw_ttl: 63 },
    { ct: { state: '+trk+est+rpl+dnat', nat: { ipv4_src: WEB.vip, tcp_src: 80 } } });
  assert.deepEqual([reply.outputs[0]?.port, reply.outputs[0]?.fields.ipv4_src, reply.outputs[0]?.fields.tcp_src], [client.port, WEB.vip, 80], traceText(reply));
  assert.ok(reply.hops[0]?.tableName === 'classifier' && reply.effects.some((e) => e.type === 'ct' && e.zone === 1 && e.nat), traceText(reply));
  // without the service, the same packet passes no conntrack
  const plain = walk({ ...s, services: [] }, { in_port: PATCH, eth_src: 'aa:00:00:00:00:02', eth_dst: PHY_MAC, eth_type: 0x0800, ipv4_src: b2.ip, ipv4_dst: client.ip, ip_proto: 6, tcp_src: 8080, tcp_dst: 40000, nw_ttl: 63 });
  assert.ok(!plain.effects.some((e) => e.type === 'ct'), traceText(plain));
});

test('encrypted network: a remote backend is reached through the secure tunnel to its host\'s VTEP, and its reply from there is un-DNATed', () => {
  const STUN = 2;
  const enc: NetworkRec = { ...net, encrypted: true, mtu: 1350 };
  const vtepHosts = new Map([...HOSTS].map(([k, h]) => [k, { ...h, ipsecVtep: k === 'h1' ? '198.18.0.1' : '198.18.0.2' }]));
  const s = state('h1', [WEB], { networks: new Map([[1, enc]]), hosts: vtepHosts, secureTunnelPort: STUN, ipsecVtepCidr: '198.18.0.0/16' });
  const out = walk(s, toVip(client, WEB.vip), { bucket: () => 1 });
  assert.deepEqual([out.outputs[0]?.port, out.outputs[0]?.tun_dst, out.outputs[0]?.fields.ipv4_dst], [STUN, '198.18.0.2', b2.ip], traceText(out));
  const replyPkt = { eth_src: b2.mac, eth_dst: client.mac, eth_type: 0x0800, ipv4_src: b2.ip, ipv4_dst: client.ip, ip_proto: 6, tcp_src: 8080, tcp_dst: 40000, tunnel_id: 5001n };
  const ct = { state: '+trk+est+rpl+dnat', nat: { ipv4_src: WEB.vip, tcp_src: 80 } };
  const reply = walk(s, { ...replyPkt, in_port: STUN }, { ct });
  assert.deepEqual([reply.outputs[0]?.port, reply.outputs[0]?.fields.ipv4_src, reply.outputs[0]?.fields.tcp_src], [client.port, WEB.vip, 80], traceText(reply));
  // the same VNI in clear from vxlan0 is not taken
  const clear = walk(s, { ...replyPkt, in_port: TUN }, { ct });
  assert.equal(clear.outputs.length, 0, traceText(clear));
});
