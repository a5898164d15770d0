// Services on br-int (docs/pipeline.md, "Services"): a VIP of a network
// balanced over the ready endpoints of its service, distributed: on every
// host where the network has endpoints, for that host's own clients.
//
// An endpoint's IPv4 on such a network goes from the spoof guard to
// serviceLB and passes conntrack with NAT in its network's zone (the policy
// zone: reg6). A new connection to a VIP's port goes to that port's
// OpenFlow select group; each bucket is a backend and commits the DNAT to
// it (ct(commit, nat(dst=backend:targetPort))). With clientIP affinity the
// choice is a flow per slot of the source address instead (OpenFlow 1.3
// cannot carry OVS's selection_method=hash property: its group_mod has no
// properties), so one client always gets the same backend while it is
// ready. Established packets are DNATed, and replies un-DNATed, by
// conntrack on the client's host, wherever the backend is: a backend's
// reply from the tunnel passes ct(nat) in the classifier. A backend that
// reached itself is SNATed to the gateway address in the network's hairpin
// zone, so that its reply comes back through br-int; serviceLB un-SNATs
// what is addressed to the gateway first. A backend gone or no longer
// ready leaves the group by a modify: connections to the others keep their
// conntrack entries.
import type { Action, Bucket, FlowMod } from '../../southbound/codec';
import { NX_CT_F_COMMIT, NX_NAT_F_DST, NX_NAT_F_SRC, OFPP_ANY, OFPG_ANY } from '../../southbound/codec';
import type { EndpointRec, ServiceRec, ServicePort } from '../../controller/resources';
import type { GroupSpec } from '../../controller/reconciler';
import { serviceBackends, SERVICE_LIMITS } from '../../controller/service-spec';
import {
  flow, REG, ETH_TYPE, IP_PROTO, ARP_OP, CS, ctState, POLICY_ZONE, TABLE_ID, OFPP_IN_PORT_16, GATEWAY_MAC, derivedMac, objectId, hairpinZone, NXM_OF_IN_PORT, UNDERLAY_NET, Owner,
} from '../../controller/pipeline';
import { Ctx, setField, cidrMatch } from './context';
import { tunneled } from './overlay';
import { arpReply } from './arp';

/** OFPGT_SELECT */
export const GROUP_SELECT = 1;
/** clientIP affinity: the low bits of the source address pick one of this many slots, each owned by one backend. */
export const AFFINITY_SLOTS = 64;

/** The OpenFlow group of a service's port i (fixed while the service exists: from its row number). */
export const serviceGroupId = (x: ServiceRec, i: number): number => x.seq * SERVICE_LIMITS.ports + i;

/** The DNAT to a backend, committed in the network's zone; the packet comes back to serviceLB. */
export const dnatTo = (b: EndpointRec, p: ServicePort): Action => ({
  type: 'ct', flags: NX_CT_F_COMMIT, ...POLICY_ZONE, recirc_table: TABLE_ID.serviceLB, alg: 0,
  actions: [{ type: 'nat', flags: NX_NAT_F_DST, ipv4_min: b.ip, proto_min: p.targetPort }],
});

/**
 * The backend that owns an affinity slot: highest random weight (rendezvous
 * hashing), so a backend that goes takes only its own slots along and every
 * other client keeps its backend.
 */
export function slotBackend(slot: number, backends: readonly EndpointRec[]): EndpointRec | undefined {
  let best: EndpointRec | undefined;
  let bestW = -1;
  for (const b of backends) {
    const w = objectId(`${slot}|${b.id}`);
    if (w > bestW) { best = b; bestW = w; }
  }
  return best;
}

const ctNat = (zone: { zone: number } | typeof POLICY_ZONE, table: number): Action =>
  ({ type: 'ct', flags: 0, ...zone, recirc_table: table, alg: 0, actions: [{ type: 'nat', flags: 0 }] });
const resubmit = (table: number): Action => ({ type: 'resubmit', in_port: OFPP_IN_PORT_16, table });
/** in_port cleared (NXM's 16-bit in_port: OVS refuses an OXM in_port of 0): a hairpin packet may leave by the port it came in. */
const clearInPort: Action = { type: 'reg_load', dst: NXM_OF_IN_PORT, ofs: 0, n_bits: 16, value: 0n };
const l4Dst = (p: ServicePort) => (p.protocol === 'tcp' ? 'tcp_dst' : 'udp_dst');

/** A service's backends as this host sees them (ready endpoints of its network). */
const backendsOf = (c: Ctx, x: ServiceRec) => serviceBackends(x, c.s.endpoints);

