// Desired flows of a container host's br-int (see controller/pipeline.ts for
// the tables): every flow an endpoint needs, computed from the store, so the
// reconciler can install them proactively — steady-state container traffic
// never reaches the controller.
import { Action, FlowMod, OFPP_IN_PORT } from '../southbound/codec';
import { flow, missFlows, GATEWAY_MAC, PRIO, REG } from '../controller/pipeline';
import type { EndpointRec, NetworkRec } from '../controller/resources';

const ETH_IP = 0x0800;
const ETH_ARP = 0x0806;

/** 32-bit FNV-1a of an endpoint id: the object id in its flows' cookies. */
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

export interface HostState {
  networks: Map<number, NetworkRec>;
  /** endpoints on this host */
  endpoints: EndpointRec[];
  /** OpenFlow port number of a br-int port by name, if it exists yet */
  ofport(name: string): number | undefined;
}

export function containerFlows(s: HostState): FlowMod[] {
  const out = missFlows();
  const attached = s.endpoints.filter((e) => e.state !== 'removed' && s.ofport(e.portName) !== undefined);
  const nets = new Set(attached.map((e) => e.networkId));
  for (const id of nets) {
    const n = s.networks.get(id);
    if (!n) continue;
    const owner = { category: 'network' as const, id: n.id };
    out.push(flow('arpResponder', owner).priority(PRIO.specific)
      .match(REG.network, n.id).match('eth_type', ETH_ARP).match('arp_op', 1).match('arp_tpa', n.gateway)
      .actions(...arpReply(GATEWAY_MAC, n.gateway)).build());
  }
  for (const e of attached) {
    const port = s.ofport(e.portName)!;
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
      flow('l3Forwarding', owner).priority(PRIO.specific)
        .match('eth_type', ETH_IP).match('eth_dst', GATEWAY_MAC).match('ipv4_dst', e.ip)
        .actions(
          { type: 'dec_nw_ttl' },
          { type: 'set_field', field: { field: 'eth_src', value: GATEWAY_MAC } },
          { type: 'set_field', field: { field: 'eth_dst', value: e.mac } },
          { type: 'output', port },
        ).build(),
      flow('l2Forwarding', owner).priority(PRIO.specific)
        .match(REG.network, e.networkId).match('eth_dst', e.mac)
        .actions({ type: 'output', port }).build(),
    );
  }
  return out;
}
