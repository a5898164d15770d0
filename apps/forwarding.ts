// Shortest-path forwarding. Once a host is known, every switch gets a flow
// eth_dst=<host> -> the port on its shortest path toward it (one BFS tree
// per destination, over links seen in both directions), so unicast never
// returns to the controller. Broadcast and unknown destinations are flooded
// by the controller only along a spanning tree of the discovered topology,
// so rings and fat-trees cannot storm. Any topology or host change
// recomputes the trees and sends only the difference: changed flows are
// modified, flows for unreachable destinations deleted.
import type { App, AppContext, Effect } from '../controller/app';
import type { Stamped, WeftEvent } from '../controller/events';
import { flowMod, PacketIn, OFPP_CONTROLLER, OFPP_MAX, OFPCML_NO_BUFFER, OFP_NO_BUFFER, OFPFC_ADD, OFPFC_DELETE, OFPFC_DELETE_STRICT, OFPTT_ALL, Action } from '../southbound/codec';
import { ETH_TYPE_LLDP, Frame, isGroupMac } from '../southbound/packet/ethernet';

export const FORWARDING_COOKIE = 0x5041_5448_0000_0000n; // "PATH"
export const FORWARDING_PRIORITY = 10;

export interface ForwardingOptions {
  /** An edge port floods only once its switch has been connected this long (ms), so discovery can find links first. */
  settleMs?: number;
}

export class ShortestPathForwarding implements App {
  readonly name = 'forwarding';
  private ctx!: AppContext;
  /** dpid -> mac -> output port currently installed */
  readonly installed = new Map<string, Map<string, number>>();
  private readonly connectedAt = new Map<string, number>();
  private tree?: { version: number; ports: Map<string, Set<number>> };

  constructor(readonly opts: ForwardingOptions = {}) {}

  init(ctx: AppContext): void {
    this.ctx = ctx;
  }

