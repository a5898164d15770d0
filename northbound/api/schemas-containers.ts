// TypeBox schemas for hosts, networks and endpoints (container networking).
import { Type, Static } from '@sinclair/typebox';

export const HostRegBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 63, description: 'the host\'s name, used by the CNI plugin\'s "host" key' }),
  dpid: Type.String({ pattern: '^[0-9a-fA-F]{16}$', description: 'datapath id of the host\'s br-int, 16 hex digits' }),
  underlayIp: Type.String({ minLength: 7, maxLength: 15, description: 'the host\'s IPv4 address on the underlay (canonical a.b.c.d; unique across hosts; not 0/8, loopback, link-local, multicast, 240/4, nor its subnet\'s network or broadcast address)' }),
  phyDpid: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{16}$', description: 'datapath id of the host\'s br-phy, when it is connected to Weft too (needed for routed networks and published ports)' })),
  underlayGateway: Type.Optional(Type.String({ minLength: 7, maxLength: 15, description: 'the underlay\'s router (same address rules as underlayIp): egress SNAT sends traffic for addresses outside the underlay subnet to it (without one, every destination is taken to be on the underlay\'s link)' })),
  underlayPrefix: Type.Optional(Type.Integer({ minimum: 1, maximum: 31, description: 'prefix length of the underlay subnet around underlayIp (default 24; used with underlayGateway)' })),
}, { additionalProperties: false });

export const HostRegSchema = Type.Object({
  kind: Type.Literal('registered'),
  name: Type.String(),
  dpid: Type.String(),
  underlayIp: Type.String(),
  phyDpid: Type.Union([Type.String(), Type.Null()]),
  underlayGateway: Type.Union([Type.String(), Type.Null()]),
  underlayPrefix: Type.Union([Type.Integer(), Type.Null()]),
  connected: Type.Boolean({ description: 'its br-int is connected to this controller' }),
  endpoints: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
}, { $id: 'RegisteredHost', description: 'a container host registered with POST /v1/hosts' });

const AddressRange = Type.Object({
  start: Type.String({ description: 'first address (IPv4)' }),
  end: Type.String({ description: 'last address (IPv4), not before start' }),
}, { additionalProperties: false });

export const NetworkBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 63, description: '1-63 letters, digits, _ . or -, not all digits (GET /v1/networks/{name or id})' }),
  cidr: Type.String({ description: 'IPv4 CIDR, e.g. 10.1.0.0/16 (prefix 8..30, the network address): inside the operator\'s pod CIDRs (default 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10), never in 0/8, 127/8, 169.254/16, 224/4 or 240/4; a routed network overlaps no routed or underlay network' }),
  gateway: Type.Optional(Type.String({ description: 'default: the first host address of the CIDR' })),
  mode: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('overlay'), Type.Literal('routed'), Type.Literal('underlay')], { description: 'default local (one host)' })),
  blockSize: Type.Optional(Type.Integer({ minimum: 16, maximum: 30, description: 'prefix length of the per-host IPAM blocks (default 26)' })),
  vlan: Type.Optional(Type.Integer({ minimum: 1, maximum: 4094, description: 'VLAN tag (underlay mode)' })),
  mtu: Type.Optional(Type.Integer({ minimum: 576, maximum: 9000, description: 'interface MTU handed to containers (default 1500; 1450 for overlay networks, leaving room for VXLAN)' })),
  macMode: Type.Optional(Type.Union([Type.Literal('own'), Type.Literal('shared')], { description: "underlay mode only: `own` (default, the macvlan model: each endpoint shows its own MAC on the business network) or `shared` (the ipvlan-L2 model: endpoints appear behind their host's br-phy MAC; ARP for them is answered with it, frames are rewritten on the way out and delivered by IP on the way in)" })),
  ranges: Type.Optional(Type.Array(AddressRange, { minItems: 1, maxItems: 64, description: 'underlay mode only: the part of the business subnet the platform may hand out (inclusive, inside the CIDR, not overlapping); default the whole CIDR. Registered hosts\' underlay addresses and routers are never handed out either way' })),
  exclude: Type.Optional(Type.Array(Type.String(), { maxItems: 256, description: 'underlay mode only: addresses inside the CIDR never handed out (machines already on the business subnet)' })),
  encrypted: Type.Optional(Type.Boolean({ description: 'overlay and routed mode only: traffic between hosts goes through IPsec (ESP in UDP 4500) between the hosts\' secure VTEPs; needs `weft ipsec-agent` on every host; the MTU is at most 1350 (the default then)' })),
}, { additionalProperties: false });

