// The topology graph (graphology): switches as nodes, discovered links as
// directed edges keyed "dpid:port->dpid:port", hosts as their own map by MAC.
// Writers (the discovery app) call the mutators; each change is published on
// the bus as link.* / host.* events. Readers get paths and spanning trees.
import { MultiDirectedGraph } from 'graphology';
import { EventBus, HostView, LinkView } from './events';

export interface LinkAttrs {
  srcPort: number;
  dstPort: number;
  lastSeen: number;
}

export const linkKey = (l: LinkView) => `${l.src.dpid}:${l.src.port}->${l.dst.dpid}:${l.dst.port}`;

export class Topology {
  readonly graph = new MultiDirectedGraph<Record<string, never>, LinkAttrs>({ allowSelfLoops: false });
  readonly hosts = new Map<string, HostView>();
  /** version counter, bumped on every link change (for caching trees) */
  version = 0;

  constructor(readonly bus: EventBus) {}

  addSwitch(dpid: string): void {
    if (!this.graph.hasNode(dpid)) this.graph.addNode(dpid);
  }

  removeSwitch(dpid: string, reason: string): void {
    if (!this.graph.hasNode(dpid)) return;
    for (const l of this.linksOf(dpid)) this.removeLink(l, reason);
    this.graph.dropNode(dpid);
    for (const h of [...this.hosts.values()]) if (h.dpid === dpid) this.removeHost(h.mac, reason);
  }

  /** Add or refresh a link; true if it is new. */
  upsertLink(l: LinkView, now: number): boolean {
    const key = linkKey(l);
    if (this.graph.hasEdge(key)) {
      this.graph.setEdgeAttribute(key, 'lastSeen', now);
      return false;
    }
    this.addSwitch(l.src.dpid);
    this.addSwitch(l.dst.dpid);
    // A port carries at most one link in each direction: drop a stale one first.
    for (const old of this.links()) {
      if ((old.src.dpid === l.src.dpid && old.src.port === l.src.port) || (old.dst.dpid === l.dst.dpid && old.dst.port === l.dst.port)) {
        this.removeLink(old, 'replaced');
      }
    }
    this.graph.addDirectedEdgeWithKey(key, l.src.dpid, l.dst.dpid, { srcPort: l.src.port, dstPort: l.dst.port, lastSeen: now });
    this.version++;
    // Hosts cannot sit behind a port that carries a link.
    for (const h of [...this.hosts.values()]) {
      if ((h.dpid === l.dst.dpid && h.port === l.dst.port) || (h.dpid === l.src.dpid && h.port === l.src.port)) this.removeHost(h.mac, 'port is a link');
    }
    this.bus.emit({ type: 'link.added', link: l });
    return true;
  }

  removeLink(l: LinkView, reason: string): void {
    const key = linkKey(l);
    if (!this.graph.hasEdge(key)) return;
    this.graph.dropEdge(key);
    this.version++;
    this.bus.emit({ type: 'link.removed', link: l, reason });
  }

  links(): LinkView[] {
    return this.graph.mapEdges((_k, a, s, t) => ({ src: { dpid: s, port: a.srcPort }, dst: { dpid: t, port: a.dstPort } }));
  }

  linksOf(dpid: string, port?: number): LinkView[] {
    return this.links().filter((l) => (l.src.dpid === dpid && (port === undefined || l.src.port === port))
      || (l.dst.dpid === dpid && (port === undefined || l.dst.port === port)));
  }

  /** True if the port carries a discovered link (in either direction). */
  isLinkPort(dpid: string, port: number): boolean {
    if (!this.graph.hasNode(dpid)) return false;
    let found = false;
    this.graph.forEachOutEdge(dpid, (_k, a) => { if (a.srcPort === port) found = true; });
    if (!found) this.graph.forEachInEdge(dpid, (_k, a) => { if (a.dstPort === port) found = true; });
    return found;
  }

  /** Learn or refresh a host; emits host.added / host.moved. */
  seeHost(mac: string, dpid: string, port: number, ip?: string): HostView {
    const now = new Date().toISOString();
    const h = this.hosts.get(mac);
    if (!h) {
      const nh: HostView = { mac, ips: ip ? [ip] : [], dpid, port, first_seen: now, last_seen: now };
      this.hosts.set(mac, nh);
      this.bus.emit({ type: 'host.added', host: nh });
      return nh;
    }
    h.last_seen = now;
    if (ip && !h.ips.includes(ip)) h.ips.push(ip);
    if (h.dpid !== dpid || h.port !== port) {
      const from = { dpid: h.dpid, port: h.port };
      h.dpid = dpid;
      h.port = port;
      this.bus.emit({ type: 'host.moved', host: h, from });
    }
    return h;
  }

  removeHost(mac: string, reason: string): void {
    const h = this.hosts.get(mac);
    if (!h) return;
    this.hosts.delete(mac);
    this.bus.emit({ type: 'host.removed', host: h, reason });
  }

  /**
   * Undirected adjacency used for forwarding: a link counts only when both
   * directions have been seen (a one-way link cannot carry replies).
   */
  adjacency(): Map<string, { peer: string; port: number; peerPort: number }[]> {
    const adj = new Map<string, { peer: string; port: number; peerPort: number }[]>();
    this.graph.forEachNode((n) => adj.set(n, []));
    this.graph.forEachEdge((key, a, s, t) => {
      const back = `${t}:${a.dstPort}->${s}:${a.srcPort}`;
      if (!this.graph.hasEdge(back)) return;
      adj.get(s)!.push({ peer: t, port: a.srcPort, peerPort: a.dstPort });
    });
    for (const l of adj.values()) l.sort((x, y) => (x.peer === y.peer ? x.port - y.port : x.peer < y.peer ? -1 : 1));
    return adj;
  }
}
