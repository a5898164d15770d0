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

export type WeftEvent =
  | { type: 'switch.connected'; dpid: string; remote: string; ports: PortView[] }
  | { type: 'switch.disconnected'; dpid: string; reason: string }
  | { type: 'port.added' | 'port.modified' | 'port.removed'; dpid: string; port: PortView };

export type Stamped<E extends WeftEvent = WeftEvent> = E & { ts: string };

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
  on<T extends WeftEvent['type']>(type: T | '*', fn: (e: Stamped<Extract<WeftEvent, { type: T }>>) => void): () => void {
    this.ee.on(type, fn as (e: unknown) => void);
    return () => this.ee.off(type, fn as (e: unknown) => void);
  }
}
