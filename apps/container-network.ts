// Desired flows of a container host's br-int (see controller/pipeline.ts for
// the tables): every flow an endpoint needs, computed from the store, so the
// reconciler can install them proactively — steady-state container traffic
// never reaches the controller.
//
// Local endpoints get exact flows. Endpoints on other hosts of an overlay
// network are reached by host block: their MACs are derived from their
// addresses (derivedMac), so one flow per remote block answers ARP, delivers
// and routes through the VXLAN tunnel to the block's host. Only remote
// endpoints that break that rule (a requested MAC, or an address borrowed
// from another host's block) get exact flows of their own.
import { Action, FlowMod, OFPP_IN_PORT, OFPP_NORMAL, OFPP_CONTROLLER, flowMod } from '../southbound/codec';
import { flow, missFlows, GATEWAY_MAC, PRIO, REG, derivedMac, blockMac, UNDERLAY_NET, NAT_ZONE, cookie } from '../controller/pipeline';
import type { EndpointRec, NetworkRec, HostRec, PortMapping } from '../controller/resources';
import { parseCidr, intToIp, ipToInt, Cidr } from '../controller/ipv4';

const ETH_IP = 0x0800;
const ETH_ARP = 0x0806;

/** 32-bit FNV-1a of a string: the object id in flow cookies. */
export function objectId(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) { h ^= id.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h >>> 0;
}

const move = (src: string, dst: string, n_bits: number, dst_ofs = 0): Action => ({ type: 'reg_move', src, src_ofs: 0, dst, dst_ofs, n_bits });

/**
 * Turn an ARP request into its reply, sent back out of its in_port. The
 * answering MAC is `mac`, or derived from the asked address when `mac` is
 * the network's derived prefix and `deriveLow32` is set (the asked address
 * becomes its low 32 bits). The answering address is `ip`, or — without
 * one — the asked address itself (swapped through reg0).
 */
function arpAnswer(mac: string, ip?: string, deriveLow32 = false): Action[] {
  const a: Action[] = [
    move('eth_src', 'eth_dst', 48),
    { type: 'set_field', field: { field: 'eth_src', value: mac } },
  ];
  if (deriveLow32) a.push(move('arp_tpa', 'eth_src', 32));
  a.push({ type: 'set_field', field: { field: 'arp_op', value: 2 } }, move('arp_sha', 'arp_tha', 48));
  a.push(deriveLow32 ? move('eth_src', 'arp_sha', 48) : { type: 'set_field', field: { field: 'arp_sha', value: mac } });
  if (ip !== undefined) a.push(move('arp_spa', 'arp_tpa', 32), { type: 'set_field', field: { field: 'arp_spa', value: ip } });
  else a.push(move('arp_tpa', 'reg0', 32), move('arp_spa', 'arp_tpa', 32), move('reg0', 'arp_spa', 32));
  a.push({ type: 'output', port: OFPP_IN_PORT });
  return a;
}

/** The reply for a known (mac, ip). */
export const arpReply = (mac: string, ip: string): Action[] => arpAnswer(mac, ip);
/** The reply for any address of a network, with the MAC derived from the asked address. */
export const derivedArpReply = (networkId: number): Action[] => arpAnswer(derivedMac(networkId, '0.0.0.0'), undefined, true);
/** Proxy ARP: one MAC for whatever address was asked (the gateway answers for a routed CIDR). */
export const proxyArpReply = (mac: string): Action[] => arpAnswer(mac);

/** The endpoint's MAC is the one derivedMac gives its address (so network-wide flows cover it). */
export const isDerived = (e: EndpointRec): boolean => e.mac.toLowerCase() === derivedMac(e.networkId, e.ip);

export interface Block { networkId: number; base: number; len: number; host: string | null }

/** The block of network `networkId` that holds address `ip` (an integer), if any. */
export function blockOf(blocks: readonly Block[], networkId: number, ip: number): Block | undefined {
  return blocks.find((b) => b.networkId === networkId && ip >= b.base && ip < b.base + 2 ** (32 - b.len));
}

