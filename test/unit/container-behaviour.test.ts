// The container pipeline by behaviour: a packet enters br-int (or br-phy)
// on a port, the flow simulator walks the flows containerFlows/phyFlows
// compute, and the test asserts where it ends up: a port with its rewritten
// fields, the tunnel with a VNI and a destination, or a drop in a named table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerFlows, phyFlows, HostState } from '../../apps/container-network';
import type { Block } from '../../controller/ipam';
import { PIPELINE, TABLE_ID, BrIntTable as TableName, GATEWAY_MAC, NAT_ZONE, UNDERLAY_NET, derivedMac } from '../../controller/pipeline';
import type { EndpointRec, HostRec, NetworkRec, NetworkMode, PortMapping } from '../../controller/resources';
import { parseCidr, intToIp } from '../../controller/ipv4';
import { simulate, traceText, Trace, SimOptions, SimOutput, PacketFields, SimFlow } from '../../controller/flow-sim';
import { OFPP_NORMAL, NX_NAT_F_SRC, NX_NAT_F_DST } from '../../southbound/codec';

const NAMES = PIPELINE.map((t) => t.name);
const BCAST = 'ff:ff:ff:ff:ff:ff';
const TUN = 1; // vxlan0 on br-int
const PATCH = 2; // patch-phy on br-int
const PHY_UPLINK = 1; // the uplink on br-phy
const PHY_PATCH = 3; // patch-int on br-phy
const ROUTER = { ip: '192.168.0.254', mac: 'cc:00:00:00:00:fe' };

const host = (name: string, underlayIp: string): HostRec => ({
  name, dpid: `00000000000000${name.slice(1).padStart(2, '0')}`, underlayIp, phyDpid: `10000000000000${name.slice(1).padStart(2, '0')}`, createdAt: '',
  underlayPrefix: 24, underlayGateway: ROUTER.ip,
});
const HOSTS = new Map([host('h1', '192.168.0.1'), host('h2', '192.168.0.2'), host('h3', '192.168.0.3')].map((h) => [h.name, h]));
const PHY_MAC: Record<string, string> = { h1: 'aa:00:00:00:00:01', h2: 'aa:00:00:00:00:02', h3: 'aa:00:00:00:00:03' };
const UPLINK_MAC: Record<string, string> = { h1: 'ba:00:00:00:00:01', h2: 'ba:00:00:00:00:02', h3: 'ba:00:00:00:00:03' };

function network(id: number, mode: NetworkMode, cidr: string, vlan: number | null = null): NetworkRec {
  return { id, name: `n${id}`, cidr, gateway: intToIp(parseCidr(cidr).base + 1), mode, vni: 5000 + id, blockSize: 26, vlan, mtu: 1500, createdAt: '' };
}

let nextPort = 10;
function endpoint(n: NetworkRec, hostName: string, ip: string, mac = derivedMac(n.id, ip)): EndpointRec & { port: number } {
  const port = nextPort++;
  return {
    id: `${n.name}-${ip}`, containerId: `c-${ip}`, ifName: 'eth0', host: hostName, network: n.name, networkId: n.id, portName: `veth${port}`,
    mac, ip, requestedIp: null, netns: null, state: 'ready', createdAt: '', readyAt: null, ofportRequest: port, port,
  };
}

const block = (n: NetworkRec, cidr: string, hostName: string | null): Block => ({ networkId: n.id, base: parseCidr(cidr).base, len: parseCidr(cidr).len, host: hostName });

interface World { networks: NetworkRec[]; endpoints: EndpointRec[]; blocks: Block[] }

/** A host's view of the cluster, as the container service builds it. */
function hostState(w: World, name: string, extra: Partial<HostState> = {}): HostState {
  // OVS gave each endpoint's port the number it asked for
  const ports = new Map(w.endpoints.filter((e) => e.host === name).map((e) => [e.portName, e.ofportRequest!]));
  return {
    host: name, hosts: HOSTS, networks: new Map(w.networks.map((n) => [n.id, n])), endpoints: w.endpoints, blocks: w.blocks,
    ofport: (p) => ports.get(p), tunnelPort: TUN, phyMac: (h) => PHY_MAC[h], uplinkMac: (h) => UPLINK_MAC[h], ...extra,
  };
}

const run = (flows: SimFlow[], pkt: PacketFields, opts: SimOptions = {}) => simulate(flows, pkt, { tableNames: NAMES, ...opts });

