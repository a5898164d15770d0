// "Can A reach B, and if not, why": the path a packet would take, computed
// on the flows the controller wants on each bridge (the flow source's
// desired flows), walked with the flow simulator bridge by bridge and host
// by host — br-int, the VXLAN tunnel or br-phy and the underlay, the far
// host's bridges — until it is delivered to an endpoint, leaves, or is
// dropped in a named table. The container first resolves its next hop with
// ARP, as a real one does, through the same flows.
import type { FlowMod, Action, Instruction } from '../southbound/codec';
import { OFPP_NORMAL, OFPP_CONTROLLER, OFPP_LOCAL } from '../southbound/codec';
import { formatFlow, formatActions } from '../southbound/text';
import { simulate, SimOutput, PacketFields, Trace as SimTrace, Verdict as SimVerdict } from './flow-sim';
import { serviceBackends } from './service-spec';
import { NX_NAT_F_DST } from '../southbound/codec';
import type { ContainerService } from './container-service';
import { EndpointRec, HostRec, NetworkRec, endpointPort } from './resources';
import { BR_INT, BR_PHY, CATEGORY, categoryOf, objectIdOf, objectId, TUNNEL_PORT, SECURE_TUNNEL_PORT, PATCH_PORT, PHY_PATCH_PORT, ETH_TYPE, ARP_OP, IP_PROTO, BROADCAST_MAC, uplinkOf } from './pipeline';
import { parseCidr, cidrContains, ipToInt, isIp } from './ipv4';
import { badRequest, notFound, conflict } from './errors';
import { compare, type LiveTracer, type LiveResult, type Comparison } from './live-trace';

export interface TraceRequest {
  from: { endpoint: string } | { ip: string; network: string };
  to: { ip: string } | { endpoint: string };
  proto: 'icmp' | 'tcp' | 'udp';
  dstPort?: number;
  /** also inject a marked packet and observe it on the switches (controller/live-trace.ts) */
  live?: boolean;
}

/** The computed trace, and with `live` what the switches did with a marked packet and whether the two agree. */
export interface TraceAnswer {
  computed: TraceResult;
  live?: LiveResult;
  agree?: boolean;
  difference?: Comparison['difference'];
}

export interface TraceHop {
  host: string;
  bridge: 'br-int' | 'br-phy';
  tableId: number;
  table: string;
  /** the flow that matched, in ovs-ofctl text, or null when none did */
  flow: string | null;
  /** what wrote the flow: its cookie's category and object (endpoint id, network name, pipeline table) */
  owner: string | null;
  actions: string;
}

export interface TunnelHop { kind: 'tunnel'; vni: number; from: string; to: string }
export interface UnderlayHop { kind: 'underlay'; from: string; to: string }

export type TraceVerdict =
  | { result: 'delivered'; endpoint: string; host: string }
  | { result: 'left'; host: string; how: string }
  | { result: 'dropped'; host: string; bridge: string; table: string; reason: string; detail: string };

/** A trace to a service's VIP: the service, its ready backends, and the one the computed walk chose. */
export interface TraceService {
  name: string;
  vip: string;
  affinity: 'none' | 'clientIP';
  backends: { id: string; ip: string; host: string }[];
  /** the backend the DNAT went to (a select group's bucket is picked from the packet's addresses and ports; the switch hashes its own way), or null when none did */
  chosen: { id: string; ip: string; host: string } | null;
}

export interface TraceResult {
  /** the next hop's MAC the container resolved by ARP, or null when ARP went unanswered */
  arp: { target: string; mac: string | null };
  /** the destination is a VIP of the source's network */
  service?: TraceService;
  hops: (TraceHop | TunnelHop | UnderlayHop)[];
  verdict: TraceVerdict;
}

