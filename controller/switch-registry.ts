// Switch sessions by datapath id: one live Connection per dpid (a new one
// for the same dpid replaces the old), port tables kept current from
// PORT_STATUS, and switch.* / port.* events on the bus.
import type { Logger } from 'pino';
import { Connection } from '../southbound/channel';
import { OfpMessage, Port, OFPPC_PORT_DOWN, OFPPS_LINK_DOWN, OFPPR_ADD, OFPPR_DELETE } from '../southbound/codec';
import { EventBus, PortView } from './events';

export function portView(p: Port): PortView {
  const down = (p.config & OFPPC_PORT_DOWN) !== 0 || (p.state & OFPPS_LINK_DOWN) !== 0;
  return {
    port_no: p.port_no, name: p.name, hw_addr: p.hw_addr, config: p.config, state: p.state,
    status: down ? 'down' : 'up', curr_speed: p.curr_speed,
  };
}

export type MessageHandler = (conn: Connection, m: OfpMessage) => void;

export class SwitchRegistry {
  private readonly byDpid = new Map<string, Connection>();
  private readonly handlers: MessageHandler[] = [];

  constructor(readonly bus: EventBus, readonly log: Logger) {}

  /** Take a freshly accepted connection; it registers once its handshake completes. */
  adopt(c: Connection): void {
    c.once('ready', () => this.onReady(c));
    c.on('message', (m: OfpMessage) => this.onMessage(c, m));
    c.once('close', (reason: string) => this.onClose(c, reason));
  }

  /** Subscribe to asynchronous messages (packet-in, flow-removed, ...) from ready switches. */
  onSwitchMessage(h: MessageHandler): void {
    this.handlers.push(h);
  }

  get(dpid: string): Connection | undefined {
    return this.byDpid.get(dpid.toLowerCase());
  }

  list(): Connection[] {
    return [...this.byDpid.values()].sort((a, b) => a.dpid.localeCompare(b.dpid));
  }

  private onReady(c: Connection): void {
    const old = this.byDpid.get(c.dpid);
    if (old && old !== c) {
      this.log.warn({ dpid: c.dpid, old: old.remote, new: c.remote }, 'switch reconnected; replacing old session');
      this.byDpid.delete(c.dpid);
      old.close('replaced by a new connection from the same datapath');
    }
    this.byDpid.set(c.dpid, c);
    this.bus.emit({ type: 'switch.connected', dpid: c.dpid, remote: c.remote, ports: c.ports.map(portView) });
  }

  private onMessage(c: Connection, m: OfpMessage): void {
    if (c.state !== 'ready' || this.byDpid.get(c.dpid) !== c) return;
    if (m.type === 'port_status') {
      const type = m.reason === OFPPR_ADD ? 'port.added' : m.reason === OFPPR_DELETE ? 'port.removed' : 'port.modified';
      this.bus.emit({ type, dpid: c.dpid, port: portView(m.desc) });
    }
    for (const h of this.handlers) {
      try {
        h(c, m);
      } catch (e) {
        c.log.error({ err: (e as Error).stack }, 'message handler failed');
      }
    }
  }

  private onClose(c: Connection, reason: string): void {
    if (!c.dpid || this.byDpid.get(c.dpid) !== c) return;
    this.byDpid.delete(c.dpid);
    this.log.info({ dpid: c.dpid, reason }, 'switch disconnected');
    this.bus.emit({ type: 'switch.disconnected', dpid: c.dpid, reason });
  }
}
