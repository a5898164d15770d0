// Overlay networks (VXLAN, a VNI per network): the tunnel's classifier, and
// remote endpoints reached by their host's block — one flow per remote
// block, not per remote endpoint. Only remote endpoints that break the block
// rule (a requested MAC, a borrowed address) get exact flows.
import type { FlowMod } from '../../southbound/codec';
import { blockOf, Block } from '../../controller/ipam';
import type { EndpointRec, HostRec, NetworkRec } from '../../controller/resources';
import { BlockTree, BLOCK_TREE_DEPTH } from './cluster-view';
import { ipToInt, intToIp } from '../../controller/ipv4';
import { flow, REG, isDerived, objectId, blockMac, ETH_TYPE, ARP_OP, UNDERLAY_NET } from '../../controller/pipeline';
import { Ctx, setField, remoteEndpointsOf } from './context';
import { arpReply } from './arp';
import { ctPolicy } from './policy';

/**
 * Networks whose traffic between hosts is tunneled: overlay ones, and
 * encrypted routed ones (through the secure tunnel, docs/pipeline.md,
 * "Encrypted networks"); plain routed networks are routed on the underlay.
 */
export const tunneled = (n: NetworkRec): boolean => n.mode === 'overlay' || (n.mode === 'routed' && !!n.encrypted);

export function overlayFlows(c: Ctx): FlowMod[] {
  const { s } = c;
  const out: FlowMod[] = [];
  if (c.tun === undefined && c.stun === undefined) return out;
  // from the tunnel: the VNI names the network; the sending host already did its spoof guard and routing.
  // An encrypted network is taken from the secure tunnel only: the same VNI in clear from vxlan0 is dropped.
  // (everything it reads is in the host's context deps)
  for (const f of c.memo('overlayClassifier', [], () => classifierFlows(c))) out.push(f);
  // (sections: with no block and no exception changed, one lookup each; besides the blocks and the
  // remote endpoints, they read only the host's context deps: hosts, networks, tunnel ports)
  for (const f of c.memo('overlayBlocks', [s.blocks], () => remoteBlocksFlows(c))) out.push(f);
  const remote = remoteEndpointsOf(s);
  for (const f of c.memo('overlayEndpoints', [remote, s.blocks], () => remoteExceptionsFlows(c, remote))) out.push(f);
  return out;
}

/** Remote blocks: deliver (a network of this host: routing into it derives the MAC and comes here) or route by block; by node of the block tree. */
function remoteBlocksFlows(c: Ctx): FlowMod[] {
  const { s } = c;
  return s.blockTree ? blockNodeFlows(c, s.blockTree, BLOCK_TREE_DEPTH) : blockNodeFlows(c, s.blocks, 0);
}

/**
 * A node of the block tree: each child an item (keyed by its index, deps:
 * its array), a leaf's blocks items keyed by the block itself (no key
 * string is built: in every computation that sees a block change, a lookup
 * per child on the changed path).
 */
function blockNodeFlows(c: Ctx, node: BlockTree, depth: number): FlowMod[] {
  const out: FlowMod[] = [];
  if (depth > 0) {
    const children = node as BlockTree[];
    for (let i = 0; i < children.length; i++) {
      const child = children[i]!;
      for (const f of c.memo(i, [child], () => blockNodeFlows(c, child, depth - 1))) out.push(f);
    }
    return out;
  }
  const { s } = c;
  for (const b of node as Block[]) {
    const n = s.networks.get(b.networkId);
    const owner = b.host ? s.hosts.get(b.host) : undefined;
    if (!n || !tunneled(n) || !owner || owner.name === s.host) continue;
    for (const f of c.memo(b, [owner], () => c.shared(b, [n, owner], remoteBlockView(c, n), () => remoteBlockFlows(c, b, n, owner)))) out.push(f);
  }
  return out;
}

