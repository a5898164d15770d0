// Network policy by behaviour (apps/container/policy.ts): packets walked
// through the flows containerFlows computes, with a small connection
// tracker standing in for OVS's (a connection is new until a flow commits
// it; then its packets are established, the other way replies).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerFlows, HostState } from '../../apps/container-network';
import { policyFlows, PolicyFlowStats } from '../../apps/container/policy';
import { context } from '../../apps/container/context';
import type { Block } from '../../controller/ipam';
import { PIPELINE, TABLE_ID, BR_INT, BrIntTable, derivedMac, CATEGORY, categoryOf } from '../../controller/pipeline';
import type { EndpointRec, HostRec, NetworkRec, PolicySpec, Labels } from '../../controller/resources';
import { parseCidr, intToIp } from '../../controller/ipv4';
import { simulate, traceText, Trace, PacketFields, SimFlow } from '../../controller/flow-sim';

const NAMES = PIPELINE.map((t) => t.name);
const TUN = 1;
const host = (name: string, underlayIp: string): HostRec => ({ name, dpid: `00000000000000${name.slice(1).padStart(2, '0')}`, underlayIp, phyDpid: null, createdAt: '' });
const HOSTS = new Map([host('h1', '192.168.0.1'), host('h2', '192.168.0.2')].map((h) => [h.name, h]));

function network(id: number, cidr: string): NetworkRec {
  return { id, name: `n${id}`, cidr, gateway: intToIp(parseCidr(cidr).base + 1), mode: 'overlay', vni: 5000 + id, blockSize: 26, vlan: null, mtu: 1500, createdAt: '' };
}
let nextPort = 10;
type Ep = EndpointRec & { port: number };
function endpoint(n: NetworkRec, hostName: string, ip: string, labels: Labels): Ep {
  const port = nextPort++;
  return {
    id: `${n.name}-${ip}`, containerId: `c-${n.name}-${ip}`, ifName: 'eth0', host: hostName, network: n.name, networkId: n.id, portName: `veth${port}`,
    mac: derivedMac(n.id, ip), ip, requestedIp: null, netns: null, state: 'ready', createdAt: '', readyAt: null, ofportRequest: port, port, labels,
  };
}
const block = (n: NetworkRec, cidr: string, hostName: string): Block => ({ networkId: n.id, base: parseCidr(cidr).base, len: parseCidr(cidr).len, host: hostName });
interface World { networks: NetworkRec[]; endpoints: EndpointRec[]; blocks: Block[]; policies: PolicySpec[] }
function hostState(w: World, name: string): HostState {
  const ports = new Map(w.endpoints.filter((e) => e.host === name).map((e) => [e.portName, e.ofportRequest!]));
  return {
    host: name, hosts: HOSTS, networks: new Map(w.networks.map((n) => [n.id, n])), endpoints: w.endpoints, blocks: w.blocks,
    ofport: (p) => ports.get(p), tunnelPort: TUN, policies: w.policies,
  };
}

/** A connection tracker: committed 5-tuples per zone (the network id in reg6, set before ct). */
class Conntrack {
  readonly conns = new Set<string>();
  private key = (p: PacketFields, rev = false) => `${this.zone(p)} ${this.tuple(p, rev)}`;
  /** the zone: reg6 as the flow that does ct sets it, i.e. the sender's network, or the tunnel's */
  // (endpoints here have derived MACs 0a:<network id>:<address>; VNIs are 5000 + the network id)
  zone = (p: PacketFields) => (p.in_port === TUN ? Number(p.tunnel_id) - 5000 : parseInt(String(p.eth_src).split(':')[1]!, 16));
  private tuple = (p: PacketFields, rev = false) => {
    const proto = Number(p.ip_proto);
    const sp = proto === 6 ? p.tcp_src : proto === 17 ? p.udp_src : 0;
    const dp = proto === 6 ? p.tcp_dst : proto === 17 ? p.udp_dst : 0;
    return rev ? `${proto} ${p.ipv4_dst}:${dp} ${p.ipv4_src}:${sp}` : `${proto} ${p.ipv4_src}:${sp} ${p.ipv4_dst}:${dp}`;
  };
  /** Walk a packet; a commit records its connection. */
  run(flows: SimFlow[], pkt: PacketFields): Trace {
    const state = this.conns.has(this.key(pkt)) ? '+trk+est' : this.conns.has(this.key(pkt, true)) ? '+trk+est+rpl' : '+trk+new';
    const t = simulate(flows, pkt, { tableNames: NAMES, ct: { state } });
    for (const e of t.effects) {
      if (e.type !== 'ct') continue;
      assert.equal(e.zone, this.zone(pkt), 'br-int policy conntrack is in the zone of the packet\'s network');
      if (e.commit && state === '+trk+new') this.conns.add(this.key(pkt));
    }
    return t;
  }
}

