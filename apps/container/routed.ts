// Routed networks (no encapsulation, the Calico / flannel host-gw model):
// br-int hands traffic for other hosts' blocks to br-phy addressed to that
// host's br-phy MAC; br-phy sends this host's blocks into br-int. Routed
// frames leave with the gateway MAC as source, never br-phy's own: br-phy's
// NORMAL learning must not see its own MAC behind the patch port, or the
// host's own traffic (its controller connection included) would follow it
// into br-int.
import type { Action, FlowMod } from '../../southbound/codec';
import { blockOf, Block } from '../../controller/ipam';
import type { EndpointRec, NetworkRec } from '../../controller/resources';
import { ipToInt, intToIp, maskOf } from '../../controller/ipv4';
import { flow, phyFlow, GATEWAY_MAC, REG, objectId, UNDERLAY_NET, ETH_TYPE, ARP_OP } from '../../controller/pipeline';
import { Ctx, HostState, setField, output, decTtlFromGateway, cidrMatch, remoteEndpointsOf, localEndpointsOf } from './context';
import { proxyArpReply } from './arp';
import { derivedArp } from './local';

/** br-int flows of routed networks. */
export function routedFlows(c: Ctx): FlowMod[] {
  const { s } = c;
  const out: FlowMod[] = [];
  // (everything these read is in the host's context deps)
  for (const f of c.memo('routedHost', [], () => routedHostFlows(c))) out.push(f);
  for (const n of c.localNets) {
    if (n.mode !== 'routed') continue;
    // this host's own blocks are on-link: ARP gets the derived MAC (the rest of the CIDR got the gateway's, above)
    for (const b of s.blocks) {
      if (b.networkId === n.id && b.host === s.host) for (const f of c.memo(`routedOwnBlock:${n.id}/${b.base}`, [b], () => [derivedArp(n, b.base, b.len, 'ownBlock', objectId(`${n.id}/${b.base}`))])) out.push(f);
    }
  }
  // (other hosts are reached through br-phy: without a routed network here, or br-phy's MAC, nothing below)
  if (!c.routed || !c.myPhyMac) return out;
  const peerMac = (toHost: string): string | undefined => s.phyMac?.(toHost);
  // remote blocks: no encapsulation, straight to the owning host's br-phy over the underlay
  for (const b of s.blocks) {
    const n = s.networks.get(b.networkId);
    // an encrypted routed network's remote blocks go through the secure tunnel instead (overlay.ts)
    if (!n || n.mode !== 'routed' || n.encrypted || !b.host || b.host === s.host) continue;
    const peer = peerMac(b.host);
    if (!peer) continue;
    for (const f of c.memo(`routedBlock:${n.id}/${b.base}`, [b, peer], () => c.shared(b, [n, peer], `routed|${s.patchPort}|${c.routableFrom(n).map((x) => x.id).join(',')}`, () => routedBlockFlows(c, b, n, peer)))) out.push(f);
  }
  // remote routed endpoints living on an address their host's blocks do not hold: a /32 route
  for (const e of remoteEndpointsOf(s)) {
    if (e.host === s.host || e.state === 'removed') continue;
    const n = s.networks.get(e.networkId);
    if (n?.mode !== 'routed') continue;
    const block = blockOf(s.blocks, n.id, ipToInt(e.ip));
    if (block?.host === e.host) continue;
    const peer = peerMac(e.host);
    if (!peer) continue;
    for (const f of c.memo(`routedEndpoint:${e.id}`, [e, peer, block], () => routedEndpointFlows(c, e, n, peer, block?.host === s.host))) out.push(f);
  }
  return out;
}