function sentTo(t: Trace, ...ports: number[]): SimOutput[] {
  assert.equal(t.verdict.kind, 'output', traceText(t));
  assert.deepEqual(t.outputs.map((o) => o.port), ports, traceText(t));
  return t.outputs;
}

function droppedAt(t: Trace, table: TableName): void {
  assert.equal(t.verdict.kind, 'drop', traceText(t));
  if (t.verdict.kind !== 'drop') return;
  assert.equal(t.verdict.tableName, table, traceText(t));
  assert.equal(t.verdict.table, TABLE_ID[table]);
  assert.equal(t.outputs.length, 0);
}

type Ep = { mac: string; ip: string; port: number };
const ipPacket = (from: Ep, to: { ip: string; mac: string }, extra: PacketFields = {}): PacketFields => ({
  in_port: from.port, eth_src: from.mac, eth_dst: to.mac, eth_type: 0x0800, ipv4_src: from.ip, ipv4_dst: to.ip,
  ip_proto: 6, tcp_src: 33000, tcp_dst: 80, nw_ttl: 64, ...extra,
});
const arpRequest = (from: Ep, tpa: string): PacketFields => ({
  in_port: from.port, eth_src: from.mac, eth_dst: BCAST, eth_type: 0x0806, arp_op: 1,
  arp_spa: from.ip, arp_sha: from.mac, arp_tpa: tpa, arp_tha: '00:00:00:00:00:00',
});
const viaGateway = (ip: string) => ({ ip, mac: GATEWAY_MAC });

// ---- local ----------------------------------------------------------------

const blue = network(1, 'local', '10.1.0.0/24');
const green = network(2, 'local', '10.2.0.0/24');
const red = network(3, 'local', '10.1.0.0/16'); // overlaps blue
const A = endpoint(blue, 'h1', '10.1.0.2');
const B = endpoint(blue, 'h1', '10.1.0.3');
const C = endpoint(green, 'h1', '10.2.0.2');
const D = endpoint(red, 'h1', '10.1.5.2');
const local: World = { networks: [blue, green, red], endpoints: [A, B, C, D], blocks: [] };
const localFlows = containerFlows(hostState(local, 'h1'));

test('local: A to B on the same network is delivered to B\'s port, unchanged', () => {
  const [o] = sentTo(run(localFlows, ipPacket(A, B)), B.port);
  assert.equal(o.fields.eth_dst, B.mac);
  assert.equal(o.fields.eth_src, A.mac);
  assert.equal(o.fields.nw_ttl, 64, 'bridged, not routed');
});

test('local: ARP for the gateway is answered out of the in_port with the gateway MAC', () => {
  const [o] = sentTo(run(localFlows, arpRequest(A, blue.gateway)), A.port);
  assert.deepEqual(
    [o.fields.eth_dst, o.fields.eth_src, o.fields.arp_op, o.fields.arp_sha, o.fields.arp_spa, o.fields.arp_tha, o.fields.arp_tpa],
    [A.mac, GATEWAY_MAC, 2, GATEWAY_MAC, blue.gateway, A.mac, A.ip],
  );
  assert.equal(GATEWAY_MAC, '0e:00:00:00:00:01');
});

test('local: ARP for B is answered with B\'s derived MAC (computed by the flow from the asked address)', () => {
  const [o] = sentTo(run(localFlows, arpRequest(A, B.ip)), A.port);
  assert.equal(B.mac, '0a:01:0a:01:00:03');
  assert.deepEqual(
    [o.fields.eth_dst, o.fields.eth_src, o.fields.arp_op, o.fields.arp_sha, o.fields.arp_spa, o.fields.arp_tha, o.fields.arp_tpa],
    [A.mac, B.mac, 2, B.mac, B.ip, A.mac, A.ip],
  );
});

test('local: a spoofed source IP or MAC, or an ARP claiming another address, is dropped at spoofGuard', () => {
  droppedAt(run(localFlows, ipPacket({ ...A, ip: '10.1.0.99' }, B)), 'spoofGuard');
  droppedAt(run(localFlows, ipPacket({ ...A, mac: '0a:01:0a:01:00:63' }, B)), 'spoofGuard');
  droppedAt(run(localFlows, ipPacket({ ...B, port: A.port }, A)), 'spoofGuard');
  droppedAt(run(localFlows, arpRequest({ ...A, ip: B.ip }, blue.gateway)), 'spoofGuard');
  droppedAt(run(localFlows, ipPacket({ ...A, port: 99 }, B)), 'spoofGuard');
});