const tcp = (from: Ep, to: Ep, dport = 80, sport = 40000): PacketFields => ({
  in_port: from.port, eth_src: from.mac, eth_dst: to.mac, eth_type: 0x0800, ipv4_src: from.ip, ipv4_dst: to.ip, ip_proto: 6, tcp_src: sport, tcp_dst: dport, nw_ttl: 64,
});
const udp = (from: Ep, to: Ep, dport = 53): PacketFields => ({ ...tcp(from, to), ip_proto: 17, udp_src: 40000, udp_dst: dport, tcp_src: undefined as never, tcp_dst: undefined as never });
const icmp = (from: Ep, to: Ep): PacketFields => ({ in_port: from.port, eth_src: from.mac, eth_dst: to.mac, eth_type: 0x0800, ipv4_src: from.ip, ipv4_dst: to.ip, ip_proto: 1, nw_ttl: 64 });
/** The reply of a packet: addresses and ports swapped, from the receiver's port. */
const reply = (p: PacketFields, from: Ep, to: Ep): PacketFields => ({
  ...p, in_port: from.port, eth_src: from.mac, eth_dst: to.mac, ipv4_src: p.ipv4_dst, ipv4_dst: p.ipv4_src,
  ...(p.ip_proto === 6 && { tcp_src: p.tcp_dst, tcp_dst: p.tcp_src }), ...(p.ip_proto === 17 && { udp_src: p.udp_dst, udp_dst: p.udp_src }),
});
/** The same packet as it comes out of the tunnel on the receiver's host. */
const fromTunnel = (p: PacketFields, n: NetworkRec): PacketFields => ({ ...p, in_port: TUN, tunnel_id: BigInt(n.vni), tun_ipv4_src: '192.168.0.2' });
const clean = (p: PacketFields) => Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as PacketFields;

function delivered(t: Trace, port: number): void {
  assert.equal(t.verdict.kind, 'output', traceText(t, { tableNames: NAMES }));
  assert.deepEqual(t.outputs.map((o) => o.port), [port], traceText(t, { tableNames: NAMES }));
}
function dropped(t: Trace, table: BrIntTable): void {
  assert.equal(t.verdict.kind, 'drop', traceText(t, { tableNames: NAMES }));
  if (t.verdict.kind === 'drop') assert.equal(t.verdict.tableName, table, traceText(t, { tableNames: NAMES }));
}

// ---- one overlay network over two hosts ------------------------------------

const ov = network(4, '10.4.0.0/24');
const web = endpoint(ov, 'h1', '10.4.0.2', { app: 'web' });
const client = endpoint(ov, 'h1', '10.4.0.3', { app: 'client' });
const other = endpoint(ov, 'h1', '10.4.0.4', { app: 'other' });
const remoteClient = endpoint(ov, 'h2', '10.4.0.66', { app: 'client' });
const remoteOther = endpoint(ov, 'h2', '10.4.0.67', { app: 'other' });
const blocks = [block(ov, '10.4.0.0/26', 'h1'), block(ov, '10.4.0.64/26', 'h2')];
const webIngress: PolicySpec = {
  name: 'web', selector: { matchLabels: { app: 'web' } }, priority: 100,
  ingress: [{ action: 'allow', peers: [{ selector: { matchLabels: { app: 'client' } } }], ports: [{ protocol: 'tcp', port: 80 }] }],
};
const world = (policies: PolicySpec[]): World => ({ networks: [ov], endpoints: [web, client, other, remoteClient, remoteOther], blocks, policies });
const flowsOf = (w: World, h = 'h1') => containerFlows(hostState(w, h));