/** What does not depend on any one block or endpoint: the classifier from br-phy, and per local routed network its proxy ARP and way out. */
function routedHostFlows(c: Ctx): FlowMod[] {
  const { s } = c;
  const out: FlowMod[] = [];
  if (c.routed) {
    // from the underlay through br-phy: addressed to a local routed endpoint, so hand it to the gateway.
    // Routed frames come addressed to this host's br-phy MAC (other hosts and the underlay's routers send
    // them there): matching it keeps an untagged underlay network's classifier from taking them.
    const b = flow('classifier', { category: 'network', id: UNDERLAY_NET });
    if (c.myPhyMac) b.band('routedToHost').match('in_port', s.patchPort!).match('eth_dst', c.myPhyMac);
    else b.band('fromUnderlay').match('in_port', s.patchPort!);
    out.push(b.actions(setField(REG.network, UNDERLAY_NET), setField('eth_dst', GATEWAY_MAC)).goto('l3Forwarding').build());
  }
  for (const n of c.localNets) {
    if (n.mode !== 'routed' || !c.routed || !c.myPhyMac) continue;
    const owner = { category: 'network' as const, id: n.id };
    // every other address of the CIDR is reached through the gateway (the container's on-link ARP gets the gateway MAC)
    out.push(flow('arpResponder', owner).band('proxy')
      .match(REG.network, n.id).match('eth_type', ETH_TYPE.arp).match('arp_op', ARP_OP.request).match('arp_tpa', ...cidrMatch(c.cidr.get(n.id)!))
      .actions(...proxyArpReply(GATEWAY_MAC)).build());
    // anything else leaves through the host: br-phy hands it to the host's own IP stack, which routes it on the underlay
    out.push(flow('l3Forwarding', owner).band('routedOut').match(REG.network, n.id).match('eth_type', ETH_TYPE.ipv4).match('eth_dst', GATEWAY_MAC)
      .actions(...decTtlFromGateway(), setField('eth_dst', c.myPhyMac), output(s.patchPort!)).build());
  }
  return out;
}

const viaUnderlay = (c: Ctx, peer: string): Action[] => [setField('eth_dst', peer), output(c.s.patchPort!)];

/** Another host's block of a routed network, reached at that host's br-phy MAC `peer`. */
function routedBlockFlows(c: Ctx, b: Block, n: NetworkRec, peer: string): FlowMod[] {
  const id = { category: 'network' as const, id: objectId(`${n.id}/${b.base}`) };
  return c.routableFrom(n).filter((src) => src.id !== UNDERLAY_NET).map((src) => c.route(src, n, id, intToIp(b.base), b.len, viaUnderlay(c, peer), peer));
}

/** Another host's routed endpoint outside its host's blocks (`inOwnBlock`: in one of this host's). */
function routedEndpointFlows(c: Ctx, e: EndpointRec, n: NetworkRec, peer: string, inOwnBlock: boolean): FlowMod[] {
  const out: FlowMod[] = [];
  const owner = { category: 'endpoint' as const, id: objectId(e.id) };
  // an encrypted network's /32 goes through the secure tunnel instead (overlay.ts)
  if (!n.encrypted) for (const src of c.routableFrom(n)) if (src.id !== UNDERLAY_NET) out.push(c.route(src, n, owner, e.ip, 32, viaUnderlay(c, peer), peer));
  // borrowed from one of this host's blocks, whose addresses are on-link here: its ARP answer is the
  // gateway instead, so local containers send to it through the /32 route above
  if (c.localNetIds.has(n.id) && inOwnBlock) {
    out.push(flow('arpResponder', owner).band('exact')
      .match(REG.network, n.id).match('eth_type', ETH_TYPE.arp).match('arp_op', ARP_OP.request).match('arp_tpa', e.ip)
      .actions(...proxyArpReply(GATEWAY_MAC)).build());
  }
  return out;
}

/** br-phy flows of routed networks: this host's blocks (and routed endpoints here on borrowed addresses) go into br-int. */
export function phyRoutedFlows(s: HostState, patch: number): FlowMod[] {
  const out: FlowMod[] = [];
  for (const b of s.blocks) {
    const n = s.networks.get(b.networkId);
    if (!n || n.mode !== 'routed' || b.host !== s.host) continue;
    out.push(phyFlow('phyIngress', { category: 'network', id: objectId(`${n.id}/${b.base}`) }).band('routedBlock')
      .match('eth_type', ETH_TYPE.ipv4).match('ipv4_dst', intToIp(b.base), maskOf(b.len)).actions(output(patch)).build());
  }
  for (const e of localEndpointsOf(s)) {
    const n = s.networks.get(e.networkId);
    if (e.host !== s.host || !n || n.mode !== 'routed') continue;
    if (blockOf(s.blocks, n.id, ipToInt(e.ip))?.host === s.host) continue;
    out.push(phyFlow('phyIngress', { category: 'endpoint', id: objectId(e.id) }).band('routedEndpoint')
      .match('eth_type', ETH_TYPE.ipv4).match('ipv4_dst', e.ip).actions(output(patch)).build());
  }
  return out;
}