test('local: routed between non-overlapping networks through the gateway: TTL-1, MACs rewritten, delivered', () => {
  const [o] = sentTo(run(localFlows, ipPacket(A, viaGateway(C.ip))), C.port);
  assert.deepEqual([o.fields.eth_src, o.fields.eth_dst, o.fields.nw_ttl], [GATEWAY_MAC, C.mac, 63]);
  assert.deepEqual([o.fields.ipv4_src, o.fields.ipv4_dst], [A.ip, C.ip]);
  // and back
  const [r] = sentTo(run(localFlows, ipPacket(C, viaGateway(A.ip))), A.port);
  assert.deepEqual([r.fields.eth_dst, r.fields.nw_ttl], [A.mac, 63]);
  // a TTL of 1 is not routed
  assert.equal(run(localFlows, ipPacket(A, viaGateway(C.ip), { nw_ttl: 1 })).verdict.kind, 'drop');
});

test('local: networks with overlapping CIDRs never route to each other (dropped at l2Forwarding)', () => {
  // blue -> red's endpoint: no route from blue to red, so the gateway MAC reaches delivery and matches nothing
  droppedAt(run(localFlows, ipPacket(A, viaGateway(D.ip))), 'l2Forwarding');
  // red -> blue's endpoint: red routes 10.1.0.2 inside red (its own CIDR), where no endpoint has it
  const t = run(localFlows, ipPacket(D, viaGateway(A.ip)));
  droppedAt(t, 'l2Forwarding');
  assert.ok(!t.outputs.some((o) => o.port === A.port));
  // while green (no overlap) reaches red
  sentTo(run(localFlows, ipPacket(C, viaGateway(D.ip))), D.port);
});

test('local: an address with no endpoint is answered by ARP but dropped at l2Forwarding', () => {
  sentTo(run(localFlows, arpRequest(A, '10.1.0.77')), A.port);
  droppedAt(run(localFlows, ipPacket(A, viaGateway('10.1.0.77'))), 'l2Forwarding');
  droppedAt(run(localFlows, ipPacket(A, { ip: '10.1.0.77', mac: derivedMac(blue.id, '10.1.0.77') })), 'l2Forwarding');
  // off every network, with no br-phy to leave by
  droppedAt(run(localFlows, ipPacket(A, viaGateway('8.8.8.8'))), 'l2Forwarding');
});

// ---- overlay --------------------------------------------------------------

const ov = network(4, 'overlay', '10.4.0.0/24');
const OA = endpoint(ov, 'h1', '10.4.0.2');
const OE = endpoint(ov, 'h2', '10.4.0.66'); // in h2's block, derived MAC
const OF = endpoint(ov, 'h3', '10.4.0.130', '02:aa:bb:cc:dd:ee'); // requested MAC
const OG = endpoint(ov, 'h3', '10.4.0.70'); // borrowed from h2's block
const overlay: World = {
  networks: [ov], endpoints: [OA, OE, OF, OG],
  blocks: [block(ov, '10.4.0.0/26', 'h1'), block(ov, '10.4.0.64/26', 'h2'), block(ov, '10.4.0.128/26', 'h3')],
};
const ovFlows = containerFlows(hostState(overlay, 'h1'));
const tunnel = (o: SimOutput) => [o.port, o.tun_id, o.tun_dst];

test('overlay: to a remote host\'s block leaves on the tunnel with the network\'s VNI and that host\'s underlay IP', () => {
  const [o] = sentTo(run(ovFlows, ipPacket(OA, OE)), TUN);
  assert.deepEqual(tunnel(o), [TUN, 5004n, '192.168.0.2']);
  assert.equal(o.fields.eth_dst, OE.mac);
  // routed through the gateway to the same address: the MAC is derived, then the same tunnel
  const [r] = sentTo(run(ovFlows, ipPacket(OA, viaGateway(OE.ip))), TUN);
  assert.deepEqual(tunnel(r), [TUN, 5004n, '192.168.0.2']);
  assert.deepEqual([r.fields.eth_dst, r.fields.eth_src, r.fields.nw_ttl], [OE.mac, GATEWAY_MAC, 63]);
  // ARP for it is answered here, nothing crosses the tunnel
  const [a] = sentTo(run(ovFlows, arpRequest(OA, OE.ip)), OA.port);
  assert.equal(a.fields.arp_sha, OE.mac);
});

