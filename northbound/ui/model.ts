// The topology the UI draws, as a graphology graph: registered container
// hosts (their bridges are part of them), their endpoints, the other
// switches (a Mininet lab's), the hosts those switches learned, the links
// between switches and the tunnels between container hosts with their
// health. Then a small deterministic force layout (Fruchterman-Reingold,
// seeded on a circle) places the lab's switches. No DOM here.
import Graph from 'graphology';
import type { Endpoint, HostStatus, RegisteredHost, Snapshot, Tunnel } from './types';

export type NodeKind = 'host' | 'switch' | 'learned' | 'endpoint';
export interface NodeAttrs {
  kind: NodeKind; label: string; sub: string; title: string;
  /** host: ok (connected and synced), syncing, down; switch: up; endpoint: its state. */
  status: string;
  x: number; y: number;
}
export type EdgeKind = 'link' | 'tunnel' | 'attach';
export interface EdgeAttrs { kind: EdgeKind; state: 'up' | 'down' | 'unknown'; label: string; title: string }
export type TopoGraph = Graph<NodeAttrs, EdgeAttrs>;

/** Endpoints are drawn as nodes up to this many; beyond, each host shows a count. */
export const MAX_ENDPOINT_NODES = 48;

export const hostKey = (name: string) => `host:${name}`;
export const endpointKey = (id: string) => `ep:${id}`;
export const switchKey = (dpid: string) => `sw:${dpid}`;

/** A dpid for people: Mininet's s<N> when it is a small number, else the dpid without its leading zeros. */
export function dpidLabel(dpid: string): string {
  const n = parseInt(dpid, 16);
  return Number.isSafeInteger(n) && n > 0 && n < 0x10000 ? `s${n}` : dpid.replace(/^0+(?=.)/, '');
}

const worst = (a: Tunnel['state'], b: Tunnel['state']): Tunnel['state'] => (a === 'down' || b === 'down' ? 'down' : a === 'up' && b === 'up' ? 'up' : 'unknown');

/**
 * The tunnels to draw, one per host pair: from GET /v1/tunnels, or, with
 * no health data (null: the route is not there), every pair of registered
 * hosts, unknown. Then the `tunnel` events seen since (`updates`) replace
 * their direction. Both directions of a pair merge: up only when both are.
 */
export function tunnelPairs(hosts: RegisteredHost[], tunnels: Tunnel[] | null, updates: Tunnel[] = []): Map<string, Tunnel> {
  const pairs = new Map<string, Tunnel>();
  const key = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);
  let base: Tunnel[] = tunnels ?? [];
  if (tunnels === null) {
    const names = hosts.map((h) => h.name).sort();
    for (let i = 0; i < names.length; i++) {
      for (let j = i + 1; j < names.length; j++) {
        const a = hosts.find((h) => h.name === names[i])!, b = hosts.find((h) => h.name === names[j])!;
        base.push({ from: a.name, to: b.name, fromIp: a.underlayIp, toIp: b.underlayIp, state: 'unknown', rttMs: null, lastSeen: null });
      }
    }
  }
  const known = new Set(hosts.map((h) => h.name));
  for (const u of updates) {
    if (!known.has(u.from) || !known.has(u.to)) continue;
    base = [...base.filter((t) => !(t.from === u.from && t.to === u.to) && !(tunnels === null && t.state === 'unknown' && key(t.from, t.to) === key(u.from, u.to))), u];
  }
  for (const t of base) {
    const k = key(t.from, t.to);
    const had = pairs.get(k);
    if (!had) { pairs.set(k, { ...t }); continue; }
    had.state = worst(had.state, t.state);
    had.rttMs = had.rttMs === null ? t.rttMs : t.rttMs === null ? had.rttMs : Math.max(had.rttMs, t.rttMs);
    if (t.lastSeen && (!had.lastSeen || t.lastSeen > had.lastSeen)) had.lastSeen = t.lastSeen;
  }
  return pairs;
}

export function hostHealth(h: RegisteredHost, s: HostStatus | undefined): 'ok' | 'syncing' | 'down' {
  if (!h.connected) return 'down';
  if (s && s.bridges.some((b) => !b.connected)) return 'down';
  if (s && s.bridges.some((b) => !b.synced)) return 'syncing';
  return 'ok';
}

export interface ModelInput {
  snapshot: Snapshot;
  hosts: RegisteredHost[];
  status: Map<string, HostStatus>;
  endpoints: Endpoint[];
  tunnels: Tunnel[] | null;
  /** `tunnel` events since GET /v1/tunnels was read, one per direction. */
  tunnelUpdates?: Tunnel[];
}

