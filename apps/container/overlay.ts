// Overlay networks (VXLAN, a VNI per network): the tunnel's classifier, and
// remote endpoints reached by their host's block — one flow per remote
// block, not per remote endpoint. Only remote endpoints that break the block
// rule (a requested MAC, a borrowed address) get exact flows.
import type { FlowMod } from '../../southbound/codec';
import { blockOf, Block } from '../../controller/ipam';
import type { EndpointRec, HostRec, NetworkRec } from '../../controller/resources';
import { ipToInt, intToIp } from '../../controller/ipv4';
import { flow, REG, isDerived, objectId, blockMac, ETH_TYPE, ARP_OP } from '../../controller/pipeline';
import { Ctx, setField, remoteEndpointsOf } from './context';
import { arpReply } from './arp';
import { ctPolicy } from './policy';

export function overlayFlows(c: Ctx): FlowMod[] {
  const { s, tun } = c;
  const out: FlowMod[] = [];
  if (tun === undefined) return out;
  // from the tunnel: the VNI names the network; the sending host already did its spoof guard and routing
  // (everything it reads is in the host's context deps)
  for (const f of c.memo('overlayClassifier', [], () => classifierFlows(c, tun))) out.push(f);
  // remote blocks: deliver (a network of this host: routing into it derives the MAC and comes here) or route by block
  for (const b of s.blocks) {
    const n = s.networks.get(b.networkId);
    const owner = b.host ? s.hosts.get(b.host) : undefined;
    if (!n || n.mode !== 'overlay' || !owner || owner.name === s.host) continue;
    for (const f of c.memo(`overlayBlock:${n.id}/${b.base}`, [b, owner], () => remoteBlockFlows(c, b, n, owner))) out.push(f);
  }
  // remote endpoints that the block rule does not describe
  for (const e of remoteEndpointsOf(s)) {
    if (e.host === s.host || e.state === 'removed') continue;
    const n = s.networks.get(e.networkId);
    const h = s.hosts.get(e.host);
    if (!n || n.mode !== 'overlay' || !h) continue;
    const block = blockOf(s.blocks, n.id, ipToInt(e.ip));
    if (isDerived(e) && block?.host === e.host) continue;
    for (const f of c.memo(`overlayEndpoint:${e.id}`, [e, h], () => remoteEndpointFlows(c, e, n, h))) out.push(f);
  }
  return out;
}

function classifierFlows(c: Ctx, tun: number): FlowMod[] {
  const out: FlowMod[] = [];
  for (const n of c.localNets) {
    if (n.mode !== 'overlay') continue;
    out.push(flow('classifier', { category: 'network', id: n.id }).band('fromTunnel').match('in_port', tun).match('tunnel_id', BigInt(n.vni))
      .actions(setField(REG.network, n.id)).goto('l2Forwarding').build());
    // the policy stage: its IPv4 passes conntrack and ingressPolicy first (apps/container/policy.ts)
    if (c.policy) {
      out.push(flow('classifier', { category: 'network', id: n.id }).band('fromTunnelPolicy').match('in_port', tun).match('tunnel_id', BigInt(n.vni))
        .match('eth_type', ETH_TYPE.ipv4).actions(setField(REG.network, n.id), ctPolicy('ingressPolicy')).build());
    }
  }
  return out;
}

/** Another host's block of an overlay network. */
function remoteBlockFlows(c: Ctx, b: Block, n: NetworkRec, owner: HostRec): FlowMod[] {
  const out: FlowMod[] = [];
  const sources = c.routableFrom(n);
  if (!sources.length) return out;
  const id = { category: 'network' as const, id: objectId(`${n.id}/${b.base}`) };
  if (c.localNetIds.has(n.id)) {
    const m = blockMac(n.id, intToIp(b.base), b.len);
    out.push(flow('l2Forwarding', id).band('block').match(REG.network, n.id).match('eth_dst', m.value, m.mask)
      .actions(...c.tunnelTo(n, owner.underlayIp)).build());
    return out;
  }
  for (const src of sources) out.push(c.route(src, n, id, intToIp(b.base), b.len, c.tunnelTo(n, owner.underlayIp)));
  return out;
}

/** Another host's endpoint of an overlay network that its host's blocks do not describe. */
function remoteEndpointFlows(c: Ctx, e: EndpointRec, n: NetworkRec, h: HostRec): FlowMod[] {
  const out: FlowMod[] = [];
  const owner = { category: 'endpoint' as const, id: objectId(e.id) };
  if (c.localNetIds.has(n.id)) {
    out.push(flow('arpResponder', owner).band('exact')
      .match(REG.network, n.id).match('eth_type', ETH_TYPE.arp).match('arp_op', ARP_OP.request).match('arp_tpa', e.ip)
      .actions(...arpReply(e.mac, e.ip)).build());
    out.push(flow('l2Forwarding', owner).band('endpoint').match(REG.network, n.id).match('eth_dst', e.mac)
      .actions(...c.tunnelTo(n, h.underlayIp)).build());
  }
  for (const src of c.routableFrom(n)) out.push(c.route(src, n, owner, e.ip, 32, c.tunnelTo(n, h.underlayIp), e.mac));
  return out;
}
