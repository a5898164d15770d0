// NAT through br-phy, with conntrack instead of iptables.
//
// Published ports (the docker -p model): a connection to hostIP:hostPort is
// DNATed to the endpoint and handed to br-int addressed to the endpoint's
// MAC. The client's MAC and the port it came in on are kept in the
// connection's ct_label and ct_mark (CT.peerMac, CT.ingressPort), so replies
// — un-NATed by ct(nat) when they come back from br-int — go straight back
// to the client.
//
// Egress SNAT: new connections from local and overlay networks leaving the
// host are masqueraded behind the host's address; the container's MAC is
// kept in ct_label to hand replies back. The next hop's MAC comes from the
// controller's next-hop resolver, which ARPs for a destination the first
// time phyNextHop misses.
import { Action, FlowMod, OFPP_CONTROLLER, NX_CT_F_COMMIT, NX_NAT_F_SRC, NX_NAT_F_DST } from '../../southbound/codec';
import type { NetworkRec } from '../../controller/resources';
import { ipToInt, intToIp, maskOf, prefixMask, parseCidr } from '../../controller/ipv4';
import {
  flow, phyFlow, BR_PHY, GATEWAY_MAC, REG, objectId, ETH_TYPE, IP_PROTO, ARP_OP, CT, CS, ctState, NAT_ZONE,
  NX_CT_RECIRC_NONE, NXM_OF_IN_PORT, OFPP_IN_PORT_16,
} from '../../controller/pipeline';
import { Ctx, HostState, setField, move, output, cidrMatch, localEndpointsOf } from './context';

/** Networks whose traffic off their CIDRs is masqueraded behind the host: local and overlay ones with endpoints here. */
function snatNetworks(s: HostState): NetworkRec[] {
  return [...new Set(localEndpointsOf(s).filter((e) => e.host === s.host).map((e) => e.networkId))]
    .map((id) => s.networks.get(id)).filter((n): n is NetworkRec => !!n && (n.mode === 'local' || n.mode === 'overlay'));
}

const ctNat = (table: number): Action => ({ type: 'ct', flags: 0, zone: NAT_ZONE, recirc_table: table, alg: 0, actions: [{ type: 'nat', flags: 0 }] });
const toController: Action = { type: 'output', port: OFPP_CONTROLLER, max_len: 128 };
const pipelineOwner = (id: number) => ({ category: 'pipeline' as const, id });

