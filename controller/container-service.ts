// Container networking on hosts: registers hosts, networks and endpoints,
// allocates addresses, and keeps each host's bridges reconciled with the
// flows its flow source (apps/container-flow-source.ts) wants. Inputs are
// checked in container-validation.ts, readiness is tracked in readiness.ts,
// BGP's routes come from bgp-routes.ts. A rejected request changes nothing.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Store } from './store';
import type { Connection } from '../southbound/channel';
import type { FlowMod } from '../southbound/codec';
import { Resources, HostRec, NetworkRec, EndpointRec, PolicyRec, ServiceRec } from './resources';
import { validService, SERVICE_LIMITS, mayBack } from './service-spec';
import { validPolicy, POLICY_LIMITS } from './network-policy';
import { Ipam, IpamError, blockOf } from './ipam';
import { Reconciler, FlowSource, GroupSpec } from './reconciler';
import { EventBus } from './events';
import { WeftError, conflict, notFound } from './errors';
import { ipToInt } from './ipv4';
import { derivedMac, isDerived, TUNNEL_PROBE_VNI } from './pipeline';
import { HostInput, NetworkInput, EndpointInput, validHost, validNetwork, endpointRefs, portMappings, macInUse, validContainerId, validLabels } from './container-validation';
import { ContainerPolicy, DEFAULT_POLICY } from './container-policy';
import { Readiness, endpointEventView } from './readiness';
import { bgpRoutes } from './bgp-routes';
import { IpsecKeys } from './ipsec';
import { EtcdStore, RowChange } from './store-etcd';
import { remoteEvents } from './remote-events';

export type { HostInput, NetworkInput, EndpointInput, PortMappingInput } from './container-validation';

/**
 * Endpoints get OpenFlow port numbers from this range (Interface
 * ofport_request), far above the ones OVS picks by itself for the tunnel and
 * patch ports, so their flows can be installed while the port is being made.
 */
export const OFPORT_REQUEST_FIRST = 10000;
export const OFPORT_REQUEST_LAST = 60000;

export class ContainerService {
  readonly resources: Resources;
  readonly ipam: Ipam;
  readonly reconciler: Reconciler;
  readonly readiness: Readiness;
  /** Encrypted networks' VTEPs and keys (controller/ipsec.ts). */
  readonly ipsec: IpsecKeys;
  private readonly hostDpids = new Set<string>();
  private readonly synced = new Set<string>();
  /**
   * Bridges whose full sync is under way: a change meanwhile may come after
   * it computed its flows, so their syncs are queued behind it (the
   * reconciler serialises a switch's jobs) instead of skipped.
   */
  private readonly connecting = new Set<string>();
  /** The store could not list the hosts at start: every switch is treated as one (nothing is programmed without the store). */
  private hostsUnknown = false;
  private source?: FlowSource;
  /** Desired flows per bridge, kept until the next event or sync (GET /metrics and traces read them often). */
  private readonly flowCache = new Map<string, FlowMod[]>();
  /** Whether this controller programs the switches (with several, only the leader does: controller/cluster.ts). */
  private programming = true;
  /** A re-sync of every host for changes other controllers made: running, and asked again meanwhile. */
  private remoteSync?: Promise<void>;
  private remoteAgain = false;

