// Container networking on hosts: registers hosts, networks and endpoints,
// allocates addresses, keeps each host's br-int flows reconciled, and
// marks an endpoint ready once the switch has confirmed its flows with a
// barrier. Every input is validated here (the REST schema checks shapes,
// this checks meaning); a rejected request changes nothing.
import { randomUUID } from 'node:crypto';
import { portNameFor } from './port-name';
import type { Logger } from 'pino';
import type { Store } from './store';
import { Resources, HostRec, NetworkRec, EndpointRec, NetworkMode, NETWORK_MODES } from './resources';
import { Ipam, IpamError } from './ipam';
import { Reconciler } from './reconciler';
import { EventBus } from './events';
import { WeftError, badRequest, conflict, notFound } from './errors';
import { parseCidr, ipToInt, intToIp, cidrContains, isIp, prefixMask } from './ipv4';
import { containerFlows, phyFlows, objectId, isDerived, blockOf } from '../apps/container-network';
import { CATEGORY, derivedMac, TUNNEL_PORT, PATCH_PORT, PHY_PATCH_PORT, GATEWAY_MAC } from './pipeline';
import { OFPP_LOCAL, OFPP_CONTROLLER, OFP_NO_BUFFER, OFPP_MAX, PacketIn } from '../southbound/codec';
import { parseFrame, buildArpRequest } from '../southbound/packet/ethernet';

/** br-phy's uplink: its one port that is neither LOCAL nor the patch to br-int. */
function uplinkOf(c: Connection): number | undefined {
  return c.ports.find((p) => p.port_no <= OFPP_MAX && p.name !== PHY_PATCH_PORT)?.port_no;
}
import type { Connection } from '../southbound/channel';

/**
 * Endpoints get OpenFlow port numbers from this range (Interface
 * ofport_request), far above the ones OVS picks by itself for the tunnel and
 * patch ports, so their flows can be installed while the port is being made.
 */
export const OFPORT_REQUEST_FIRST = 10000;
export const OFPORT_REQUEST_LAST = 60000;

export interface HostInput { name: string; dpid: string; underlayIp: string; phyDpid?: string; underlayGateway?: string; underlayPrefix?: number }
export interface NetworkInput { name: string; cidr: string; gateway?: string; mode?: string; blockSize?: number; vlan?: number; mtu?: number }
export interface PortMappingInput { hostPort: number; containerPort: number; protocol?: string; hostIP?: string }
export interface EndpointInput {
  containerId: string; ifName: string; host: string; network: string; netns?: string; ip?: string; mac?: string; portName?: string;
  /** Published ports (docker -p / CNI portMappings): hostIP:hostPort -> endpoint:containerPort. */
  portMappings?: PortMappingInput[];
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const IFNAME_RE = /^[^\s/:]{1,15}$/;
const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

export class ContainerService {
  readonly resources: Resources;
  readonly ipam: Ipam;
  readonly reconciler: Reconciler;
  private readonly hostDpids = new Set<string>();
  private readonly synced = new Set<string>();

  constructor(readonly store: Store, readonly connOf: (dpid: string) => Connection | undefined, readonly bus: EventBus, readonly log: Logger, readonly round: number) {
    this.resources = new Resources(store);
    this.ipam = new Ipam(store);
    this.reconciler = new Reconciler(connOf, { desiredFlows: (dpid) => this.desiredFlows(dpid) }, round, log.child({ component: 'reconciler' }));
    for (const h of this.resources.hosts()) { this.hostDpids.add(h.dpid); if (h.phyDpid) this.hostDpids.add(h.phyDpid); }
    bus.on('switch.connected', (e) => { if (this.isHost(e.dpid)) void this.onConnect(e.dpid); });
    bus.on('switch.disconnected', (e) => { this.synced.delete(e.dpid); this.reconciler.forget(e.dpid); });
    for (const t of ['port.added', 'port.modified', 'port.removed'] as const) {
      bus.on(t, (e) => {
        if (!this.isHost(e.dpid)) return;
        this.log.debug({ dpid: e.dpid, event: t, port: e.port.name, ofport: e.port.port_no }, 'host port changed');
        if (t === 'port.added') this.markPrewired(e.dpid, e.port.name, e.port.port_no);
        void this.resync(e.dpid);
      });
    }
  }