test('overlay: a packet from the tunnel with the network\'s VNI is delivered; a wrong VNI is dropped', () => {
  const fromTunnel = (vni: number) => ({ ...ipPacket(OE, OA), in_port: TUN, tunnel_id: vni, tun_src: '192.168.0.2' });
  const [o] = sentTo(run(ovFlows, fromTunnel(5004)), OA.port);
  assert.equal(o.fields.eth_dst, OA.mac);
  // an unknown VNI is not classified, and the tunnel port is no endpoint
  droppedAt(run(ovFlows, fromTunnel(5999)), 'spoofGuard');
  // the right VNI to an address nobody here has
  droppedAt(run(ovFlows, { ...fromTunnel(5004), eth_dst: derivedMac(ov.id, '10.4.0.9') }), 'l2Forwarding');
});

test('overlay: a remote endpoint with a requested MAC gets its own ARP answer, delivery and route', () => {
  const [a] = sentTo(run(ovFlows, arpRequest(OA, OF.ip)), OA.port);
  assert.deepEqual([a.fields.arp_sha, a.fields.eth_src, a.fields.arp_spa], [OF.mac, OF.mac, OF.ip]);
  assert.deepEqual(tunnel(sentTo(run(ovFlows, ipPacket(OA, OF)), TUN)[0]), [TUN, 5004n, '192.168.0.3']);
  const [r] = sentTo(run(ovFlows, ipPacket(OA, viaGateway(OF.ip))), TUN);
  assert.deepEqual(tunnel(r), [TUN, 5004n, '192.168.0.3']);
  assert.deepEqual([r.fields.eth_dst, r.fields.nw_ttl], [OF.mac, 63]);
});

test('overlay: a remote endpoint on an address borrowed from another host\'s block goes to its own host', () => {
  // the block says h2; the endpoint lives on h3
  assert.deepEqual(tunnel(sentTo(run(ovFlows, ipPacket(OA, OG)), TUN)[0]), [TUN, 5004n, '192.168.0.3']);
  assert.deepEqual(tunnel(sentTo(run(ovFlows, ipPacket(OA, viaGateway(OG.ip))), TUN)[0]), [TUN, 5004n, '192.168.0.3']);
  // its neighbour in the same block still goes to h2
  assert.deepEqual(tunnel(sentTo(run(ovFlows, ipPacket(OA, viaGateway('10.4.0.71'))), TUN)[0]), [TUN, 5004n, '192.168.0.2']);
});

// ---- routed ---------------------------------------------------------------

const rt = network(5, 'routed', '10.5.0.0/24');
const RA = endpoint(rt, 'h1', '10.5.0.2');
const RB = endpoint(rt, 'h1', '10.5.0.3');
const RE = endpoint(rt, 'h2', '10.5.0.66');
const routed: World = { networks: [rt], endpoints: [RA, RB, RE], blocks: [block(rt, '10.5.0.0/26', 'h1'), block(rt, '10.5.0.64/26', 'h2')] };
const rtFlows = containerFlows(hostState(routed, 'h1', { patchPort: PATCH }));

test('routed: to a remote host\'s block goes out the patch port to that host\'s br-phy MAC, from the gateway MAC', () => {
  // the container's on-link ARP for another host's address gets the gateway MAC (proxy ARP)
  assert.equal(sentTo(run(rtFlows, arpRequest(RA, RE.ip)), RA.port)[0].fields.arp_sha, GATEWAY_MAC);
  const [o] = sentTo(run(rtFlows, ipPacket(RA, viaGateway(RE.ip))), PATCH);
  assert.deepEqual([o.fields.eth_dst, o.fields.eth_src, o.fields.nw_ttl], [PHY_MAC.h2, GATEWAY_MAC, 63]);
  assert.equal(o.tun_id, undefined, 'no encapsulation');
  // anything off the network leaves to the host's own br-phy
  assert.equal(sentTo(run(rtFlows, ipPacket(RA, viaGateway('8.8.8.8'))), PATCH)[0].fields.eth_dst, PHY_MAC.h1);
  // this host's own block is on-link: ARP gets the derived MAC, and delivery is direct
  assert.equal(sentTo(run(rtFlows, arpRequest(RA, RB.ip)), RA.port)[0].fields.arp_sha, RB.mac);
  sentTo(run(rtFlows, ipPacket(RA, RB)), RB.port);
});