  /**
   * `policy`: the operator's address space and publishable host ports
   * (controller/container-policy.ts; DEFAULT_POLICY unless given).
   */
  constructor(readonly store: Store, readonly connOf: (dpid: string) => Connection | undefined, readonly bus: EventBus, readonly log: Logger, readonly round: number,
    private policy: ContainerPolicy = DEFAULT_POLICY) {
    this.resources = new Resources(store);
    this.ipam = new Ipam(store);
    // syncs compute a bridge's desired flows afresh (and keep them); scrapes, status and traces read the kept ones
    this.reconciler = new Reconciler(connOf, {
      desiredFlows: (dpid) => this.freshFlows(dpid), peekFlows: (dpid) => this.desiredFlows(dpid), desiredMeters: (dpid) => this.source!.desiredMeters?.(dpid) ?? [],
      desiredGroups: (dpid) => this.desiredGroups(dpid),
      takeDelta: (dpid) => this.source?.takeDelta?.(dpid),
    }, round, log.child({ component: 'reconciler' }));
    // any event may change what a bridge should hold (a host, network or endpoint, a switch or a port): forget them all
    bus.on('*', () => this.flowCache.clear());
    this.ipsec = new IpsecKeys(store, this.resources, log.child({ component: 'ipsec' }));
    this.ipsec.onVtepsChanged = () => { this.source?.refresh?.(); this.flowCache.clear(); void this.resyncAll().catch(() => undefined); };
    this.readiness = new Readiness(this.resources, this.reconciler, (dpid) => new Set((connOf(dpid)?.ports ?? []).map((p) => p.name)), bus, log);
    try {
      for (const h of this.resources.hosts()) { this.hostDpids.add(h.dpid); if (h.phyDpid) this.hostDpids.add(h.phyDpid); }
    } catch (e) {
      // a degraded store (GET /v1/health): which switches are container hosts is unknown, so the lab apps touch none
      this.hostsUnknown = true;
      log.error({ err: (e as Error).message }, 'container hosts unknown: no switch is served by the lab apps');
    }
    // a ready endpoint that a service may use is a backend in every host's select group
    bus.on('endpoint.ready', (ev) => {
      const e = this.resources.countServices() > 0 ? this.resources.endpoint(ev.endpoint.id) : undefined;
      if (e && this.backsService(e)) void this.resyncAll().catch(() => undefined);
    });
    bus.on('switch.connected', (e) => { if (this.isHost(e.dpid)) void this.onConnect(e.dpid); });
    bus.on('switch.disconnected', (e) => { this.synced.delete(e.dpid); this.reconciler.forget(e.dpid); });
    // changes other controllers made (etcd store): the same events as a local write, and the same re-syncs
    if (store instanceof EtcdStore) store.onRemoteChange((changes) => this.applyRemote(changes));
    for (const t of ['port.added', 'port.modified', 'port.removed'] as const) {
      bus.on(t, (e) => {
        if (!this.isHost(e.dpid)) return;
        this.log.debug({ dpid: e.dpid, event: t, port: e.port.name, ofport: e.port.port_no }, 'host port changed');
        if (t === 'port.added') this.readiness.markPrewired(e.dpid, e.port.name, e.port.port_no);
        void this.resync(e.dpid);
      });
    }
  }

  /**
   * The flows each host bridge should have (container networking registers
   * itself here, from the apps layer). No bridge is synced before one is
   * registered: a sync with nothing desired would delete what is installed.
   */
  useFlowSource(source: FlowSource): void {
    this.source = source;
  }

  /** The policy new requests are checked against (and BGP's routes filtered by). */
  get containerPolicy(): ContainerPolicy {
    return this.policy;
  }

  /** Replace the policy: later requests are checked against it, and BGP announces only what it allows. */
  setPolicy(policy: ContainerPolicy): void {
    this.policy = policy;
  }

  /**
   * The flows the flow source wants on a host's bridge (what the reconciler
   * installs; traces walk them): as computed at the last sync or read since,
   * unless an event came after (any event forgets them all), or a resync.
   */
  desiredFlows(dpid: string): FlowMod[] {
    return this.flowCache.get(dpid) ?? this.freshFlows(dpid);
  }

  /** The groups the flow source wants on a host's bridge (services' select groups; traces walk them too). */
  desiredGroups(dpid: string): GroupSpec[] {
    return this.source?.desiredGroups?.(dpid) ?? [];
  }

  /** The desired flows computed now, and kept. */
  private freshFlows(dpid: string): FlowMod[] {
    if (!this.source) return [];
    const f = this.source.desiredFlows(dpid);
    this.flowCache.set(dpid, f);
    return f;
  }

  /** True if the datapath is a registered container host's br-int or br-phy (lab apps leave it alone). */
  isHost(dpid: string): boolean {
    return this.hostsUnknown || this.hostDpids.has(dpid);
  }

  /** What BGP announces (controller/bgp-routes.ts). */
  bgpRoutes(): { prefix: string; nextHop: string }[] {
    return bgpRoutes(this.resources, this.ipam, this.policy);
  }