/** br-phy's NAT flows (tables phyIngress, phyNat, phyNextHop). */
export function phyNatFlows(s: HostState, patch: number): FlowMod[] {
  const out: FlowMod[] = [];
  const me = s.hosts.get(s.host);
  const maps = s.mappings ?? [];
  const myMac = s.phyMac?.(s.host);
  if (!me || !myMac) return out;
  const snatNets = snatNetworks(s);
  if (!maps.length && !snatNets.length) return out;
  const NAT = BR_PHY.tableId.phyNat;
  const NEXT_HOP = BR_PHY.tableId.phyNextHop;
  // (published ports are on this host: its endpoints')
  const byId = new Map(localEndpointsOf(s).map((e) => [e.id, e]));
  for (const m of maps) {
    const e = byId.get(m.endpointId);
    if (!e) continue;
    const proto = m.protocol === 'tcp' ? IP_PROTO.tcp : IP_PROTO.udp;
    out.push(phyFlow('phyIngress', { category: 'endpoint', id: objectId(`${e.id}/${m.protocol}/${m.hostPort}`) }).band('publishedPort')
      .match('eth_type', ETH_TYPE.ipv4).match('ip_proto', proto).match('ipv4_dst', me.underlayIp).match(proto === IP_PROTO.tcp ? 'tcp_dst' : 'udp_dst', m.hostPort)
      .actions(
        {
          type: 'ct', flags: NX_CT_F_COMMIT, zone: NAT_ZONE, recirc_table: NX_CT_RECIRC_NONE, alg: 0, actions: [
            { type: 'nat', flags: NX_NAT_F_DST, ipv4_min: e.ip, proto_min: m.containerPort },
            move('eth_src', CT.peerMac.field, CT.peerMac.bits, CT.peerMac.ofs),
            move(NXM_OF_IN_PORT, CT.ingressPort.field, CT.ingressPort.bits, CT.ingressPort.ofs),
          ],
        },
        setField('eth_dst', e.mac), output(patch),
      ).build());
  }
  // everything from br-int, and everything for the host's address, passes conntrack's NAT zone (phyNat decides)
  out.push(phyFlow('phyIngress', pipelineOwner(0xfe)).band('fromBrInt').match('in_port', patch).match('eth_type', ETH_TYPE.ipv4).actions(ctNat(NAT)).build());
  if (snatNets.length) out.push(phyFlow('phyIngress', pipelineOwner(0xfb)).band('toHost').match('eth_type', ETH_TYPE.ipv4).match('ipv4_dst', me.underlayIp).actions(ctNat(NAT)).build());
  // the resolver ARPs for next hops with probes (sender 0.0.0.0, from the gateway MAC, RFC 5227) so
  // no neighbour cache learns anything; the replies come back to the gateway MAC and go to the controller
  out.push(phyFlow('phyIngress', pipelineOwner(0xfa)).band('neighborReply')
    .match('eth_dst', GATEWAY_MAC).match('eth_type', ETH_TYPE.arp).match('arp_op', ARP_OP.reply).actions(toController).build());
  const reply = ctState(CS.rpl | CS.trk);
  out.push(phyFlow('phyNat', pipelineOwner(0xfd)).band('publishedReply').match('in_port', patch).matchOxm(reply)
    .actions(move(CT.peerMac.field, 'eth_dst', CT.peerMac.bits), setField('eth_src', myMac),
      { type: 'output_reg', src: CT.ingressPort.field, ofs: CT.ingressPort.ofs, n_bits: CT.ingressPort.bits, max_len: 0 }).build());
  out.push(phyFlow('phyNat', pipelineOwner(0xf9)).band('snatReply').matchOxm(reply)
    .actions(move(CT.peerMac.field, 'eth_dst', CT.peerMac.bits), setField('eth_src', GATEWAY_MAC), output(patch)).build());
  const toNextHop: Action = { type: 'resubmit', in_port: OFPP_IN_PORT_16, table: NEXT_HOP };
  for (const n of snatNets) {
    out.push(phyFlow('phyNat', { category: 'network', id: n.id }).band('snatNew')
      .match('in_port', patch).matchOxm(ctState(CS.new | CS.trk)).match('eth_type', ETH_TYPE.ipv4).match('ipv4_src', ...cidrMatch(parseCidr(n.cidr)))
      .actions(
        { type: 'ct', flags: NX_CT_F_COMMIT, zone: NAT_ZONE, recirc_table: NX_CT_RECIRC_NONE, alg: 0, actions: [
          { type: 'nat', flags: NX_NAT_F_SRC, ipv4_min: me.underlayIp },
          move('eth_src', CT.peerMac.field, CT.peerMac.bits, CT.peerMac.ofs),
        ] },
        setField('eth_src', myMac), toNextHop,
      ).build());
  }
  if (snatNets.length) {
    // a packet of an already-masqueraded connection (ct(nat) in phyIngress rewrote its source already: +snat)
    out.push(phyFlow('phyNat', pipelineOwner(0xf7)).band('snatEstablished').match('in_port', patch).matchOxm(ctState(CS.snat | CS.trk, CS.rpl)).match('eth_type', ETH_TYPE.ipv4)
      .actions(setField('eth_src', myMac), toNextHop).build());
  }
  out.push(...BR_PHY.missFlows(['phyNat']));
  if (snatNets.length && s.uplinkPort !== undefined) {
    for (const [ip, mac] of s.neighbors ?? []) {
      out.push(phyFlow('phyNextHop', pipelineOwner(objectId(ip) & 0xffff)).band('neighbor').match('eth_type', ETH_TYPE.ipv4).match('ipv4_dst', ip)
        .actions(setField('eth_dst', mac), output(s.uplinkPort)).build());
    }
    if (me.underlayGateway && me.underlayPrefix) {
      // beyond the underlay's subnet: through its router (the resolver resolves the router like any next hop)
      out.push(phyFlow('phyNextHop', pipelineOwner(0xf6)).band('onLinkUnresolved').match('eth_type', ETH_TYPE.ipv4)
        .match('ipv4_dst', intToIp((ipToInt(me.underlayIp) & prefixMask(me.underlayPrefix)) >>> 0), maskOf(me.underlayPrefix)).actions(toController).build());
      const gwMac = s.neighbors?.get(me.underlayGateway);
      out.push(phyFlow('phyNextHop', pipelineOwner(0xf5)).band('router').match('eth_type', ETH_TYPE.ipv4)
        .actions(...(gwMac ? [setField('eth_dst', gwMac), output(s.uplinkPort)] : [toController])).build());
    }
    out.push(...BR_PHY.missFlows(['phyNextHop']));
  }
  return out;
}

/**
 * br-int's side: DNATed connections (published ports) and SNAT replies come
 * back from br-phy addressed to the endpoint's MAC; anything a local or
 * overlay endpoint sends off its networks leaves through br-phy.
 */
export function natFlows(c: Ctx): FlowMod[] {
  const { s } = c;
  const out: FlowMod[] = [];
  if (s.patchPort === undefined || !c.myPhyMac) return out;
  const replyNets = new Set<number>();
  const patch = s.patchPort, myPhyMac = c.myPhyMac;
  for (const e of c.local) {
    const n = s.networks.get(e.networkId);
    if (!n || (n.mode !== 'local' && n.mode !== 'overlay')) continue;
    // (the patch port and br-phy's MAC are in the host's context deps)
    for (const f of c.memo(`natReply:${e.id}`, [e], () => [flow('classifier', { category: 'endpoint', id: objectId(e.id) }).band('natReply').match('in_port', patch).match('eth_dst', e.mac)
      .actions(setField(REG.network, e.networkId)).goto('l2Forwarding').build()])) out.push(f);
    replyNets.add(e.networkId);
  }
  // routed networks have their own way out; underlay ones use their own router.
  // The source MAC stays the container's: br-phy keeps it in ct_label to return replies
  for (const id of replyNets) {
    for (const f of c.memo(`natOut:${id}`, [], () => [flow('l3Forwarding', { category: 'network', id }).band('natOut').match(REG.network, id).match('eth_type', ETH_TYPE.ipv4).match('eth_dst', GATEWAY_MAC)
      .actions({ type: 'dec_nw_ttl' }, setField('eth_dst', myPhyMac), output(patch)).build()])) out.push(f);
  }
  return out;
}