test('no policy selecting a local endpoint: no conntrack, no policy flows beyond the tables\' misses', () => {
  const flows = flowsOf(world([]));
  assert.equal(flows.filter((f) => categoryOf(f.cookie) === CATEGORY.policy).length, 0);
  const t = simulate(flows, tcp(other, web, 22), { tableNames: NAMES });
  assert.equal(t.effects.filter((e) => e.type === 'ct').length, 0);
  delivered(t, web.port);
});

test('ingress allow: a selected peer on the allowed TCP port gets through and is committed; other ports, protocols and peers are dropped in ingressPolicy', () => {
  const flows = flowsOf(world([webIngress]));
  const ct = new Conntrack();
  delivered(ct.run(flows, tcp(client, web, 80)), web.port);
  assert.equal(ct.conns.size, 1, 'the allowed connection is committed');
  dropped(ct.run(flows, tcp(client, web, 22)), 'ingressPolicy');
  dropped(ct.run(flows, clean(udp(client, web, 80))), 'ingressPolicy');
  dropped(ct.run(flows, icmp(client, web)), 'ingressPolicy');
  dropped(ct.run(flows, tcp(other, web, 80)), 'ingressPolicy');
  // web is not isolated for egress, and other is not selected at all
  delivered(ct.run(flows, tcp(web, other, 5000)), other.port);
  delivered(ct.run(flows, icmp(other, client)), client.port);
});

test('replies pass as established: the isolated endpoint answers a connection it accepted, and its own new ones are not ingress-checked', () => {
  const flows = flowsOf(world([webIngress]));
  const ct = new Conntrack();
  const syn = tcp(client, web, 80);
  delivered(ct.run(flows, syn), web.port);
  const synAck = reply(syn, web, client);
  const t = ct.run(flows, synAck);
  delivered(t, client.port);
  const hop = t.hops.find((h) => h.tableName === 'egressPolicy');
  assert.equal(hop?.flow?.priority, BR_INT.table('egressPolicy').bands.reply, 'the reply band passes it');
  // the client's next packet of the connection is established: passes
  delivered(ct.run(flows, syn), web.port);
  // web connects out to other (not isolated for egress), other's reply comes back through ingress as a reply
  const out = tcp(web, other, 8080, 41000);
  delivered(ct.run(flows, out), other.port);
  delivered(ct.run(flows, reply(out, other, web)), web.port);
});

test('cross-host: ingress is enforced on the receiver\'s host for packets from the tunnel; the sender\'s host only forwards', () => {
  const w = world([webIngress]);
  const h1 = flowsOf(w, 'h1');
  const h2 = flowsOf(w, 'h2');
  // h2 has no selected endpoint: no conntrack there, the packet goes into the tunnel
  const atH2 = simulate(h2, tcp(remoteClient, web), { tableNames: NAMES });
  assert.equal(atH2.effects.filter((e) => e.type === 'ct').length, 0);
  assert.deepEqual(atH2.outputs.map((o) => [o.port, o.tun_dst]), [[TUN, '192.168.0.1']]);
  const ct = new Conntrack();
  delivered(ct.run(h1, fromTunnel(tcp(remoteClient, web), ov)), web.port);
  dropped(ct.run(h1, fromTunnel(tcp(remoteOther, web), ov)), 'ingressPolicy');
  dropped(ct.run(h1, fromTunnel(tcp(remoteClient, web, 443), ov)), 'ingressPolicy');
  // web's reply to the remote client leaves through the tunnel (established, reply)
  const r = ct.run(h1, reply(tcp(remoteClient, web), web, remoteClient));
  assert.deepEqual(r.outputs.map((o) => [o.port, o.tun_dst]), [[TUN, '192.168.0.2']], traceText(r, { tableNames: NAMES }));
});

