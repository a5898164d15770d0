// Desired flows of a container host's bridges (controller/pipeline declares
// their tables): every flow an endpoint needs, computed from the store, so
// the reconciler can install them proactively — steady-state container
// traffic never reaches the controller. One module per concern under
// apps/container/: local endpoints and networks, overlay, routed, underlay,
// NAT through br-phy, ARP answers, policy, services.
import type { FlowMod } from '../southbound/codec';
import { BR_INT, BR_PHY, phyFlow, ETH_TYPE } from '../controller/pipeline';
import { parseCidr, intToIp, maskOf } from '../controller/ipv4';
import { context, HostState, Ctx } from './container/context';
import { localNetworkFlows, localEndpointFlows } from './container/local';
import { overlayFlows } from './container/overlay';
import { routedFlows, phyRoutedFlows } from './container/routed';
import { underlayFlows, phyUnderlayFlows } from './container/underlay';
import { natFlows, phyNatFlows } from './container/phy-nat';
import { tunnelProbeFlows } from './container/tunnel-probe';
import { policyFlows } from './container/policy';
import { serviceFlows, serviceGroups } from './container/service';
import type { GroupSpec } from '../controller/reconciler';

export type { HostState } from './container/context';
export { FlowCache } from './container/context';
export { arpReply, derivedArpReply, proxyArpReply } from './container/arp';

/**
 * What every item of a host's br-int may read besides its own deps (see
 * FlowCache): the host, the cluster's hosts and networks (records kept by
 * identity while unchanged), this host's networks, its ports to the tunnel
 * and br-phy (and the secure one) and br-phy's MACs, whether the policy stage and probes are on,
 * the networks with services here.
 */
function contextDeps(c: Ctx): unknown[] {
  const { s } = c;
  return [s.host, s.hosts, s.networks, [...c.localNetIds].join(), c.routed, c.myPhyMac, c.myUplinkMac, c.tun, c.stun, s.ipsecVtepCidr, s.patchPort, c.policy, !!s.tunnelProbes, [...c.serviceNets].join()];
}

/** br-int of a host (with s.cache, only the items whose inputs changed are computed). */
export function containerFlows(s: HostState): FlowMod[] {
  const c = context(s);
  s.cache?.begin(contextDeps(c));
  const out = [
    ...c.memo('miss', [], () => BR_INT.missFlows()),
    ...routedFlows(c),
    ...localNetworkFlows(c),
    ...underlayFlows(c),
    ...overlayFlows(c),
    ...tunnelProbeFlows(c),
    ...natFlows(c),
    ...localEndpointFlows(c),
    ...policyFlows(c),
    // (services read more than their deps could say cheaply: computed every time, as an item so the delta has them)
    ...c.memo('services', [{}], () => serviceFlows(c)),
  ];
  s.cache?.end(out.length);
  return out;
}

/** br-int's groups: a select group per service port (apps/container/service.ts). */
export function containerGroups(s: HostState): GroupSpec[] {
  return serviceGroups(context(s));
}

/**
 * br-phy of a host: this host's blocks of routed networks go into br-int,
 * published ports and egress SNAT pass conntrack; everything else is the
 * host's own traffic: NORMAL.
 */
export function phyFlows(s: HostState): FlowMod[] {
  const out = [...BR_PHY.missFlows(['phyIngress']), ...phySecureVtepGuard(s)];
  if (s.patchPort === undefined) return out;
  return [...out, ...phyRoutedFlows(s, s.patchPort), ...phyUnderlayFlows(s, s.patchPort), ...phyNatFlows(s, s.patchPort)];
}

/**
 * Nothing from the uplink addressed into the secure VTEP range reaches the
 * host: in OVS's userspace datapath, cleartext VXLAN aimed at a secure VTEP
 * would otherwise be tunnel-popped into br-int past IPsec (docs/pipeline.md,
 * "Encrypted networks"). `weft ipsec-agent` puts the same drop on a br-phy
 * Weft does not program.
 */
export function phySecureVtepGuard(s: HostState): FlowMod[] {
  if (!s.ipsecVtepCidr || s.uplinkPort === undefined) return [];
  const c = parseCidr(s.ipsecVtepCidr);
  return [phyFlow('phyIngress', { category: 'pipeline', id: 0 }).band('secureVtepGuard')
    .match('in_port', s.uplinkPort).match('eth_type', ETH_TYPE.ipv4).match('ipv4_dst', intToIp(c.base), maskOf(c.len)).build()];
}