/** What the tracer reads: the container service's state and its flow source's flows per bridge. */
export interface TraceSource {
  containers: ContainerService;
  desiredFlows(dpid: string): FlowMod[];
  /** a bridge's port numbers by name, as the switch reports them (undefined while it is not connected) */
  ports(dpid: string): Map<string, number> | undefined;
  /** a host's br-phy MAC while it is connected */
  phyMac(host: HostRec): string | undefined;
}

/** The table a drop happened in says why, in words an operator reads. */
const DROP_REASONS: Record<string, string> = {
  spoofGuard: 'spoof guard: the source address or MAC is not the endpoint\'s',
  arpResponder: 'no ARP answer for that address',
  l3Forwarding: 'no route',
  l2Forwarding: 'no route: nothing delivers that destination in this network',
  classifier: 'not classified',
  egressPolicy: 'policy',
  serviceLB: 'service: a VIP port without backends, or a VIP port the service does not have',
  ingressPolicy: 'policy',
  phyIngress: 'not admitted by br-phy',
  phyNat: 'NAT',
  phyNextHop: 'no next hop',
};

const MAX_BRIDGES = 8;

export class Tracer {
  private live?: LiveTracer;

  constructor(private readonly src: TraceSource) {}

  /** Live traces run through this host app (wired by the composition root). */
  useLive(l: LiveTracer): void {
    this.live = l;
  }

  /** The computed trace and, when asked, the live one compared with it. */
  async answer(req: TraceRequest): Promise<TraceAnswer> {
    const computed = this.trace(req);
    if (!req.live) return { computed };
    if (!this.live) throw conflict('live traces are not available');
    const from = this.endpointByRef(req.from, 'from')!;
    const dstIp = 'endpoint' in req.to ? this.endpointByRef(req.to, 'to')!.ip : req.to.ip;
    const live = await this.live.run(req, from, dstIp, computed);
    const c = compare(computed, live);
    return { computed, live, agree: c.agree, ...(c.difference ? { difference: c.difference } : {}) };
  }

  private endpointByRef(ref: TraceRequest['from'] | TraceRequest['to'], field: string): EndpointRec | undefined {
    const res = this.src.containers.resources;
    if ('endpoint' in ref) {
      const e = res.endpoint(ref.endpoint);
      if (!e) throw notFound('endpoint', ref.endpoint);
      return e;
    }
    if (!isIp(ref.ip)) throw badRequest(`"${ref.ip}" is not an IPv4 address`, `${field}.ip`);
    if (!('network' in ref)) return undefined;
    const n = res.network(ref.network);
    if (!n) throw notFound('network', ref.network);
    return res.endpoints({ networkId: n.id }).find((e) => e.ip === ref.ip);
  }

