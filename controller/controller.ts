// Composition root: the OpenFlow listener, switch registry, event bus,
// store and northbound API, started and stopped together.
import pino, { Logger } from 'pino';
import { OfServer, TlsPaths, ConnectionOptions } from '../southbound/channel';
import { EventBus } from './events';
import { SwitchRegistry } from './switch-registry';
import { Store } from './store';
import { buildApi } from '../northbound/api/app';
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { Topology } from './topology';
import { AppRunner } from './app-runner';
import { createApps, DEFAULT_APPS, AppOptions } from './apps';
import { ContainerService } from './container-service';
import { BgpConfig, BgpSpeaker } from './bgp';

export interface ControllerConfig {
  ofPort: number;
  ofHost: string;
  apiPort: number;
  apiHost: string;
  db: string;
  tls?: TlsPaths;
  logLevel: string;
  /** App profile or comma-separated app names (see controller/apps.ts). */
  apps: string;
  appOptions?: AppOptions;
  connection?: ConnectionOptions;
  /** Announce routed networks' host blocks to these BGP peers (controller/bgp.ts). */
  bgp?: BgpConfig;
}

export const DEFAULTS: ControllerConfig = {
  ofPort: 6653,
  ofHost: '0.0.0.0',
  apiPort: 8080,
  apiHost: '127.0.0.1',
  db: 'weft.db',
  logLevel: 'info',
  apps: DEFAULT_APPS,
};

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
  /** Flow generation of this controller process (cookie bits 63..48). */
  readonly round: number;
  /** Random per process: LLDP probes carry it so foreign probes are ignored. */
  readonly id = randomBytes(6).toString('hex');
  api?: FastifyInstance;
  ofPort = 0;
  apiPort = 0;

  constructor(readonly cfg: ControllerConfig, log?: Logger) {
    this.log = log ?? pino({ level: cfg.logLevel, base: { app: 'weft' } });
    this.store = new Store(cfg.db);
    this.registry = new SwitchRegistry(this.bus, this.log.child({ component: 'registry' }));
    this.of = new OfServer({ port: cfg.ofPort, host: cfg.ofHost, tls: cfg.tls, ...cfg.connection }, this.log.child({ component: 'openflow' }));
    this.of.on('connection', (c) => this.registry.adopt(c));
    this.bus.on('switch.connected', (e) => this.store.switchSeen(e.dpid, e.remote));
    this.topology = new Topology(this.bus);
    this.round = this.nextRound();
    this.containers = new ContainerService(this.store, (d) => this.registry.get(d), this.bus, this.log.child({ component: 'containers' }), this.round);
    this.registry.onSwitchMessage((c, m) => { if (m.type === 'packet_in') this.containers.onPacketIn(c.dpid, m); });
    this.apps = new AppRunner(createApps(cfg.apps, cfg.appOptions), this.registry, this.bus, this.topology, this.log.child({ component: 'apps' }), this.id,
      (dpid) => this.containers.isHost(dpid));
    if (cfg.bgp) {
      const bgp = new BgpSpeaker(cfg.bgp, () => this.containers.bgpRoutes(), this.log);
      this.bgp = bgp;
      // routes follow host blocks: they change when endpoints, hosts or networks come and go
      for (const t of ['endpoint.created', 'endpoint.deleted', 'host.registered', 'host.unregistered', 'network.created', 'network.deleted'] as const) {
        this.bus.on(t, () => setImmediate(() => bgp.sync()));
      }
    }
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
    this.api = await buildApi({ registry: this.registry, store: this.store, bus: this.bus, topology: this.topology, containers: this.containers, bgp: this.bgp, log: this.log.child({ component: 'api' }) });
    await this.api.listen({ port: this.cfg.apiPort, host: this.cfg.apiHost });
    this.apiPort = (this.api.server.address() as { port: number }).port;
    this.bgp?.start();
    this.log.info({ ofPort: this.ofPort, api: `http://${this.cfg.apiHost}:${this.apiPort}`, apps: this.apps.apps.map((a) => a.name), round: this.round, bgpPeers: this.cfg.bgp?.peers.length ?? 0 }, 'weft controller started');
  }

  async stop(): Promise<void> {
    this.bgp?.stop();
    this.apps.stop();
    await this.api?.close();
    await this.of.close();
    this.store.close();
  }
}
