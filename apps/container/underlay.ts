// Underlay networks (flat L2, the macvlan model): the network is bridged onto
// the host's uplink through br-phy, tagged with the network's VLAN if it has
// one. Frames for local endpoints come in from the uplink and are delivered
// by MAC; broadcasts go to the local endpoints and out; anything else a
// container sends leaves for the business network, whose machines (and
// router) answer their own ARP.
import type { Action, FlowMod } from '../../southbound/codec';
import { flow, REG, ETH_TYPE, OFPVID_PRESENT, BROADCAST_MAC } from '../../controller/pipeline';
import { Ctx, setField, output } from './context';

export function underlayFlows(c: Ctx): FlowMod[] {
  const patch = c.s.patchPort;
  if (patch === undefined) return [];
  return c.localNets.filter((n) => n.mode === 'underlay').flatMap((n) => {
    const ports = c.local.filter((e) => e.networkId === n.id).map((e) => c.portOf(e)!);
    const owner = { category: 'network' as const, id: n.id };
    const vid = n.vlan !== null ? OFPVID_PRESENT | n.vlan : undefined;
    const toUplink: Action[] = vid !== undefined
      ? [{ type: 'push_vlan', ethertype: ETH_TYPE.vlan }, setField('vlan_vid', vid), output(patch)]
      : [output(patch)];
    return [
      flow('classifier', owner).band('underlayVlan').match('in_port', patch).match('vlan_vid', vid ?? 0)
        .actions(...(vid !== undefined ? [{ type: 'pop_vlan' } as Action] : []), setField(REG.network, n.id)).goto('l2Forwarding').build(),
      flow('arpResponder', owner).band('underlayPass').match(REG.network, n.id).goto('l2Forwarding').build(),
      flow('l2Forwarding', owner).band('underlayBroadcast').match(REG.network, n.id).match('eth_dst', BROADCAST_MAC)
        .actions(...ports.map(output), ...toUplink).build(),
      flow('l2Forwarding', owner).band('underlayOut').match(REG.network, n.id).actions(...toUplink).build(),
    ];
  });
}
