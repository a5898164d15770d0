// Local endpoints and the networks they are on (every mode but underlay,
// which has its own module): the gateway's ARP answer, ARP for the
// network's derived MACs, routing into the network, and per endpoint its
// two spoof-guard entries (which also classify it) and its L2 delivery.
import type { FlowMod } from '../../southbound/codec';
import type { EndpointRec, NetworkRec } from '../../controller/resources';
import { blockOf } from '../../controller/ipam';
import { ipToInt, intToIp, maskOf } from '../../controller/ipv4';
import { flow, GATEWAY_MAC, REG, isDerived, objectId, ETH_TYPE, ARP_OP } from '../../controller/pipeline';
import { Ctx, setField, output, decTtlFromGateway, deriveDstMac, cidrMatch } from './context';
import { arpReply, derivedArpReply } from './arp';
import { ctPolicy } from './policy';

/** A network's ARP answer for every address of base/len, with the MAC derived from the asked address. */
export function derivedArp(n: NetworkRec, base: number, len: number, band: 'network' | 'ownBlock', id: number): FlowMod {
  return flow('arpResponder', { category: 'network', id }).band(band)
    .match(REG.network, n.id).match('eth_type', ETH_TYPE.arp).match('arp_op', ARP_OP.request).match('arp_tpa', intToIp(base), maskOf(len))
    .actions(...derivedArpReply(n.id)).build();
}

/** Per local network (not underlay): the gateway's ARP answer, ARP for the whole CIDR (not routed), routing into it. */
export function localNetworkFlows(c: Ctx): FlowMod[] {
  // everything it reads is in the host's context deps
  return c.memo('localNetworks', [], () => localNetworkFlowsOf(c));
}

function localNetworkFlowsOf(c: Ctx): FlowMod[] {
  const out: FlowMod[] = [];
  for (const n of c.localNets) {
    if (n.mode === 'underlay') continue; // the business network's own router is the gateway
    const owner = { category: 'network' as const, id: n.id };
    out.push(flow('arpResponder', owner).band('exact')
      .match(REG.network, n.id).match('eth_type', ETH_TYPE.arp).match('arp_op', ARP_OP.request).match('arp_tpa', n.gateway)
      .actions(...arpReply(GATEWAY_MAC, n.gateway)).build());
    const cidr = c.cidr.get(n.id)!;
    // ARP for any address of the network: the derived MAC (endpoints with other MACs have exact answers above it);
    // a routed network answers only for this host's blocks (routed.ts), the rest of its CIDR is behind the gateway
    if (n.mode !== 'routed') out.push(derivedArp(n, cidr.base, cidr.len, 'network', n.id));
    // routing into the network (from itself, other networks of this host, the underlay): the destination
    // MAC is derived from the address and L2 delivery takes over, to a local port or (overlay) a remote block
    for (const src of c.routableFrom(n)) {
      out.push(flow('l3Forwarding', { category: 'network', id: objectId(`${src.id}>${n.id}`) }).band('intoNetwork')
        .match(REG.network, src.id).match('eth_type', ETH_TYPE.ipv4).match('eth_dst', GATEWAY_MAC).match('ipv4_dst', ...cidrMatch(cidr))
        .actions(...decTtlFromGateway(), ...deriveDstMac(n.id), setField(REG.network, n.id))
        .goto('l2Forwarding').build());
    }
  }
  return out;
}

/**
 * Local endpoints. An endpoint whose MAC is derived from its address needs
 * three flows: its two spoof-guard entries (which also classify it into its
 * network) and its L2 delivery. ARP for it is answered by the network's
 * derived-MAC reply, and routing to it by the network's derive-and-deliver
 * flow, both shared by every endpoint of the network.
 */
export function localEndpointFlows(c: Ctx): FlowMod[] {
  const out: FlowMod[] = [];
  for (const e of c.local) {
    const port = c.portOf(e)!;
    const n = c.s.networks.get(e.networkId)!;
    // a routed network's ARP answer depends on the block of its address
    const block = n.mode === 'routed' ? blockOf(c.s.blocks, n.id, ipToInt(e.ip)) : undefined;
    const toServices = c.serviceNets.has(e.networkId);
    for (const f of c.memo(`endpoint:${e.id}`, [e, port, block, toServices], () => endpointFlows(c, e, n, port, block?.host === c.s.host, toServices))) out.push(f);
  }
  return out;
}

/** One local endpoint's flows (its port is `port`; `inOwnBlock`: its address is in one of this host's blocks; `toServices`: its network has services here). */
function endpointFlows(c: Ctx, e: EndpointRec, n: NetworkRec, port: number, inOwnBlock: boolean, toServices: boolean): FlowMod[] {
  const out: FlowMod[] = [];
  const arpCovered = isDerived(e) && (n.mode === 'local' || n.mode === 'overlay' || (n.mode === 'routed' && inOwnBlock));
  const owner = { category: 'endpoint' as const, id: objectId(e.id) };
  const classify = setField(REG.network, e.networkId);
  out.push(
    flow('spoofGuard', owner).band('endpoint')
      .match('in_port', port).match('eth_src', e.mac).match('eth_type', ETH_TYPE.arp).match('arp_spa', e.ip).match('arp_sha', e.mac)
      .actions(classify).goto('arpResponder').build(),
    toServices
      // services of its network first (apps/container/service.ts), then the policy stage or forwarding
      ? flow('spoofGuard', owner).band('endpoint')
        .match('in_port', port).match('eth_src', e.mac).match('eth_type', ETH_TYPE.ipv4).match('ipv4_src', e.ip)
        .actions(classify).goto('serviceLB').build()
      : c.policy
      // the policy stage: conntrack, then egressPolicy (apps/container/policy.ts)
      ? flow('spoofGuard', owner).band('endpoint')
        .match('in_port', port).match('eth_src', e.mac).match('eth_type', ETH_TYPE.ipv4).match('ipv4_src', e.ip)
        .actions(classify, ctPolicy('egressPolicy')).build()
      : flow('spoofGuard', owner).band('endpoint')
        .match('in_port', port).match('eth_src', e.mac).match('eth_type', ETH_TYPE.ipv4).match('ipv4_src', e.ip)
        .actions(classify).goto('l3Forwarding').build(),
    flow('l2Forwarding', owner).band('endpoint')
      .match(REG.network, e.networkId).match('eth_dst', e.mac)
      .actions(output(port)).build(),
  );
  if (!arpCovered) {
    out.push(flow('arpResponder', owner).band('exact')
      .match(REG.network, e.networkId).match('eth_type', ETH_TYPE.arp).match('arp_op', ARP_OP.request).match('arp_tpa', e.ip)
      .actions(...arpReply(e.mac, e.ip)).build());
  }
  if (n.mode === 'underlay' || !isDerived(e)) {
    for (const src of c.routableFrom(n)) out.push(c.route(src, n, owner, e.ip, 32, [output(port)], e.mac));
  }
  return out;
}
