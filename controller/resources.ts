// Container-network resources in the store: hosts, networks, endpoints.
// Rows map to the API's camelCase objects here and nowhere else.
import type { Store } from './store';

export type NetworkMode = 'local' | 'overlay' | 'routed' | 'underlay';
export const NETWORK_MODES: NetworkMode[] = ['local', 'overlay', 'routed', 'underlay'];
export type EndpointState = 'pending' | 'ready' | 'removed';
/** How an underlay network's endpoints appear on the business network: each with its own MAC (macvlan), or all behind their host's (ipvlan L2). */
export type MacMode = 'own' | 'shared';
/** An inclusive range of addresses IPAM may hand out. */
export interface AddressRange { start: string; end: string }

export interface HostRec {
  name: string; dpid: string; underlayIp: string; phyDpid: string | null; createdAt: string;
  /** The underlay subnet's prefix length and its router, for egress beyond the underlay's own link (both or neither). */
  underlayPrefix?: number | null; underlayGateway?: string | null;
  /** The host's secure VTEP (controller/ipsec.ts): encrypted networks tunnel to it, through the host's IPsec stack. */
  ipsecVtep?: string | null;
}
export interface NetworkRec {
  id: number; name: string; cidr: string; gateway: string; mode: NetworkMode; vni: number;
  blockSize: number; vlan: number | null; mtu: number; createdAt: string;
  /** underlay networks: 'shared' puts endpoints behind their host's MAC (default 'own') */
  macMode?: MacMode;
  /** underlay networks: the only addresses IPAM hands out (null: the whole CIDR), and addresses it never does */
  ranges?: AddressRange[] | null; exclude?: string[] | null;
  /** overlay and routed networks: traffic between hosts goes through IPsec (controller/ipsec.ts) */
  encrypted?: boolean;
}
export interface PortMapping { endpointId: string; host: string; protocol: 'tcp' | 'udp'; hostIp: string; hostPort: number; containerPort: number }

export interface EndpointRec {
  id: string; containerId: string; ifName: string; host: string; network: string; networkId: number;
  portName: string; mac: string; ip: string; requestedIp: string | null; netns: string | null;
  state: EndpointState; createdAt: string; readyAt: string | null;
  /** The OpenFlow port number the plugin asks OVS to give portName (Interface ofport_request), so flows can go in before the port exists. */
  ofportRequest?: number | null;
  /** Labels (Kubernetes label syntax) that network policies select endpoints by. */
  labels?: Labels;
}
export type Labels = Record<string, string>;

/** A network policy (docs/api.md, "Network policy"), as validated. */
export type PolicyProtocol = 'tcp' | 'udp' | 'icmp';
export interface PolicyPeer { selector?: { matchLabels: Labels }; cidr?: string }
export interface PolicyRule { action: 'allow' | 'deny'; peers?: PolicyPeer[]; ports?: { protocol: PolicyProtocol; port?: number }[] }
export interface PolicySpec {
  name: string;
  /** only endpoints of this network (name) are selected; all networks when absent */
  network?: string;
  selector: { matchLabels: Labels };
  ingress?: PolicyRule[];
  egress?: PolicyRule[];
  /** 0-255, lower first (default 100) */
  priority: number;
}
export interface PolicyRec extends PolicySpec { createdAt: string; updatedAt: string }

/** A service (docs/api.md, "Services"), as validated: a VIP of a network balanced over endpoints. */
export interface ServicePort { protocol: 'tcp' | 'udp'; port: number; targetPort: number }
export interface ServiceSpec {
  name: string;
  /** the network's name */
  network: string;
  networkId: number;
  vip: string;
  ports: ServicePort[];
  /** backends by id, or by selector (exactly one of the two) */
  endpoints?: string[];
  selector?: { matchLabels: Labels };
  affinity: 'none' | 'clientIP';
}
/** `seq`: the row's number, fixed while the service exists: its ports' OpenFlow group ids derive from it (apps/container/service.ts). */
export interface ServiceRec extends ServiceSpec { createdAt: string; seq: number }

