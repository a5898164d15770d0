// Next hops of masqueraded traffic (br-phy's phyNextHop table), resolved by
// the controller: when phyNextHop misses, the packet comes up here and the
// resolver ARPs for its next hop out of br-phy's uplink; the reply, addressed
// to the gateway MAC, comes up too and fills the neighbour table that the
// flow source turns into next-hop flows. It returns its probes as effects
// and never sends anything itself.
import type { App, AppContext, Effect } from '../controller/app';
import type { HostRec } from '../controller/resources';
import { prefixMask, ipToInt } from '../controller/ipv4';
import { GATEWAY_MAC, BR_PHY, ARP_OP, uplinkOf } from '../controller/pipeline';
import { OFPP_CONTROLLER, OFP_NO_BUFFER, PacketIn } from '../southbound/codec';
import { Frame, buildArpRequest } from '../southbound/packet/ethernet';

/** The underlay next hop of a host's egress traffic to `dst`: `dst` on the underlay's own subnet (or with no router registered), else the router. */
export function nextHop(h: HostRec, dst: string): string {
  if (!h.underlayGateway || !h.underlayPrefix) return dst;
  const m = prefixMask(h.underlayPrefix);
  return ((ipToInt(dst) & m) >>> 0) === ((ipToInt(h.underlayIp) & m) >>> 0) ? dst : h.underlayGateway;
}

/** The same next hop is asked for at most this often. */
const ASK_INTERVAL_MS = 1000;

export class NextHopResolver implements App {
  readonly name = 'next-hop';
  readonly scope = 'hosts' as const;
  /** per host: IPv4 -> MAC (learned again after a restart, on demand) */
  private readonly table = new Map<string, Map<string, string>>();
  private readonly asked = new Map<string, number>();
  private ctx?: AppContext;

  constructor(
    private readonly hostByPhyDpid: (dpid: string) => HostRec | undefined,
    /** a next hop was learned on this br-phy: its flows must follow */
    private readonly learned: (dpid: string) => void,
  ) {}

  init(ctx: AppContext): void {
    this.ctx = ctx;
  }

  /** The next hops resolved for a host. */
  neighbors(host: string): ReadonlyMap<string, string> | undefined {
    return this.table.get(host);
  }

  onPacketIn(dpid: string, pi: PacketIn, f: Frame | undefined): Effect[] | void {
    const host = this.hostByPhyDpid(dpid);
    if (!host || !f) return;
    if (f.arp && f.arp.op === ARP_OP.reply && f.dst === GATEWAY_MAC) {
      let t = this.table.get(host.name);
      if (!t) { t = new Map(); this.table.set(host.name, t); }
      if (t.get(f.arp.spa) === f.arp.sha) return;
      t.set(f.arp.spa, f.arp.sha);
      this.ctx?.log.info({ host: host.name, ip: f.arp.spa, mac: f.arp.sha }, 'next hop resolved');
      this.learned(dpid);
      return;
    }
    if (pi.table_id !== BR_PHY.tableId.phyNextHop || !f.ipv4) return;
    const target = nextHop(host, f.ipv4.dst);
    const key = `${host.name}/${target}`;
    if (this.table.get(host.name)?.has(target) || Date.now() - (this.asked.get(key) ?? 0) < ASK_INTERVAL_MS) return;
    this.asked.set(key, Date.now());
    const info = this.ctx?.switchInfo(dpid);
    const uplink = info && uplinkOf(info.ports);
    if (uplink === undefined) return;
    // a probe (sender 0.0.0.0, RFC 5227) from the gateway MAC: no neighbour cache learns anything from it
    return [{ dpid, msg: { type: 'packet_out', buffer_id: OFP_NO_BUFFER, in_port: OFPP_CONTROLLER, actions: [{ type: 'output', port: uplink }], data: buildArpRequest(GATEWAY_MAC, '0.0.0.0', target) } }];
  }
}
