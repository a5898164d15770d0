// Desired flows of a container host's br-int (see controller/pipeline.ts for
// the tables): every flow an endpoint needs, computed from the store, so the
// reconciler can install them proactively — steady-state container traffic
// never reaches the controller.
//
// Local endpoints get exact flows. Endpoints on other hosts of an overlay
// network are reached by host block: their MACs are derived from their
// addresses (derivedMac), so one flow per remote block answers ARP, delivers
// and routes through the VXLAN tunnel to the block's host. Only remote
// endpoints that break that rule (a requested MAC, or an address borrowed
// from another host's block) get exact flows of their own.
import { Action, FlowMod, OFPP_IN_PORT } from '../southbound/codec';
import { flow, missFlows, GATEWAY_MAC, PRIO, REG, derivedMac, blockMac } from '../controller/pipeline';
import type { EndpointRec, NetworkRec, HostRec } from '../controller/resources';
import { parseCidr, intToIp, ipToInt, Cidr } from '../controller/ipv4';

const ETH_IP = 0x0800;
const ETH_ARP = 0x0806;

/** 32-bit FNV-1a of a string: the object id in flow cookies. */
export function objectId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) { h ^= id.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h >>> 0;
}

/** Turn an ARP request into the reply for (mac, ip), sent back out of its in_port. */
export function arpReply(mac: string, ip: string): Action[] {
  return [
    { type: 'reg_move', src: 'eth_src', src_ofs: 0, dst: 'eth_dst', dst_ofs: 0, n_bits: 48 },
    { type: 'set_field', field: { field: 'eth_src', value: mac } },
    { type: 'set_field', field: { field: 'arp_op', value: 2 } },
    { type: 'reg_move', src: 'arp_sha', src_ofs: 0, dst: 'arp_tha', dst_ofs: 0, n_bits: 48 },
    { type: 'set_field', field: { field: 'arp_sha', value: mac } },
    { type: 'reg_move', src: 'arp_spa', src_ofs: 0, dst: 'arp_tpa', dst_ofs: 0, n_bits: 32 },
    { type: 'set_field', field: { field: 'arp_spa', value: ip } },
    { type: 'output', port: OFPP_IN_PORT },
  ];
}

/** ARP reply for any address of a network, with the MAC derived from the asked address. */
export function derivedArpReply(networkId: number): Action[] {
  return [
    { type: 'reg_move', src: 'eth_src', src_ofs: 0, dst: 'eth_dst', dst_ofs: 0, n_bits: 48 },
    { type: 'set_field', field: { field: 'eth_src', value: derivedMac(networkId, '0.0.0.0') } },
    { type: 'reg_move', src: 'arp_tpa', src_ofs: 0, dst: 'eth_src', dst_ofs: 0, n_bits: 32 },
    { type: 'set_field', field: { field: 'arp_op', value: 2 } },
    { type: 'reg_move', src: 'arp_sha', src_ofs: 0, dst: 'arp_tha', dst_ofs: 0, n_bits: 48 },
    { type: 'reg_move', src: 'eth_src', src_ofs: 0, dst: 'arp_sha', dst_ofs: 0, n_bits: 48 },
    { type: 'reg_move', src: 'arp_tpa', src_ofs: 0, dst: 'reg0', dst_ofs: 0, n_bits: 32 },
    { type: 'reg_move', src: 'arp_spa', src_ofs: 0, dst: 'arp_tpa', dst_ofs: 0, n_bits: 32 },
    { type: 'reg_move', src: 'reg0', src_ofs: 0, dst: 'arp_spa', dst_ofs: 0, n_bits: 32 },
    { type: 'output', port: OFPP_IN_PORT },
  ];
}

export interface Block { networkId: number; base: number; len: number; host: string | null }

