// The controller's event bus. Events are past-tense and carry a type and an
// ISO timestamp so they can be streamed to the northbound as JSON.
import { EventEmitter } from 'node:events';

export interface PortView {
  port_no: number;
  name: string;
  hw_addr: string;
  config: number;
  state: number;
  /** 'up' when neither administratively down nor link down. */
  status: 'up' | 'down';
  curr_speed: number;
}

/** A directed link: probes sent out of src.port arrive at dst.port. */
export interface LinkView {
  src: { dpid: string; port: number };
  dst: { dpid: string; port: number };
}

export interface HostView {
  mac: string;
  ips: string[];
  dpid: string;
  port: number;
  first_seen: string;
  last_seen: string;
}

export type TunnelState = 'up' | 'down' | 'unknown';

/**
 * The health of the tunnel from one host to another (apps/tunnel-prober.ts):
 * up once a probe from `from` arrived at `to`, down after missed probes,
 * unknown before the first result.
 */
export interface TunnelView {
  from: string;
  to: string;
  fromIp: string;
  toIp: string;
  state: TunnelState;
  /** the last probe's time from the packet-out on `from` to the packet-in on `to` (ms); null before one arrived and while down */
  rttMs: number | null;
  /** when a probe last arrived (ISO), or null */
  lastSeen: string | null;
  /** when the controller last sent a probe for the pair (ISO), or null: with many hosts a pair is probed once a cycle, which the probe budget may stretch beyond the interval */
  lastProbed: string | null;
}

export type WeftEvent =
  | { type: 'switch.connected'; dpid: string; remote: string; ports: PortView[] }
  | { type: 'switch.disconnected'; dpid: string; reason: string }
  | { type: 'port.added' | 'port.modified' | 'port.removed'; dpid: string; port: PortView }
  | { type: 'link.added'; link: LinkView }
  | { type: 'link.removed'; link: LinkView; reason: string }
  | { type: 'host.added'; host: HostView }
  | { type: 'host.moved'; host: HostView; from: { dpid: string; port: number } }
  | { type: 'host.removed'; host: HostView; reason: string }
  | { type: 'host.registered' | 'host.unregistered'; name: string; dpid: string; underlayIp: string }
  | { type: 'network.created' | 'network.deleted'; network: { id: number; name: string; cidr: string; mode: string } }
  | { type: 'policy.created' | 'policy.updated' | 'policy.deleted'; policy: { name: string } }
  | { type: 'service.created' | 'service.deleted'; service: { name: string; network: string; vip: string } }
  /** a token was revoked: what it opened (event streams) closes */
  | { type: 'token.revoked'; tokenId: string; role: 'admin' | 'host' }
  | { type: 'tunnel'; tunnel: TunnelView }
  | { type: 'endpoint.created' | 'endpoint.ready' | 'endpoint.updated' | 'endpoint.deleted'; endpoint: { id: string; containerId: string; ifName: string; host: string; network: string; ip: string; mac: string; state: string } };

export type Stamped<E extends WeftEvent = WeftEvent> = E & { ts: string };
/** The event member(s) whose type includes T, narrowed to T. */
export type EventOf<T extends WeftEvent['type']> = WeftEvent extends infer E ? E extends WeftEvent ? (T extends E['type'] ? E & { type: T } : never) : never : never;

export class EventBus {
  private readonly ee = new EventEmitter();
  constructor() {
    this.ee.setMaxListeners(100);
  }
  emit(e: WeftEvent): void {
    const s = { ...e, ts: new Date().toISOString() } as Stamped;
    this.ee.emit(e.type, s);
    this.ee.emit('*', s);
  }
  on<T extends WeftEvent['type']>(type: T | '*', fn: (e: Stamped<EventOf<T>>) => void): () => void {
    this.ee.on(type, fn as (e: unknown) => void);
    return () => this.ee.off(type, fn as (e: unknown) => void);
  }
}
