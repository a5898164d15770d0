// br-phy of a container host (docs/pipeline.md, "br-phy"): the uplink and the
// host's own address. Routed networks' blocks go into br-int; published
// ports and egress SNAT pass conntrack's NAT zone; next hops are resolved by
// the controller.
import { Pipeline, TableDecl, TRACE_OBSERVE } from './declaration';
import type { Owner } from './cookie';

export type BrPhyTable = 'phyIngress' | 'phyNat' | 'phyNextHop';

export const BR_PHY_TABLES: readonly TableDecl<BrPhyTable>[] = [
  {
    name: 'phyIngress', purpose: "cleartext from the uplink into the secure VTEP range (encrypted networks) dropped; published ports (DNAT into br-int); this host's routed blocks into br-int; shared-MAC underlay endpoints by IP into br-int (to their own MAC), and their frames from the host's MAC straight out of the uplink; traffic from br-int and to the host's address through the NAT zone; next-hop ARP replies to the controller; anything else is the host's own traffic (NORMAL)",
    matches: ['in_port', 'eth_type', 'eth_src', 'eth_dst', 'vlan_vid', 'arp_op', 'arp_tpa', 'ip_proto', 'ipv4_dst', 'tcp_dst', 'udp_dst'], sets: ['eth_dst', 'arp_tha', 'ct_label', 'ct_mark'], next: ['phyNat'], miss: 'normal',
    bands: { miss: 0, routedBlock: 200, routedEndpoint: 210, sharedEndpoint: 230, toHost: 240, fromBrInt: 250, sharedOut: 255, neighborReply: 260, publishedPort: 300, secureVtepGuard: 310, traceObserve: TRACE_OBSERVE },
  },
  {
    name: 'phyNat', purpose: 'after conntrack: replies of published connections straight back to the client (ct_label, ct_mark), SNAT replies back to the container, new connections of local and overlay networks masqueraded behind the host address; anything else NORMAL',
    matches: ['in_port', 'ct_state', 'eth_type', 'ipv4_src'], sets: ['eth_src', 'eth_dst', 'ct_label'], next: ['phyNextHop'], miss: 'normal',
    bands: { miss: 0, snatNew: 150, snatEstablished: 160, snatReply: 190, publishedReply: 200, traceObserve: TRACE_OBSERVE },
  },
  {
    name: 'phyNextHop', purpose: "masqueraded traffic to its next hop's MAC on the uplink: a resolved neighbour, or the underlay's router; unresolved next hops go to the controller, which ARPs for them",
    matches: ['eth_type', 'ipv4_dst'], sets: ['eth_dst'], next: [], miss: 'controller',
    bands: { miss: 0, router: 50, onLinkUnresolved: 60, neighbor: 100, traceObserve: TRACE_OBSERVE },
  },
];

export const BR_PHY = new Pipeline<BrPhyTable>('br-phy', BR_PHY_TABLES);

/** A br-phy flow builder (checked against BR_PHY_TABLES). */
export const phyFlow = (table: BrPhyTable, owner: Owner) => BR_PHY.flow(table, owner);