export interface HostState {
  /** this host */
  host: string;
  hosts: Map<string, HostRec>;
  networks: Map<number, NetworkRec>;
  /** every endpoint in the cluster (local ones are those with host === this host) */
  endpoints: EndpointRec[];
  blocks: Block[];
  /** OpenFlow port number of a br-int port by name, if it exists yet */
  ofport(name: string): number | undefined;
  tunnelPort?: number;
  /** br-int's patch port to br-phy (routed mode) */
  patchPort?: number;
  /** MAC of a host's br-phy, while it is connected (routed mode) */
  phyMac?(host: string): string | undefined;
  /** ports published on this host */
  mappings?: PortMapping[];
  /** br-phy's uplink port (SNAT output) */
  uplinkPort?: number;
  /** next-hop MACs resolved by the controller for SNAT, by IPv4 address */
  neighbors?: Map<string, string>;
}


/**
 * NAT on br-phy, with conntrack instead of iptables.
 *
 * Published ports (the docker -p model): a connection to hostIP:hostPort is
 * DNATed to the endpoint and handed to br-int addressed to the endpoint's
 * MAC. The client's MAC and the port it came in on are kept in the
 * connection's ct_label and ct_mark, so replies — un-NATed by ct(nat) when
 * they come back from br-int — go straight back to the client.
 *
 * Egress SNAT: new connections from local and overlay networks leaving the
 * host are masqueraded behind the host's address; the container's MAC is
 * kept in ct_label to hand replies back. The next hop's MAC comes from the
 * controller, which ARPs for a destination the first time table 2 misses.
 */