  /**
   * Rows another controller changed, already in the replica: keep the host
   * bridges known, emit what a local write would have, and re-sync every
   * host (coalesced: one more after the one running). None: the replica
   * was read again as a whole.
   */
  applyRemote(changes: RowChange[]): void {
    // no rows named: the replica was read again as a whole
    if (changes.length === 0) for (const h of this.resources.hosts()) { this.hostDpids.add(h.dpid); if (h.phyDpid) this.hostDpids.add(h.phyDpid); }
    for (const c of changes) {
      if (c.table !== 'hosts') continue;
      for (const r of [c.before, c.after]) if (r) { this.hostDpids.add(String(r.dpid)); if (r.phy_dpid) this.hostDpids.add(String(r.phy_dpid)); }
      if (c.before && !c.after) {
        for (const d of [c.before.dpid, c.before.phy_dpid]) {
          if (!d) continue;
          this.hostDpids.delete(String(d)); this.synced.delete(String(d)); this.reconciler.forget(String(d));
        }
      } else if (c.after && !c.before) {
        for (const d of [c.after.dpid, c.after.phy_dpid]) if (d && this.connOf(String(d))) void this.onConnect(String(d));
      }
    }
    // the flow source follows the cluster by events: a change no event describes (a host's or network's row
    // updated in place, say a host's secure VTEP; published ports replaced), or the whole replica read again, makes it read the store again
    if (changes.length === 0 || changes.some((c) => ((c.table === 'hosts' || c.table === 'networks') && c.before && c.after) || c.table === 'port_mappings')) this.source?.refresh?.();
    for (const e of remoteEvents(changes, this.resources)) {
      try {
        this.bus.emit(e);
      } catch (err) {
        this.log.warn({ event: e.type, err: (err as Error).message }, 'a listener failed on a change from another controller');
      }
    }
    this.flowCache.clear();
    void this.resyncRemote();
  }

  private async resyncRemote(): Promise<void> {
    if (this.remoteSync) { this.remoteAgain = true; return; }
    do {
      this.remoteAgain = false;
      this.remoteSync = this.resyncAll();
      await this.remoteSync;
    } while (this.remoteAgain);
    this.remoteSync = undefined;
  }

  /**
   * Program the switches or not (several controllers: only the leader
   * does). Turned on, every connected host bridge gets a full sync, which
   * keeps correct flows in place; turned off, nothing more is sent.
   */
  async setProgramming(on: boolean): Promise<void> {
    this.programming = on;
    if (!on) {
      for (const d of this.synced) this.reconciler.forget(d);
      this.synced.clear();
      return;
    }
    await Promise.all([...this.hostDpids].filter((d) => this.connOf(d)).map((d) => this.onConnect(d)));
  }

  get isProgramming(): boolean {
    return this.programming;
  }

  private async onConnect(dpid: string): Promise<void> {
    if (!this.programming) return;
    if (!this.source) { this.log.error({ dpid }, 'no flow source registered: host bridge left as it is'); return; }
    this.connecting.add(dpid);
    try {
      await this.reconciler.fullSync(dpid);
      if (!this.programming) return;
      this.synced.add(dpid);
      this.syncSucceeded(dpid);
      this.readiness.markReady(dpid);
      // other hosts' flows can depend on a br-phy (its MAC in routed mode, its uplink's for shared-MAC
      // underlay networks), never on a br-int: a br-int that (re)connects changes only its own flows
      if (this.resources.hostByPhyDpid(dpid)) void this.resyncAll();
    } catch (e) {
      this.log.warn({ dpid, err: (e as Error).message }, 'full sync failed');
      this.retryLater(dpid, () => this.onConnect(dpid));
    } finally {
      this.connecting.delete(dpid);
    }
  }

  /** dpid -> a retry of its failed sync, and the backoff of the next one */
  private readonly retries = new Map<string, { timer?: NodeJS.Timeout; ms: number }>();

  /**
   * A sync that failed (a barrier unanswered in time: a slow or overloaded
   * switch) is tried again while the switch stays connected, after 1 s,
   * doubling to 30 s; otherwise its pending endpoints would wait for the next
   * change. A success resets the backoff.
   */
  private retryLater(dpid: string, run: () => Promise<void>): void {
    const r = this.retries.get(dpid) ?? { ms: 500 };
    this.retries.set(dpid, r);
    if (r.timer) return;
    r.ms = Math.min(r.ms * 2, 30_000);
    r.timer = setTimeout(() => {
      r.timer = undefined;
      if (this.connOf(dpid) && this.programming && this.hostDpids.has(dpid)) void run();
      else this.retries.delete(dpid);
    }, r.ms);
    r.timer.unref();
  }