export const NetworkSchema = Type.Object({
  id: Type.Integer(),
  name: Type.String(),
  cidr: Type.String(),
  gateway: Type.String(),
  mode: Type.String(),
  vni: Type.Integer({ description: 'VXLAN network identifier allocated to the network' }),
  blockSize: Type.Integer(),
  vlan: Type.Union([Type.Integer(), Type.Null()]),
  mtu: Type.Integer(),
  macMode: Type.Union([Type.Literal('own'), Type.Literal('shared')], { description: 'underlay networks: how endpoints appear on the business network (own for every other mode)' }),
  ranges: Type.Union([Type.Array(AddressRange), Type.Null()], { description: 'underlay networks: the ranges IPAM hands out from (null: the whole CIDR)' }),
  exclude: Type.Union([Type.Array(Type.String()), Type.Null()]),
  encrypted: Type.Boolean({ description: 'traffic between hosts goes through IPsec' }),
  endpoints: Type.Integer(),
  blocks: Type.Array(Type.Object({ cidr: Type.String(), host: Type.Union([Type.String(), Type.Null()]), used: Type.Integer() }), { description: 'IPAM blocks and the host each is affine to' }),
  createdAt: Type.String({ format: 'date-time' }),
}, { $id: 'Network' });

export const PortMappingBody = Type.Object({
  hostPort: Type.Integer({ minimum: 1, maximum: 65535, description: 'in the operator\'s host port range (default 1024-65535), not one of Weft\'s own ports (179, 6640, 6653, 8080 by default); the host needs phyDpid' }),
  containerPort: Type.Integer({ minimum: 1, maximum: 65535 }),
  protocol: Type.Optional(Type.Union([Type.Literal('tcp'), Type.Literal('udp')], { default: 'tcp' })),
  hostIP: Type.Optional(Type.String({ description: 'the host\'s underlay address, or 0.0.0.0 / omitted for it' })),
}, { additionalProperties: false });

export const EndpointBody = Type.Object({
  containerId: Type.String({ minLength: 1, maxLength: 256, description: 'CNI_CONTAINERID' }),
  ifName: Type.String({ minLength: 1, maxLength: 15, description: 'CNI_IFNAME: the interface name inside the container (printable ASCII, no / : or space, not . or ..)' }),
  host: Type.String({ minLength: 1, description: 'registered host name' }),
  network: Type.String({ minLength: 1, description: 'network name or id' }),
  netns: Type.Optional(Type.String({ maxLength: 4096, description: 'CNI_NETNS, recorded for operators' })),
  ip: Type.Optional(Type.String({ description: 'a static IPv4 address to claim (canonical a.b.c.d)' })),
  mac: Type.Optional(Type.String({ description: 'a unicast MAC address to use instead of the derived one: not all-zero, not the gateway\'s 0e:00:00:00:00:01, not in the derived space 0a:xx:xx:xx:xx:xx (except this endpoint\'s own derived MAC with a requested ip), unused in the network' })),
  portName: Type.Optional(Type.String({ minLength: 1, maxLength: 15, description: 'host-side port name on br-int: if given, it must be the name derived from containerId+ifName (wf + 11 hex digits), which is also the default' })),
  portMappings: Type.Optional(Type.Array(PortMappingBody, { maxItems: 64, description: 'published ports: hostIP:hostPort -> endpoint:containerPort (conntrack DNAT on the host\'s br-phy)' })),
  labels: Type.Optional(Type.Record(Type.String({ maxLength: 317 }), Type.String({ maxLength: 63 }), { maxProperties: 64, description: 'labels network policies select by, in Kubernetes label syntax ([prefix/]name: value; at most 64)' })),
}, { additionalProperties: false });