test('routed: from the underlay through the patch port to a local endpoint is delivered (routed by the gateway)', () => {
  const pkt = { ...ipPacket({ ip: '192.168.7.7', mac: PHY_MAC.h1, port: PATCH }, { ip: RA.ip, mac: PHY_MAC.h1 }) };
  const t = run(rtFlows, pkt);
  const [o] = sentTo(t, RA.port);
  assert.deepEqual([o.fields.eth_dst, o.fields.eth_src, o.fields.nw_ttl], [RA.mac, GATEWAY_MAC, 63]);
  assert.equal(t.hops[1].fields.reg6, UNDERLAY_NET, 'classified as the underlay');
  droppedAt(run(rtFlows, { ...pkt, ipv4_dst: '10.5.0.40' }), 'l2Forwarding');
});

test('routed br-phy: a local block\'s address goes into br-int, other traffic NORMAL', () => {
  const phy = phyFlows(hostState(routed, 'h1', { patchPort: PHY_PATCH, uplinkPort: PHY_UPLINK }));
  const from = (dst: string) => ipPacket({ ip: '192.168.0.50', mac: 'cc:00:00:00:00:50', port: PHY_UPLINK }, { ip: dst, mac: PHY_MAC.h1 });
  sentTo(run(phy, from(RA.ip)), PHY_PATCH);
  sentTo(run(phy, from('10.5.0.40')), PHY_PATCH); // the whole block, endpoint or not
  sentTo(run(phy, from(RE.ip)), OFPP_NORMAL); // h2's block is not ours
  sentTo(run(phy, from('192.168.0.1')), OFPP_NORMAL); // the host itself
  sentTo(run(phy, { in_port: PHY_UPLINK, eth_src: ROUTER.mac, eth_dst: BCAST, eth_type: 0x0806, arp_op: 1, arp_tpa: '192.168.0.1' }), OFPP_NORMAL);
});

// ---- underlay -------------------------------------------------------------

const ul = network(6, 'underlay', '10.6.0.0/24', 100);
const UA = endpoint(ul, 'h1', '10.6.0.2');
const UB = endpoint(ul, 'h1', '10.6.0.3');
const underlay: World = { networks: [ul], endpoints: [UA, UB], blocks: [block(ul, '10.6.0.0/26', 'h1')] };
const ulFlows = containerFlows(hostState(underlay, 'h1', { patchPort: PATCH }));

test('underlay: a container\'s frame leaves on the patch port with the network\'s VLAN pushed', () => {
  const [o] = sentTo(run(ulFlows, ipPacket(UA, { ip: '10.6.0.200', mac: 'cc:00:00:00:06:c8' })), PATCH);
  assert.equal(o.vlan_vid, 100);
  assert.deepEqual([o.fields.eth_dst, o.fields.nw_ttl], ['cc:00:00:00:06:c8', 64]);
  // the business network's router answers for its gateway: Weft does not, the request goes out tagged
  assert.deepEqual(sentTo(run(ulFlows, arpRequest(UA, ul.gateway)), UB.port, PATCH).map((o) => o.vlan_vid), [undefined, 100]);
});

test('underlay: a tagged frame from the uplink is delivered by MAC after the tag is popped; another VLAN is dropped', () => {
  const tagged = (vid: number) => ({ ...ipPacket({ ip: '10.6.0.200', mac: 'cc:00:00:00:06:c8', port: PATCH }, UA), vlan_vid: 0x1000 | vid });
  const [o] = sentTo(run(ulFlows, tagged(100)), UA.port);
  assert.equal(o.vlan_vid, undefined, 'untagged to the container');
  assert.equal(o.fields.vlan_vid, undefined);
  droppedAt(run(ulFlows, tagged(200)), 'spoofGuard');
  // an untagged frame is not this network's
  droppedAt(run(ulFlows, { ...tagged(100), vlan_vid: 0 }), 'spoofGuard');
});

test('underlay: broadcast goes to the local endpoints and out the uplink, never back where it came from', () => {
  const outs = sentTo(run(ulFlows, arpRequest(UA, '10.6.0.50')), UB.port, PATCH);
  assert.deepEqual(outs.map((o) => o.vlan_vid), [undefined, 100]);
  const fromUplink = { ...arpRequest({ ip: '10.6.0.200', mac: 'cc:00:00:00:06:c8', port: PATCH }, UA.ip), vlan_vid: 0x1000 | 100 };
  const back = sentTo(run(ulFlows, fromUplink), UA.port, UB.port);
  assert.ok(back.every((o) => o.vlan_vid === undefined));
});

