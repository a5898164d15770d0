// L2 learning switch, the equivalent of Ryu's simple_switch_13: a table-miss
// flow to the controller; source MACs learned per switch; known destinations
// get an exact flow (in_port, eth_src, eth_dst) with an idle timeout plus a
// packet-out; unknown ones are flooded (OFPP_FLOOD never sends a packet back
// out of its in_port, so a single switch never loops).
import type { App, AppContext, Effect } from '../controller/app';
import type { Stamped, WeftEvent } from '../controller/events';
import { flowMod, PacketIn, OFPP_CONTROLLER, OFPP_FLOOD, OFPCML_NO_BUFFER, OFP_NO_BUFFER, OFPFC_DELETE, OFPTT_ALL, Action } from '../southbound/codec';
import { ETH_TYPE_LLDP, Frame, isGroupMac } from '../southbound/packet/ethernet';

export const LEARNING_COOKIE = 0x4c45_4152_0000_0000n; // "LEAR"
export const LEARNING_PRIORITY = 1;

export interface LearningOptions {
  idleTimeout?: number;
  table?: number;
}

export class LearningSwitch implements App {
  readonly name = 'learning';
  /** dpid -> mac -> port */
  readonly macs = new Map<string, Map<string, number>>();
  private ctx?: AppContext;

  constructor(readonly opts: LearningOptions = {}) {}

  init(ctx: AppContext): void {
    this.ctx = ctx;
  }

  onEvent(e: Stamped<WeftEvent>): Effect[] | void {
    const table = this.opts.table ?? 0;
    if (e.type === 'switch.connected') {
      this.macs.set(e.dpid, new Map());
      return [
        // start clean: flows learned by an earlier controller may point at stale ports
        { dpid: e.dpid, msg: flowMod({ command: OFPFC_DELETE, table_id: OFPTT_ALL, cookie: LEARNING_COOKIE, cookie_mask: 0xffffffff00000000n }) },
        { dpid: e.dpid, msg: flowMod({ table_id: table, priority: 0, cookie: LEARNING_COOKIE, instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: OFPP_CONTROLLER, max_len: OFPCML_NO_BUFFER }] }] }) },
      ];
    }
    if (e.type === 'switch.disconnected') this.macs.delete(e.dpid);
    if (e.type === 'port.removed' || (e.type === 'port.modified' && e.port.status === 'down')) {
      const t = this.macs.get(e.dpid);
      if (t) for (const [mac, p] of t) if (p === e.port.port_no) t.delete(mac);
    }
  }

  onPacketIn(dpid: string, pi: PacketIn, f: Frame | undefined): Effect[] | void {
    if (!f || f.ethType === ETH_TYPE_LLDP) return;
    const inPort = pi.match.length && pi.match[0].field === 'in_port' ? (pi.match[0].value as number) : (pi.match.find((m) => m.field === 'in_port')?.value as number);
    if (inPort === undefined) return;
    let table = this.macs.get(dpid);
    if (!table) { table = new Map(); this.macs.set(dpid, table); }
    if (!isGroupMac(f.src)) table.set(f.src, inPort);
    const out = isGroupMac(f.dst) ? undefined : table.get(f.dst);
    const actions: Action[] = [{ type: 'output', port: out ?? OFPP_FLOOD }];
    const effects: Effect[] = [];
    if (out !== undefined && out !== inPort) {
      effects.push({
        dpid, msg: flowMod({
          table_id: this.opts.table ?? 0, priority: LEARNING_PRIORITY, cookie: LEARNING_COOKIE, idle_timeout: this.opts.idleTimeout ?? 60,
          buffer_id: pi.buffer_id,
          match: [{ field: 'in_port', value: inPort }, { field: 'eth_dst', value: f.dst }, { field: 'eth_src', value: f.src }],
          instructions: [{ type: 'apply_actions', actions }],
        }),
      });
      if (pi.buffer_id !== OFP_NO_BUFFER) return effects; // the flow-mod releases the buffered packet
    } else if (out === inPort) {
      return; // destination is behind the port the frame came in on: drop
    }
    effects.push({ dpid, msg: { type: 'packet_out', buffer_id: pi.buffer_id, in_port: inPort, actions, data: pi.buffer_id === OFP_NO_BUFFER ? pi.data : Buffer.alloc(0) } });
    return effects;
  }
}