test('egress: an isolated sender may only open what its rules allow (UDP to a port, ICMP), on its own host, to local and remote peers', () => {
  const pol: PolicySpec = {
    name: 'client-out', selector: { matchLabels: { app: 'client' } }, priority: 100,
    egress: [
      { action: 'allow', peers: [{ selector: { matchLabels: { app: 'web' } } }], ports: [{ protocol: 'udp', port: 53 }, { protocol: 'icmp' }] },
      { action: 'allow', peers: [{ cidr: '10.4.0.64/26' }] },
    ],
  };
  const flows = flowsOf(world([pol]));
  const ct = new Conntrack();
  delivered(ct.run(flows, clean(udp(client, web, 53))), web.port);
  delivered(ct.run(flows, icmp(client, web)), web.port);
  dropped(ct.run(flows, tcp(client, web, 80)), 'egressPolicy');
  dropped(ct.run(flows, clean(udp(client, web, 54))), 'egressPolicy');
  dropped(ct.run(flows, icmp(client, other)), 'egressPolicy');
  // the CIDR peer: anything to h2's block, into the tunnel
  const t = ct.run(flows, tcp(client, remoteOther, 22));
  assert.deepEqual(t.outputs.map((o) => o.port), [TUN], traceText(t, { tableNames: NAMES }));
  // replies to the isolated sender pass
  delivered(ct.run(flows, reply(icmp(client, web), web, client)), client.port);
});

test('priority and deny: lower priority number first; at equal priority deny before allow; a deny cuts an established connection, a removed allow does not', () => {
  const deny = (priority: number): PolicySpec => ({
    name: 'no-clients', selector: { matchLabels: { app: 'web' } }, priority,
    ingress: [{ action: 'deny', peers: [{ selector: { matchLabels: { app: 'client' } } }] }],
  });
  const ct = new Conntrack();
  dropped(ct.run(flowsOf(world([webIngress, deny(50)])), tcp(client, web)), 'ingressPolicy');
  delivered(ct.run(flowsOf(world([webIngress, deny(200)])), tcp(client, web, 80, 40001)), web.port);
  dropped(ct.run(flowsOf(world([webIngress, deny(100)])), tcp(client, web, 80, 40002)), 'ingressPolicy');

  // an established connection (40001) and a rule change
  const est = tcp(client, web, 80, 40001);
  // the allow goes, web stays isolated (ingress []): established passes, a new one does not
  const isolatedOnly: PolicySpec = { name: 'web', selector: { matchLabels: { app: 'web' } }, priority: 100, ingress: [] };
  const f2 = flowsOf(world([isolatedOnly]));
  delivered(ct.run(f2, est), web.port);
  dropped(ct.run(f2, tcp(client, web, 80, 40003)), 'ingressPolicy');
  // a deny that matches it cuts it, in its original direction; its replies are let through (they carry nothing new)
  const f3 = flowsOf(world([isolatedOnly, deny(100)]));
  dropped(ct.run(f3, est), 'ingressPolicy');
});

test('conjunctions: N selected endpoints x M peers x K ports cost N + M + K clause flows, not N x M x K', () => {
  const n = network(7, '10.7.0.0/16');
  const webs = Array.from({ length: 10 }, (_, i) => endpoint(n, 'h1', `10.7.0.${10 + i}`, { app: 'web' }));
  const clients = Array.from({ length: 20 }, (_, i) => endpoint(n, 'h2', `10.7.1.${10 + i}`, { app: 'client' }));
  const pol: PolicySpec = {
    name: 'web', selector: { matchLabels: { app: 'web' } }, priority: 100,
    ingress: [{ action: 'allow', peers: [{ selector: { matchLabels: { app: 'client' } } }], ports: [{ protocol: 'tcp', port: 80 }, { protocol: 'tcp', port: 443 }, { protocol: 'udp', port: 53 }] }],
  };
  const w: World = { networks: [n], endpoints: [...webs, ...clients], blocks: [block(n, '10.7.0.0/24', 'h1'), block(n, '10.7.1.0/24', 'h2')], policies: [pol] };
  const stats: PolicyFlowStats = { conjunctions: 0, clauseFlows: 0, flows: 0 };
  const s = hostState(w, 'h1');
  policyFlows(context(s), stats);
  assert.equal(stats.conjunctions, 1);
  assert.equal(stats.clauseFlows, 10 + 20 + 3);
  // + 6 conntrack passes (invalid, reply, established per table), 2 commit flows and 2 for the tunnel, 10 isolations, 1 conj_id flow
  assert.equal(stats.flows, 33 + 6 + 4 + 10 + 1);
  // and it works: any client to any web on 443, nothing on 22
  const flows = containerFlows(s);
  const ct = new Conntrack();
  delivered(ct.run(flows, fromTunnel(tcp(clients[17]!, webs[3]!, 443), n)), webs[3]!.port);
  dropped(ct.run(flows, fromTunnel(tcp(clients[17]!, webs[3]!, 22), n)), 'ingressPolicy');
});

