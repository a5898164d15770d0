// Topology discovery: LLDP probes out of every port of every switch
// (packet-out); a probe that comes back in on another switch's port is a
// directed link. Links age out when probes stop and go down at once when a
// port goes down. A probe that arrives at more than one place within one
// aging window came through a broadcast domain (a hub, a non-OpenFlow
// bridge), not a point-to-point link, and makes no link. Hosts are learned
// from the first frames they send on ports that carry no link.
import type { App, AppContext, Effect } from '../controller/app';
import type { Stamped, WeftEvent } from '../controller/events';
import { flowMod, PacketIn, OFPP_CONTROLLER, OFPP_MAX, OFPCML_NO_BUFFER, OFP_NO_BUFFER, OFPFC_DELETE, OFPTT_ALL } from '../southbound/codec';
import { ETH_TYPE_LLDP, Frame, isGroupMac } from '../southbound/packet/ethernet';
import { buildProbe, parseProbe } from '../southbound/packet/lldp';

export const TOPOLOGY_COOKIE = 0x4c4c_4450_0000_0000n; // "LLDP"
export const LLDP_PRIORITY = 65000;

export interface TopologyOptions {
  /** How often every port is probed (ms). */
  probeIntervalMs?: number;
  /** A link not refreshed for this long is removed (ms); default 3.5 probe intervals. */
  linkTimeoutMs?: number;
}

export class TopologyDiscovery implements App {
  readonly name = 'topology';
  readonly tickMs: number;
  private ctx!: AppContext;
  private readonly linkTimeoutMs: number;
  /** "dpid:port" of a probe source -> destinations seen, with when. */
  private readonly arrivals = new Map<string, Map<string, number>>();

  constructor(opts: TopologyOptions = {}) {
    this.tickMs = opts.probeIntervalMs ?? 1000;
    this.linkTimeoutMs = opts.linkTimeoutMs ?? Math.round(this.tickMs * 3.5);
  }

  init(ctx: AppContext): void {
    this.ctx = ctx;
  }

  private probes(dpid: string, only?: number): Effect[] {
    const sw = this.ctx.switchInfo(dpid);
    if (!sw) return [];
    const out: Effect[] = [];
    for (const p of sw.ports) {
      if (p.port_no > OFPP_MAX || p.status !== 'up' || (only !== undefined && p.port_no !== only)) continue;
      out.push({
        dpid, msg: {
          type: 'packet_out', buffer_id: OFP_NO_BUFFER, in_port: OFPP_CONTROLLER,
          actions: [{ type: 'output', port: p.port_no }],
          data: buildProbe({ dpid, port: p.port_no, controllerId: this.ctx.controllerId }, p.hw_addr),
        },
      });
    }
    return out;
  }

  onEvent(e: Stamped<WeftEvent>): Effect[] | void {
    const topo = this.ctx.topology;
    switch (e.type) {
      case 'switch.connected':
        topo.addSwitch(e.dpid);
        return [
          { dpid: e.dpid, msg: flowMod({ command: OFPFC_DELETE, table_id: OFPTT_ALL, cookie: TOPOLOGY_COOKIE, cookie_mask: 0xffffffff00000000n }) },
          {
            dpid: e.dpid, msg: flowMod({
              priority: LLDP_PRIORITY, cookie: TOPOLOGY_COOKIE, match: [{ field: 'eth_type', value: ETH_TYPE_LLDP }],
              instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: OFPP_CONTROLLER, max_len: OFPCML_NO_BUFFER }] }],
            }),
          },
          ...this.probes(e.dpid),
        ];
      case 'switch.disconnected':
        topo.removeSwitch(e.dpid, 'switch disconnected');
        return;
      case 'port.added': case 'port.modified': case 'port.removed':
        if (e.type === 'port.removed' || e.port.status === 'down') {
          for (const l of topo.linksOf(e.dpid, e.port.port_no)) topo.removeLink(l, 'port down');
          for (const h of [...topo.hosts.values()]) if (h.dpid === e.dpid && h.port === e.port.port_no) topo.removeHost(h.mac, 'port down');
          return;
        }
        return this.probes(e.dpid, e.port.port_no);
    }
  }

  onPacketIn(dpid: string, pi: PacketIn, f: Frame | undefined): Effect[] | void {
    if (!f) return;
    const inPort = pi.match.find((m) => m.field === 'in_port')?.value as number | undefined;
    if (inPort === undefined) return;
    const topo = this.ctx.topology;
    if (f.ethType === ETH_TYPE_LLDP) {
      const p = parseProbe(pi.data, f.l3);
      if (!p || p.controllerId !== this.ctx.controllerId || !this.ctx.switchInfo(p.dpid)) return;
      if (p.dpid === dpid && p.port === inPort) return;
      const now = Date.now();
      const srcKey = `${p.dpid}:${p.port}`;
      let seen = this.arrivals.get(srcKey);
      if (!seen) { seen = new Map(); this.arrivals.set(srcKey, seen); }
      seen.set(`${dpid}:${inPort}`, now);
      for (const [k, t] of seen) if (now - t > this.linkTimeoutMs) seen.delete(k);
      if (seen.size > 1) {
        // broadcast domain: the same probe reached several ports
        for (const l of topo.linksOf(p.dpid, p.port)) if (l.src.dpid === p.dpid && l.src.port === p.port) topo.removeLink(l, 'broadcast domain');
        return;
      }
      const added = topo.upsertLink({ src: { dpid: p.dpid, port: p.port }, dst: { dpid, port: inPort } }, now);
      // a new link: probe straight back so the reverse direction need not wait for the next round
      if (added && !topo.graph.hasEdge(`${dpid}:${inPort}->${p.dpid}:${p.port}`)) return this.probes(dpid, inPort);
      return;
    }
    if (isGroupMac(f.src) || inPort > OFPP_MAX || topo.isLinkPort(dpid, inPort)) return;
    topo.seeHost(f.src, dpid, inPort, f.arp ? (f.arp.spa !== '0.0.0.0' ? f.arp.spa : undefined) : f.ipv4?.src);
  }

  onTick(now: number): Effect[] {
    const topo = this.ctx.topology;
    for (const l of topo.links()) {
      const key = `${l.src.dpid}:${l.src.port}->${l.dst.dpid}:${l.dst.port}`;
      const seen = topo.graph.getEdgeAttribute(key, 'lastSeen');
      if (now - seen > this.linkTimeoutMs) topo.removeLink(l, 'probes stopped');
    }
    return this.ctx.switches().flatMap((s) => this.probes(s.dpid));
  }
}