  /** True if the datapath is a registered container host's br-int (lab apps leave it alone). */
  isHost(dpid: string): boolean {
    return this.hostDpids.has(dpid);
  }

  /** Next hops resolved for SNAT, per host: IPv4 -> MAC (learned again after a restart, on demand). */
  private readonly neighbors = new Map<string, Map<string, string>>();
  private readonly arpAsked = new Map<string, number>();

  /**
   * Packet-ins from a br-phy: a SNAT next hop nobody has resolved yet (table
   * 2 missed) makes the controller ARP for it from the host's address; the
   * reply (copied to the controller) installs the next-hop flow.
   */
  onPacketIn(dpid: string, pi: PacketIn): void {
    if (!this.isHost(dpid)) return; // the hot path for lab switches: no store lookup per packet-in
    const host = this.resources.hostByPhyDpid(dpid);
    if (!host) return;
    const f = parseFrame(pi.data);
    if (!f) return;
    if (f.arp && f.arp.op === 2 && f.dst === GATEWAY_MAC) {
      let t = this.neighbors.get(host.name);
      if (!t) { t = new Map(); this.neighbors.set(host.name, t); }
      if (t.get(f.arp.spa) === f.arp.sha) return;
      t.set(f.arp.spa, f.arp.sha);
      this.log.info({ host: host.name, ip: f.arp.spa, mac: f.arp.sha }, 'next hop resolved');
      void this.resync(dpid);
      return;
    }
    if (pi.table_id !== 2 || !f.ipv4) return;
    // the next hop: the destination itself on the underlay's link, else the underlay's router
    const target = nextHop(host, f.ipv4.dst);
    const key = `${host.name}/${target}`;
    if (this.neighbors.get(host.name)?.has(target) || Date.now() - (this.arpAsked.get(key) ?? 0) < 1000) return;
    this.arpAsked.set(key, Date.now());
    const c = this.connOf(dpid);
    const uplink = c && uplinkOf(c);
    if (!c || uplink === undefined) return;
    c.send({ type: 'packet_out', buffer_id: OFP_NO_BUFFER, in_port: OFPP_CONTROLLER, actions: [{ type: 'output', port: uplink }], data: buildArpRequest(GATEWAY_MAC, '0.0.0.0', target) });
  }

  /** MAC of a host's br-phy (its LOCAL port), while that bridge is connected. */
  private phyMac(h: HostRec): string | undefined {
    return h.phyDpid ? this.connOf(h.phyDpid)?.ports.find((p) => p.port_no === OFPP_LOCAL)?.hw_addr : undefined;
  }

  desiredFlows(dpid: string) {
    const phyHost = this.resources.hostByPhyDpid(dpid);
    const host = phyHost ?? this.resources.hostByDpid(dpid);
    if (!host) return [];
    const c = this.connOf(dpid);
    const ports = new Map((c?.ports ?? []).map((p) => [p.name, p.port_no]));
    const state = {
      host: host.name,
      hosts: new Map(this.resources.hosts().map((h) => [h.name, h])),
      networks: new Map(this.resources.networks().map((n) => [n.id, n])),
      endpoints: this.resources.endpoints(),
      blocks: this.ipam.allBlocks(),
      mappings: this.resources.portMappings({ host: host.name }),
      ofport: (name: string) => ports.get(name),
      tunnelPort: ports.get(TUNNEL_PORT),
      patchPort: ports.get(PATCH_PORT),
      phyMac: (name: string) => { const h = this.resources.host(name); return h ? this.phyMac(h) : undefined; },
    };
    return phyHost
      ? phyFlows({ ...state, patchPort: ports.get(PHY_PATCH_PORT), uplinkPort: c && uplinkOf(c), neighbors: this.neighbors.get(host.name) })
      : containerFlows(state);
  }

