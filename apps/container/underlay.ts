// Underlay networks (flat L2 on the business network): the network is
// bridged onto the host's uplink through br-phy, tagged with the network's
// VLAN if it has one. Frames for local endpoints come in from the uplink and
// are delivered by MAC; broadcasts go to the local endpoints and out;
// anything else a container sends leaves for the business network, whose
// machines (and router) answer their own ARP.
//
// Two MAC modes:
// - own (the macvlan model): each endpoint shows its own MAC outside;
// - shared (the ipvlan-L2 model): endpoints appear behind their host's
//   uplink MAC (br-phy's uplink port's). br-int rewrites the source
//   MAC (and an ARP packet's sender MAC) on the way out, so the business
//   network's ARP answers and caches name the host's MAC; br-phy hands
//   frames for that MAC to the endpoint by IP (IPv4 destination, ARP target),
//   rewriting the destination MAC back to the endpoint's, so br-int delivers
//   them by MAC as in own mode. br-phy sends the rewritten frames straight
//   to the uplink, so its NORMAL action never learns that MAC on the patch
//   port. (Not br-phy's own MAC: OVS's hidden in-band flows send ARP
//   replies for it to NORMAL, ahead of every OpenFlow flow. Where the
//   uplink and br-phy share a MAC, br-phy needs in-band control disabled.)
import type { Action, FlowMod } from '../../southbound/codec';
import type { NetworkRec } from '../../controller/resources';
import { flow, phyFlow, REG, ETH_TYPE, OFPVID_PRESENT, BROADCAST_MAC, objectId } from '../../controller/pipeline';
import { Ctx, HostState, setField, output, localEndpointsOf } from './context';

const vidOf = (n: NetworkRec): number | undefined => (n.vlan !== null ? OFPVID_PRESENT | n.vlan : undefined);

export function underlayFlows(c: Ctx): FlowMod[] {
  const patch = c.s.patchPort;
  if (patch === undefined) return [];
  return c.localNets.filter((n) => n.mode === 'underlay').flatMap((n) => {
    const ports = c.local.filter((e) => e.networkId === n.id).map((e) => c.portOf(e)!);
    // the rest is in the host's context deps
    return c.memo(`underlay:${n.id}`, [ports.join(',')], () => underlayNetworkFlows(c, n, ports, patch));
  });
}

/** A local underlay network's flows on br-int (its local endpoints on `ports`). */
function underlayNetworkFlows(c: Ctx, n: NetworkRec, ports: number[], patch: number): FlowMod[] {
  const owner = { category: 'network' as const, id: n.id };
  const vid = vidOf(n);
  const tag: Action[] = vid !== undefined ? [{ type: 'push_vlan', ethertype: ETH_TYPE.vlan }, setField('vlan_vid', vid)] : [];
  const classify = flow('classifier', owner).band('underlayVlan').match('in_port', patch).match('vlan_vid', vid ?? 0)
    .actions(...(vid !== undefined ? [{ type: 'pop_vlan' } as Action] : []), setField(REG.network, n.id)).goto('l2Forwarding').build();
  const pass = flow('arpResponder', owner).band('underlayPass').match(REG.network, n.id).goto('l2Forwarding').build();
  if (n.macMode !== 'shared') {
    return [
      classify, pass,
      flow('l2Forwarding', owner).band('underlayBroadcast').match(REG.network, n.id).match('eth_dst', BROADCAST_MAC)
        .actions(...ports.map(output), ...tag, output(patch)).build(),
      flow('l2Forwarding', owner).band('underlayOut').match(REG.network, n.id).actions(...tag, output(patch)).build(),
    ];
  }
  // shared: without the host's MAC (br-phy not connected yet) nothing may leave under the containers' own MACs
  const hostMac = c.myUplinkMac;
  if (!hostMac) return [classify, pass];
  const behindHost = (arp: boolean): Action[] => [setField('eth_src', hostMac), ...(arp ? [setField('arp_sha', hostMac)] : []), ...tag, output(patch)];
  return [
    classify, pass,
    flow('l2Forwarding', owner).band('underlayBroadcastArp').match(REG.network, n.id).match('eth_dst', BROADCAST_MAC).match('eth_type', ETH_TYPE.arp)
      .actions(...ports.map(output), ...behindHost(true)).build(),
    flow('l2Forwarding', owner).band('underlayBroadcast').match(REG.network, n.id).match('eth_dst', BROADCAST_MAC)
      .actions(...ports.map(output), ...behindHost(false)).build(),
    flow('l2Forwarding', owner).band('underlayOutArp').match(REG.network, n.id).match('eth_type', ETH_TYPE.arp).actions(...behindHost(true)).build(),
    flow('l2Forwarding', owner).band('underlayOut').match(REG.network, n.id).actions(...behindHost(false)).build(),
  ];
}

/**
 * br-phy's side of shared-MAC underlay networks: what comes in for the
 * host's MAC and a local endpoint's address (IPv4 to it, ARP asking or
 * answering it) goes to br-int addressed to the endpoint's own MAC; what
 * br-int sends from the host's MAC goes straight out of the uplink.
 */
export function phyUnderlayFlows(s: HostState, patch: number): FlowMod[] {
  const hostMac = s.uplinkMac?.(s.host);
  if (!hostMac || s.uplinkPort === undefined) return [];
  const out: FlowMod[] = [];
  for (const e of localEndpointsOf(s)) {
    const n = s.networks.get(e.networkId);
    if (e.host !== s.host || e.state === 'removed' || n?.mode !== 'underlay' || n.macMode !== 'shared') continue;
    const owner = { category: 'endpoint' as const, id: objectId(e.id) };
    const vid = vidOf(n) ?? 0;
    out.push(
      phyFlow('phyIngress', owner).band('sharedEndpoint').match('eth_dst', hostMac).match('vlan_vid', vid).match('eth_type', ETH_TYPE.ipv4).match('ipv4_dst', e.ip)
        .actions(setField('eth_dst', e.mac), output(patch)).build(),
      phyFlow('phyIngress', owner).band('sharedEndpoint').match('eth_dst', hostMac).match('vlan_vid', vid).match('eth_type', ETH_TYPE.arp).match('arp_tpa', e.ip)
        .actions(setField('eth_dst', e.mac), setField('arp_tha', e.mac), output(patch)).build(),
    );
  }
  if (out.length) {
    out.push(phyFlow('phyIngress', { category: 'pipeline', id: 0xf4 }).band('sharedOut').match('in_port', patch).match('eth_src', hostMac)
      .actions(output(s.uplinkPort)).build());
  }
  return out;
}