interface HostRow { name: string; dpid: string; underlay_ip: string; phy_dpid: string | null; created_at: string; underlay_prefix: number | null; underlay_gateway: string | null; ipsec_vtep: string | null }
interface NetRow {
  id: number; name: string; cidr: string; gateway: string; mode: string; vni: number; block_size: number; vlan: number | null; mtu: number; created_at: string;
  mac_mode: string | null; ranges: string | null; exclude: string | null; encrypted: number | null;
}
interface EpRow {
  id: string; container_id: string; if_name: string; host: string; network_id: number; network: string; port_name: string;
  mac: string; ip: string; requested_ip: string | null; netns: string | null; state: string; created_at: string; ready_at: string | null;
  ofport_request: number | null; labels: string | null;
}

const host = (r: HostRow): HostRec => ({
  name: r.name, dpid: r.dpid, underlayIp: r.underlay_ip, phyDpid: r.phy_dpid, createdAt: r.created_at,
  underlayPrefix: r.underlay_prefix, underlayGateway: r.underlay_gateway, ipsecVtep: r.ipsec_vtep ?? null,
});
const net = (r: NetRow): NetworkRec => ({
  id: r.id, name: r.name, cidr: r.cidr, gateway: r.gateway, mode: r.mode as NetworkMode, vni: r.vni, blockSize: r.block_size,
  vlan: r.vlan, mtu: r.mtu, createdAt: r.created_at,
  macMode: (r.mac_mode ?? 'own') as MacMode, ranges: r.ranges ? JSON.parse(r.ranges) as AddressRange[] : null,
  exclude: r.exclude ? JSON.parse(r.exclude) as string[] : null, encrypted: !!r.encrypted,
});
const ep = (r: EpRow): EndpointRec => ({
  id: r.id, containerId: r.container_id, ifName: r.if_name, host: r.host, network: r.network, networkId: r.network_id,
  portName: r.port_name, mac: r.mac, ip: r.ip, requestedIp: r.requested_ip, netns: r.netns, state: r.state as EndpointState,
  createdAt: r.created_at, readyAt: r.ready_at, ofportRequest: r.ofport_request,
  labels: r.labels ? JSON.parse(r.labels) as Labels : {},
});
const EP_SELECT = 'SELECT e.*, n.name AS network FROM endpoints e JOIN networks n ON n.id = e.network_id';

export class Resources {
  constructor(readonly store: Store) {}
  private get db() { return this.store.db; }