export function buildModel(m: ModelInput): TopoGraph {
  const g: TopoGraph = new Graph<NodeAttrs, EdgeAttrs>({ type: 'undirected', multi: false, allowSelfLoops: false });
  const node = (k: string, a: Omit<NodeAttrs, 'x' | 'y'>) => { if (!g.hasNode(k)) g.addNode(k, { ...a, x: 0, y: 0 }); };
  const edge = (a: string, b: string, attrs: EdgeAttrs) => { if (g.hasNode(a) && g.hasNode(b) && a !== b && !g.hasEdge(a, b)) g.addEdge(a, b, attrs); };
  // a registered host's bridges are drawn as the host
  const hostBridges = new Set<string>();
  for (const h of m.hosts) {
    hostBridges.add(h.dpid);
    if (h.phyDpid) hostBridges.add(h.phyDpid);
    const s = m.status.get(h.name);
    const bridges = s ? s.bridges.map((b) => `${b.bridge} ${b.connected ? (b.synced ? 'synced' : 'syncing') : 'down'} ${b.flows.confirmed}/${b.flows.desired}`).join(', ') : (h.connected ? 'connected' : 'not connected');
    node(hostKey(h.name), { kind: 'host', label: h.name, sub: h.underlayIp, status: hostHealth(h, s), title: `host ${h.name} (${h.underlayIp}), br-int ${h.dpid}: ${bridges}; ${h.endpoints} endpoints` });
  }
  const drawEndpoints = m.endpoints.length <= MAX_ENDPOINT_NODES;
  if (drawEndpoints) {
    for (const e of m.endpoints) {
      if (!g.hasNode(hostKey(e.host))) continue;
      node(endpointKey(e.id), { kind: 'endpoint', label: e.containerId, sub: e.ip, status: e.state, title: `endpoint ${e.id}: ${e.containerId}/${e.ifName} ${e.ip} on ${e.host}, network ${e.network}, ${e.state}` });
      edge(hostKey(e.host), endpointKey(e.id), { kind: 'attach', state: e.state === 'ready' ? 'up' : 'unknown', label: '', title: `${e.portName} ofport ${e.ofport ?? '-'}` });
    }
  }
  for (const s of m.snapshot.switches) {
    if (hostBridges.has(s.dpid)) continue;
    node(switchKey(s.dpid), { kind: 'switch', label: dpidLabel(s.dpid), sub: '', status: 'up', title: `switch ${s.dpid} (${s.remote}), ${s.ports.length} ports` });
  }
  for (const l of m.snapshot.links) {
    edge(switchKey(l.src.dpid), switchKey(l.dst.dpid), { kind: 'link', state: 'up', label: '', title: `${l.src.dpid}:${l.src.port} - ${l.dst.dpid}:${l.dst.port}` });
  }
  for (const h of m.snapshot.hosts) {
    if (!g.hasNode(switchKey(h.dpid))) continue;
    const k = `lh:${h.mac}`;
    node(k, { kind: 'learned', label: h.ips[0] ?? h.mac, sub: '', status: 'up', title: `host ${h.mac} ${h.ips.join(', ')} at ${h.dpid} port ${h.port}` });
    edge(k, switchKey(h.dpid), { kind: 'attach', state: 'up', label: '', title: `port ${h.port}` });
  }
  for (const t of tunnelPairs(m.hosts, m.tunnels, m.tunnelUpdates).values()) {
    const label = t.rttMs !== null ? `${t.rttMs.toFixed(t.rttMs < 10 ? 2 : 0)} ms` : '';
    edge(hostKey(t.from), hostKey(t.to), {
      kind: 'tunnel', state: t.state, label,
      title: `tunnel ${t.from} (${t.fromIp}) - ${t.to} (${t.toIp}): ${t.state}${t.rttMs !== null ? `, rtt ${t.rttMs} ms` : ''}${t.lastSeen ? `, last seen ${t.lastSeen}` : ''}`,
    });
  }
  return g;
}

/**
 * Places the nodes in a width x height box, the same way every time for the
 * same graph. Container hosts sit on a circle in one part, their endpoints
 * fanned outwards around each; the other switches (a lab) are laid out in
 * the other part by Fruchterman-Reingold on their links (seeded on a
 * circle in dpid order), the hosts they learned fanned around each.
 */
