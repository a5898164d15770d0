// The container pipeline on br-int (docs/pipeline.md, "Container pipeline").
import { Pipeline, TableDecl, TRACE_OBSERVE } from './declaration';
import type { Owner } from './cookie';
import { NXM_OF_IN_PORT } from './fields';

export type BrIntTable = 'classifier' | 'spoofGuard' | 'arpResponder' | 'l3Forwarding' | 'l2Forwarding' | 'egressPolicy' | 'ingressPolicy' | 'policyCommit' | 'serviceLB' | 'serviceHairpin';

const ARP_ANSWER = ['eth_src', 'eth_dst', 'arp_op', 'arp_sha', 'arp_tha', 'arp_spa', 'arp_tpa', 'reg0'];
const TUNNEL = ['tunnel_id', 'tun_ipv4_dst'];
/** What policy rules match: the network, addresses, protocol and destination port, conntrack state, and a complete conjunction. */
const POLICY_MATCH = ['ct_state', 'conj_id', 'reg6', 'eth_type', 'ipv4_src', 'ipv4_dst', 'ip_proto', 'tcp_dst', 'udp_dst'];
/**
 * Bands of the two policy tables (docs/pipeline.md, "Network policy"): a
 * rule of a policy of priority p (0-255, lower first) is at rule +
 * 2 * (255 - p), + 1 for a deny (deny before allow at equal priority).
 * Rules see new and established packets (a deny that comes first cuts an
 * established connection); what no rule matches passes if established, and
 * is dropped if new and the endpoint is isolated.
 */
const POLICY_BANDS = { miss: 0, isolated: 50, established: 60, rule: 100, reply: 940, invalid: 950, traceObserve: TRACE_OBSERVE };
/** Where a packet goes after the service tables (apps/container/service.ts): the policy stage, or forwarding. */
const AFTER_SERVICES = ['egressPolicy', 'l3Forwarding'] as const;