  // hosts
  hosts(): HostRec[] { return (this.db.prepare('SELECT * FROM hosts ORDER BY name').all() as HostRow[]).map(host); }
  host(name: string): HostRec | undefined { const r = this.db.prepare('SELECT * FROM hosts WHERE name = ?').get(name) as HostRow | undefined; return r && host(r); }
  hostByDpid(dpid: string): HostRec | undefined { const r = this.db.prepare('SELECT * FROM hosts WHERE dpid = ?').get(dpid) as HostRow | undefined; return r && host(r); }
  hostByPhyDpid(dpid: string): HostRec | undefined { const r = this.db.prepare('SELECT * FROM hosts WHERE phy_dpid = ?').get(dpid) as HostRow | undefined; return r && host(r); }
  insertHost(h: HostRec): void {
    this.db.prepare('INSERT INTO hosts (name, dpid, underlay_ip, phy_dpid, created_at, underlay_prefix, underlay_gateway) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(h.name, h.dpid, h.underlayIp, h.phyDpid, h.createdAt, h.underlayPrefix ?? null, h.underlayGateway ?? null);
  }
  setHostVtep(name: string, vtep: string | null): void { this.db.prepare('UPDATE hosts SET ipsec_vtep = ? WHERE name = ?').run(vtep, name); }
  deleteHost(name: string): void {
    this.db.prepare('UPDATE blocks SET host = NULL WHERE host = ?').run(name);
    this.db.prepare('DELETE FROM hosts WHERE name = ?').run(name);
  }

  // networks
  networks(): NetworkRec[] { return (this.db.prepare('SELECT * FROM networks ORDER BY id').all() as NetRow[]).map(net); }
  network(nameOrId: string | number): NetworkRec | undefined {
    const r = (typeof nameOrId === 'number' || /^\d+$/.test(nameOrId)
      ? this.db.prepare('SELECT * FROM networks WHERE id = ? OR name = ?').get(Number(nameOrId), String(nameOrId))
      : this.db.prepare('SELECT * FROM networks WHERE name = ?').get(nameOrId)) as NetRow | undefined;
    return r && net(r);
  }
  insertNetwork(n: Omit<NetworkRec, 'id'>): NetworkRec {
    const info = this.db.prepare('INSERT INTO networks (name, cidr, gateway, mode, vni, block_size, vlan, mtu, created_at, mac_mode, ranges, exclude, encrypted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(n.name, n.cidr, n.gateway, n.mode, n.vni, n.blockSize, n.vlan, n.mtu, n.createdAt, n.macMode ?? 'own',
        n.ranges ? JSON.stringify(n.ranges) : null, n.exclude ? JSON.stringify(n.exclude) : null, n.encrypted ? 1 : 0);
    return { macMode: 'own', ranges: null, exclude: null, encrypted: false, ...n, id: Number(info.lastInsertRowid) };
  }
  deleteNetwork(id: number): void { this.db.prepare('DELETE FROM networks WHERE id = ?').run(id); }
  nextVni(): number {
    const r = this.db.prepare('SELECT MAX(vni) AS m FROM networks').get() as { m: number | null };
    return Math.max(5000, (r.m ?? 4999) + 1);
  }

  // endpoints
  endpoints(f: { host?: string; networkId?: number; containerId?: string; ifName?: string; state?: EndpointRec['state'] } = {}): EndpointRec[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.host !== undefined) { where.push('e.host = ?'); args.push(f.host); }
    if (f.state !== undefined) { where.push('e.state = ?'); args.push(f.state); }
    if (f.networkId !== undefined) { where.push('e.network_id = ?'); args.push(f.networkId); }
    if (f.containerId !== undefined) { where.push('e.container_id = ?'); args.push(f.containerId); }
    if (f.ifName !== undefined) { where.push('e.if_name = ?'); args.push(f.ifName); }
    const sql = `${EP_SELECT}${where.length ? ' WHERE ' + where.join(' AND ') : ''} ORDER BY e.created_at, e.id`;
    return (this.db.prepare(sql).all(...args) as EpRow[]).map(ep);
  }
  endpoint(id: string): EndpointRec | undefined { const r = this.db.prepare(`${EP_SELECT} WHERE e.id = ?`).get(id) as EpRow | undefined; return r && ep(r); }
  countEndpoints(f: { host?: string; networkId?: number }): number {
    if (f.host !== undefined) return (this.db.prepare('SELECT COUNT(*) AS c FROM endpoints WHERE host = ?').get(f.host) as { c: number }).c;
    return (this.db.prepare('SELECT COUNT(*) AS c FROM endpoints WHERE network_id = ?').get(f.networkId) as { c: number }).c;
  }
  insertEndpoint(e: EndpointRec, ipInt: number): void {
    this.db.prepare(`INSERT INTO endpoints (id, container_id, if_name, host, network_id, port_name, mac, ip, ip_int, requested_ip, netns, state, created_at, ready_at, ofport_request, labels)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(e.id, e.containerId, e.ifName, e.host, e.networkId, e.portName, e.mac, e.ip, ipInt,
      e.requestedIp, e.netns, e.state, e.createdAt, e.readyAt, e.ofportRequest ?? null, JSON.stringify(e.labels ?? {}));
  }
  /** The lowest OpenFlow port number from `from` that no endpoint of `host` has requested. */
  freeOfportRequest(host: string, from: number, to: number): number | null {
    const used = new Set((this.db.prepare('SELECT ofport_request AS p FROM endpoints WHERE host = ? AND ofport_request IS NOT NULL').all(host) as { p: number }[]).map((r) => r.p));
    for (let p = from; p <= to; p++) if (!used.has(p)) return p;
    return null;
  }
  setEndpointState(id: string, state: EndpointState, readyAt: string | null): void {
    this.db.prepare('UPDATE endpoints SET state = ?, ready_at = ? WHERE id = ?').run(state, readyAt, id);
  }
  setEndpointContainerId(id: string, containerId: string): void {
    this.db.prepare('UPDATE endpoints SET container_id = ? WHERE id = ?').run(containerId, id);
  }
  setEndpointLabels(id: string, labels: Labels): void {
    this.db.prepare('UPDATE endpoints SET labels = ? WHERE id = ?').run(JSON.stringify(labels), id);
  }
  deletePortMappings(endpointId: string): void {
    this.db.prepare('DELETE FROM port_mappings WHERE endpoint_id = ?').run(endpointId);
  }
  deleteEndpoint(id: string): void {
    this.db.prepare('DELETE FROM port_mappings WHERE endpoint_id = ?').run(id);
    this.db.prepare('DELETE FROM endpoints WHERE id = ?').run(id);
  }

  // network policies (stored as their validated JSON body)
  policies(): PolicyRec[] {
    return (this.db.prepare('SELECT * FROM policies ORDER BY name').all() as { name: string; body: string; created_at: string; updated_at: string }[])
      .map((r) => ({ ...JSON.parse(r.body) as PolicySpec, name: r.name, createdAt: r.created_at, updatedAt: r.updated_at }));
  }
  policy(name: string): PolicyRec | undefined { return this.policies().find((p) => p.name === name); }
  countPolicies(): number { return (this.db.prepare('SELECT COUNT(*) AS c FROM policies').get() as { c: number }).c; }
  putPolicy(p: PolicySpec, now: string): void {
    this.db.prepare('INSERT INTO policies (name, body, created_at, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at')
      .run(p.name, JSON.stringify(p), now, now);
  }
  deletePolicy(name: string): boolean { return this.db.prepare('DELETE FROM policies WHERE name = ?').run(name).changes > 0; }

  // services (stored as their validated JSON body; the VIP unique per network)
  services(): ServiceRec[] {
    return (this.db.prepare('SELECT rowid AS seq, * FROM services ORDER BY name').all() as { seq: number; name: string; body: string; created_at: string }[])
      .map((r) => ({ ...JSON.parse(r.body) as ServiceSpec, name: r.name, createdAt: r.created_at, seq: r.seq }));
  }
  service(name: string): ServiceRec | undefined { return this.services().find((x) => x.name === name); }
  countServices(): number { return (this.db.prepare('SELECT COUNT(*) AS c FROM services').get() as { c: number }).c; }
  serviceByVip(networkId: number, vipInt: number): string | undefined {
    return (this.db.prepare('SELECT name FROM services WHERE network_id = ? AND vip_int = ?').get(networkId, vipInt) as { name: string } | undefined)?.name;
  }
  insertService(x: ServiceSpec, vipInt: number, now: string): void {
    this.db.prepare('INSERT INTO services (name, network_id, vip_int, body, created_at) VALUES (?, ?, ?, ?, ?)').run(x.name, x.networkId, vipInt, JSON.stringify(x), now);
  }
  deleteService(name: string): boolean { return this.db.prepare('DELETE FROM services WHERE name = ?').run(name).changes > 0; }

  // published ports
  portMappings(f: { host?: string; endpointId?: string } = {}): PortMapping[] {
    const rows = (f.endpointId !== undefined
      ? this.db.prepare('SELECT * FROM port_mappings WHERE endpoint_id = ? ORDER BY protocol, host_port').all(f.endpointId)
      : f.host !== undefined
        ? this.db.prepare('SELECT * FROM port_mappings WHERE host = ? ORDER BY protocol, host_port').all(f.host)
        : this.db.prepare('SELECT * FROM port_mappings ORDER BY host, protocol, host_port').all()) as
      { endpoint_id: string; host: string; protocol: 'tcp' | 'udp'; host_ip: string; host_port: number; container_port: number }[];
    return rows.map((r) => ({ endpointId: r.endpoint_id, host: r.host, protocol: r.protocol, hostIp: r.host_ip, hostPort: r.host_port, containerPort: r.container_port }));
  }
  insertPortMapping(m: PortMapping): void {
    this.db.prepare('INSERT INTO port_mappings (endpoint_id, host, protocol, host_ip, host_port, container_port) VALUES (?, ?, ?, ?, ?, ?)')
      .run(m.endpointId, m.host, m.protocol, m.hostIp, m.hostPort, m.containerPort);
  }
}

/** An endpoint's OpenFlow port: the one OVS reports for its port name, or (not there yet) the number it asked OVS for. */
export function endpointPort(e: EndpointRec, ofport: (portName: string) => number | undefined): number | undefined {
  return ofport(e.portName) ?? e.ofportRequest ?? undefined;
}