  private async onConnect(dpid: string): Promise<void> {
    try {
      await this.reconciler.fullSync(dpid);
      this.synced.add(dpid);
      this.markReady(dpid);
      // other hosts' flows can depend on this switch (a br-phy's MAC in routed mode)
      void this.resyncAll();
    } catch (e) {
      this.log.warn({ dpid, err: (e as Error).message }, 'full sync failed');
    }
  }

  /** Reconcile a host's flows, then mark endpoints whose flows are confirmed ready. */
  async resync(dpid: string): Promise<void> {
    if (!this.synced.has(dpid)) return;
    try {
      await this.reconciler.sync(dpid);
      this.markReady(dpid);
    } catch (e) {
      this.log.warn({ dpid, err: (e as Error).message }, 'sync failed');
    }
  }

  /**
   * Reconcile every connected host (a change on one host can change the
   * block flows of the others), then mark ready the endpoints whose flows
   * are confirmed — after all hosts answered, so a new endpoint is
   * reachable cluster-wide when it is reported ready.
   */
  async resyncAll(release: string[] = []): Promise<void> {
    const dpids = [...this.synced];
    await Promise.all(dpids.map((d) => this.reconciler.sync(d).catch((e: Error) => this.log.warn({ dpid: d, err: e.message }, 'sync failed'))));
    for (const id of release) this.awaitingAll.delete(id);
    for (const d of dpids) this.markReady(d);
  }

  /**
   * Endpoints that other hosts must know before they are ready (a new block,
   * a requested MAC, a borrowed address): marked ready only after the
   * re-sync of every host their creation started.
   */
  private readonly awaitingAll = new Set<string>();

  /**
   * Whether other hosts have flows for this endpoint of its own. They see an
   * endpoint through its host block (derived MAC, address in a block its
   * host owns) unless its MAC was requested or its address borrowed; a
   * block claimed or released changes them too (checked by the callers).
   */
  private seenElsewhere(e: EndpointRec, blocks = this.ipam.allBlocks()): boolean {
    return !isDerived(e) || blockOf(blocks, e.networkId, ipToInt(e.ip))?.host !== e.host;
  }

  /**
   * What BGP announces (controller/bgp.ts): every host block of a routed
   * network via its host's underlay address, and a routed endpoint living
   * on another host's (or no host's) block as a /32 via its own host.
   */
  bgpRoutes(): { prefix: string; nextHop: string }[] {
    const hosts = new Map(this.resources.hosts().map((h) => [h.name, h]));
    const routed = new Map(this.resources.networks().filter((n) => n.mode === 'routed').map((n) => [n.id, n]));
    if (!routed.size) return [];
    const blocks = this.ipam.allBlocks().filter((b) => routed.has(b.networkId));
    const out = blocks.flatMap((b) => {
      const h = b.host ? hosts.get(b.host) : undefined;
      return h ? [{ prefix: `${intToIp(b.base)}/${b.len}`, nextHop: h.underlayIp }] : [];
    });
    for (const e of this.resources.endpoints()) {
      if (!routed.has(e.networkId)) continue;
      const h = hosts.get(e.host);
      if (blockOf(blocks, e.networkId, ipToInt(e.ip))?.host !== e.host && h) out.push({ prefix: `${e.ip}/32`, nextHop: h.underlayIp });
    }
    return out;
  }

  /** Reconcile one host's bridges (br-int and br-phy) and mark its ready endpoints. */
  private async resyncHost(h: HostRec): Promise<void> {
    await Promise.all([h.dpid, ...(h.phyDpid ? [h.phyDpid] : [])].map((d) => this.resync(d)));
  }

  /**
   * A port appeared with the number its endpoint asked for: the flows
   * installed at POST for that number are the right ones, so if a barrier
   * confirmed them the endpoint is ready now, before the re-sync.
   */
  private markPrewired(dpid: string, portName: string, portNo: number): void {
    const host = this.resources.hostByDpid(dpid);
    if (!host) return;
    const e = this.resources.endpoints({ host: host.name }).find((x) => x.portName === portName);
    if (!e || e.state !== 'pending' || e.ofportRequest !== portNo || this.awaitingAll.has(e.id)) return;
    if (this.confirmedEndpoints(dpid).has(objectId(e.id))) this.setReady(e);
  }

