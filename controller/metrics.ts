// Prometheus metrics (GET /metrics). One Metrics per controller, made in the
// composition root, owns its own prom-client Registry (never the global one,
// so two controllers in one process keep apart). The pieces that see events
// get it and call the typed helpers (a counter increment per packet-in, a
// histogram observation per sync or ready endpoint); gauges of state are read
// only when scraped, from the sources given to observe().
//
// Labels stay bounded: a datapath id only for registered host bridges, no
// label per endpoint, OpenFlow error types by name from a fixed list, API
// routes by their pattern.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BgpState } from '../southbound/bgp/session';
import type { TunnelView } from './events';

/** A switch is a registered container host's bridge (br-int or br-phy) or a lab switch. */
export type SwitchKind = 'host' | 'lab';
export type SyncKind = 'full' | 'diff';

/** What the state gauges read when scraped. */
export interface MetricsSources {
  /** Registered host bridges or lab switch: decides the `kind` label of switch metrics. */
  kindOf(dpid: string): SwitchKind;
  /** Connected switches' dpids. */
  switches(): string[];
  /** Registered host bridges with the reconciler's flow counts. */
  hostBridges(): { host: string; bridge: 'br-int' | 'br-phy'; dpid: string; desired: number; confirmed: number }[];
  /** Endpoint states (one entry per endpoint). */
  endpointStates(): string[];
  /** BGP session states (none without a speaker). */
  bgpStates(): BgpState[];
  /** Tunnel health per ordered pair of hosts. */
  tunnels?(): TunnelView[];
}

const BGP_STATES: readonly BgpState[] = ['idle', 'connect', 'opensent', 'openconfirm', 'established'];
const ENDPOINT_STATES = ['pending', 'ready'] as const;

/** OFPET_* names (OpenFlow 1.3.5 §7.4.4); anything else is 'other'. */
const OF_ERROR_TYPES = ['hello_failed', 'bad_request', 'bad_action', 'bad_instruction', 'bad_match', 'flow_mod_failed', 'group_mod_failed',
  'port_mod_failed', 'table_mod_failed', 'queue_op_failed', 'switch_config_failed', 'role_request_failed', 'meter_mod_failed', 'table_features_failed'];
export const ofErrorTypeName = (t: number): string => OF_ERROR_TYPES[t] ?? (t === 0xffff ? 'experimenter' : 'other');