export const BR_INT_TABLES: readonly TableDecl<BrIntTable>[] = [
  {
    name: 'classifier', purpose: 'where a packet came from: the tunnel (VNI -> network id in reg6; the controller\'s tunnel probes, VNI TUNNEL_PROBE_VNI from a registered host, to the controller through a meter), the underlay through br-phy (routed mode: to the gateway; NAT replies; underlay VLANs); anything else is from an endpoint port and goes to the spoof guard; on a host with services, IPv4 from the tunnel (or, routed, from the underlay) to a service\'s network passes conntrack with NAT (a backend\'s reply is un-DNATed) on its way',
    matches: ['in_port', 'tunnel_id', 'tun_ipv4_src', 'vlan_vid', 'eth_dst', 'eth_type', 'ipv4_dst'], sets: ['reg6', 'eth_dst'], next: ['spoofGuard', 'l2Forwarding', 'l3Forwarding', 'ingressPolicy'], miss: { goto: 'spoofGuard' },
    bands: { miss: 0, fromTunnel: 100, fromTunnelService: 103, fromTunnelPolicy: 105, fromUnderlay: 100, underlayVlan: 110, natReply: 115, routedToHost: 120, routedToHostService: 125, tunnelProbe: 130, traceObserve: TRACE_OBSERVE },
  },
  {
    name: 'spoofGuard', purpose: 'an endpoint may only send from its own MAC and IP (ARP and IPv4); what passes is classified (in_port -> network id in reg6); anything else is dropped; on a host with policy-selected endpoints, IPv4 passes conntrack (zone: the network id) into egressPolicy; IPv4 of an endpoint whose network has services goes to serviceLB first',
    matches: ['in_port', 'eth_src', 'eth_type', 'arp_spa', 'arp_sha', 'ipv4_src'], sets: ['reg6'], next: ['arpResponder', 'l3Forwarding', 'egressPolicy', 'serviceLB'], miss: 'drop',
    bands: { miss: 0, endpoint: 200, traceObserve: TRACE_OBSERVE },
  },
  {
    name: 'arpResponder', purpose: 'answers ARP requests for the gateway and for known endpoints of the same network from flows (underlay networks pass the rest on to the business network)',
    matches: ['reg6', 'eth_type', 'arp_op', 'arp_tpa'], sets: ARP_ANSWER, next: ['l2Forwarding'], miss: 'drop',
    bands: { miss: 0, underlayPass: 50, network: 150, proxy: 150, ownBlock: 160, exact: 200, traceObserve: TRACE_OBSERVE },
  },
  {
    name: 'l3Forwarding', purpose: 'distributed gateway: IPv4 to the gateway MAC is routed to the destination endpoint, local or (by host block) remote (TTL-1, MACs rewritten)',
    matches: ['reg6', 'eth_type', 'eth_dst', 'ipv4_dst'], sets: ['eth_src', 'eth_dst', 'reg6', ...TUNNEL], next: ['l2Forwarding'], miss: { goto: 'l2Forwarding' },
    bands: { miss: 0, natOut: 40, routedOut: 50, intoNetwork: 100, block: 150, exact: 200, traceObserve: TRACE_OBSERVE },
  },
  {
    name: 'l2Forwarding', purpose: "delivery within a network by destination MAC: to a local port, or through the tunnel to the host that owns the address block; underlay networks' broadcasts and outbound frames to the uplink (shared MAC mode: from the host's MAC)",
    matches: ['reg6', 'eth_dst', 'eth_type'], sets: ['vlan_vid', 'eth_src', 'arp_sha', ...TUNNEL], next: [], miss: 'drop',
    bands: { miss: 0, underlayOut: 50, underlayOutArp: 55, underlayBroadcast: 100, underlayBroadcastArp: 105, block: 150, endpoint: 200, traceObserve: TRACE_OBSERVE },
  },
  {
    name: 'egressPolicy', purpose: 'network policy of the sending endpoint (after conntrack): invalid dropped, replies pass, then the rules (conjunctions) in policy order: allow goes on, deny drops; established connections no rule matched pass; an endpoint isolated for egress drops the rest of its new connections; what passes goes on to ingressPolicy',
    matches: POLICY_MATCH, sets: [], next: ['ingressPolicy', 'policyCommit'], miss: { goto: 'ingressPolicy' }, bands: POLICY_BANDS,
  },
  {
    name: 'ingressPolicy', purpose: 'network policy of a local receiving endpoint, for packets from local endpoints (after egressPolicy) and from the tunnel (after conntrack): the same bands as egressPolicy, by destination',
    matches: POLICY_MATCH, sets: [], next: ['policyCommit'], miss: { goto: 'policyCommit' }, bands: POLICY_BANDS,
  },
  {
    name: 'policyCommit', purpose: 'a new connection that passed both policy tables is committed to conntrack; then the packet goes back to forwarding: from the tunnel to l2Forwarding, from an endpoint to l3Forwarding',
    matches: ['in_port', 'ct_state', 'eth_type'], sets: [], next: ['l2Forwarding', 'l3Forwarding'], miss: 'drop',
    bands: { miss: 0, fromEndpoint: 10, fromEndpointNew: 20, fromTunnel: 30, fromTunnelNew: 40, traceObserve: TRACE_OBSERVE },
  },
  {
    name: 'serviceLB', purpose: 'services, on a host where a service\'s network has endpoints: an endpoint\'s IPv4 passes conntrack with NAT in its network\'s zone (a packet to the gateway address, maybe a hairpin reply, is un-SNATed in the hairpin zone first); a new connection to a VIP\'s port goes to that port\'s select group (clientIP affinity: to the backend of its source address\'s slot), which commits the DNAT to a ready backend and comes back here; a DNATed packet (not a reply) is sent to the gateway MAC and goes to serviceHairpin; other packets to a VIP are dropped; the rest (replies un-DNATed) goes on to egressPolicy (policy stage on) or l3Forwarding',
    matches: ['ct_state', 'ct_zone', 'reg6', 'eth_type', 'ipv4_src', 'ipv4_dst', 'ip_proto', 'tcp_dst', 'udp_dst'], sets: ['eth_dst', NXM_OF_IN_PORT],
    next: ['serviceLB', 'serviceHairpin', ...AFTER_SERVICES], miss: 'drop',
    bands: { miss: 0, pass: 10, dnat: 100, vipDrop: 150, vip: 200, affinity: 210, track: 300, trackHairpin: 310, unSnat: 320, traceObserve: TRACE_OBSERVE },
  },
  {
    name: 'serviceHairpin', purpose: 'a DNATed connection whose backend is its own client (a backend calling its own service) is SNATed to its network\'s gateway address in the hairpin conntrack zone, so that the reply comes back through br-int, and may leave by the port it came in; then, as every DNATed packet, on to egressPolicy (policy stage on) or l3Forwarding',
    matches: ['reg6', 'eth_type', 'ipv4_src', 'ipv4_dst'], sets: [NXM_OF_IN_PORT], next: [...AFTER_SERVICES], miss: 'drop',
    bands: { miss: 0, pass: 10, hairpin: 100, traceObserve: TRACE_OBSERVE },
  },
];

export const BR_INT = new Pipeline<BrIntTable>('br-int', BR_INT_TABLES);

/** A br-int flow builder (checked against BR_INT_TABLES). */
export const flow = (table: BrIntTable, owner: Owner) => BR_INT.flow(table, owner);

/** br-int's tables (the name the container pipeline had before br-phy was declared too). */
export const PIPELINE = BR_INT_TABLES;
export const TABLE_ID = BR_INT.tableId;
export const missFlows = (): ReturnType<typeof BR_INT.missFlows> => BR_INT.missFlows();