/** Remote endpoints that the block rule does not describe. */
function remoteExceptionsFlows(c: Ctx, remote: EndpointRec[]): FlowMod[] {
  const { s } = c;
  const out: FlowMod[] = [];
  for (const e of remote) {
    if (e.host === s.host || e.state === 'removed') continue;
    const n = s.networks.get(e.networkId);
    const h = s.hosts.get(e.host);
    if (!n || !tunneled(n) || !h) continue;
    const block = blockOf(s.blocks, n.id, ipToInt(e.ip));
    if (isDerived(e) && block?.host === e.host) continue;
    for (const f of c.memo(`overlayEndpoint:${e.id}`, [e, h], () => remoteEndpointFlows(c, e, n, h))) out.push(f);
  }
  return out;
}

function classifierFlows(c: Ctx): FlowMod[] {
  const out: FlowMod[] = [];
  for (const n of c.localNets) {
    const tun = c.tunnelPortOf(n);
    if (!tunneled(n) || tun === undefined) continue;
    out.push(flow('classifier', { category: 'network', id: n.id }).band('fromTunnel').match('in_port', tun).match('tunnel_id', BigInt(n.vni))
      .actions(setField(REG.network, n.id)).goto('l2Forwarding').build());
    // the policy stage: its IPv4 passes conntrack and ingressPolicy first (apps/container/policy.ts)
    if (c.policy) {
      out.push(flow('classifier', { category: 'network', id: n.id }).band('fromTunnelPolicy').match('in_port', tun).match('tunnel_id', BigInt(n.vni))
        .match('eth_type', ETH_TYPE.ipv4).actions(setField(REG.network, n.id), ctPolicy('ingressPolicy', c.serviceNets.has(n.id))).build());
    }
  }
  return out;
}

/** What remoteBlockFlows reads of this host's context, besides the block, its network and its owner (shared across hosts). */
const remoteBlockView = (c: Ctx, n: NetworkRec): string =>
  `overlay|${c.localNetIds.has(n.id) ? 1 : 0}|${c.tunnelPortOf(n) ?? ''}|${c.routableFrom(n).map((x) => x.id).join(',')}`;

/** Another host's block of a tunneled network (nothing while the tunnel to it is missing: never in clear). */
function remoteBlockFlows(c: Ctx, b: Block, n: NetworkRec, owner: HostRec): FlowMod[] {
  const out: FlowMod[] = [];
  const sources = c.routableFrom(n);
  const to = c.tunnelTo(n, owner);
  if (!sources.length || !to) return out;
  const id = { category: 'network' as const, id: objectId(`${n.id}/${b.base}`) };
  if (c.localNetIds.has(n.id) && n.mode === 'overlay') {
    const m = blockMac(n.id, intToIp(b.base), b.len);
    out.push(flow('l2Forwarding', id).band('block').match(REG.network, n.id).match('eth_dst', m.value, m.mask)
      .actions(...to).build());
    return out;
  }
  for (const src of sources) if (src.id !== UNDERLAY_NET) out.push(c.route(src, n, id, intToIp(b.base), b.len, to));
  return out;
}

/** Another host's endpoint of a tunneled network that its host's blocks do not describe. */
function remoteEndpointFlows(c: Ctx, e: EndpointRec, n: NetworkRec, h: HostRec): FlowMod[] {
  const out: FlowMod[] = [];
  const to = c.tunnelTo(n, h);
  if (!to) return out;
  const owner = { category: 'endpoint' as const, id: objectId(e.id) };
  if (c.localNetIds.has(n.id) && n.mode === 'overlay') {
    out.push(flow('arpResponder', owner).band('exact')
      .match(REG.network, n.id).match('eth_type', ETH_TYPE.arp).match('arp_op', ARP_OP.request).match('arp_tpa', e.ip)
      .actions(...arpReply(e.mac, e.ip)).build());
    out.push(flow('l2Forwarding', owner).band('endpoint').match(REG.network, n.id).match('eth_dst', e.mac)
      .actions(...to).build());
  }
  for (const src of c.routableFrom(n)) if (src.id !== UNDERLAY_NET) out.push(c.route(src, n, owner, e.ip, 32, to, e.mac));
  return out;
}