// ---- underlay, shared MAC (ipvlan L2) ---------------------------------------

const sh = { ...network(8, 'underlay', '10.8.0.0/24', 200), macMode: 'shared' as const };
const SA = endpoint(sh, 'h1', '10.8.0.2');
const SB = endpoint(sh, 'h1', '10.8.0.3');
const SC = endpoint(sh, 'h2', '10.8.0.4');
const shared: World = { networks: [sh], endpoints: [SA, SB, SC], blocks: [block(sh, '10.8.0.0/26', 'h1')] };
const shInt = containerFlows(hostState(shared, 'h1', { patchPort: PATCH }));
const shPhy = phyFlows(hostState(shared, 'h1', { patchPort: PHY_PATCH, uplinkPort: PHY_UPLINK }));
const MACHINE = { ip: '10.8.0.200', mac: 'cc:00:00:00:08:c8', port: PHY_UPLINK };
const tag200 = (p: PacketFields): PacketFields => ({ ...p, vlan_vid: 0x1000 | 200 });

test('underlay shared MAC: a container\'s frame leaves from the host\'s uplink MAC, tagged, and br-phy sends it straight to the uplink', () => {
  const [o] = sentTo(run(shInt, ipPacket(SA, MACHINE)), PATCH);
  assert.deepEqual([o.fields.eth_src, o.fields.eth_dst, o.vlan_vid, o.fields.ipv4_src], [UPLINK_MAC.h1, MACHINE.mac, 200, SA.ip]);
  // br-phy: from the patch with the host's MAC as source: to the uplink, not NORMAL (which would learn the host's MAC on the patch port)
  const [u] = sentTo(run(shPhy, { ...o.fields, in_port: PHY_PATCH, vlan_vid: 0x1000 | 200 }), PHY_UPLINK);
  assert.equal(u.fields.eth_src, UPLINK_MAC.h1);
});

test('underlay shared MAC: ARP from a container names the host\'s uplink MAC outside, and the local endpoints get it unchanged', () => {
  const outs = sentTo(run(shInt, arpRequest(SA, MACHINE.ip)), SB.port, PATCH);
  assert.deepEqual([outs[0].fields.eth_src, outs[0].fields.arp_sha], [SA.mac, SA.mac], 'the neighbour on the host sees the container\'s own MAC');
  assert.deepEqual([outs[1].fields.eth_src, outs[1].fields.arp_sha, outs[1].fields.arp_spa, outs[1].vlan_vid], [UPLINK_MAC.h1, UPLINK_MAC.h1, SA.ip, 200]);
  // the container's answer to a machine's ARP request: the host's MAC for the container's address
  const answer = { in_port: SA.port, eth_src: SA.mac, eth_dst: MACHINE.mac, eth_type: 0x0806, arp_op: 2, arp_spa: SA.ip, arp_sha: SA.mac, arp_tpa: MACHINE.ip, arp_tha: MACHINE.mac };
  const [a] = sentTo(run(shInt, answer), PATCH);
  assert.deepEqual([a.fields.eth_src, a.fields.arp_sha, a.fields.arp_spa], [UPLINK_MAC.h1, UPLINK_MAC.h1, SA.ip]);
});