  trace(req: TraceRequest): TraceResult {
    const res = this.src.containers.resources;
    const from = this.endpointByRef(req.from, 'from');
    if (!from) throw notFound('endpoint', `${(req.from as { ip: string }).ip} in network ${(req.from as { network: string }).network}`);
    const dstIp = 'endpoint' in req.to ? this.endpointByRef(req.to, 'to')!.ip : req.to.ip;
    if (!isIp(dstIp)) throw badRequest(`"${dstIp}" is not an IPv4 address`, 'to.ip');
    if (req.proto === 'icmp' && req.dstPort !== undefined) throw badRequest('dstPort goes with tcp or udp', 'dstPort');
    const host = res.host(from.host)!;
    const net = res.network(from.networkId)!;
    const hops: TraceResult['hops'] = [];
    const port = this.endpointPort(from, host);
    // the container's next hop: the destination itself on its own subnet, else the gateway
    const target = cidrContains(parseCidr(net.cidr), ipToInt(dstIp)) ? dstIp : net.gateway;
    const arpT = this.walk(host, 'br-int', {
      in_port: port, eth_src: from.mac, eth_dst: BROADCAST_MAC, eth_type: ETH_TYPE.arp, arp_op: ARP_OP.request,
      arp_spa: from.ip, arp_sha: from.mac, arp_tpa: target, arp_tha: '00:00:00:00:00:00',
    }, hops);
    const answer = arpT.outputs.find((o) => o.port === port && Number(o.fields.arp_op) === ARP_OP.reply);
    if (!answer) {
      return { arp: { target, mac: null }, hops, verdict: this.dropOrElse(arpT, host, 'br-int', `no ARP answer for ${target}: the container cannot send`) };
    }
    const mac = String(answer.fields.arp_sha);
    hops.length = 0; // the ARP exchange is summed up in `arp`; the hops are the packet's
    const l4: PacketFields = req.proto === 'icmp' ? { ip_proto: 1, icmpv4_type: 8 }
      : { ip_proto: req.proto === 'tcp' ? IP_PROTO.tcp : IP_PROTO.udp, [`${req.proto}_src`]: 40000, [`${req.proto}_dst`]: req.dstPort ?? 80 };
    let packet: PacketFields = { in_port: port, eth_src: from.mac, eth_dst: mac, eth_type: ETH_TYPE.ipv4, ipv4_src: from.ip, ipv4_dst: dstIp, nw_ttl: 64, ...l4 };
    let at: { host: HostRec; bridge: 'br-int' | 'br-phy' } = { host, bridge: 'br-int' };
    const x = res.services().find((s) => s.networkId === from.networkId && s.vip === dstIp);
    let service: TraceService | undefined;
    const view = (e: EndpointRec) => ({ id: e.id, ip: e.ip, host: e.host });
    for (let n = 0; n < MAX_BRIDGES; n++) {
      const t = this.walk(at.host, at.bridge, packet, hops);
      if (x && n === 0) {
        // the client's host chose: the DNAT its walk committed names the backend
        const backends = serviceBackends(x, res.endpoints({ networkId: x.networkId }));
        const to = t.effects.flatMap((e) => (e.type === 'ct' && e.nat && e.nat.flags & NX_NAT_F_DST ? [e.nat.ipv4_min] : []))[0];
        const chosen = backends.find((e) => e.ip === to);
        service = { name: x.name, vip: x.vip, affinity: x.affinity, backends: backends.map(view), chosen: chosen ? view(chosen) : null };
      }
      const done = (verdict: TraceVerdict): TraceResult => ({ arp: { target, mac }, ...(service && { service }), hops, verdict });
      if (t.verdict.kind === 'drop') return done(this.dropOrElse(t, at.host, at.bridge, ''));
      const next = this.follow(at, t.outputs, hops);
      if ('verdict' in next) return done(next.verdict);
      at = next.at;
      packet = next.packet;
    }
    return { arp: { target, mac }, ...(service && { service }), hops, verdict: { result: 'dropped', host: at.host.name, bridge: at.bridge, table: '-', reason: 'loop', detail: `more than ${MAX_BRIDGES} bridges` } };
  }