  private syncSucceeded(dpid: string): void {
    const r = this.retries.get(dpid);
    if (r && !r.timer) this.retries.delete(dpid);
  }

  /** Reconcile a host's flows, then mark endpoints whose flows are confirmed ready. */
  async resync(dpid: string): Promise<void> {
    // what changed may not have been an event (a next hop learned): traces and scrapes must not keep the old flows
    this.flowCache.delete(dpid);
    if (!this.synced.has(dpid) && !this.connecting.has(dpid)) return;
    try {
      await this.reconciler.sync(dpid);
      this.syncSucceeded(dpid);
      this.readiness.markReady(dpid);
    } catch (e) {
      this.log.warn({ dpid, err: (e as Error).message }, 'sync failed');
      this.retryLater(dpid, () => this.resync(dpid));
    }
  }

  /**
   * Reconcile every connected host (a change on one host can change the
   * block flows of the others), then mark ready the endpoints whose flows
   * are confirmed — after all hosts answered, so a new endpoint is
   * reachable cluster-wide when it is reported ready.
   */
  async resyncAll(release: string[] = []): Promise<void> {
    this.flowCache.clear();
    const dpids = [...new Set([...this.synced, ...this.connecting])];
    await Promise.all(dpids.map((d) => this.reconciler.sync(d).then(() => this.syncSucceeded(d), (e: Error) => {
      this.log.warn({ dpid: d, err: e.message }, 'sync failed');
      this.retryLater(d, () => this.resync(d));
    })));
    for (const id of release) this.readiness.awaitingAll.delete(id);
    for (const d of dpids) this.readiness.markReady(d);
  }

  /**
   * Whether other hosts have flows for this endpoint of its own. They see an
   * endpoint through its host block (derived MAC, address in a block its
   * host owns) unless its MAC was requested or its address borrowed; a
   * block claimed or released changes them too (checked by the callers).
   */
  private seenElsewhere(e: EndpointRec, blocks = this.ipam.allBlocks()): boolean {
    return !isDerived(e) || blockOf(blocks, e.networkId, ipToInt(e.ip))?.host !== e.host;
  }

  // ---- network policies -----------------------------------------------------

  networkPolicy(name: string): PolicyRec {
    const p = this.resources.policy(name);
    if (!p) throw notFound('policy', name);
    return p;
  }

  /**
   * Create (create = true: 409 if it exists) or replace a policy; every
   * host's flows follow before this returns (hosts that are connected).
   */
  async putPolicy(body: unknown, opts: { create: boolean; name?: string }): Promise<{ policy: PolicyRec; created: boolean }> {
    const p = validPolicy(body, this.resources, opts.name);
    const exists = this.resources.policy(p.name) !== undefined;
    if (opts.create && exists) throw conflict(`policy ${p.name} exists; replace it with PUT /v1/policies/${p.name}`, 'name');
    if (!exists && this.resources.countPolicies() >= POLICY_LIMITS.policies) throw new WeftError(409, 'quota_exceeded', `there are already ${POLICY_LIMITS.policies} policies, the limit`, 'name');
    this.store.tx(() => this.resources.putPolicy(p, new Date().toISOString()));
    this.bus.emit({ type: exists ? 'policy.updated' : 'policy.created', policy: { name: p.name } });
    await this.resyncAll();
    return { policy: this.networkPolicy(p.name), created: !exists };
  }

  async deletePolicy(name: string): Promise<void> {
    this.networkPolicy(name);
    this.store.tx(() => this.resources.deletePolicy(name));
    this.bus.emit({ type: 'policy.deleted', policy: { name } });
    await this.resyncAll();
  }

  /** Whether any network policy or service exists (then an endpoint's address, labels and readiness matter on every host). */
  hasPolicies(): boolean {
    return this.resources.countPolicies() > 0 || this.resources.countServices() > 0;
  }

  /** Whether a service may use endpoint e as a backend (once ready): its readiness and removal matter on every host. */
  private backsService(e: EndpointRec): boolean {
    return this.resources.countServices() > 0 && this.resources.services().some((x) => mayBack(x, e));
  }

  // ---- services -------------------------------------------------------------

  service(name: string): ServiceRec {
    const x = this.resources.service(name);
    if (!x) throw notFound('service', name);
    return x;
  }