function natFlows(s: HostState, patch: number): FlowMod[] {
  const out: FlowMod[] = [];
  const me = s.hosts.get(s.host);
  const maps = s.mappings ?? [];
  const myMac = s.phyMac?.(s.host);
  if (!me || !myMac) return out;
  const snatNets = [...new Set(s.endpoints.filter((e) => e.host === s.host).map((e) => e.networkId))]
    .map((id) => s.networks.get(id)).filter((n): n is NetworkRec => !!n && (n.mode === 'local' || n.mode === 'overlay'));
  if (!maps.length && !snatNets.length) return out;
  const byId = new Map(s.endpoints.map((e) => [e.id, e]));
  const ck = (id: number) => cookie(0, 'pipeline', id);
  const IP = { field: 'eth_type', value: ETH_IP };
  const ctNat = (table: number): Action => ({ type: 'ct', flags: 0, zone: NAT_ZONE, recirc_table: table, alg: 0, actions: [{ type: 'nat', flags: 0 }] });
  for (const m of maps) {
    const e = byId.get(m.endpointId);
    if (!e) continue;
    const proto = m.protocol === 'tcp' ? 6 : 17;
    out.push(flowMod({
      priority: 300, cookie: cookie(0, 'endpoint', objectId(`${e.id}/${m.protocol}/${m.hostPort}`)),
      match: [IP, { field: 'ip_proto', value: proto }, { field: 'ipv4_dst', value: me.underlayIp }, { field: proto === 6 ? 'tcp_dst' : 'udp_dst', value: m.hostPort }],
      instructions: [{
        type: 'apply_actions', actions: [
          {
            type: 'ct', flags: 1, zone: NAT_ZONE, recirc_table: 255, alg: 0, actions: [
              { type: 'nat', flags: 2, ipv4_min: e.ip, proto_min: m.containerPort },
              { type: 'reg_move', src: 'eth_src', src_ofs: 0, dst: 'ct_label', dst_ofs: 0, n_bits: 48 },
              { type: 'reg_move', src: 'field:0:0', src_ofs: 0, dst: 'ct_mark', dst_ofs: 0, n_bits: 16 },
            ],
          },
          { type: 'set_field', field: { field: 'eth_dst', value: e.mac } },
          { type: 'output', port: patch },
        ],
      }],
    }));
  }
  const apply = (actions: Action[]) => [{ type: 'apply_actions' as const, actions }];
  // everything from br-int, and everything for the host's address, passes conntrack's NAT zone (table 1 decides)
  out.push(flowMod({ priority: 250, cookie: ck(0xfe), match: [{ field: 'in_port', value: patch }, IP], instructions: apply([ctNat(1)]) }));
  if (snatNets.length) out.push(flowMod({ priority: 240, cookie: ck(0xfb), match: [IP, { field: 'ipv4_dst', value: me.underlayIp }], instructions: apply([ctNat(1)]) }));
  // the controller resolves next hops with ARP probes (sender 0.0.0.0, from the gateway MAC, RFC 5227) so
  // no neighbour cache learns anything; the replies come back to the gateway MAC and go to the controller
  out.push(flowMod({
    priority: 260, cookie: ck(0xfa), match: [{ field: 'eth_dst', value: GATEWAY_MAC }, { field: 'eth_type', value: ETH_ARP }, { field: 'arp_op', value: 2 }],
    instructions: apply([{ type: 'output', port: OFPP_CONTROLLER, max_len: 128 }]),
  }));
  const RPL = { field: 'ct_state', value: 0x28, mask: 0x28 };
  out.push(flowMod({
    table_id: 1, priority: 200, cookie: ck(0xfd), match: [{ field: 'in_port', value: patch }, RPL],
    instructions: apply([
      { type: 'reg_move', src: 'ct_label', src_ofs: 0, dst: 'eth_dst', dst_ofs: 0, n_bits: 48 },
      { type: 'set_field', field: { field: 'eth_src', value: myMac } },
      { type: 'output_reg', src: 'ct_mark', ofs: 0, n_bits: 16, max_len: 0 },
    ]),
  }));
  out.push(flowMod({
    table_id: 1, priority: 190, cookie: ck(0xf9), match: [RPL],
    instructions: apply([
      { type: 'reg_move', src: 'ct_label', src_ofs: 0, dst: 'eth_dst', dst_ofs: 0, n_bits: 48 },
      { type: 'set_field', field: { field: 'eth_src', value: GATEWAY_MAC } },
      { type: 'output', port: patch },
    ]),
  }));
  for (const n of snatNets) {
    const c = parseCidr(n.cidr);
    const src = { field: 'ipv4_src', value: intToIp(c.base), mask: maskOf(c.len) };
    out.push(flowMod({
      table_id: 1, priority: 150, cookie: cookie(0, 'network', n.id), match: [{ field: 'in_port', value: patch }, { field: 'ct_state', value: 0x21, mask: 0x21 }, IP, src],
      instructions: apply([
        { type: 'ct', flags: 1, zone: NAT_ZONE, recirc_table: 255, alg: 0, actions: [
          { type: 'nat', flags: 1, ipv4_min: me.underlayIp },
          { type: 'reg_move', src: 'eth_src', src_ofs: 0, dst: 'ct_label', dst_ofs: 0, n_bits: 48 },
        ] },
        { type: 'set_field', field: { field: 'eth_src', value: myMac } },
        { type: 'resubmit', in_port: 0xfff8, table: 2 },
      ]),
    }));
  }
  if (snatNets.length) {
    // a packet of an already-masqueraded connection (ct(nat) in table 0 rewrote its source already: +snat)
    out.push(flowMod({
      table_id: 1, priority: 160, cookie: ck(0xf7), match: [{ field: 'in_port', value: patch }, { field: 'ct_state', value: 0x60, mask: 0x68 }, IP],
      instructions: apply([{ type: 'set_field', field: { field: 'eth_src', value: myMac } }, { type: 'resubmit', in_port: 0xfff8, table: 2 }]),
    }));
  }
  out.push(flowMod({ table_id: 1, priority: 0, cookie: ck(0xfc), instructions: apply([{ type: 'output', port: OFPP_NORMAL }]) }));
  if (snatNets.length && s.uplinkPort !== undefined) {
    const toController = apply([{ type: 'output', port: OFPP_CONTROLLER, max_len: 128 }]);
    for (const [ip, mac] of s.neighbors ?? []) {
      out.push(flowMod({
        table_id: 2, priority: 100, cookie: ck(objectId(ip) & 0xffff), match: [IP, { field: 'ipv4_dst', value: ip }],
        instructions: apply([{ type: 'set_field', field: { field: 'eth_dst', value: mac } }, { type: 'output', port: s.uplinkPort }]),
      }));
    }
    if (me.underlayGateway && me.underlayPrefix) {
      // beyond the underlay's subnet: through its router (the controller resolves the router like any next hop)
      const m = maskOf(me.underlayPrefix);
      out.push(flowMod({
        table_id: 2, priority: 60, cookie: ck(0xf6),
        match: [IP, { field: 'ipv4_dst', value: intToIp((ipToInt(me.underlayIp) & ipToInt(m)) >>> 0), mask: m }], instructions: toController,
      }));
      const gwMac = s.neighbors?.get(me.underlayGateway);
      out.push(flowMod({
        table_id: 2, priority: 50, cookie: ck(0xf5), match: [IP],
        instructions: gwMac ? apply([{ type: 'set_field', field: { field: 'eth_dst', value: gwMac } }, { type: 'output', port: s.uplinkPort }]) : toController,
      }));
    }
    out.push(flowMod({ table_id: 2, priority: 0, cookie: ck(0xf8), instructions: toController }));
  }
  return out;
}