export interface HostState {
  /** this host */
  host: string;
  hosts: Map<string, HostRec>;
  networks: Map<number, NetworkRec>;
  /** every endpoint in the cluster (local ones are those with host === this host) */
  endpoints: EndpointRec[];
  blocks: Block[];
  /** OpenFlow port number of a br-int port by name, if it exists yet */
  ofport(name: string): number | undefined;
  tunnelPort?: number;
}

const overlaps = (a: Cidr, b: Cidr) => {
  const len = Math.min(a.len, b.len);
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((a.base & m) >>> 0) === ((b.base & m) >>> 0);
};

export function containerFlows(s: HostState): FlowMod[] {
  const out = missFlows();
  const local = s.endpoints.filter((e) => e.host === s.host && e.state !== 'removed' && s.ofport(e.portName) !== undefined);
  const localNets = [...new Set(local.map((e) => e.networkId))].map((id) => s.networks.get(id)).filter((n): n is NetworkRec => !!n);
  const cidr = new Map(localNets.map((n) => [n.id, parseCidr(n.cidr)]));
  for (const n of s.networks.values()) if (!cidr.has(n.id)) cidr.set(n.id, parseCidr(n.cidr));
  /** Source networks on this host that may route to network n: itself, and any whose CIDR does not overlap. */
  const routableFrom = (n: NetworkRec) => localNets.filter((src) => src.id === n.id || !overlaps(cidr.get(src.id)!, cidr.get(n.id)!));
  const tun = s.tunnelPort;
  const tunnelTo = (n: NetworkRec, hostIp: string): Action[] => [
    { type: 'set_field', field: { field: 'tunnel_id', value: BigInt(n.vni) } },
    { type: 'set_field', field: { field: 'tun_ipv4_dst', value: hostIp } },
    { type: 'output', port: tun! },
  ];
  const route = (src: NetworkRec, dst: NetworkRec, owner: { category: 'endpoint' | 'network'; id: number }, ip: string, len: number, to: Action[], mac?: string) => {
    const b = flow('l3Forwarding', owner).priority(len === 32 ? PRIO.specific : PRIO.block)
      .match(REG.network, src.id).match('eth_type', ETH_IP).match('eth_dst', GATEWAY_MAC);
    if (len === 32) b.match('ipv4_dst', ip); else b.match('ipv4_dst', ip, intToIp(len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0));
    const setMac: Action[] = mac ? [{ type: 'set_field', field: { field: 'eth_dst', value: mac } }]
      : [{ type: 'set_field', field: { field: 'eth_dst', value: derivedMac(dst.id, '0.0.0.0') } }, { type: 'reg_move', src: 'ipv4_dst', src_ofs: 0, dst: 'eth_dst', dst_ofs: 0, n_bits: 32 }];
    return b.actions({ type: 'dec_nw_ttl' }, { type: 'set_field', field: { field: 'eth_src', value: GATEWAY_MAC } }, ...setMac, ...to).build();
  };

  for (const n of localNets) {
    const owner = { category: 'network' as const, id: n.id };
    out.push(flow('arpResponder', owner).priority(PRIO.specific)
      .match(REG.network, n.id).match('eth_type', ETH_ARP).match('arp_op', 1).match('arp_tpa', n.gateway)
      .actions(...arpReply(GATEWAY_MAC, n.gateway)).build());
    if (n.mode !== 'overlay' || tun === undefined) continue;
    const c = cidr.get(n.id)!;
    // from the tunnel: the VNI names the network; the sending host already did its spoof guard and routing
    out.push(flow('classifier', owner).match('in_port', tun).match('tunnel_id', BigInt(n.vni))
      .actions({ type: 'set_field', field: { field: REG.network, value: n.id } }).goto('l2Forwarding').build());
    // ARP for any other address of the network: the derived MAC (local endpoints have exact answers above it)
    out.push(flow('arpResponder', owner).priority(PRIO.block)
      .match(REG.network, n.id).match('eth_type', ETH_ARP).match('arp_op', 1).match('arp_tpa', intToIp(c.base), intToIp((0xffffffff << (32 - c.len)) >>> 0))
      .actions(...derivedArpReply(n.id)).build());
  }

  // remote blocks of overlay networks: deliver and route by block to the owning host
  const localNetIds = new Set(localNets.map((n) => n.id));
  for (const b of s.blocks) {
    const n = s.networks.get(b.networkId);
    const owner = b.host ? s.hosts.get(b.host) : undefined;
    if (!n || n.mode !== 'overlay' || tun === undefined || !owner || owner.name === s.host) continue;
    const sources = routableFrom(n);
    if (!sources.length) continue;
    const id = { category: 'network' as const, id: objectId(`${n.id}/${b.base}`) };
    if (localNetIds.has(n.id)) {
      const m = blockMac(n.id, intToIp(b.base), b.len);
      out.push(flow('l2Forwarding', id).priority(PRIO.block).match(REG.network, n.id).match('eth_dst', m.value, m.mask)
        .actions(...tunnelTo(n, owner.underlayIp)).build());
    }
    for (const src of sources) out.push(route(src, n, id, intToIp(b.base), b.len, tunnelTo(n, owner.underlayIp)));
  }

  // remote endpoints that the block rule does not describe
  for (const e of s.endpoints) {
    if (e.host === s.host || e.state === 'removed') continue;
    const n = s.networks.get(e.networkId);
    const h = s.hosts.get(e.host);
    if (!n || n.mode !== 'overlay' || tun === undefined || !h) continue;
    const ip = ipToInt(e.ip);
    const blk = s.blocks.find((b) => b.networkId === n.id && ip >= b.base && ip < b.base + 2 ** (32 - b.len));
    if (e.mac === derivedMac(n.id, e.ip) && blk?.host === e.host) continue;
    const owner = { category: 'endpoint' as const, id: objectId(e.id) };
    if (localNetIds.has(n.id)) {
      out.push(flow('arpResponder', owner).priority(PRIO.specific)
        .match(REG.network, n.id).match('eth_type', ETH_ARP).match('arp_op', 1).match('arp_tpa', e.ip)
        .actions(...arpReply(e.mac, e.ip)).build());
      out.push(flow('l2Forwarding', owner).priority(PRIO.specific).match(REG.network, n.id).match('eth_dst', e.mac)
        .actions(...tunnelTo(n, h.underlayIp)).build());
    }
    for (const src of routableFrom(n)) out.push(route(src, n, owner, e.ip, 32, tunnelTo(n, h.underlayIp), e.mac));
  }

  for (const e of local) {
    const port = s.ofport(e.portName)!;
    const n = s.networks.get(e.networkId)!;
    const owner = { category: 'endpoint' as const, id: objectId(e.id) };
    out.push(
      flow('classifier', owner).match('in_port', port)
        .actions({ type: 'set_field', field: { field: REG.network, value: e.networkId } }).goto('spoofGuard').build(),
      flow('spoofGuard', owner).priority(PRIO.specific)
        .match('in_port', port).match('eth_src', e.mac).match('eth_type', ETH_ARP).match('arp_spa', e.ip).match('arp_sha', e.mac)
        .goto('arpResponder').build(),
      flow('spoofGuard', owner).priority(PRIO.specific)
        .match('in_port', port).match('eth_src', e.mac).match('eth_type', ETH_IP).match('ipv4_src', e.ip)
        .goto('l3Forwarding').build(),
      flow('arpResponder', owner).priority(PRIO.specific)
        .match(REG.network, e.networkId).match('eth_type', ETH_ARP).match('arp_op', 1).match('arp_tpa', e.ip)
        .actions(...arpReply(e.mac, e.ip)).build(),
      flow('l2Forwarding', owner).priority(PRIO.specific)
        .match(REG.network, e.networkId).match('eth_dst', e.mac)
        .actions({ type: 'output', port }).build(),
    );
    for (const src of routableFrom(n)) out.push(route(src, n, owner, e.ip, 32, [{ type: 'output', port }], e.mac));
  }
  return out;
}