  /** Object ids (cookie low 32 bits) of the endpoints with flows a barrier confirmed on the switch. */
  private confirmedEndpoints(dpid: string): Set<number> {
    return new Set(this.reconciler.confirmedFlows(dpid)
      .filter((f) => Number((f.cookie >> 40n) & 0xffn) === CATEGORY.endpoint).map((f) => Number(f.cookie & 0xffffffffn)));
  }

  private setReady(e: EndpointRec): void {
    const at = new Date().toISOString();
    this.resources.setEndpointState(e.id, 'ready', at);
    this.log.debug({ id: e.id, host: e.host, port: e.portName, ms: Date.parse(at) - Date.parse(e.createdAt) }, 'endpoint ready');
    this.bus.emit({ type: 'endpoint.ready', endpoint: this.eventView({ ...e, state: 'ready' }) });
  }

  private markReady(dpid: string): void {
    const host = this.resources.hostByDpid(dpid);
    if (!host) return;
    const installed = this.confirmedEndpoints(dpid);
    const ports = new Set((this.connOf(dpid)?.ports ?? []).map((p) => p.name));
    for (const e of this.resources.endpoints({ host: host.name })) {
      // its flows confirmed, and its port there (flows may go in first, for the port number it asked for)
      if (e.state !== 'pending' || !installed.has(objectId(e.id)) || !ports.has(e.portName) || this.awaitingAll.has(e.id)) continue;
      this.setReady(e);
    }
  }

  private eventView(e: EndpointRec) {
    return { id: e.id, containerId: e.containerId, ifName: e.ifName, host: e.host, network: e.network, ip: e.ip, mac: e.mac, state: e.state };
  }

  // ---- hosts ---------------------------------------------------------------

  createHost(inp: HostInput): HostRec {
    if (!NAME_RE.test(inp.name)) throw badRequest('name must be 1-63 letters, digits, _ . or -, starting with a letter or digit', 'name');
    const dpid = inp.dpid.toLowerCase();
    if (!/^[0-9a-f]{16}$/.test(dpid)) throw badRequest('dpid must be 16 hex digits', 'dpid');
    if (!isIp(inp.underlayIp)) throw badRequest(`underlayIp "${inp.underlayIp}" is not an IPv4 address`, 'underlayIp');
    if (this.resources.host(inp.name)) throw conflict(`host ${inp.name} already exists`, 'name');
    if (this.resources.hostByDpid(dpid) || this.resources.hostByPhyDpid(dpid)) throw conflict(`datapath ${dpid} already belongs to another host`, 'dpid');
    const phyDpid = inp.phyDpid?.toLowerCase();
    if (phyDpid !== undefined) {
      if (!/^[0-9a-f]{16}$/.test(phyDpid) || phyDpid === dpid) throw badRequest('phyDpid must be 16 hex digits, other than dpid', 'phyDpid');
      if (this.resources.hostByDpid(phyDpid) || this.resources.hostByPhyDpid(phyDpid)) throw conflict(`datapath ${phyDpid} already belongs to another host`, 'phyDpid');
    }
    let underlayPrefix: number | null = null;
    if (inp.underlayPrefix !== undefined && inp.underlayGateway === undefined) throw badRequest('underlayPrefix goes with underlayGateway', 'underlayPrefix');
    if (inp.underlayGateway !== undefined) {
      if (!isIp(inp.underlayGateway)) throw badRequest(`underlayGateway "${inp.underlayGateway}" is not an IPv4 address`, 'underlayGateway');
      underlayPrefix = inp.underlayPrefix ?? 24;
      if (!Number.isInteger(underlayPrefix) || underlayPrefix < 1 || underlayPrefix > 31) throw badRequest('underlayPrefix must be 1..31', 'underlayPrefix');
      const net = parseCidr(`${intToIp((ipToInt(inp.underlayIp) & prefixMask(underlayPrefix)) >>> 0)}/${underlayPrefix}`);
      if (!cidrContains(net, ipToInt(inp.underlayGateway)) || inp.underlayGateway === inp.underlayIp) {
        throw badRequest(`underlayGateway ${inp.underlayGateway} must be another address of ${intToIp(net.base)}/${underlayPrefix}`, 'underlayGateway');
      }
    }
    const h: HostRec = {
      name: inp.name, dpid, underlayIp: inp.underlayIp, phyDpid: phyDpid ?? null, createdAt: new Date().toISOString(),
      underlayPrefix, underlayGateway: inp.underlayGateway ?? null,
    };
    this.resources.insertHost(h);
    this.hostDpids.add(dpid);
    if (phyDpid) { this.hostDpids.add(phyDpid); if (this.connOf(phyDpid)) void this.onConnect(phyDpid); }
    this.bus.emit({ type: 'host.registered', name: h.name, dpid: h.dpid, underlayIp: h.underlayIp });
    if (this.connOf(dpid)) void this.onConnect(dpid);
    void this.resyncAll();
    return h;
  }