test('underlay shared MAC: br-phy hands frames for the host\'s uplink MAC to the endpoint by IP, with its own MAC restored', () => {
  for (const e of [SA, SB]) {
    const [o] = sentTo(run(shPhy, tag200(ipPacket(MACHINE, { ip: e.ip, mac: UPLINK_MAC.h1 }))), PHY_PATCH);
    assert.deepEqual([o.fields.eth_dst, o.fields.ipv4_dst], [e.mac, e.ip]);
    // br-int delivers it by MAC as in own mode
    const [d] = sentTo(run(shInt, { ...o.fields, in_port: PATCH }), e.port);
    assert.deepEqual([d.fields.eth_dst, d.vlan_vid], [e.mac, undefined]);
  }
  // an ARP reply for a container (it asked through the host's MAC) gets its MAC back in the target fields
  const reply = tag200({ in_port: PHY_UPLINK, eth_src: MACHINE.mac, eth_dst: UPLINK_MAC.h1, eth_type: 0x0806, arp_op: 2, arp_spa: MACHINE.ip, arp_sha: MACHINE.mac, arp_tpa: SA.ip, arp_tha: UPLINK_MAC.h1 });
  const [r] = sentTo(run(shPhy, reply), PHY_PATCH);
  assert.deepEqual([r.fields.eth_dst, r.fields.arp_tha], [SA.mac, SA.mac]);
  sentTo(run(shInt, { ...r.fields, in_port: PATCH }), SA.port);
  // the host's own traffic, another VLAN, and an endpoint of another host stay NORMAL
  sentTo(run(shPhy, ipPacket(MACHINE, { ip: '192.168.0.1', mac: PHY_MAC.h1 })), OFPP_NORMAL);
  sentTo(run(shPhy, { in_port: PHY_UPLINK, eth_src: MACHINE.mac, eth_dst: PHY_MAC.h1, eth_type: 0x0806, arp_op: 2, arp_tpa: '192.168.0.1' }), OFPP_NORMAL);
  sentTo(run(shPhy, { ...ipPacket(MACHINE, { ip: SA.ip, mac: UPLINK_MAC.h1 }), vlan_vid: 0x1000 | 300 }), OFPP_NORMAL);
  sentTo(run(shPhy, tag200(ipPacket(MACHINE, { ip: SC.ip, mac: UPLINK_MAC.h1 }))), OFPP_NORMAL);
});

test('underlay shared MAC: without the host\'s uplink MAC (br-phy not connected) nothing leaves under the containers\' own MACs', () => {
  const blind = containerFlows(hostState(shared, 'h1', { patchPort: PATCH, uplinkMac: () => undefined }));
  droppedAt(run(blind, ipPacket(SA, MACHINE)), 'l2Forwarding');
  // inside the host the endpoints still reach each other
  sentTo(run(blind, ipPacket(SA, SB)), SB.port);
  assert.deepEqual(phyFlows(hostState(shared, 'h1', { patchPort: PHY_PATCH, uplinkPort: PHY_UPLINK, uplinkMac: () => undefined })).filter((f) => f.priority !== 0), []);
});

// ---- br-phy NAT -----------------------------------------------------------

const NA = endpoint(blue, 'h1', '10.1.0.20');
const mapping: PortMapping = { endpointId: NA.id, host: 'h1', protocol: 'tcp', hostIp: '192.168.0.1', hostPort: 8080, containerPort: 80 };
const nat: World = { networks: [blue], endpoints: [NA], blocks: [] };
const natPhy = phyFlows(hostState(nat, 'h1', { patchPort: PHY_PATCH, uplinkPort: PHY_UPLINK, mappings: [mapping], neighbors: new Map([[ROUTER.ip, ROUTER.mac]]) }));
const natInt = containerFlows(hostState(nat, 'h1', { patchPort: PATCH }));
const CLIENT = { ip: '192.168.0.50', mac: 'cc:00:00:00:00:50', port: PHY_UPLINK };
const macBits = (m: string) => BigInt('0x' + m.replace(/:/g, ''));

test('br-phy NAT: a published port\'s connection is DNATed and handed to br-int for the endpoint\'s MAC, then delivered', () => {
  const t = run(natPhy, ipPacket(CLIENT, { ip: '192.168.0.1', mac: PHY_MAC.h1 }, { tcp_src: 40000, tcp_dst: 8080 }));
  const [o] = sentTo(t, PHY_PATCH);
  assert.deepEqual([o.fields.eth_dst, o.fields.ipv4_dst, o.fields.tcp_dst], [NA.mac, NA.ip, 80]);
  const ct = t.effects.find((e) => e.type === 'ct');
  assert.ok(ct && ct.type === 'ct');
  assert.deepEqual([ct.commit, ct.zone, ct.nat?.flags, ct.nat?.ipv4_min, ct.nat?.proto_min], [true, NAT_ZONE, NX_NAT_F_DST, NA.ip, 80]);
  // the connection remembers the client's MAC and port for the replies
  assert.deepEqual([o.fields.ct_label, o.fields.ct_mark], [macBits(CLIENT.mac), PHY_UPLINK]);
  // across the patch into br-int: delivered to the endpoint
  const [d] = sentTo(run(natInt, { ...o.fields, in_port: PATCH }), NA.port);
  assert.deepEqual([d.fields.eth_dst, d.fields.ipv4_dst, d.fields.tcp_dst], [NA.mac, NA.ip, 80]);
  // another port on the host's address is the host's own
  sentTo(run(natPhy, ipPacket(CLIENT, { ip: '192.168.0.1', mac: PHY_MAC.h1 }, { tcp_dst: 22 })), OFPP_NORMAL);
});