const maskOf = (len: number) => intToIp(len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);

/**
 * br-phy of a host (routed mode): addresses of this host's blocks of routed
 * networks (and any routed endpoint living here on a borrowed address) go
 * into br-int; everything else is the host's own traffic: NORMAL.
 */
export function phyFlows(s: HostState): FlowMod[] {
  const out: FlowMod[] = [flowMod({ priority: 0, cookie: cookie(0, 'pipeline', 0xff), instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: OFPP_NORMAL }] }] })];
  if (s.patchPort === undefined) return out;
  const toInt: Action[] = [{ type: 'output', port: s.patchPort }];
  for (const b of s.blocks) {
    const n = s.networks.get(b.networkId);
    if (!n || n.mode !== 'routed' || b.host !== s.host) continue;
    out.push(flowMod({
      priority: PRIO.specific, cookie: cookie(0, 'network', objectId(`${n.id}/${b.base}`)),
      match: [{ field: 'eth_type', value: ETH_IP }, { field: 'ipv4_dst', value: intToIp(b.base), mask: maskOf(b.len) }],
      instructions: [{ type: 'apply_actions', actions: toInt }],
    }));
  }
  out.push(...natFlows(s, s.patchPort));
  for (const e of s.endpoints) {
    const n = s.networks.get(e.networkId);
    if (e.host !== s.host || !n || n.mode !== 'routed') continue;
    if (blockOf(s.blocks, n.id, ipToInt(e.ip))?.host === s.host) continue;
    out.push(flowMod({
      priority: PRIO.specific + 10, cookie: cookie(0, 'endpoint', objectId(e.id)),
      match: [{ field: 'eth_type', value: ETH_IP }, { field: 'ipv4_dst', value: e.ip }],
      instructions: [{ type: 'apply_actions', actions: toInt }],
    }));
  }
  return out;
}

const overlaps = (a: Cidr, b: Cidr) => {
  const len = Math.min(a.len, b.len);
  const m = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  return ((a.base & m) >>> 0) === ((b.base & m) >>> 0);
};

/**
 * Underlay (flat L2, the macvlan model): the network is bridged onto the
 * host's uplink through br-phy, tagged with the network's VLAN if it has one.
 * Frames for local endpoints come in from the uplink and are delivered by
 * MAC; broadcasts go to the local endpoints and out; anything else a
 * container sends leaves for the business network, whose machines (and
 * router) answer their own ARP.
 */