  onEvent(e: Stamped<WeftEvent>): Effect[] | void {
    if (e.type === 'switch.connected') {
      this.installed.set(e.dpid, new Map());
      this.connectedAt.set(e.dpid, Date.now());
      return [
        { dpid: e.dpid, msg: flowMod({ command: OFPFC_DELETE, table_id: OFPTT_ALL, cookie: FORWARDING_COOKIE, cookie_mask: 0xffffffff00000000n }) },
        { dpid: e.dpid, msg: flowMod({ priority: 0, cookie: FORWARDING_COOKIE, instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: OFPP_CONTROLLER, max_len: OFPCML_NO_BUFFER }] }] }) },
        ...this.reconcile(),
      ];
    }
    if (e.type === 'switch.disconnected') {
      this.installed.delete(e.dpid);
      this.connectedAt.delete(e.dpid);
    }
    if (e.type.startsWith('link.') || e.type.startsWith('host.') || e.type === 'switch.disconnected') return this.reconcile();
  }

  /** Desired dpid -> mac -> port from one BFS per host over the bidirectional links. */
  desired(): Map<string, Map<string, number>> {
    const topo = this.ctx.topology;
    const adj = topo.adjacency();
    const want = new Map<string, Map<string, number>>();
    for (const dpid of this.installed.keys()) want.set(dpid, new Map());
    for (const h of topo.hosts.values()) {
      if (!want.has(h.dpid)) continue;
      want.get(h.dpid)!.set(h.mac, h.port);
      const seen = new Set([h.dpid]);
      const queue = [h.dpid];
      while (queue.length) {
        const n = queue.shift()!;
        for (const nb of adj.get(n) ?? []) {
          if (seen.has(nb.peer)) continue;
          seen.add(nb.peer);
          // nb.peer reaches n (toward the host) out of nb.peerPort
          want.get(nb.peer)?.set(h.mac, nb.peerPort);
          queue.push(nb.peer);
        }
      }
    }
    return want;
  }

  private flow(mac: string, port: number, command = OFPFC_ADD) {
    return flowMod({
      command, priority: FORWARDING_PRIORITY, cookie: FORWARDING_COOKIE, match: [{ field: 'eth_dst', value: mac }],
      instructions: command === OFPFC_ADD ? [{ type: 'apply_actions', actions: [{ type: 'output', port }] }] : [],
      out_port: 0xffffffff,
    });
  }

  /** Send the difference between installed and desired flows. */
  reconcile(): Effect[] {
    const want = this.desired();
    const out: Effect[] = [];
    for (const [dpid, have] of this.installed) {
      const w = want.get(dpid) ?? new Map<string, number>();
      for (const [mac, port] of have) {
        if (!w.has(mac)) { out.push({ dpid, msg: this.flow(mac, port, OFPFC_DELETE_STRICT) }); have.delete(mac); }
      }
      for (const [mac, port] of w) {
        if (have.get(mac) !== port) { out.push({ dpid, msg: this.flow(mac, port) }); have.set(mac, port); }
      }
    }
    return out;
  }

  /** Ports each switch floods on: spanning-tree links plus settled edge ports. */
  floodPorts(dpid: string): Set<number> {
    const topo = this.ctx.topology;
    if (!this.tree || this.tree.version !== topo.version) this.tree = { version: topo.version, ports: this.spanningTree() };
    const ports = new Set(this.tree.ports.get(dpid) ?? []);
    const since = this.connectedAt.get(dpid) ?? Date.now();
    const settled = Date.now() - since >= (this.opts.settleMs ?? 1500);
    const sw = this.ctx.switchInfo(dpid);
    if (settled && sw) for (const p of sw.ports) if (p.port_no <= OFPP_MAX && p.status === 'up' && !topo.isLinkPort(dpid, p.port_no)) ports.add(p.port_no);
    return ports;
  }

  /** BFS spanning forest from the lowest dpid of each component: dpid -> tree ports. */
  spanningTree(): Map<string, Set<number>> {
    const adj = this.ctx.topology.adjacency();
    const ports = new Map<string, Set<number>>();
    for (const n of adj.keys()) ports.set(n, new Set());
    const seen = new Set<string>();
    for (const root of [...adj.keys()].sort()) {
      if (seen.has(root)) continue;
      seen.add(root);
      const queue = [root];
      while (queue.length) {
        const n = queue.shift()!;
        for (const nb of adj.get(n)!) {
          if (seen.has(nb.peer)) continue;
          seen.add(nb.peer);
          ports.get(n)!.add(nb.port);
          ports.get(nb.peer)!.add(nb.peerPort);
          queue.push(nb.peer);
        }
      }
    }
    return ports;
  }

  onPacketIn(dpid: string, pi: PacketIn, f: Frame | undefined): Effect[] | void {
    if (!f || f.ethType === ETH_TYPE_LLDP) return;
    const inPort = pi.match.find((m) => m.field === 'in_port')?.value as number | undefined;
    if (inPort === undefined) return;
    const known = isGroupMac(f.dst) ? undefined : this.installed.get(dpid)?.get(f.dst);
    let actions: Action[];
    if (known !== undefined) {
      if (known === inPort) return;
      actions = [{ type: 'output', port: known }];
    } else {
      const flood = this.floodPorts(dpid);
      // a flooded copy arriving over a link outside the tree is a duplicate
      if (!flood.has(inPort) && this.ctx.topology.isLinkPort(dpid, inPort)) return;
      flood.delete(inPort);
      if (flood.size === 0) return;
      actions = [...flood].sort((a, b) => a - b).map((port) => ({ type: 'output' as const, port }));
    }
    return [{ dpid, msg: { type: 'packet_out', buffer_id: pi.buffer_id, in_port: inPort, actions, data: pi.buffer_id === OFP_NO_BUFFER ? pi.data : Buffer.alloc(0) } }];
  }
}