test('overlapping networks: peers are matched with their network, so the same address in another network is not a peer', () => {
  const a = network(5, '10.9.0.0/24');
  const b = network(6, '10.9.0.0/24');
  const webA = endpoint(a, 'h1', '10.9.0.2', { app: 'web' });
  const webB = endpoint(b, 'h1', '10.9.0.2', { app: 'web' });
  const cliA = endpoint(a, 'h2', '10.9.0.70', { app: 'client' });
  const notB = endpoint(b, 'h2', '10.9.0.70', { app: 'other' });
  const w: World = {
    networks: [a, b], endpoints: [webA, webB, cliA, notB], policies: [webIngress],
    blocks: [block(a, '10.9.0.0/26', 'h1'), block(a, '10.9.0.64/26', 'h2'), block(b, '10.9.0.0/26', 'h1'), block(b, '10.9.0.64/26', 'h2')],
  };
  const flows = flowsOf(w);
  const ct = new Conntrack();
  delivered(ct.run(flows, fromTunnel(tcp(cliA, webA), a)), webA.port);
  dropped(ct.run(flows, fromTunnel(tcp(notB, webB), b)), 'ingressPolicy');
});

test('a policy naming a network selects only that network\'s endpoints', () => {
  const other4 = network(8, '10.8.0.0/24');
  const web8 = endpoint(other4, 'h1', '10.8.0.2', { app: 'web' });
  const cli8 = endpoint(other4, 'h1', '10.8.0.3', { app: 'other' });
  const w: World = { networks: [ov, other4], endpoints: [web, client, other, web8, cli8], blocks, policies: [{ ...webIngress, network: 'n4' }] };
  const flows = flowsOf(w);
  const ct = new Conntrack();
  dropped(ct.run(flows, tcp(other, web)), 'ingressPolicy');
  delivered(ct.run(flows, tcp(cli8, web8)), web8.port);
});

test('the conjunction flows are well formed for OVS: clause flows carry only conjunction actions, conj_id flows sit at their priority; no two flows share a match and priority', () => {
  // two policies selecting the same endpoint, at the same priority: one isolation flow, shared clause flows
  const second: PolicySpec = { ...webIngress, name: 'web-2', ingress: [{ action: 'allow', peers: [{ selector: { matchLabels: { app: 'client' } } }], ports: [{ protocol: 'udp', port: 53 }] }] };
  const all = flowsOf(world([webIngress, second]));
  const key = (f: { table_id: number; priority: number; match: unknown }) => `${f.table_id} ${f.priority} ${JSON.stringify(f.match, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`;
  assert.equal(new Set(all.map(key)).size, all.length, 'OVS keeps one flow per table, match and priority');
  const flows = flowsOf(world([webIngress])).filter((f) => f.table_id === TABLE_ID.ingressPolicy);
  const clauses = flows.filter((f) => f.instructions.some((i) => i.type === 'apply_actions' && i.actions.some((a) => a.type === 'conjunction')));
  assert.ok(clauses.length >= 3);
  for (const f of clauses) assert.ok(f.instructions.every((i) => i.type === 'apply_actions' && i.actions.every((a) => a.type === 'conjunction')));
  const conj = flows.find((f) => f.match.some((m) => m.field === 'conj_id'))!;
  assert.ok(clauses.every((f) => f.priority === conj.priority));
  // match keys are unique per priority (OVS keeps one flow per match and priority)
  const keys = flows.map((f) => `${f.priority} ${JSON.stringify(f.match, (_, v) => (typeof v === 'bigint' ? v.toString() : v))}`);
  assert.equal(new Set(keys).size, keys.length);
});