export const EndpointPatchBody = Type.Object({
  containerId: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'a new containerId (letters, digits, _ . -); the port name stays' })),
  portMappings: Type.Optional(Type.Array(PortMappingBody, { maxItems: 64, description: 'the endpoint\'s published ports, replaced as a whole ([] unpublishes all)' })),
  labels: Type.Optional(Type.Record(Type.String({ maxLength: 317 }), Type.String({ maxLength: 63 }), { maxProperties: 64, description: 'the endpoint\'s labels, replaced as a whole: policies follow at once on every host' })),
}, { additionalProperties: false, minProperties: 1 });

export const EndpointSchema = Type.Object({
  id: Type.String(),
  containerId: Type.String(),
  ifName: Type.String(),
  host: Type.String(),
  network: Type.String(),
  portName: Type.String(),
  ofport: Type.Union([Type.Integer(), Type.Null()], { description: 'OpenFlow port of portName on the host\'s br-int, once it exists' }),
  ofportRequest: Type.Union([Type.Integer(), Type.Null()], { description: 'the OpenFlow port number the plugin should ask OVS for (Interface ofport_request): the endpoint\'s flows are installed for it before the port exists' }),
  mac: Type.String(),
  ip: Type.String(),
  prefixLength: Type.Integer(),
  gateway: Type.String(),
  mtu: Type.Integer(),
  requestedIp: Type.Union([Type.String(), Type.Null()]),
  netns: Type.Union([Type.String(), Type.Null()]),
  state: Type.Union([Type.Literal('pending'), Type.Literal('ready'), Type.Literal('removed')], { description: 'ready once the host switch has confirmed every flow of the endpoint' }),
  createdAt: Type.String({ format: 'date-time' }),
  readyAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  portMappings: Type.Array(Type.Object({ protocol: Type.String(), hostIP: Type.String(), hostPort: Type.Integer(), containerPort: Type.Integer() })),
  labels: Type.Record(Type.String(), Type.String(), { description: 'labels network policies select by' }),
}, { $id: 'Endpoint' });

const LabelMap = (description: string) => Type.Record(Type.String({ maxLength: 317 }), Type.String({ maxLength: 63 }), { maxProperties: 64, description });
const Selector = Type.Object({ matchLabels: LabelMap('every pair must be among the endpoint\'s labels ({} selects every endpoint)') }, { additionalProperties: false });
const PolicyRuleSchema = Type.Object({
  action: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
  peers: Type.Optional(Type.Array(Type.Union([
    Type.Object({ selector: Selector }, { additionalProperties: false, description: 'endpoints of the selected endpoint\'s network with these labels' }),
    Type.Object({ cidr: Type.String({ maxLength: 18, description: 'a.b.c.d/len: any address in it, in any network' }) }, { additionalProperties: false }),
  ]), { minItems: 1, maxItems: 64, description: 'omit for any peer' })),
  ports: Type.Optional(Type.Array(Type.Object({
    protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp'), Type.Literal('icmp')]),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'destination port (tcp, udp); omit for any' })),
  }, { additionalProperties: false }), { minItems: 1, maxItems: 32, description: 'omit for any protocol' })),
}, { additionalProperties: false });
export const PolicyBody = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 63, description: 'required in POST; in PUT the path names the policy' })),
  network: Type.Optional(Type.String({ minLength: 1, description: 'select endpoints of this network only (name or id)' })),
  selector: Selector,
  ingress: Type.Optional(Type.Array(PolicyRuleSchema, { maxItems: 64, description: 'present (even []): the selected endpoints are isolated for ingress' })),
  egress: Type.Optional(Type.Array(PolicyRuleSchema, { maxItems: 64, description: 'present (even []): the selected endpoints are isolated for egress' })),
  priority: Type.Optional(Type.Integer({ minimum: 0, maximum: 255, default: 100, description: 'lower first; at equal priority deny before allow' })),
}, { additionalProperties: false });
export const PolicySchema = Type.Object({
  name: Type.String(), network: Type.Optional(Type.String()), selector: Selector, priority: Type.Integer(),
  ingress: Type.Optional(Type.Array(PolicyRuleSchema)), egress: Type.Optional(Type.Array(PolicyRuleSchema)),
  createdAt: Type.String({ format: 'date-time' }), updatedAt: Type.String({ format: 'date-time' }),
});

