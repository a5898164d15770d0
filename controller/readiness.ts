// When an endpoint is ready: its flows are among those a barrier confirmed
// on its host's br-int, and its port is on the bridge (flows may go in
// first, for the port number it asked OVS for). Endpoints that other hosts
// must know too wait for every host's re-sync.
import type { Logger } from 'pino';
import type { Resources, EndpointRec } from './resources';
import type { Reconciler } from './reconciler';
import type { EventBus } from './events';
import { objectId } from './pipeline';
import { notFound } from './errors';
import type { Metrics } from './metrics';

/** The endpoint as events show it. */
export function endpointEventView(e: EndpointRec) {
  return { id: e.id, containerId: e.containerId, ifName: e.ifName, host: e.host, network: e.network, ip: e.ip, mac: e.mac, state: e.state };
}

export class Readiness {
  /**
   * Endpoints that other hosts must know before they are ready (a new block,
   * a requested MAC, a borrowed address): marked ready only after the
   * re-sync of every host their creation started.
   */
  readonly awaitingAll = new Set<string>();
  private metrics?: Metrics;

  constructor(
    private readonly resources: Resources,
    private readonly reconciler: Reconciler,
    private readonly portNames: (dpid: string) => Set<string>,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  /** Observe each endpoint's attach latency (weft_endpoint_attach_seconds). */
  useMetrics(m: Metrics): void {
    this.metrics = m;
  }

  private setReady(e: EndpointRec): void {
    const at = new Date().toISOString();
    this.resources.setEndpointState(e.id, 'ready', at);
    this.metrics?.endpointReady(e.createdAt, at);
    this.log.debug({ id: e.id, host: e.host, port: e.portName, ms: Date.parse(at) - Date.parse(e.createdAt) }, 'endpoint ready');
    this.bus.emit({ type: 'endpoint.ready', endpoint: endpointEventView({ ...e, state: 'ready' }) });
  }

  /** Mark ready the pending endpoints of a host's br-int whose flows are confirmed and whose port is there. */
  markReady(dpid: string): void {
    const host = this.resources.hostByDpid(dpid);
    if (!host) return;
    // most syncs find none pending (the reconciler counts confirmed flows by endpoint for the others)
    const pending = this.resources.endpoints({ host: host.name, state: 'pending' });
    if (!pending.length) return;
    const ports = this.portNames(dpid);
    for (const e of pending) {
      if (e.state !== 'pending' || !this.reconciler.confirmsEndpoint(dpid, objectId(e.id)) || !ports.has(e.portName) || this.awaitingAll.has(e.id)) continue;
      this.setReady(e);
    }
  }

  /**
   * A port appeared with the number its endpoint asked for: the flows
   * installed at POST for that number are the right ones, so if a barrier
   * confirmed them the endpoint is ready now, before the re-sync.
   */
  markPrewired(dpid: string, portName: string, portNo: number): void {
    const host = this.resources.hostByDpid(dpid);
    if (!host) return;
    const e = this.resources.endpoints({ host: host.name, state: 'pending' }).find((x) => x.portName === portName);
    if (!e || e.state !== 'pending' || e.ofportRequest !== portNo || this.awaitingAll.has(e.id)) return;
    if (this.reconciler.confirmsEndpoint(dpid, objectId(e.id))) this.setReady(e);
  }

  /** Resolve when the endpoint is ready (or gone), or after timeoutMs with its current state. */
  async waitReady(id: string, timeoutMs: number): Promise<EndpointRec> {
    const e = this.resources.endpoint(id);
    if (!e) throw notFound('endpoint', id);
    if (e.state === 'ready') return e;
    await new Promise<void>((res) => {
      const t = setTimeout(done, timeoutMs);
      const offR = this.bus.on('endpoint.ready', (ev) => { if (ev.endpoint.id === id) done(); });
      const offD = this.bus.on('endpoint.deleted', (ev) => { if (ev.endpoint.id === id) done(); });
      function done() { clearTimeout(t); offR(); offD(); res(); }
    });
    return this.resources.endpoint(id) ?? { ...e, state: 'removed' };
  }
}
