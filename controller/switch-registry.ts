// Switch sessions by datapath id: one live Connection per dpid, port tables
// kept current from PORT_STATUS, and switch.* / port.* events on the bus.
// A new session for a dpid that has one never displaces a live session: the
// old one is probed with an ECHO_REQUEST, and only if it stays silent for
// the probe time (ConnectionOptions.takeoverProbeMs) does the newcomer take
// the dpid; otherwise the newcomer is refused and closed. (A switch whose
// old TCP connection died reconnects this way; one that closed it cleanly
// finds the dpid free.)
import type { Logger } from 'pino';
import { Connection } from '../southbound/channel';
import { OfpMessage, Port, OFPPC_PORT_DOWN, OFPPS_LINK_DOWN, OFPPR_ADD, OFPPR_DELETE } from '../southbound/codec';
import { EventBus, PortView } from './events';
import type { Metrics } from './metrics';

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
  /** dpids whose session is being probed, with the newcomer waiting for the outcome. */
  private readonly contested = new Map<string, Connection>();
  private metrics?: Metrics;

  constructor(readonly bus: EventBus, readonly log: Logger) {}

  /** Take a freshly accepted connection; it registers once its handshake completes. */
  adopt(c: Connection): void {
    c.once('ready', () => this.onReady(c));
    c.on('message', (m: OfpMessage) => this.onMessage(c, m));
    c.once('close', (reason: string) => this.onClose(c, reason));
  }

  /** Count packet-ins and unsolicited OpenFlow errors (weft_packet_ins_total, weft_openflow_errors_total). */
  useMetrics(m: Metrics): void {
    this.metrics = m;
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
    if (!old || old === c || old.state === 'closed') {
      this.register(c);
      return;
    }
    const rival = this.contested.get(c.dpid);
    if (rival) {
      this.refuse(c, `another new session (${rival.remote}) is already waiting for dpid ${c.dpid}`);
      return;
    }
    this.contested.set(c.dpid, c);
    void this.probe(old).then((alive) => {
      this.contested.delete(c.dpid);
      if (c.state === 'closed') return;
      const now = this.byDpid.get(c.dpid);
      if (alive && now === old && old.state !== 'closed') {
        this.refuse(c, `the session from ${old.remote} for dpid ${c.dpid} is alive`);
        return;
      }
      if (now && now !== c && now.state !== 'closed') {
        this.log.warn({ dpid: c.dpid, old: now.remote, new: c.remote }, 'switch reconnected; the old session did not answer, replacing it');
        this.byDpid.delete(c.dpid);
        now.close('replaced by a new connection from the same datapath (the old one did not answer an echo)');
      }
      this.register(c);
    });
  }

  /** True if `old` answers an echo, or sends anything, within its probe time. */
  private async probe(old: Connection): Promise<boolean> {
    const start = Date.now();
    const ms = old.options.takeoverProbeMs;
    try {
      await old.request({ type: 'echo_request', data: Buffer.from('weft-probe') }, { timeoutMs: ms });
      return true;
    } catch {
      return old.state !== 'closed' && old.lastReceived > start;
    }
  }

  private refuse(c: Connection, why: string): void {
    this.log.warn({ dpid: c.dpid, remote: c.remote, reason: why }, 'switch session refused: its dpid has a live session');
    c.close(`refused: ${why}`);
  }

  private register(c: Connection): void {
    this.byDpid.set(c.dpid, c);
    this.bus.emit({ type: 'switch.connected', dpid: c.dpid, remote: c.remote, ports: c.ports.map(portView) });
  }

  private onMessage(c: Connection, m: OfpMessage): void {
    if (c.state !== 'ready' || this.byDpid.get(c.dpid) !== c) return;
    if (m.type === 'packet_in') this.metrics?.packetIn(c.dpid);
    else if (m.type === 'error') this.metrics?.ofError(m.errType);
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