  host(name: string): HostRec {
    const h = this.resources.host(name);
    if (!h) throw notFound('host', name);
    return h;
  }

  deleteHost(name: string): void {
    const h = this.host(name);
    const n = this.resources.countEndpoints({ host: name });
    if (n) throw conflict(`host ${name} still has ${n} endpoint(s); delete them first`);
    this.resources.deleteHost(name);
    for (const d of [h.dpid, h.phyDpid]) {
      if (!d) continue;
      this.hostDpids.delete(d);
      this.synced.delete(d);
      this.reconciler.forget(d);
    }
    this.bus.emit({ type: 'host.unregistered', name: h.name, dpid: h.dpid, underlayIp: h.underlayIp });
    void this.resyncAll();
  }

  // ---- networks ------------------------------------------------------------

  createNetwork(inp: NetworkInput): NetworkRec {
    if (!NAME_RE.test(inp.name)) throw badRequest('name must be 1-63 letters, digits, _ . or -, starting with a letter or digit', 'name');
    let c;
    try { c = parseCidr(inp.cidr); } catch (e) { throw badRequest((e as Error).message, 'cidr'); }
    if (c.len > 30 || c.len < 8) throw badRequest(`cidr ${inp.cidr}: prefix length must be 8..30`, 'cidr');
    const mode = (inp.mode ?? 'local') as NetworkMode;
    if (!NETWORK_MODES.includes(mode)) throw badRequest(`mode must be one of ${NETWORK_MODES.join(', ')}`, 'mode');
    const gw = inp.gateway ?? intToIp(c.base + 1);
    if (!isIp(gw)) throw badRequest(`gateway "${gw}" is not an IPv4 address`, 'gateway');
    const g = ipToInt(gw);
    if (!cidrContains(c, g) || g === c.base || g === c.base + c.size - 1) throw badRequest(`gateway ${gw} must be a host address in ${c.text}`, 'gateway');
    const blockSize = inp.blockSize ?? 26;
    if (!Number.isInteger(blockSize) || blockSize < 16 || blockSize > 30) throw badRequest('blockSize must be a prefix length 16..30', 'blockSize');
    if (inp.vlan !== undefined && (!Number.isInteger(inp.vlan) || inp.vlan < 1 || inp.vlan > 4094)) throw badRequest('vlan must be 1..4094', 'vlan');
    // VXLAN adds 50 bytes on the underlay: an overlay network defaults to 1450 so a 1500-byte underlay carries it
    const mtu = inp.mtu ?? (mode === 'overlay' ? 1450 : 1500);
    if (!Number.isInteger(mtu) || mtu < 576 || mtu > 9000) throw badRequest('mtu must be 576..9000', 'mtu');
    if (this.resources.network(inp.name)) throw conflict(`network ${inp.name} already exists`, 'name');
    const n = this.store.tx(() => this.resources.insertNetwork({
      name: inp.name, cidr: c.text, gateway: gw, mode, vni: this.resources.nextVni(), blockSize, vlan: inp.vlan ?? null, mtu,
      createdAt: new Date().toISOString(),
    }));
    this.bus.emit({ type: 'network.created', network: { id: n.id, name: n.name, cidr: n.cidr, mode: n.mode } });
    return n;
  }