function underlayFlows(n: NetworkRec, ports: number[], patch: number): FlowMod[] {
  const owner = { category: 'network' as const, id: n.id };
  const tagged = n.vlan !== null;
  const toUplink: Action[] = tagged
    ? [{ type: 'push_vlan', ethertype: 0x8100 }, { type: 'set_field', field: { field: 'vlan_vid', value: 0x1000 | n.vlan! } }, { type: 'output', port: patch }]
    : [{ type: 'output', port: patch }];
  const cls = flow('classifier', owner).priority(PRIO.default + 10).match('in_port', patch).match('vlan_vid', tagged ? 0x1000 | n.vlan! : 0);
  return [
    cls.actions(...(tagged ? [{ type: 'pop_vlan' } as Action] : []), { type: 'set_field', field: { field: REG.network, value: n.id } }).goto('l2Forwarding').build(),
    flow('arpResponder', owner).priority(PRIO.fallback).match(REG.network, n.id).goto('l2Forwarding').build(),
    flow('l2Forwarding', owner).priority(PRIO.default).match(REG.network, n.id).match('eth_dst', 'ff:ff:ff:ff:ff:ff')
      .actions(...ports.map((port) => ({ type: 'output' as const, port })), ...toUplink).build(),
    flow('l2Forwarding', owner).priority(PRIO.fallback).match(REG.network, n.id).actions(...toUplink).build(),
  ];
}