test('br-phy NAT: the endpoint\'s reply is un-NATed and sent straight back to the client', () => {
  const reply = ipPacket({ ...NA, port: PHY_PATCH }, { ip: CLIENT.ip, mac: PHY_MAC.h1 }, { tcp_src: 80, tcp_dst: 40000 });
  const t = run(natPhy, reply, { ct: { state: '+trk+est+rpl', mark: PHY_UPLINK, label: macBits(CLIENT.mac), nat: { ipv4_src: '192.168.0.1', tcp_src: 8080 } } });
  const [o] = sentTo(t, PHY_UPLINK);
  assert.deepEqual([o.fields.eth_dst, o.fields.eth_src, o.fields.ipv4_src, o.fields.tcp_src], [CLIENT.mac, PHY_MAC.h1, '192.168.0.1', 8080]);
});

test('br-phy NAT: egress SNAT for a local network\'s new connection, to the router', () => {
  // br-int: off every network, to br-phy
  const [out] = sentTo(run(natInt, ipPacket(NA, viaGateway('8.8.8.8'))), PATCH);
  assert.deepEqual([out.fields.eth_dst, out.fields.eth_src], [PHY_MAC.h1, NA.mac]);
  // br-phy: conntrack, a new connection from the network's CIDR is masqueraded behind the host's address
  const t = run(natPhy, { ...out.fields, in_port: PHY_PATCH });
  const [o] = sentTo(t, PHY_UPLINK);
  assert.deepEqual([o.fields.ipv4_src, o.fields.eth_src, o.fields.eth_dst, o.fields.ipv4_dst], ['192.168.0.1', PHY_MAC.h1, ROUTER.mac, '8.8.8.8']);
  const commits = t.effects.filter((e) => e.type === 'ct' && e.commit);
  assert.equal(commits.length, 1);
  assert.ok(commits[0].type === 'ct' && commits[0].nat?.flags === NX_NAT_F_SRC && commits[0].nat.ipv4_min === '192.168.0.1');
  assert.deepEqual(t.hops.map((h) => [h.table, h.via]), [[0, 'start'], [1, 'recirculation'], [2, 'resubmit']]);
  // a reply comes back to the host's address, is un-NATed and handed to br-int for the container
  const back = ipPacket({ ip: '8.8.8.8', mac: ROUTER.mac, port: PHY_UPLINK }, { ip: '192.168.0.1', mac: PHY_MAC.h1 }, { tcp_src: 80, tcp_dst: 33000 });
  const [r] = sentTo(run(natPhy, back, { ct: { state: '+trk+est+rpl', label: macBits(NA.mac), nat: { ipv4_dst: NA.ip } } }), PHY_PATCH);
  assert.deepEqual([r.fields.eth_dst, r.fields.ipv4_dst], [NA.mac, NA.ip]);
  sentTo(run(natInt, { ...r.fields, in_port: PATCH }), NA.port);
});

// ---- bugs these tests found, fixed -----------------------------------------

test('routed and an untagged underlay network on one host: underlay traffic still reaches a routed endpoint', () => {
  const flat = network(7, 'underlay', '10.7.0.0/24');
  const w: World = { networks: [rt, flat], endpoints: [RA, endpoint(flat, 'h1', '10.7.0.2')], blocks: routed.blocks };
  const t = run(containerFlows(hostState(w, 'h1', { patchPort: PATCH })), ipPacket({ ip: '192.168.7.7', mac: PHY_MAC.h1, port: PATCH }, { ip: RA.ip, mac: PHY_MAC.h1 }));
  sentTo(t, RA.port);
});

test('routed: an endpoint on an address borrowed from this host\'s block, living on another host, is reachable from here', () => {
  const RX = endpoint(rt, 'h2', '10.5.0.5'); // h2 borrowed it from h1's block
  const flows = containerFlows(hostState({ ...routed, endpoints: [RA, RX] }, 'h1', { patchPort: PATCH }));
  const [answer] = sentTo(run(flows, arpRequest(RA, RX.ip)), RA.port);
  const [o] = sentTo(run(flows, ipPacket(RA, { ip: RX.ip, mac: answer.fields.arp_sha as string })), PATCH);
  assert.equal(o.fields.eth_dst, PHY_MAC.h2);
});