  /** Where one bridge's output goes next: an endpoint, the tunnel, the other bridge, the underlay, or out. */
  private follow(at: { host: HostRec; bridge: 'br-int' | 'br-phy' }, outputs: SimOutput[], hops: TraceResult['hops']):
    { verdict: TraceVerdict } | { at: { host: HostRec; bridge: 'br-int' | 'br-phy' }; packet: PacketFields } {
    const res = this.src.containers.resources;
    const o = outputs[0]!;
    const dpid = at.bridge === 'br-int' ? at.host.dpid : at.host.phyDpid!;
    const names = this.portNames(dpid);
    const name = names.get(o.port);
    if (o.port === OFPP_CONTROLLER) return { verdict: { result: 'left', host: at.host.name, how: `to the controller from ${at.bridge}` } };
    if (at.bridge === 'br-int') {
      const local = res.endpoints({ host: at.host.name }).find((e) => this.endpointPort(e, at.host) === o.port);
      if (local) return { verdict: { result: 'delivered', endpoint: local.id, host: at.host.name } };
      if (name === TUNNEL_PORT || name === SECURE_TUNNEL_PORT || o.tun_dst !== undefined) {
        // the secure tunnel (encrypted networks) goes from VTEP to VTEP, through both hosts' IPsec
        const secure = name === SECURE_TUNNEL_PORT;
        const port = secure ? SECURE_TUNNEL_PORT : TUNNEL_PORT;
        const to = res.hosts().find((h) => (secure ? h.ipsecVtep : h.underlayIp) === o.tun_dst);
        hops.push({ kind: 'tunnel', vni: Number(o.tun_id ?? 0n), from: (secure ? at.host.ipsecVtep : null) ?? at.host.underlayIp, to: o.tun_dst ?? '?' });
        if (!to) return { verdict: { result: 'dropped', host: at.host.name, bridge: 'br-int', table: '-', reason: 'no host', detail: `no registered host has ${secure ? 'secure VTEP' : 'underlay address'} ${o.tun_dst}` } };
        const tun = this.src.ports(to.dpid)?.get(port);
        if (tun === undefined) return { verdict: { result: 'dropped', host: to.name, bridge: 'br-int', table: '-', reason: 'not connected', detail: `${to.name}'s br-int or its ${port} is not connected` } };
        return { at: { host: to, bridge: 'br-int' }, packet: { ...strip(o.fields), in_port: tun, tunnel_id: o.tun_id ?? 0n } };
      }
      if (name === PATCH_PORT && at.host.phyDpid) {
        const p = this.src.ports(at.host.phyDpid)?.get(PHY_PATCH_PORT);
        if (p === undefined) return { verdict: { result: 'dropped', host: at.host.name, bridge: 'br-phy', table: '-', reason: 'not connected', detail: 'br-phy is not connected' } };
        return { at: { host: at.host, bridge: 'br-phy' }, packet: { ...strip(o.fields), in_port: p } };
      }
      return { verdict: { result: 'left', host: at.host.name, how: `br-int port ${name ?? o.port}` } };
    }
    // br-phy
    if (name === PHY_PATCH_PORT) {
      const p = this.src.ports(at.host.dpid)?.get(PATCH_PORT);
      if (p === undefined) return { verdict: { result: 'dropped', host: at.host.name, bridge: 'br-int', table: '-', reason: 'not connected', detail: 'br-int has no patch port' } };
      return { at: { host: at.host, bridge: 'br-int' }, packet: { ...strip(o.fields), in_port: p } };
    }
    const dstMac = String(o.fields.eth_dst ?? '').toLowerCase();
    if (o.port === OFPP_LOCAL || (o.port === OFPP_NORMAL && dstMac === this.src.phyMac(at.host)?.toLowerCase())) {
      return { verdict: { result: 'left', host: at.host.name, how: 'to the host\'s own IP stack' } };
    }
    // NORMAL (or the uplink) towards another host's br-phy over the underlay
    const peer = res.hosts().find((h) => h.name !== at.host.name && h.phyDpid && this.src.phyMac(h)?.toLowerCase() === dstMac);
    if (peer) {
      hops.push({ kind: 'underlay', from: at.host.underlayIp, to: peer.underlayIp });
      const uplink = uplinkOf([...(this.src.ports(peer.phyDpid!) ?? [])].map(([name, port_no]) => ({ name, port_no })));
      if (uplink === undefined) return { verdict: { result: 'dropped', host: peer.name, bridge: 'br-phy', table: '-', reason: 'not connected', detail: `${peer.name}'s br-phy is not connected` } };
      return { at: { host: peer, bridge: 'br-phy' }, packet: { ...strip(o.fields), in_port: uplink } };
    }
    return { verdict: { result: 'left', host: at.host.name, how: `out of br-phy to ${dstMac || 'the underlay'} (outside Weft)` } };
  }

  private dropOrElse(t: SimTrace, host: HostRec, bridge: string, otherwise: string): TraceVerdict {
    const v = t.verdict as SimVerdict;
    if (v.kind !== 'drop') return { result: 'dropped', host: host.name, bridge, table: '-', reason: 'no answer', detail: otherwise };
    const table = v.tableName ?? String(v.table);
    return { result: 'dropped', host: host.name, bridge, table, reason: DROP_REASONS[table] ?? v.reason, detail: otherwise ? `${otherwise}; ${v.why}` : v.why };
  }