/** The service tables' flows of one host (none unless a network of it has a service). */
export function serviceFlows(c: Ctx): FlowMod[] {
  if (!c.services.length) return [];
  const out: FlowMod[] = [];
  const stage: Owner = { category: 'service', id: objectId('service-stage') };
  const after = TABLE_ID[c.policy ? 'egressPolicy' : 'l3Forwarding'];
  out.push(
    flow('serviceLB', stage).band('pass').actions(resubmit(after)).build(),
    // DNATed (a new connection back from its bucket, or an established one): routed to the backend by the gateway
    flow('serviceLB', stage).band('dnat').match('eth_type', ETH_TYPE.ipv4).matchOxm(ctState(CS.trk | CS.dnat, CS.rpl))
      .actions(setField('eth_dst', GATEWAY_MAC)).goto('serviceHairpin').build(),
    flow('serviceHairpin', stage).band('pass').actions(resubmit(after)).build(),
  );
  for (const id of c.serviceNets) {
    const n = c.s.networks.get(id)!;
    const owner: Owner = { category: 'service', id: objectId(`service-net:${id}`) };
    const ip = () => flow('serviceLB', owner).match(REG.network, id).match('eth_type', ETH_TYPE.ipv4);
    out.push(
      ip().band('track').matchOxm(ctState(0, CS.trk)).actions(ctNat(POLICY_ZONE, TABLE_ID.serviceLB)).build(),
      // to the gateway address: maybe a hairpin connection's reply, un-SNATed in the hairpin zone first, then as any other
      ip().band('unSnat').matchOxm(ctState(0, CS.trk)).match('ipv4_dst', n.gateway).actions(ctNat({ zone: hairpinZone(id) }, TABLE_ID.serviceLB)).build(),
      ip().band('trackHairpin').matchOxm(ctState(CS.trk)).match('ct_zone', hairpinZone(id)).actions(clearInPort, ctNat(POLICY_ZONE, TABLE_ID.serviceLB)).build(),
    );
    const tun = c.tunnelPortOf(n);
    if (tun !== undefined && !c.policy && tunneled(n)) {
      // from the tunnel (the secure one for an encrypted network; the policy stage does the same in its own
      // classifier flow): a remote backend's reply is un-DNATed
      out.push(flow('classifier', owner).band('fromTunnelService').match('in_port', tun).match('tunnel_id', BigInt(n.vni)).match('eth_type', ETH_TYPE.ipv4)
        .actions(setField(REG.network, id), ctNat(POLICY_ZONE, TABLE_ID.l2Forwarding)).build());
    }
    if (n.mode === 'routed' && !tunneled(n) && c.routed && c.myPhyMac) {
      // routed: a remote backend's reply comes from the underlay through br-phy, to this host's br-phy MAC
      out.push(flow('classifier', owner).band('routedToHostService').match('in_port', c.s.patchPort!).match('eth_dst', c.myPhyMac)
        .match('eth_type', ETH_TYPE.ipv4).match('ipv4_dst', ...cidrMatch(c.cidr.get(id)!))
        .actions(setField(REG.network, UNDERLAY_NET), setField('eth_dst', GATEWAY_MAC), ctNat({ zone: id }, TABLE_ID.l3Forwarding)).build());
    }
    // a local backend that reached itself: SNAT to the gateway address (one flow per backend, whatever its services)
    const hairpins = new Set<string>();
    for (const x of c.services) {
      if (x.networkId !== id) continue;
      for (const b of backendsOf(c, x)) {
        if (b.host !== c.s.host || hairpins.has(b.ip)) continue;
        hairpins.add(b.ip);
        out.push(flow('serviceHairpin', owner).band('hairpin').match(REG.network, id).match('eth_type', ETH_TYPE.ipv4).match('ipv4_src', b.ip).match('ipv4_dst', b.ip)
          .actions(clearInPort, { type: 'ct', flags: NX_CT_F_COMMIT, zone: hairpinZone(id), recirc_table: after, alg: 0, actions: [{ type: 'nat', flags: NX_NAT_F_SRC, ipv4_min: n.gateway }] })
          .build());
      }
    }
  }
  for (const x of c.services) {
    const owner: Owner = { category: 'service', id: objectId(`service:${x.name}`) };
    const backends = backendsOf(c, x);
    out.push(
      flow('arpResponder', owner).band('exact').match(REG.network, x.networkId).match('eth_type', ETH_TYPE.arp).match('arp_op', ARP_OP.request).match('arp_tpa', x.vip)
        .actions(...arpReply(derivedMac(x.networkId, x.vip), x.vip)).build(),
      // a VIP's other ports (and a port without backends under affinity): dropped
      flow('serviceLB', owner).band('vipDrop').match(REG.network, x.networkId).match('eth_type', ETH_TYPE.ipv4).match('ipv4_dst', x.vip).build(),
    );
    x.ports.forEach((p, i) => {
      const vip = (band: string) => flow('serviceLB', owner).band(band).match(REG.network, x.networkId).match('eth_type', ETH_TYPE.ipv4)
        .matchOxm(ctState(CS.trk | CS.new, CS.inv)).match('ipv4_dst', x.vip).match('ip_proto', IP_PROTO[p.protocol]).match(l4Dst(p), p.port);
      if (x.affinity !== 'clientIP') {
        out.push(vip('vip').actions({ type: 'group', group_id: serviceGroupId(x, i) }).build());
        return;
      }
      for (let slot = 0; slot < AFFINITY_SLOTS && backends.length; slot++) {
        out.push(vip('affinity').match('ipv4_src', `0.0.0.${slot}`, `0.0.0.${AFFINITY_SLOTS - 1}`).actions(dnatTo(slotBackend(slot, backends)!, p)).build());
      }
    });
  }
  return out;
}

/** One select group per port of a service without affinity: a bucket per ready backend. */
export function serviceGroups(c: Ctx): GroupSpec[] {
  const out: GroupSpec[] = [];
  for (const x of c.services) {
    if (x.affinity === 'clientIP') continue;
    const backends = backendsOf(c, x);
    x.ports.forEach((p, i) => {
      const buckets: Bucket[] = backends.map((b) => ({ weight: 1, watch_port: OFPP_ANY, watch_group: OFPG_ANY, actions: [dnatTo(b, p)] }));
      out.push({ group_id: serviceGroupId(x, i), group_type: GROUP_SELECT, buckets });
    });
  }
  return out;
}