export function layout(g: TopoGraph, width: number, height: number, iterations = 300): void {
  const hosts = g.filterNodes((_k, a) => a.kind === 'host').sort();
  const switches = g.filterNodes((_k, a) => a.kind === 'switch').sort();
  const both = hosts.length > 0 && switches.length > 0;
  const boxA = { x: 0, y: 0, w: both ? width * 0.5 : width, h: height };
  const boxB = { x: both ? width * 0.5 : 0, y: 0, w: both ? width * 0.5 : width, h: height };
  const set = (k: string, x: number, y: number) => { g.setNodeAttribute(k, 'x', x); g.setNodeAttribute(k, 'y', y); };
  /** Leaves of `center` (endpoints, learned hosts) fanned outwards from the box's middle. */
  const fan = (center: string, leaves: string[], mx: number, my: number, r: number) => {
    if (!leaves.length) return;
    const cx = g.getNodeAttribute(center, 'x'), cy = g.getNodeAttribute(center, 'y');
    const out = Math.abs(cx - mx) + Math.abs(cy - my) < 1 ? Math.PI / 2 : Math.atan2(cy - my, cx - mx);
    const spread = Math.min(Math.PI * 1.6, 0.5 * leaves.length);
    leaves.sort().forEach((l, i) => {
      const a = out + (leaves.length === 1 ? 0 : -spread / 2 + (spread * i) / (leaves.length - 1));
      set(l, cx + r * Math.cos(a), cy + r * Math.sin(a));
    });
  };
  const leavesOf = (k: string, kind: NodeKind) => g.filterNeighbors(k, (_n, a) => a.kind === kind);
  // container hosts on a circle (two side by side, one in the middle)
  if (hosts.length) {
    const mx = boxA.x + boxA.w / 2, my = boxA.y + boxA.h / 2;
    const r = hosts.length === 1 ? 0 : Math.min(boxA.w, boxA.h) / 2 - 110;
    hosts.forEach((k, i) => {
      const a = hosts.length === 2 ? Math.PI * i : -Math.PI / 2 + (2 * Math.PI * i) / hosts.length;
      set(k, mx + r * Math.cos(a), my + r * Math.sin(a));
    });
    for (const k of hosts) fan(k, leavesOf(k, 'endpoint'), mx, my, 75);
  }
  if (switches.length) {
    const n = switches.length;
    const idx = new Map(switches.map((k, i) => [k, i]));
    const mx = boxB.x + boxB.w / 2, my = boxB.y + boxB.h / 2;
    const r0 = Math.min(boxB.w, boxB.h) / 3;
    const x = new Float64Array(n), y = new Float64Array(n);
    switches.forEach((_, i) => { x[i] = mx + r0 * Math.cos(-Math.PI / 2 + (2 * Math.PI * i) / n); y[i] = my + r0 * Math.sin(-Math.PI / 2 + (2 * Math.PI * i) / n); });
    const edges: [number, number][] = [];
    g.forEachEdge((_e, a, s, t) => { if (a.kind === 'link' && idx.has(s) && idx.has(t)) edges.push([idx.get(s)!, idx.get(t)!]); });
    const k = Math.sqrt((boxB.w * boxB.h) / n) * 0.5;
    const dx = new Float64Array(n), dy = new Float64Array(n);
    let temp = boxB.w / 10;
    for (let it = 0; it < (n > 150 ? Math.min(iterations, 60) : iterations) && n > 1; it++) {
      dx.fill(0); dy.fill(0);
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          const ex = x[i] - x[j], ey = y[i] - y[j];
          const d2 = Math.max(ex * ex + ey * ey, 0.01);
          const f = (k * k) / d2;
          dx[i] += ex * f; dy[i] += ey * f; dx[j] -= ex * f; dy[j] -= ey * f;
        }
      }
      for (const [s, t] of edges) {
        const ex = x[s] - x[t], ey = y[s] - y[t];
        const f = Math.sqrt(ex * ex + ey * ey) / k;
        dx[s] -= ex * f; dy[s] -= ey * f; dx[t] += ex * f; dy[t] += ey * f;
      }
      for (let i = 0; i < n; i++) {
        dx[i] += (mx - x[i]) * 0.05; dy[i] += (my - y[i]) * 0.05; // gravity: parts without links stay in view
        const d = Math.sqrt(dx[i] * dx[i] + dy[i] * dy[i]) || 1;
        const step = Math.min(d, temp);
        x[i] += (dx[i] / d) * step; y[i] += (dy[i] / d) * step;
      }
      temp = Math.max(temp * 0.97, 0.5);
    }
    // fit the switches into their part, leaving room for the learned hosts around them
    const m = 80;
    const minX = Math.min(...x), maxX = Math.max(...x), minY = Math.min(...y), maxY = Math.max(...y);
    const sc = Math.min(maxX - minX > 1 ? (boxB.w - 2 * m) / (maxX - minX) : Infinity, maxY - minY > 1 ? (boxB.h - 2 * m) / (maxY - minY) : Infinity);
    const scale = Number.isFinite(sc) ? sc : 1;
    const ox = (minX + maxX) / 2, oy = (minY + maxY) / 2;
    switches.forEach((key, i) => set(key, mx + (x[i] - ox) * scale, my + (y[i] - oy) * scale));
    for (const key of switches) fan(key, leavesOf(key, 'learned'), mx, my, 45);
  }
}