  /** One bridge: simulate, and add its hops. */
  private walk(host: HostRec, bridge: 'br-int' | 'br-phy', packet: PacketFields, hops: TraceResult['hops']): SimTrace {
    const pipeline = bridge === 'br-int' ? BR_INT : BR_PHY;
    const dpid = bridge === 'br-int' ? host.dpid : host.phyDpid!;
    const groups = bridge === 'br-int' ? this.src.containers.desiredGroups(dpid) : [];
    const t = simulate(this.src.desiredFlows(dpid), packet, { tableNames: (id) => pipeline.nameOf(id), groups });
    for (const h of t.hops) {
      hops.push({
        host: host.name, bridge, tableId: h.table, table: h.tableName ?? pipeline.nameOf(h.table) ?? String(h.table),
        flow: h.flow ? formatFlow({ ...h.flow, table_id: h.table, cookie: h.flow.cookie ?? 0n, priority: h.flow.priority ?? 0, match: [...h.flow.match], instructions: [...h.flow.instructions] } as Parameters<typeof formatFlow>[0]) : null,
        owner: h.flow?.cookie !== undefined ? this.owner(h.flow.cookie, pipeline) : null,
        actions: actionsText(h.actions, h.flow?.instructions),
      });
    }
    return t;
  }

  private owner(c: bigint, pipeline: typeof BR_INT | typeof BR_PHY): string {
    const cat = categoryOf(c), id = objectIdOf(c);
    const res = this.src.containers.resources;
    if (cat === CATEGORY.endpoint) return `endpoint ${res.endpoints().find((e) => objectId(e.id) === id)?.id ?? id.toString(16)}`;
    if (cat === CATEGORY.network) {
      const n: NetworkRec | undefined = res.networks().find((x) => x.id === id);
      return n ? `network ${n.name}` : `network block ${id.toString(16)}`;
    }
    if (cat === CATEGORY.pipeline) return `pipeline ${pipeline.nameOf(id) ?? id.toString(16)}`;
    if (cat === CATEGORY.service) {
      const x = res.services().find((s) => objectId(`service:${s.name}`) === id);
      return x ? `service ${x.name}` : 'services';
    }
    if (cat === CATEGORY.probe) return `tunnel probes from ${res.hosts().find((h) => objectId(h.name) === id)?.name ?? id.toString(16)}`;
    return `cookie ${c.toString(16)}`;
  }

  private portNames(dpid: string): Map<number, string> {
    return new Map([...(this.src.ports(dpid) ?? new Map<string, number>())].map(([n, no]) => [no, n]));
  }

  /** An endpoint's port: the one OVS reports, or the number it asked for. */
  private endpointPort(e: EndpointRec, h: HostRec): number {
    return endpointPort(e, (name) => this.src.ports(h.dpid)?.get(name)) ?? -1;
  }
}

/** What a hop did: its actions, and where it went on; a flow that only continues says so rather than "drop". */
function actionsText(actions: Action[], instructions: readonly Instruction[] | undefined): string {
  const goto = instructions?.find((i) => i.type === 'goto_table') as { table_id: number } | undefined;
  const parts = [...(actions.length ? [formatActions(actions)] : []), ...(goto ? [`goto_table:${goto.table_id}`] : [])];
  return parts.length ? parts.join(',') : 'drop';
}

/** A packet's fields as the next bridge receives them: no registers, metadata or tunnel fields carry over. */
function strip(f: PacketFields): PacketFields {
  const out: PacketFields = {};
  for (const [k, v] of Object.entries(f)) if (!/^(reg\d+|xreg\d+|metadata|tunnel_id|tun_|ct_|in_port)/.test(k)) out[k] = v;
  return out;
}
