// Runs the chosen apps: feeds them bus events, packet-ins and ticks, and
// sends the effects they return through the switch's connection. Each app
// serves either the lab switches or the registered container hosts'
// bridges (App.scope), never both.
import type { Logger } from 'pino';
import { App, AppContext, Effect, SwitchInfo } from './app';
import { EventBus } from './events';
import { portView } from './switch-registry';
import { Topology } from './topology';
import { parseFrame } from '../southbound/packet/ethernet';
import type { OfpMessage, Outgoing, Port } from '../southbound/codec';

/** What the runner needs of the switch registry (a fake network implements it in unit tests). */
export interface SwitchDirectory {
  get(dpid: string): { dpid: string; state: string; ports: Port[]; send(m: Outgoing): number; log: Logger } | undefined;
  list(): { dpid: string }[];
  onSwitchMessage(h: (c: { dpid: string }, m: OfpMessage) => void): void;
}

export class AppRunner {
  private readonly timers: NodeJS.Timeout[] = [];
  readonly ctx: AppContext;
  private readonly unsub: (() => void)[] = [];
  private readonly labApps: App[];
  private readonly hostApps: App[];

  constructor(readonly apps: App[], readonly registry: SwitchDirectory, readonly bus: EventBus, readonly topology: Topology, readonly log: Logger, controllerId: string,
    /** Datapaths owned by the container pipeline: lab apps never see them, host apps see only them. */
    readonly reserved: (dpid: string) => boolean = () => false) {
    this.labApps = apps.filter((a) => (a.scope ?? 'lab') === 'lab');
    this.hostApps = apps.filter((a) => a.scope === 'hosts');
    const info = (dpid: string): SwitchInfo | undefined => {
      const c = registry.get(dpid);
      if (!c) return undefined;
      return { dpid, ports: c.ports.map((p) => { const v = portView(p); return { port_no: v.port_no, name: v.name, hw_addr: v.hw_addr, status: v.status }; }) };
    };
    this.ctx = {
      log, topology, controllerId,
      switches: () => registry.list().filter((c) => !this.reserved(c.dpid)).map((c) => info(c.dpid)!).filter(Boolean),
      switchInfo: info,
    };
  }

  private serves(a: App, dpid: string): boolean {
    return (a.scope === 'hosts') === this.reserved(dpid);
  }

  start(): void {
    for (const a of this.apps) a.init?.({ ...this.ctx, log: this.log.child({ app: a.name }) });
    this.unsub.push(this.bus.on('*', (e) => {
      const dpid = 'dpid' in e && (e.type.startsWith('switch.') || e.type.startsWith('port.')) ? e.dpid : undefined;
      for (const a of this.apps) if (a.onEvent && (dpid === undefined || this.serves(a, dpid))) this.run(a, () => a.onEvent!(e));
    }));
    this.registry.onSwitchMessage((c, m: OfpMessage) => {
      if (m.type !== 'packet_in') return;
      // the hot path for lab switches: one set lookup, then the frame is parsed once for all apps
      const apps = this.reserved(c.dpid) ? this.hostApps : this.labApps;
      if (!apps.length) return;
      const frame = parseFrame(m.data);
      for (const a of apps) if (a.onPacketIn) this.run(a, () => a.onPacketIn!(c.dpid, m, frame));
    });
    for (const a of this.apps) {
      if (a.onTick && a.tickMs) {
        const t = setInterval(() => this.run(a, () => a.onTick!(Date.now())), a.tickMs);
        t.unref();
        this.timers.push(t);
      }
    }
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    for (const u of this.unsub) u();
  }

  private run(a: App, fn: () => Effect[] | void): void {
    let effects: Effect[] | void;
    try {
      effects = fn();
    } catch (e) {
      this.log.error({ app: a.name, err: (e as Error).stack }, 'app failed');
      return;
    }
    if (effects && effects.length) this.send(effects, a);
  }

  /** Send effects in order; an app's effects reach only the bridges it serves (a lab bridge registered as a host since belongs to the container pipeline now). */
  send(effects: Effect[], app?: App): void {
    for (const e of effects) {
      if (app ? !this.serves(app, e.dpid) : this.reserved(e.dpid)) continue;
      const c = this.registry.get(e.dpid);
      if (!c || c.state !== 'ready') continue;
      try {
        c.send(e.msg);
      } catch (err) {
        c.log.warn({ err: (err as Error).message, type: e.msg.type }, 'could not send');
      }
    }
  }
}