const ServicePortSchema = Type.Object({
  protocol: Type.Union([Type.Literal('tcp'), Type.Literal('udp')]),
  port: Type.Integer({ minimum: 1, maximum: 65535, description: 'the port clients connect to on the VIP' }),
  targetPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'the backend\'s port (default: port)' })),
}, { additionalProperties: false });
export const ServiceBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 63 }),
  network: Type.String({ minLength: 1, description: 'the network of the VIP and of the backends (name or id; not underlay)' }),
  vip: Type.String({ maxLength: 15, description: 'an address of the network\'s CIDR, not the gateway nor an endpoint\'s; IPAM never hands it out while the service exists' }),
  ports: Type.Array(ServicePortSchema, { minItems: 1, maxItems: 16 }),
  endpoints: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64, description: 'backends by endpoint id (exactly one of endpoints and selector)' })),
  selector: Type.Optional(Selector),
  affinity: Type.Optional(Type.Union([Type.Literal('none'), Type.Literal('clientIP')], { default: 'none', description: 'clientIP: a client address always gets the same backend (while the backends stay the same)' })),
}, { additionalProperties: false });
export const ServiceSchema = Type.Object({
  name: Type.String(), network: Type.String(), vip: Type.String(), ports: Type.Array(Type.Object({ protocol: Type.String(), port: Type.Integer(), targetPort: Type.Integer() })),
  endpoints: Type.Optional(Type.Array(Type.String())), selector: Type.Optional(Selector),
  affinity: Type.Union([Type.Literal('none'), Type.Literal('clientIP')]),
  backends: Type.Array(Type.Object({ id: Type.String(), ip: Type.String(), host: Type.String() }), { description: 'the ready endpoints traffic goes to now' }),
  createdAt: Type.String({ format: 'date-time' }),
});

export const EndpointQuery = Type.Object({
  host: Type.Optional(Type.String()),
  network: Type.Optional(Type.String()),
  containerId: Type.Optional(Type.String()),
  ifName: Type.Optional(Type.String()),
});
export const WaitQuery = Type.Object({
  wait: Type.Optional(Type.Literal('ready', { description: 'long-poll until the endpoint is ready' })),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 60000, default: 10000 })),
});

export type HostRegBodyT = Static<typeof HostRegBody>;
export type NetworkBodyT = Static<typeof NetworkBody>;
export type EndpointPatchBodyT = Static<typeof EndpointPatchBody>;
export type EndpointBodyT = Static<typeof EndpointBody>;
export type EndpointT = Static<typeof EndpointSchema>;

export const IpsecConfigSchema = Type.Object({
  host: Type.String(),
  underlayIp: Type.String(),
  vtep: Type.String({ description: 'the host\'s secure VTEP (from --ipsec-vtep-cidr): encrypted networks\' VXLAN goes between VTEPs, through IPsec' }),
  vtepCidr: Type.String(),
  generation: Type.Integer({ description: 'the key generation: it grows with every rekey' }),
  encryptedNetworks: Type.Array(Type.String()),
  peers: Type.Array(Type.Object({
    name: Type.String(),
    underlayIp: Type.String({ description: 'the IKE and ESP peer address' }),
    vtep: Type.String(),
    initiator: Type.Boolean({ description: 'this host starts the IKE SA (the lower host name does)' }),
    generation: Type.Integer(),
    psk: Type.Optional(Type.String({ description: 'the pair\'s pre-shared key (base64); only in the host\'s own answer' })),
  })),
}, { $id: 'IpsecConfig' });

export const RekeySchema = Type.Object({
  network: Type.String(),
  generation: Type.Integer({ description: 'the new key generation' }),
  pairs: Type.Integer({ description: 'pairs of hosts given a new PSK' }),
});