  /** Create a service (409 if the name or the VIP is taken); every host balances it before this returns (hosts that are connected). */
  async createService(body: unknown): Promise<ServiceRec> {
    const x = validService(body, this.resources);
    if (this.resources.service(x.name)) throw conflict(`service ${x.name} exists`, 'name');
    if (this.resources.countServices() >= SERVICE_LIMITS.services) throw new WeftError(409, 'quota_exceeded', `there are already ${SERVICE_LIMITS.services} services, the limit`, 'name');
    this.store.tx(() => this.resources.insertService(x, ipToInt(x.vip), new Date().toISOString()));
    this.bus.emit({ type: 'service.created', service: { name: x.name, network: x.network, vip: x.vip } });
    await this.resyncAll();
    return this.service(x.name);
  }

  async deleteService(name: string): Promise<void> {
    const x = this.service(name);
    this.store.tx(() => this.resources.deleteService(name));
    this.bus.emit({ type: 'service.deleted', service: { name, network: x.network, vip: x.vip } });
    await this.resyncAll();
  }

  /** Reconcile one host's bridges (br-int and br-phy) and mark its ready endpoints. */
  private async resyncHost(h: HostRec): Promise<void> {
    await Promise.all([h.dpid, ...(h.phyDpid ? [h.phyDpid] : [])].map((d) => this.resync(d)));
  }

  // ---- hosts ---------------------------------------------------------------

  createHost(inp: HostInput): HostRec {
    // one transaction: the host with its secure VTEP (with etcd, no controller ever sees it without)
    const h = this.store.tx(() => {
      const v = validHost(inp, this.resources);
      this.resources.insertHost(v);
      // a full VTEP range leaves the host without one (registered all the same: nothing goes to it in clear)
      try { this.ipsec.ensureHost(v.name); } catch (e) { this.log.error({ host: v.name, err: (e as Error).message }, 'IPsec: no VTEP for a new host'); }
      return this.resources.host(v.name)!;
    });
    this.hostDpids.add(h.dpid);
    if (h.phyDpid) { this.hostDpids.add(h.phyDpid); if (this.connOf(h.phyDpid)) void this.onConnect(h.phyDpid); }
    this.bus.emit({ type: 'host.registered', name: h.name, dpid: h.dpid, underlayIp: h.underlayIp });
    if (this.connOf(h.dpid)) void this.onConnect(h.dpid);
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
    // one transaction: its blocks released with it
    this.store.tx(() => this.resources.deleteHost(name));
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
    const v = validNetwork(inp, this.resources, this.policy);
    const n = this.store.tx(() => {
      const vni = this.resources.nextVni();
      // the tunnel probes' VNI and above are never a network's
      if (vni >= TUNNEL_PROBE_VNI) throw conflict(`no VXLAN VNI is left for another network (VNIs end at ${TUNNEL_PROBE_VNI - 1})`);
      return this.resources.insertNetwork({ ...v, vni });
    });
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
    const svcs = this.resources.services().filter((x) => x.networkId === n.id);
    if (svcs.length) throw conflict(`network ${n.name} still has service(s) ${svcs.map((x) => x.name).slice(0, 8).join(', ')}; delete them first`);
    this.store.tx(() => this.resources.deleteNetwork(n.id));
    this.bus.emit({ type: 'network.deleted', network: { id: n.id, name: n.name, cidr: n.cidr, mode: n.mode } });
  }

  // ---- endpoints -----------------------------------------------------------

