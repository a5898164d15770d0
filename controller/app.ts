// The app model. An app receives events (switch and port changes, links and
// hosts, packet-ins, timer ticks) and returns the messages it wants sent —
// flows, packet-outs, group-mods — as Effects. It never touches a socket:
// the AppRunner sends what apps return, in order, per switch.
import type { Logger } from 'pino';
import type { Outgoing, PacketIn } from '../southbound/codec';
import type { Frame } from '../southbound/packet/ethernet';
import type { Stamped, WeftEvent } from './events';
import type { Topology } from './topology';

export interface Effect {
  dpid: string;
  msg: Outgoing;
}

export interface SwitchInfo {
  dpid: string;
  ports: { port_no: number; name: string; hw_addr: string; status: 'up' | 'down' }[];
}

export interface AppContext {
  log: Logger;
  topology: Topology;
  /** Connected switches, current port tables. */
  switches(): SwitchInfo[];
  switchInfo(dpid: string): SwitchInfo | undefined;
  /** A stable id for this controller instance (LLDP probes carry it). */
  controllerId: string;
}

export interface App {
  readonly name: string;
  /**
   * Which bridges the app serves: lab switches (the default), or the
   * bridges of registered container hosts, which lab apps never see.
   */
  readonly scope?: 'lab' | 'hosts';
  init?(ctx: AppContext): void;
  /** Bus events: switch.*, port.*, link.*, host.* */
  onEvent?(e: Stamped<WeftEvent>): Effect[] | void;
  /** A packet-in, with its frame parsed once for all apps. */
  onPacketIn?(dpid: string, pi: PacketIn, frame: Frame | undefined): Effect[] | void;
  /** Called every tickMs. */
  onTick?(now: number): Effect[] | void;
  readonly tickMs?: number;
}