export const BgpStatusSchema = Type.Object({
  enabled: Type.Boolean({ description: 'the controller was started with --bgp-asn and peers' }),
  asn: Type.Union([Type.Integer(), Type.Null()]),
  routerId: Type.Union([Type.String(), Type.Null()]),
  peers: Type.Array(Type.Object({
    address: Type.String(),
    asn: Type.Integer(),
    state: Type.Union(['idle', 'connect', 'opensent', 'openconfirm', 'established'].map((x) => Type.Literal(x))),
    advertised: Type.Integer({ description: 'routes announced to the peer in this session' }),
    lastError: Type.Union([Type.String(), Type.Null()]),
    upSince: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    gracefulRestart: Type.Object({
      negotiated: Type.Boolean({ description: 'both sides advertised the Graceful Restart capability (RFC 4724) in this session: the peer keeps our routes, stale, if the session drops' }),
      restartTime: Type.Union([Type.Integer(), Type.Null()], { description: 'the Restart Time Weft advertises, seconds (--bgp-restart-time; null: off)' }),
      restartState: Type.Boolean({ description: 'the Restart State bit of Weft\'s last OPEN: this speaker restarted (or took over as leader)' }),
      peerRestartTime: Type.Union([Type.Integer(), Type.Null()], { description: 'the peer\'s Restart Time, when it advertised the capability' }),
      endOfRibSent: Type.Boolean({ description: 'End-of-RIB sent after the first table of this session' }),
    }),
  })),
  routes: Type.Array(Type.Object({ prefix: Type.String(), nextHop: Type.String() }), { description: 'what is announced: host blocks of routed networks (and routed endpoints on borrowed addresses as /32) via their host' }),
}, { $id: 'BgpStatus' });

const traffic = (description: string) => Type.Object({ packets: Type.Integer({ minimum: 0 }), bytes: Type.Integer({ minimum: 0 }) }, { description });

export const EndpointCountersSchema = Type.Object({
  id: Type.String(),
  host: Type.String(),
  dpid: Type.String({ description: 'the host\'s br-int, where the counters were read' }),
  out: traffic('what the endpoint sent: its spoof-guard flows (ARP and IPv4 from its own MAC and address); what the spoof guard dropped is not here'),
  in: traffic('what the bridge delivered to it: its delivery flows (l2Forwarding by its MAC, and the l3Forwarding /32 route that outputs straight to its port for underlay networks or a requested MAC)'),
  flows: Type.Integer({ description: 'flows of the endpoint the switch reported' }),
  readAt: Type.String({ format: 'date-time' }),
}, { $id: 'EndpointCounters', description: 'Counters of an endpoint\'s flows, read live from its br-int. They count since each flow was installed: a flow re-installed (a controller restart\'s new round, a changed flow) starts again from zero.' });
export type EndpointCountersT = Static<typeof EndpointCountersSchema>;

export const HostStatusSchema = Type.Object({
  name: Type.String(),
  bridges: Type.Array(Type.Object({
    bridge: Type.Union([Type.Literal('br-int'), Type.Literal('br-phy')]),
    dpid: Type.String(),
    connected: Type.Boolean(),
    synced: Type.Boolean({ description: 'connected, fully synced since it connected, and the flows its last barrier confirmed are exactly the desired ones' }),
    flows: Type.Object({
      desired: Type.Integer({ description: 'flows the controller wants on the bridge now' }),
      confirmed: Type.Integer({ description: 'flows the switch confirmed with its last barrier' }),
    }),
    lastSyncAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'when the last sync that sent flows ended (a sync with nothing to send does not count)' }),
    lastSyncMs: Type.Union([Type.Number(), Type.Null()], { description: 'how long it took, barrier included' }),
    lastSyncKind: Type.Union([Type.Literal('full'), Type.Literal('diff'), Type.Null()], { description: 'full: on connect; diff: after a change' }),
    lastError: Type.Union([Type.String(), Type.Null()], { description: 'the last failed sync\'s error (kept after a later success: compare lastErrorAt with lastSyncAt)' }),
    lastErrorAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  })),
}, { $id: 'HostStatus' });
export type HostStatusT = Static<typeof HostStatusSchema>;
