// The composition root: builds the controller's pieces from every layer and
// wires them together — the OpenFlow listener (southbound), the switch
// registry, event bus, store, topology and container service (controller),
// the lab apps, the next-hop resolver and container networking's flow
// source (apps), and the REST API (northbound) — then starts and stops them
// together.
import pino, { Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { OfServer } from '../southbound/channel';
import { EventBus } from '../controller/events';
import { SwitchRegistry } from '../controller/switch-registry';
import { Store } from '../controller/store';
import { EtcdStore } from '../controller/store-etcd';
import { ETCD_DEFAULTS } from '../controller/etcd-link';
import { Cluster } from '../controller/cluster';
import os from 'node:os';
import { Topology } from '../controller/topology';
import { AppRunner } from '../controller/app-runner';
import { ContainerService } from '../controller/container-service';
import { BgpSpeaker } from '../controller/bgp';
import { Metrics } from '../controller/metrics';
import { createApps } from '../apps';
import { NextHopResolver } from '../apps/next-hop-resolver';
import { ContainerFlowSource } from '../apps/container-flow-source';
import { TunnelProber } from '../apps/tunnel-prober';
import fs from 'node:fs';
import { buildApi } from './api/app';
import { Tokens } from '../controller/tokens';
import { Tracer } from '../controller/trace';
import { LiveTracer } from '../controller/live-trace';
import { OFPTT_ALL, OFPP_ANY, OFPG_ANY } from '../southbound/codec';
import { bridgeMac, TUNNEL_PORT } from '../controller/pipeline';
import { containerPolicy, ContainerPolicy } from '../controller/container-policy';
import { defaultAdminTokenFile, ensureAdminToken } from '../controller/admin-token';
import { DEFAULTS, ControllerConfig } from './config';

/** Meta key: when this controller's BGP speaker first had a session (so, after a restart, its OPEN says it restarted). */
const BGP_HAD_SESSION = 'bgp.had_session';

export { DEFAULTS } from './config';

/** IPsec keys never reach a log line, whatever object carries them (controller/ipsec.ts). */
export const PSK_REDACT = ['psk', '*.psk', '*.peers[*].psk', 'peers[*].psk', '*.*.psk'];

/** The controller's logger (to stdout, or `dest`): PSKs redacted. */
export function controllerLogger(level: string, dest?: pino.DestinationStream): Logger {
  const opts = { level, base: { app: 'weft' }, redact: { paths: PSK_REDACT, censor: '[redacted]' } };
  return dest ? pino(opts, dest) : pino(opts);
}
export type { ControllerConfig } from './config';

export class Controller {
  readonly bus = new EventBus();
  readonly log: Logger;
  readonly registry: SwitchRegistry;
  readonly store: Store;
  readonly of: OfServer;
  readonly topology: Topology;
  readonly apps: AppRunner;
  readonly containers: ContainerService;
  readonly bgp?: BgpSpeaker;
  /** With the etcd store: the leader election and the switches' OpenFlow roles. */
  readonly cluster?: Cluster;
  /** Prometheus metrics (GET /metrics), in a registry of this controller's own. */
  readonly metrics = new Metrics();
  /** Flow generation of this controller process (cookie bits 63..48). */
  readonly round: number;
  /** Random per process: LLDP probes carry it so foreign probes are ignored. */
  readonly id = randomBytes(6).toString('hex');
  private readonly policy: (ownPorts: number[]) => ContainerPolicy;
  /** Packet paths on the desired flows (POST /v1/traces). */
  readonly tracer: Tracer;
  /** Tunnel health per ordered pair of hosts (GET /v1/tunnels); it probes only with a tunnel probe interval above 0. */
  readonly tunnels: TunnelProber;
  /** API tokens (undefined with authentication off). */
  readonly tokens?: Tokens;
  /** The admin token this controller started with, and the file it is in (none for an in-memory database). */
  readonly adminToken?: string;
  readonly adminTokenFile?: string;
  api?: FastifyInstance;
  ofPort = 0;
  apiPort = 0;

  constructor(readonly cfg: ControllerConfig, log?: Logger) {
    this.log = log ?? controllerLogger(cfg.logLevel);
    this.store = cfg.etcd
      ? new EtcdStore({ ...ETCD_DEFAULTS, ...cfg.etcd, campaign: true, memberId: `${os.hostname()}/${process.pid}/${this.id}` })
      : new Store(cfg.db);
    this.registry = new SwitchRegistry(this.bus, this.log.child({ component: 'registry' }));
    this.of = new OfServer({ port: cfg.ofPort, host: cfg.ofHost, tls: cfg.tls, ...cfg.connection }, this.log.child({ component: 'openflow' }));
    this.of.on('connection', (c) => this.registry.adopt(c));
    this.bus.on('switch.connected', (e) => this.store.switchSeen(e.dpid, e.remote));
    this.topology = new Topology(this.bus);
    // with etcd, rounds come from one counter of the cluster: no two controllers share one
    this.round = this.store instanceof EtcdStore ? this.store.nextRound() : this.nextRound();
    if (cfg.auth !== false) {
      this.tokens = new Tokens(this.store);
      this.adminTokenFile = cfg.adminTokenFile ?? defaultAdminTokenFile(cfg.db);
      const { token, created } = ensureAdminToken(this.tokens, this.adminTokenFile, this.store.degraded);
      this.adminToken = token;
      if (created) this.log.info({ adminTokenFile: this.adminTokenFile ?? '(in memory only)' }, 'admin token created');
      // an unregistered host's tokens go with it (the event is emitted synchronously, right after the delete)
      const tokens = this.tokens;
      this.bus.on('host.unregistered', (e) => {
        const n = tokens.revokeHost(e.name);
        if (n) this.log.info({ host: e.name, tokens: n }, 'host tokens revoked with the host');
      });
    }
    // Weft's well-known ports stay reserved whatever this controller listens on (another may use them)
    const policy = (ownPorts: number[]) => containerPolicy({ podCidrs: cfg.podCidrs, hostPorts: cfg.hostPorts, maxEndpointsPerHost: cfg.maxEndpointsPerHost, ownPorts: [DEFAULTS.ofPort, DEFAULTS.apiPort, ...ownPorts] });
    const containers = new ContainerService(this.store, (d) => this.registry.get(d), this.bus, this.log.child({ component: 'containers' }), this.round,
      policy([cfg.ofPort, cfg.apiPort]));
    this.policy = policy;
    this.containers = containers;
    containers.ipsec.configure({ vtepCidr: cfg.ipsecVtepCidr, rekeyIntervalS: cfg.ipsecRekeyInterval });
    if (this.store instanceof EtcdStore) {
      // nothing is programmed before this controller is elected
      void containers.setProgramming(false);
      const store = this.store;
      this.cluster = new Cluster({
        switches: () => this.registry.list(), bus: this.bus, log: this.log.child({ component: 'cluster' }),
        onLeadership: (fn) => store.onLeadership(fn),
        program: async (on) => {
          // BGP: one speaker, the leader's; a new leader takes over from the last one (graceful restart: README.md "BGP in a cluster")
          if (on) this.bgp?.start({ restarting: true }); else this.bgp?.stop();
          // the periodic rekey too: one controller rekeys, not each
          if (on) containers.ipsec.start(); else containers.ipsec.stop();
          await containers.setProgramming(on);
        },
      });
    }
    // container hosts' next hops: learned ones re-sync that br-phy, whose next-hop flows follow
    const resolver = new NextHopResolver((dpid) => containers.resources.hostByPhyDpid(dpid), (dpid) => void containers.resync(dpid));
    const probeS = cfg.tunnelProbeInterval ?? DEFAULTS.tunnelProbeInterval ?? 0;
    containers.useFlowSource(new ContainerFlowSource(containers, (host) => resolver.neighbors(host), probeS * 1000));
    const portsOf = (dpid: string) => { const c = this.registry.get(dpid); return c && new Map(c.ports.map((p) => [p.name, p.port_no])); };
    // tunnel probes: a host app (its packet-outs and meters are effects); its state changes are `tunnel` events
    this.tunnels = new TunnelProber({
      // with several controllers only the leader probes (a slave may not send packet-outs, nor gets packet-ins)
      hosts: () => (this.cluster && !this.cluster.isLeader ? [] : containers.resources.hosts()), ports: portsOf,
      tunnelPort: (dpid) => { const c = this.registry.get(dpid); return c && (c.ports.find((p) => p.name === TUNNEL_PORT)?.port_no ?? null); }, intervalMs: probeS > 0 ? probeS * 1000 : 1000, budgetPerSecond: cfg.tunnelProbeBudget,
      changed: (tunnel) => this.bus.emit({ type: 'tunnel', tunnel }),
    });
    this.tracer = new Tracer({
      containers, desiredFlows: (dpid) => containers.desiredFlows(dpid), ports: portsOf,
      phyMac: (h) => (h.phyDpid ? bridgeMac(this.registry.get(h.phyDpid)?.ports ?? []) : undefined),
    });
    // live traces: a host app whose flows and packet-out the runner sends; reading a switch's flows and barriers are requests
    const conn = (dpid: string) => { const c = this.registry.get(dpid); if (!c) throw new Error(`switch ${dpid} is not connected`); return c; };
    const live: LiveTracer = new LiveTracer({
      resources: containers.resources, ports: portsOf,
      dumpFlows: async (dpid) => (await conn(dpid).multipart({ kind: 'flow', table_id: OFPTT_ALL, out_port: OFPP_ANY, out_group: OFPG_ANY, cookie: 0n, cookie_mask: 0n, match: [] })).flatMap((p) => p.stats),
      barrier: (dpid) => conn(dpid).barrier(),
      send: (effects) => this.apps.send(effects, live),
    });
    this.tracer.useLive(live);
    this.apps = new AppRunner([...createApps(cfg.apps, cfg.appOptions), resolver, live, ...(probeS > 0 ? [this.tunnels] : [])], this.registry, this.bus, this.topology, this.log.child({ component: 'apps' }), this.id,
      (dpid) => containers.isHost(dpid));
    this.observeMetrics();
    if (cfg.bgp) {
      // a controller that had a session before (the meta key) comes back as a restarted speaker
      const bgp = new BgpSpeaker(cfg.bgp, () => this.containers.bgpRoutes(), this.log, () => {
        try { if (!this.store.getMeta(BGP_HAD_SESSION)) this.store.setMeta(BGP_HAD_SESSION, new Date().toISOString()); } catch { /* a degraded store: not remembered */ }
      });
      this.bgp = bgp;
      // routes follow host blocks: they change when endpoints, hosts or networks come and go
      for (const t of ['endpoint.created', 'endpoint.deleted', 'host.registered', 'host.unregistered', 'network.created', 'network.deleted'] as const) {
        this.bus.on(t, () => setImmediate(() => bgp.sync()));
      }
    }
  }

  /** Hand the metrics to the pieces that observe events, and tell the state gauges where to read. */
  private observeMetrics(): void {
    const m = this.metrics;
    const containers = this.containers;
    this.registry.useMetrics(m);
    containers.reconciler.useMetrics(m);
    containers.readiness.useMetrics(m);
    // a degraded store must not fail the scrape: what cannot be read is left out
    const safe = <T>(f: () => T[]): T[] => { try { return f(); } catch { return []; } };
    m.observe({
      kindOf: (dpid) => (containers.isHost(dpid) ? 'host' : 'lab'),
      switches: () => this.registry.list().map((c) => c.dpid),
      hostBridges: () => safe(() => containers.resources.hosts()).flatMap((h) => [
        { host: h.name, bridge: 'br-int' as const, dpid: h.dpid, ...containers.reconciler.counts(h.dpid) },
        ...(h.phyDpid ? [{ host: h.name, bridge: 'br-phy' as const, dpid: h.phyDpid, ...containers.reconciler.counts(h.phyDpid) }] : []),
      ]),
      endpointStates: () => safe(() => containers.resources.endpoints()).map((e) => e.state),
      bgpStates: () => this.bgp?.status().map((p) => p.state) ?? [],
      tunnels: () => this.tunnels.list(),
    });
  }

  /** Each start is a new round (1..65535, persisted), so stale flows of the last one can be told apart. */
  private nextRound(): number {
    const prev = Number(this.store.getMeta('round') ?? '0');
    const r = (prev % 0xffff) + 1;
    this.store.setMeta('round', String(r));
    return r;
  }

  async start(): Promise<void> {
    this.apps.start();
    this.ofPort = await this.of.listen();
    const t = this.cfg.apiTls;
    const tls = t && { key: fs.readFileSync(t.key), cert: fs.readFileSync(t.cert), ...(t.ca ? { ca: fs.readFileSync(t.ca) } : {}) };
    this.api = await buildApi({
      registry: this.registry, store: this.store, bus: this.bus, topology: this.topology, containers: this.containers, bgp: this.bgp,
      tracer: this.tracer, tunnels: this.tunnels, metrics: this.metrics, tokens: this.tokens, cluster: this.cluster, allowedHosts: this.cfg.allowedHosts, allowedOrigins: this.cfg.allowedOrigins, log: this.log.child({ component: 'api' }),
    }, tls);
    await this.api.listen({ port: this.cfg.apiPort, host: this.cfg.apiHost });
    this.apiPort = (this.api.server.address() as { port: number }).port;
    // ports picked at listen time (0 = any) are Weft's own too: never published to a container
    this.containers.setPolicy(this.policy([this.ofPort, this.apiPort]));
    if (!this.cluster) this.bgp?.start({ restarting: this.store.getMeta(BGP_HAD_SESSION) !== undefined });
    if (!this.cluster) this.containers.ipsec.start();
    if (!this.tokens) this.log.warn('authentication is off (--no-auth): anyone who reaches the API may do everything; for labs only');
    if (!tls && !/^(127\.|::1$|localhost$)/.test(this.cfg.apiHost)) this.log.warn({ apiHost: this.cfg.apiHost }, 'the API leaves loopback without TLS: tokens cross the network in clear (use --api-tls-cert and --api-tls-key)');
    this.log.info({
      ofPort: this.ofPort, api: `${tls ? 'https' : 'http'}://${this.cfg.apiHost}:${this.apiPort}`, auth: this.tokens ? 'tokens' : 'off',
      adminTokenFile: this.tokens ? this.adminTokenFile ?? '(in memory only)' : undefined, apps: this.apps.apps.filter((a) => a.scope !== 'hosts').map((a) => a.name), round: this.round, bgpPeers: this.cfg.bgp?.peers.length ?? 0,
      store: this.store instanceof EtcdStore ? `etcd://${this.store.etcd.endpoints.join(',')}` : 'sqlite' }, 'weft controller started');
  }

  async stop(): Promise<void> {
    this.bgp?.stop();
    this.containers.ipsec.stop();
    this.apps.stop();
    await this.api?.close();
    await this.of.close();
    if (this.store instanceof EtcdStore) await this.store.closeAsync();
    else this.store.close();
  }
}