export function containerFlows(s: HostState): FlowMod[] {
  const out = missFlows();
  // an endpoint's port is the one OVS has, or (not there yet) the number it asked OVS for
  const portOf = (e: EndpointRec) => s.ofport(e.portName) ?? e.ofportRequest ?? undefined;
  const local = s.endpoints.filter((e) => e.host === s.host && e.state !== 'removed' && portOf(e) !== undefined);
  const localNets = [...new Set(local.map((e) => e.networkId))].map((id) => s.networks.get(id)).filter((n): n is NetworkRec => !!n);
  const cidr = new Map(localNets.map((n) => [n.id, parseCidr(n.cidr)]));
  for (const n of s.networks.values()) if (!cidr.has(n.id)) cidr.set(n.id, parseCidr(n.cidr));
  const underlaySrc = { id: UNDERLAY_NET } as NetworkRec;
  const routed = localNets.some((n) => n.mode === 'routed') && s.patchPort !== undefined;
  /**
   * Source networks on this host that may route to network n: itself, any
   * whose CIDR does not overlap, and for a routed network the underlay.
   */
  const routableFrom = (n: NetworkRec) => [
    ...localNets.filter((src) => src.id === n.id || !overlaps(cidr.get(src.id)!, cidr.get(n.id)!)),
    ...(n.mode === 'routed' && routed ? [underlaySrc] : []),
  ];
  const myPhyMac = s.phyMac?.(s.host);
  const tun = s.tunnelPort;
  const tunnelTo = (n: NetworkRec, hostIp: string): Action[] => [
    { type: 'set_field', field: { field: 'tunnel_id', value: BigInt(n.vni) } },
    { type: 'set_field', field: { field: 'tun_ipv4_dst', value: hostIp } },
    { type: 'output', port: tun! },
  ];
  const route = (src: NetworkRec, dst: NetworkRec, owner: { category: 'endpoint' | 'network'; id: number }, ip: string, len: number, to: Action[], mac?: string) => {
    const b = flow('l3Forwarding', owner).priority(len === 32 ? PRIO.specific : PRIO.block)
      .match(REG.network, src.id).match('eth_type', ETH_IP).match('eth_dst', GATEWAY_MAC);
    if (len === 32) b.match('ipv4_dst', ip); else b.match('ipv4_dst', ip, intToIp(len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0));
    const setMac: Action[] = mac ? [{ type: 'set_field', field: { field: 'eth_dst', value: mac } }]
      : [{ type: 'set_field', field: { field: 'eth_dst', value: derivedMac(dst.id, '0.0.0.0') } }, { type: 'reg_move', src: 'ipv4_dst', src_ofs: 0, dst: 'eth_dst', dst_ofs: 0, n_bits: 32 }];
    return b.actions({ type: 'dec_nw_ttl' }, { type: 'set_field', field: { field: 'eth_src', value: GATEWAY_MAC } }, ...setMac, ...to).build();
  };

  if (routed) {
    // from the underlay through br-phy: addressed to a local routed endpoint, so hand it to the gateway
    out.push(flow('classifier', { category: 'network', id: UNDERLAY_NET }).match('in_port', s.patchPort!)
      .actions({ type: 'set_field', field: { field: REG.network, value: UNDERLAY_NET } }, { type: 'set_field', field: { field: 'eth_dst', value: GATEWAY_MAC } })
      .goto('l3Forwarding').build());
  }
  for (const n of localNets) {
    const owner = { category: 'network' as const, id: n.id };
    if (n.mode === 'underlay') {
      if (s.patchPort !== undefined) out.push(...underlayFlows(n, local.filter((e) => e.networkId === n.id).map((e) => portOf(e)!), s.patchPort));
      continue; // the business network's own router is the gateway: Weft answers no ARP for it and routes nothing
    }
    out.push(flow('arpResponder', owner).priority(PRIO.specific)
      .match(REG.network, n.id).match('eth_type', ETH_ARP).match('arp_op', 1).match('arp_tpa', n.gateway)
      .actions(...arpReply(GATEWAY_MAC, n.gateway)).build());
    if (n.mode === 'routed' && routed && myPhyMac) {
      const c = cidr.get(n.id)!;
      // every other address of the CIDR is reached through the gateway (the container's on-link ARP gets the gateway MAC)
      out.push(flow('arpResponder', owner).priority(PRIO.block)
        .match(REG.network, n.id).match('eth_type', ETH_ARP).match('arp_op', 1).match('arp_tpa', intToIp(c.base), maskOf(c.len))
        .actions(...proxyArpReply(GATEWAY_MAC)).build());
      // anything else leaves through the host: br-phy hands it to the host's own IP stack, which routes it on the underlay
      out.push(flow('l3Forwarding', owner).priority(PRIO.fallback).match(REG.network, n.id).match('eth_type', ETH_IP).match('eth_dst', GATEWAY_MAC)
        .actions({ type: 'dec_nw_ttl' }, { type: 'set_field', field: { field: 'eth_src', value: GATEWAY_MAC } },
          { type: 'set_field', field: { field: 'eth_dst', value: myPhyMac } }, { type: 'output', port: s.patchPort! }).build());
    }
    const c = cidr.get(n.id)!;
    const derivedArp = (base: number, len: number, prio: number, id: { category: 'network'; id: number }) =>
      flow('arpResponder', id).priority(prio)
        .match(REG.network, n.id).match('eth_type', ETH_ARP).match('arp_op', 1).match('arp_tpa', intToIp(base), maskOf(len))
        .actions(...derivedArpReply(n.id)).build();
    if (n.mode === 'routed') {
      // this host's own blocks are on-link: ARP gets the derived MAC (the rest of the CIDR got the gateway's, above)
      for (const b of s.blocks) {
        if (b.networkId === n.id && b.host === s.host) out.push(derivedArp(b.base, b.len, PRIO.block + 10, { category: 'network', id: objectId(`${n.id}/${b.base}`) }));
      }
    } else {
      // ARP for any address of the network: the derived MAC (endpoints with other MACs have exact answers above it)
      out.push(derivedArp(c.base, c.len, PRIO.block, owner));
    }
    // routing into the network (from itself, other networks of this host, the underlay): the destination
    // MAC is derived from the address and L2 delivery takes over, to a local port or (overlay) a remote block
    for (const src of routableFrom(n)) {
      out.push(flow('l3Forwarding', { category: 'network', id: objectId(`${src.id}>${n.id}`) }).priority(PRIO.default)
        .match(REG.network, src.id).match('eth_type', ETH_IP).match('eth_dst', GATEWAY_MAC).match('ipv4_dst', intToIp(c.base), maskOf(c.len))
        .actions({ type: 'dec_nw_ttl' }, { type: 'set_field', field: { field: 'eth_src', value: GATEWAY_MAC } },
          { type: 'set_field', field: { field: 'eth_dst', value: derivedMac(n.id, '0.0.0.0') } },
          { type: 'reg_move', src: 'ipv4_dst', src_ofs: 0, dst: 'eth_dst', dst_ofs: 0, n_bits: 32 },
          { type: 'set_field', field: { field: REG.network, value: n.id } })
        .goto('l2Forwarding').build());
    }
    if (n.mode !== 'overlay' || tun === undefined) continue;
    // from the tunnel: the VNI names the network; the sending host already did its spoof guard and routing
    out.push(flow('classifier', owner).match('in_port', tun).match('tunnel_id', BigInt(n.vni))
      .actions({ type: 'set_field', field: { field: REG.network, value: n.id } }).goto('l2Forwarding').build());
  }

  // Routed frames leave with the gateway MAC as source, never br-phy's own:
  // br-phy's NORMAL learning must not see its own MAC behind the patch port,
  // or the host's own traffic (its controller connection included) would follow it into br-int.
  const viaUnderlay = (toHost: string): Action[] | undefined => {
    const peer = s.phyMac?.(toHost);
    if (!routed || !myPhyMac || !peer) return undefined;
    return [{ type: 'set_field', field: { field: 'eth_dst', value: peer } }, { type: 'output', port: s.patchPort! }];
  };
  // remote blocks of routed networks: no encapsulation, straight to the owning host's br-phy over the underlay
  for (const b of s.blocks) {
    const n = s.networks.get(b.networkId);
    if (!n || n.mode !== 'routed' || !b.host || b.host === s.host) continue;
    const to = viaUnderlay(b.host);
    if (!to) continue;
    const id = { category: 'network' as const, id: objectId(`${n.id}/${b.base}`) };
    for (const src of routableFrom(n)) if (src.id !== UNDERLAY_NET) out.push(route(src, n, id, intToIp(b.base), b.len, to, s.phyMac!(b.host)));
  }

  // remote blocks of overlay networks: deliver and route by block to the owning host
  const localNetIds = new Set(localNets.map((n) => n.id));
  for (const b of s.blocks) {
    const n = s.networks.get(b.networkId);
    const owner = b.host ? s.hosts.get(b.host) : undefined;
    if (!n || n.mode !== 'overlay' || tun === undefined || !owner || owner.name === s.host) continue;
    const sources = routableFrom(n);
    if (!sources.length) continue;
    const id = { category: 'network' as const, id: objectId(`${n.id}/${b.base}`) };
    if (localNetIds.has(n.id)) {
      // routing into n derives the MAC and comes here (see the network's l3 flow)
      const m = blockMac(n.id, intToIp(b.base), b.len);
      out.push(flow('l2Forwarding', id).priority(PRIO.block).match(REG.network, n.id).match('eth_dst', m.value, m.mask)
        .actions(...tunnelTo(n, owner.underlayIp)).build());
      continue;
    }
    for (const src of sources) out.push(route(src, n, id, intToIp(b.base), b.len, tunnelTo(n, owner.underlayIp)));
  }

  // remote endpoints that the block rule does not describe
  for (const e of s.endpoints) {
    if (e.host === s.host || e.state === 'removed') continue;
    const n = s.networks.get(e.networkId);
    const h = s.hosts.get(e.host);
    const blk = n && blockOf(s.blocks, n.id, ipToInt(e.ip));
    if (n?.mode === 'routed' && blk?.host !== e.host) {
      const to = viaUnderlay(e.host);
      if (to) for (const src of routableFrom(n)) if (src.id !== UNDERLAY_NET) out.push(route(src, n, { category: 'endpoint', id: objectId(e.id) }, e.ip, 32, to, s.phyMac!(e.host)));
      continue;
    }
    if (!n || n.mode !== 'overlay' || tun === undefined || !h) continue;
    if (isDerived(e) && blk?.host === e.host) continue;
    const owner = { category: 'endpoint' as const, id: objectId(e.id) };
    if (localNetIds.has(n.id)) {
      out.push(flow('arpResponder', owner).priority(PRIO.specific)
        .match(REG.network, n.id).match('eth_type', ETH_ARP).match('arp_op', 1).match('arp_tpa', e.ip)
        .actions(...arpReply(e.mac, e.ip)).build());
      out.push(flow('l2Forwarding', owner).priority(PRIO.specific).match(REG.network, n.id).match('eth_dst', e.mac)
        .actions(...tunnelTo(n, h.underlayIp)).build());
    }
    for (const src of routableFrom(n)) out.push(route(src, n, owner, e.ip, 32, tunnelTo(n, h.underlayIp), e.mac));
  }

  // NAT through br-phy: DNATed connections (published ports) and SNAT replies come back addressed to the
  // endpoint's MAC; anything a local or overlay endpoint sends off its networks leaves through br-phy
  if (s.patchPort !== undefined && myPhyMac) {
    const replyNets = new Set<number>();
    for (const e of local) {
      const n = s.networks.get(e.networkId);
      if (!n || (n.mode !== 'local' && n.mode !== 'overlay')) continue;
      out.push(flow('classifier', { category: 'endpoint', id: objectId(e.id) }).priority(PRIO.default + 15).match('in_port', s.patchPort).match('eth_dst', e.mac)
        .actions({ type: 'set_field', field: { field: REG.network, value: e.networkId } }).goto('l2Forwarding').build());
      replyNets.add(e.networkId);
    }
    for (const id of replyNets) {
      const n = s.networks.get(id)!;
      if (n.mode === 'routed' || n.mode === 'underlay') continue; // routed has its own way out; underlay uses its own router
      // the source MAC stays the container's: br-phy keeps it in ct_label to return replies
      out.push(flow('l3Forwarding', { category: 'network', id: n.id }).priority(PRIO.fallback - 10).match(REG.network, n.id).match('eth_type', ETH_IP).match('eth_dst', GATEWAY_MAC)
        .actions({ type: 'dec_nw_ttl' }, { type: 'set_field', field: { field: 'eth_dst', value: myPhyMac } }, { type: 'output', port: s.patchPort }).build());
    }
  }

  // Local endpoints. An endpoint whose MAC is derived from its address needs
  // three flows: its two spoof-guard entries (which also classify it into its
  // network) and its L2 delivery. ARP for it is answered by the network's
  // derived-MAC reply, and routing to it by the network's derive-and-deliver
  // flow below, both shared by every endpoint of the network.
  const arpCovered = (e: EndpointRec, n: NetworkRec) => isDerived(e) &&
    (n.mode === 'local' || n.mode === 'overlay' || (n.mode === 'routed' && blockOf(s.blocks, n.id, ipToInt(e.ip))?.host === s.host));
  for (const e of local) {
    const port = portOf(e)!;
    const n = s.networks.get(e.networkId)!;
    const owner = { category: 'endpoint' as const, id: objectId(e.id) };
    const classify: Action = { type: 'set_field', field: { field: REG.network, value: e.networkId } };
    out.push(
      flow('spoofGuard', owner).priority(PRIO.specific)
        .match('in_port', port).match('eth_src', e.mac).match('eth_type', ETH_ARP).match('arp_spa', e.ip).match('arp_sha', e.mac)
        .actions(classify).goto('arpResponder').build(),
      flow('spoofGuard', owner).priority(PRIO.specific)
        .match('in_port', port).match('eth_src', e.mac).match('eth_type', ETH_IP).match('ipv4_src', e.ip)
        .actions(classify).goto('l3Forwarding').build(),
      flow('l2Forwarding', owner).priority(PRIO.specific)
        .match(REG.network, e.networkId).match('eth_dst', e.mac)
        .actions({ type: 'output', port }).build(),
    );
    if (!arpCovered(e, n)) {
      out.push(flow('arpResponder', owner).priority(PRIO.specific)
        .match(REG.network, e.networkId).match('eth_type', ETH_ARP).match('arp_op', 1).match('arp_tpa', e.ip)
        .actions(...arpReply(e.mac, e.ip)).build());
    }
    if (n.mode === 'underlay' || !isDerived(e)) {
      for (const src of routableFrom(n)) out.push(route(src, n, owner, e.ip, 32, [{ type: 'output', port }], e.mac));
    }
  }
  return out;
}