/** Seconds from POST /v1/endpoints until ready: a few ms on an idle controller, seconds when a port is slow to come. */
const ATTACH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const SYNC_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const API_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new Registry();
  private sources?: MetricsSources;

  readonly attachSeconds: Histogram;
  readonly reconcileSeconds: Histogram<'kind'>;
  readonly packetIns: Counter<'kind'>;
  readonly ofErrors: Counter<'type'>;
  readonly apiSeconds: Histogram<'route' | 'method' | 'status'>;
  /** Pre-bound children: the packet-in path does one map lookup and one add. */
  private readonly packetInBy: Record<SwitchKind, { inc(): void }>;

  constructor() {
    const registers = [this.registry];
    const self = this;
    this.attachSeconds = new Histogram({
      name: 'weft_endpoint_attach_seconds', help: 'Seconds from an endpoint\'s creation (POST /v1/endpoints) until it was ready',
      buckets: ATTACH_BUCKETS, registers,
    });
    this.reconcileSeconds = new Histogram({
      name: 'weft_reconcile_duration_seconds', help: 'Duration of a host bridge flow sync that talked to the switch (full: on connect; diff: a change), barrier included',
      labelNames: ['kind'], buckets: SYNC_BUCKETS, registers,
    });
    for (const kind of ['full', 'diff']) this.reconcileSeconds.zero({ kind });
    this.packetIns = new Counter({ name: 'weft_packet_ins_total', help: 'Packet-in messages received, by switch kind', labelNames: ['kind'], registers });
    this.packetInBy = { host: this.packetIns.labels('host'), lab: this.packetIns.labels('lab') };
    // series that exist from the start, so rate() sees their first increase
    for (const kind of ['host', 'lab']) this.packetIns.inc({ kind }, 0);
    this.ofErrors = new Counter({ name: 'weft_openflow_errors_total', help: 'OpenFlow error messages received from switches that were not the answer to a request (e.g. a refused flow-mod), by error type', labelNames: ['type'], registers });
    this.apiSeconds = new Histogram({
      name: 'weft_api_request_duration_seconds', help: 'REST API request duration by route pattern, method and status class',
      labelNames: ['route', 'method', 'status'], buckets: API_BUCKETS, registers,
    });
    new Gauge({
      name: 'weft_switches_connected', help: 'Connected switches by kind (host: a registered container host\'s bridge; lab: any other)', labelNames: ['kind'], registers,
      collect() {
        const s = self.sources;
        const n: Record<SwitchKind, number> = { host: 0, lab: 0 };
        for (const d of s?.switches() ?? []) n[s!.kindOf(d)]++;
        this.set({ kind: 'host' }, n.host);
        this.set({ kind: 'lab' }, n.lab);
      },
    });
    new Gauge({
      name: 'weft_flows', help: 'Flows of each registered host bridge: desired (what the controller wants now) and confirmed (what the switch confirmed with its last barrier)',
      labelNames: ['host', 'bridge', 'dpid', 'state'], registers,
      collect() {
        this.reset();
        for (const b of self.sources?.hostBridges() ?? []) {
          this.set({ host: b.host, bridge: b.bridge, dpid: b.dpid, state: 'desired' }, b.desired);
          this.set({ host: b.host, bridge: b.bridge, dpid: b.dpid, state: 'confirmed' }, b.confirmed);
        }
      },
    });
    // things counted by state, every known state shown (0 included) so a series never disappears
    const byState = (name: string, help: string, states: readonly string[], read: () => readonly string[]) => new Gauge({
      name, help, labelNames: ['state'], registers,
      collect() {
        const n = new Map<string, number>(states.map((s) => [s, 0]));
        for (const s of read()) n.set(s, (n.get(s) ?? 0) + 1);
        for (const [state, v] of n) this.set({ state }, v);
      },
    });
    // tunnels: a pair without a result yet (unknown) has no series
    new Gauge({
      name: 'weft_tunnel_up', help: 'Tunnel from host `from` to host `to`: 1 when the controller\'s last probe arrived, 0 after missed probes (absent before the first result)',
      labelNames: ['from', 'to'], registers,
      collect() {
        this.reset();
        for (const t of self.sources?.tunnels?.() ?? []) if (t.state !== 'unknown') this.set({ from: t.from, to: t.to }, t.state === 'up' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'weft_tunnel_rtt_seconds', help: 'Seconds from the packet-out of the last tunnel probe on host `from` to its packet-in on host `to` (pairs that are up)',
      labelNames: ['from', 'to'], registers,
      collect() {
        this.reset();
        for (const t of self.sources?.tunnels?.() ?? []) if (t.state === 'up' && t.rttMs !== null) this.set({ from: t.from, to: t.to }, t.rttMs / 1000);
      },
    });
    byState('weft_endpoints', 'Endpoints by state', ENDPOINT_STATES, () => self.sources?.endpointStates() ?? []);
    byState('weft_bgp_sessions', 'BGP sessions by state (all zero without a BGP speaker)', BGP_STATES, () => self.sources?.bgpStates() ?? []);
  }

  /** Where the state gauges read from (the composition root wires it once everything exists). */
  observe(sources: MetricsSources): void {
    this.sources = sources;
  }

  packetIn(dpid: string): void {
    this.packetInBy[this.sources?.kindOf(dpid) ?? 'lab'].inc();
  }

  ofError(errType: number): void {
    this.ofErrors.inc({ type: ofErrorTypeName(errType) });
  }

  endpointReady(createdAt: string, readyAt: string): void {
    const s = (Date.parse(readyAt) - Date.parse(createdAt)) / 1000;
    if (Number.isFinite(s) && s >= 0) this.attachSeconds.observe(s);
  }

  reconciled(kind: SyncKind, seconds: number): void {
    this.reconcileSeconds.observe({ kind }, seconds);
  }

  /** route: the route pattern (e.g. /v1/endpoints/:id), or 'unmatched'. */
  apiRequest(route: string, method: string, statusCode: number, seconds: number): void {
    this.apiSeconds.observe({ route, method, status: `${Math.floor(statusCode / 100)}xx` }, seconds);
  }

  /** The text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