  network(nameOrId: string): NetworkRec {
    const n = this.resources.network(nameOrId);
    if (!n) throw notFound('network', nameOrId);
    return n;
  }

  deleteNetwork(nameOrId: string): void {
    const n = this.network(nameOrId);
    const count = this.resources.countEndpoints({ networkId: n.id });
    if (count) throw conflict(`network ${n.name} still has ${count} endpoint(s); delete them first`);
    this.store.tx(() => this.resources.deleteNetwork(n.id));
    this.bus.emit({ type: 'network.deleted', network: { id: n.id, name: n.name, cidr: n.cidr, mode: n.mode } });
  }

  // ---- endpoints -----------------------------------------------------------

  /** Create an endpoint (or return the identical one that exists: CNI retries are safe). */
  createEndpoint(inp: EndpointInput): { endpoint: EndpointRec; created: boolean } {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,255}$/.test(inp.containerId)) throw badRequest('containerId must be letters, digits, _ . or - (CNI_CONTAINERID)', 'containerId');
    if (!IFNAME_RE.test(inp.ifName) || inp.ifName === '.' || inp.ifName === '..') throw badRequest('ifName must be a valid interface name (1-15 chars, no /, : or space)', 'ifName');
    const host = this.resources.host(inp.host);
    if (!host) throw new WeftError(404, 'not_found', `host ${inp.host} not found (register it with POST /v1/hosts)`, 'host');
    const net = this.resources.network(inp.network);
    if (!net) throw new WeftError(404, 'not_found', `network ${inp.network} not found`, 'network');
    const mac = inp.mac?.toLowerCase();
    if (mac !== undefined && (!MAC_RE.test(mac) || parseInt(mac.slice(0, 2), 16) & 1)) throw badRequest(`mac "${inp.mac}" is not a unicast MAC address`, 'mac');
    if (inp.portName !== undefined && !IFNAME_RE.test(inp.portName)) throw badRequest('portName must be a valid interface name (1-15 chars)', 'portName');
    const existing = this.resources.endpoints({ containerId: inp.containerId, ifName: inp.ifName })[0];
    if (existing) {
      if (existing.host === host.name && existing.networkId === net.id && (inp.ip === undefined || inp.ip === existing.ip)) return { endpoint: existing, created: false };
      throw conflict(`container ${inp.containerId} already has interface ${inp.ifName} (on ${existing.host}, network ${existing.network})`, 'ifName');
    }
    const mappings = (inp.portMappings ?? []).map((m, i) => {
      const f = `portMappings.${i}`;
      const protocol = (m.protocol ?? 'tcp').toLowerCase();
      if (protocol !== 'tcp' && protocol !== 'udp') throw badRequest(`${f}.protocol must be tcp or udp`, `${f}.protocol`);
      for (const k of ['hostPort', 'containerPort'] as const) {
        if (!Number.isInteger(m[k]) || m[k] < 1 || m[k] > 65535) throw badRequest(`${f}.${k} must be 1..65535`, `${f}.${k}`);
      }
      // a port is published on the host's own underlay address (hostIP may name it, or be the wildcard)
      if (m.hostIP !== undefined && m.hostIP !== '' && m.hostIP !== '0.0.0.0' && m.hostIP !== host.underlayIp) {
        throw badRequest(`${f}.hostIP must be this host's address ${host.underlayIp} (or 0.0.0.0)`, `${f}.hostIP`);
      }
      return { host: host.name, protocol: protocol as 'tcp' | 'udp', hostIp: host.underlayIp, hostPort: m.hostPort, containerPort: m.containerPort };
    });
    const taken = new Set(this.resources.portMappings({ host: host.name }).map((m) => `${m.protocol}/${m.hostPort}`));
    for (const [i, m] of mappings.entries()) {
      const key = `${m.protocol}/${m.hostPort}`;
      if (taken.has(key)) throw conflict(`${m.protocol} port ${m.hostPort} is already published on ${host.name}`, `portMappings.${i}.hostPort`);
      taken.add(key);
    }
    const portName = inp.portName ?? portNameFor(inp.containerId, inp.ifName);
    const blocksBefore = this.ipam.allBlocks().length;
    const e = this.store.tx(() => {
      let a;
      try {
        a = this.ipam.allocate(net, host.name, inp.ip);
      } catch (err) {
        if (err instanceof IpamError) throw new WeftError(err.code === 'bad_request' ? 400 : 409, err.code, err.message, err.field);
        throw err;
      }
      const ep: EndpointRec = {
        id: randomUUID(), containerId: inp.containerId, ifName: inp.ifName, host: host.name, network: net.name, networkId: net.id,
        portName, mac: mac ?? derivedMac(net.id, a.ip),
        ip: a.ip, requestedIp: inp.ip ?? null, netns: inp.netns ?? null, state: 'pending', createdAt: new Date().toISOString(), readyAt: null,
        ofportRequest: this.resources.freeOfportRequest(host.name, OFPORT_REQUEST_FIRST, OFPORT_REQUEST_LAST),
      };
      try {
        this.resources.insertEndpoint(ep, a.ipInt);
        for (const m of mappings) this.resources.insertPortMapping({ ...m, endpointId: ep.id });
      } catch (err) {
        if (/UNIQUE constraint failed: endpoints.host, endpoints.port_name/.test((err as Error).message)) throw conflict(`port name ${portName} is already used on ${host.name}`, 'portName');
        throw err;
      }
      return ep;
    });
    this.bus.emit({ type: 'endpoint.created', endpoint: this.eventView(e) });
    // after the answer has gone out: the caller plumbs the port meanwhile, and its flows wait for the port anyway
    const blocksAfter = this.ipam.allBlocks();
    const everywhere = blocksAfter.length !== blocksBefore || this.seenElsewhere(e, blocksAfter);
    if (everywhere) this.awaitingAll.add(e.id);
    setImmediate(() => void (everywhere ? this.resyncAll([e.id]) : this.resyncHost(host)));
    return { endpoint: e, created: true };
  }

  endpoint(id: string): EndpointRec {
    const e = this.resources.endpoint(id);
    if (!e) throw notFound('endpoint', id);
    return e;
  }

  /** Resolve when the endpoint is ready (or gone), or after timeoutMs with its current state. */
  async waitReady(id: string, timeoutMs: number): Promise<EndpointRec> {
    const e = this.endpoint(id);
    if (e.state === 'ready') return e;
    await new Promise<void>((res) => {
      const t = setTimeout(done, timeoutMs);
      const offR = this.bus.on('endpoint.ready', (ev) => { if (ev.endpoint.id === id) done(); });
      const offD = this.bus.on('endpoint.deleted', (ev) => { if (ev.endpoint.id === id) done(); });
      function done() { clearTimeout(t); offR(); offD(); res(); }
    });
    return this.resources.endpoint(id) ?? { ...e, state: 'removed' };
  }

  /** Remove an endpoint: its flows go, its address is released. */
  async deleteEndpoint(id: string): Promise<void> {
    const e = this.endpoint(id);
    const net = this.resources.network(e.networkId)!;
    const blocksBefore = this.ipam.allBlocks();
    const everywhere = this.seenElsewhere(e, blocksBefore);
    this.awaitingAll.delete(id);
    this.store.tx(() => {
      this.resources.deleteEndpoint(id);
      this.ipam.releaseIfEmpty(net, ipToInt(e.ip));
    });
    this.bus.emit({ type: 'endpoint.deleted', endpoint: this.eventView({ ...e, state: 'removed' }) });
    const host = this.resources.host(e.host);
    await (everywhere || this.ipam.allBlocks().length !== blocksBefore.length || !host ? this.resyncAll() : this.resyncHost(host));
  }
}

/** The underlay next hop of a host's egress traffic to `dst`: `dst` on the underlay's own subnet (or with no router registered), else the router. */
export function nextHop(h: HostRec, dst: string): string {
  if (!h.underlayGateway || !h.underlayPrefix) return dst;
  const m = prefixMask(h.underlayPrefix);
  return ((ipToInt(dst) & m) >>> 0) === ((ipToInt(h.underlayIp) & m) >>> 0) ? dst : h.underlayGateway;
}