  /** Create an endpoint (or return the identical one that exists: CNI retries are safe). */
  createEndpoint(inp: EndpointInput): { endpoint: EndpointRec; created: boolean } {
    const { host, net, mac, portName } = endpointRefs(inp, this.resources);
    const existing = this.resources.endpoints({ containerId: inp.containerId, ifName: inp.ifName })[0];
    if (existing) {
      if (existing.host === host.name && existing.networkId === net.id && (inp.ip === undefined || inp.ip === existing.ip)) return { endpoint: existing, created: false };
      throw conflict(`container ${inp.containerId} already has interface ${inp.ifName} (on ${existing.host}, network ${existing.network})`, 'ifName');
    }
    macInUse(mac, net, this.resources);
    const onHost = this.resources.countEndpoints({ host: host.name });
    if (onHost >= this.policy.maxEndpointsPerHost) {
      throw new WeftError(409, 'quota_exceeded', `host ${host.name} already has ${onHost} endpoints, the limit per host (--max-endpoints-per-host)`, 'host');
    }
    const mappings = portMappings(inp, host, this.resources, this.policy);
    const labels = inp.labels !== undefined ? validLabels(inp.labels, 'labels') : {};
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
        ofportRequest: this.resources.freeOfportRequest(host.name, OFPORT_REQUEST_FIRST, OFPORT_REQUEST_LAST), labels,
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
    this.bus.emit({ type: 'endpoint.created', endpoint: endpointEventView(e) });
    // after the answer has gone out: the caller plumbs the port meanwhile, and its flows wait for the port anyway
    const blocksAfter = this.ipam.allBlocks();
    // network policies elsewhere may name it as a peer (a service uses it only once it is ready: the ready event re-syncs then)
    const everywhere = blocksAfter.length !== blocksBefore || this.seenElsewhere(e, blocksAfter) || this.resources.countPolicies() > 0;
    if (everywhere) this.readiness.awaitingAll.add(e.id);
    setImmediate(() => void (everywhere ? this.resyncAll([e.id]) : this.resyncHost(host)));
    return { endpoint: e, created: true };
  }

  /**
   * Change an endpoint after it was made: its containerId (a runtime that
   * reserves the address before it knows the container, as Docker's IPAM
   * does, names the endpoint once it does) and/or its published ports
   * (replaced as a whole). Checked like a new endpoint's; a rejected
   * request changes nothing.
   */
  async updateEndpoint(id: string, upd: { containerId?: string; portMappings?: EndpointInput['portMappings']; labels?: Record<string, string> }): Promise<EndpointRec> {
    const e = this.endpoint(id);
    const host = this.host(e.host);
    if (upd.containerId !== undefined && upd.containerId !== e.containerId) {
      validContainerId(upd.containerId);
      const other = this.resources.endpoints({ containerId: upd.containerId, ifName: e.ifName })[0];
      if (other) throw conflict(`container ${upd.containerId} already has interface ${e.ifName} (endpoint ${other.id})`, 'containerId');
    }
    const mappings = upd.portMappings !== undefined ? portMappings(upd, host, this.resources, this.policy, id) : undefined;
    const labels = upd.labels !== undefined ? validLabels(upd.labels, 'labels') : undefined;
    this.store.tx(() => {
      if (labels) this.resources.setEndpointLabels(id, labels);
      if (upd.containerId !== undefined && upd.containerId !== e.containerId) this.resources.setEndpointContainerId(id, upd.containerId);
      if (mappings) {
        this.resources.deletePortMappings(id);
        for (const m of mappings) this.resources.insertPortMapping({ ...m, endpointId: id });
      }
    });
    const after = this.endpoint(id);
    this.bus.emit({ type: 'endpoint.updated', endpoint: endpointEventView(after) });
    // policies select by labels, on every host (as selected endpoint or as peer)
    if (labels && this.hasPolicies()) await this.resyncAll();
    // published ports are flows in the host's br-phy
    else if (mappings) await this.resyncHost(host);
    return after;
  }

  endpoint(id: string): EndpointRec {
    const e = this.resources.endpoint(id);
    if (!e) throw notFound('endpoint', id);
    return e;
  }

  /** Resolve when the endpoint is ready (or gone), or after timeoutMs with its current state. */
  waitReady(id: string, timeoutMs: number): Promise<EndpointRec> {
    return this.readiness.waitReady(id, timeoutMs);
  }

  /** Remove an endpoint: its flows go, its address is released. */
  async deleteEndpoint(id: string): Promise<void> {
    const e = this.endpoint(id);
    const net = this.resources.network(e.networkId)!;
    const blocksBefore = this.ipam.allBlocks();
    const everywhere = this.seenElsewhere(e, blocksBefore) || this.resources.countPolicies() > 0 || (e.state === 'ready' && this.backsService(e));
    this.readiness.awaitingAll.delete(id);
    this.store.tx(() => {
      this.resources.deleteEndpoint(id);
      this.ipam.releaseIfEmpty(net, ipToInt(e.ip));
    });
    this.bus.emit({ type: 'endpoint.deleted', endpoint: endpointEventView({ ...e, state: 'removed' }) });
    const host = this.resources.host(e.host);
    await (everywhere || this.ipam.allBlocks().length !== blocksBefore.length || !host ? this.resyncAll() : this.resyncHost(host));
  }
}
