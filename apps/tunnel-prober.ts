// Tunnel health per ordered pair of hosts, by probes from the controller.
// Weft has one flow-based VXLAN port per host (vxlan0, remote_ip=flow), so
// OVS's BFD, which wants a tunnel port per peer, cannot watch the tunnels.
// Instead, for each ordered pair (A, B), once per interval: a packet-out on
// A's br-int sets the tunnel's VNI to TUNNEL_PROBE_VNI and its destination
// to B's underlay address and outputs a small probe frame to vxlan0; on B,
// the classifier's tunnelProbe flows (apps/container/tunnel-probe.ts) send
// it to the controller through a meter. A probe counts only when it comes
// from B's vxlan0, by a probe flow, with that VNI, from A's address, and
// carries the random nonce the controller put in the probe it sent last for
// the pair: a container cannot make a tunnel look up, and what the
// underlay sends to the probe flows costs at most the meter's rate.
//
// A pair is unknown before its first result, up when its last probe
// arrived, down after MISSES probes in a row did not (a probe that could
// not be sent, its host's br-int being away, is a miss too). Probes are
// spread over the interval: a cycle of SLOTS ticks, each tick probing its
// share of the pairs (ordered by a hash of their names). N hosts make
// N(N-1) pairs: when they exceed the budget (probes per second), the cycle
// stretches to as many ticks as the budget needs, so the controller never
// sends more than the budget whatever the cluster's size (each pair is then
// probed less often than the interval says). Changes of state are reported
// (the composition root emits them on the bus as `tunnel` events).
import { randomBytes } from 'node:crypto';
import type { App, AppContext, Effect } from '../controller/app';
import type { HostRec } from '../controller/resources';
import type { TunnelView } from '../controller/events';
import {
  BR_INT, CATEGORY, categoryOf, objectId, GATEWAY_MAC, TUNNEL_PORT, TUNNEL_PROBE_VNI, TUNNEL_PROBE_ETH_TYPE,
} from '../controller/pipeline';
import { OFPP_CONTROLLER, OFP_NO_BUFFER, PacketIn, macToBytes, Outgoing } from '../southbound/codec';

/** Probes missed in a row before a pair is down. */
export const MISSES = 3;
/** Ticks per interval: each pair is probed at one of them (more ticks per cycle when the budget needs them). */
export const SLOTS = 10;
/** The probe frame's payload starts with this; the nonce follows. */
const MAGIC = Buffer.from('weftprb1');
const NONCE_BYTES = 16;

export interface TunnelProberDeps {
  /** The registered hosts. */
  hosts(): HostRec[];
  /** A connected bridge's ports by name; undefined while it is not connected. */
  ports(dpid: string): Map<string, number> | undefined;
  /** A pair's state changed. */
  changed(t: TunnelView): void;
  /** Each pair is probed once per interval (ms). */
  intervalMs: number;
  /** a monotonic clock in ms (round trips); default performance.now */
  now?(): number;
  /** Probes per second at most, all pairs together (default DEFAULT_PROBE_BUDGET). */
  budgetPerSecond?: number;
}

/** Probes per second the controller sends at most by default. */
export const DEFAULT_PROBE_BUDGET = 2000;

interface Pair {
  key: string;
  from: HostRec;
  to: HostRec;
  /** where it comes in the cycle (a hash of its name) */
  slot: number;
  state: TunnelView['state'];
  rttMs: number | null;
  lastSeen: string | null;
  misses: number;
  /** a probe round is open: its probe (if one could be sent) has not arrived yet */
  pending: boolean;
  /** the open round's nonce (hex) and when its probe was sent */
  nonce?: string;
  sentAt?: number;
}

/** The probe frame: Ethernet (gateway MAC both ways, EtherType TUNNEL_PROBE_ETH_TYPE), the magic and the nonce, padded to 64 bytes. */
export function probeFrame(nonce: Buffer): Buffer {
  const f = Buffer.alloc(64);
  macToBytes(GATEWAY_MAC).copy(f, 0);
  macToBytes(GATEWAY_MAC).copy(f, 6);
  f.writeUInt16BE(TUNNEL_PROBE_ETH_TYPE, 12);
  MAGIC.copy(f, 14);
  nonce.copy(f, 14 + MAGIC.length);
  return f;
}

/** The nonce of a probe frame (hex), or undefined when it is not one. */
export function probeNonce(data: Buffer): string | undefined {
  if (data.length < 14 + MAGIC.length + NONCE_BYTES || data.readUInt16BE(12) !== TUNNEL_PROBE_ETH_TYPE) return undefined;
  if (!data.subarray(14, 14 + MAGIC.length).equals(MAGIC)) return undefined;
  return data.subarray(14 + MAGIC.length, 14 + MAGIC.length + NONCE_BYTES).toString('hex');
}

const slotOf = (key: string) => objectId(key);

export class TunnelProber implements App {
  readonly name = 'tunnel-prober';
  readonly scope = 'hosts' as const;
  readonly tickMs: number;
  private readonly pairs = new Map<string, Pair>();
  /** open rounds by nonce */
  private readonly nonces = new Map<string, Pair>();
  /** the cycle: its pairs in order, its length in ticks, the tick it is at */
  private cycle: Pair[] = [];
  private cycleTicks = SLOTS;
  private tick = 0;
  private ctx?: AppContext;
  private readonly now: () => number;
  /** probes one tick may send */
  private readonly perTick: number;

  constructor(private readonly deps: TunnelProberDeps) {
    this.tickMs = Math.max(1, Math.round(deps.intervalMs / SLOTS));
    this.now = deps.now ?? (() => performance.now());
    this.perTick = Math.max(1, Math.floor(((deps.budgetPerSecond ?? DEFAULT_PROBE_BUDGET) * this.tickMs) / 1000));
  }

  /** Ticks the current cycle lasts: SLOTS, or more when the pairs exceed the budget. */
  get ticksPerCycle(): number {
    return this.cycleTicks;
  }

  init(ctx: AppContext): void {
    this.ctx = ctx;
  }

  /** Every pair's health, ordered by from and to. */
  list(): TunnelView[] {
    this.refresh();
    return [...this.pairs.values()].sort((a, b) => (a.from.name < b.from.name ? -1 : a.from.name > b.from.name ? 1 : a.to.name < b.to.name ? -1 : a.to.name > b.to.name ? 1 : 0)).map(view);
  }

  /** The pairs: every ordered pair of registered hosts with distinct underlay addresses, less hosts whose br-int is connected without a tunnel port. */
  private refresh(): void {
    let hosts: HostRec[];
    try { hosts = this.deps.hosts(); } catch { return; }
    const tunneled = hosts.filter((h) => { const p = this.deps.ports(h.dpid); return !p || p.has(TUNNEL_PORT); });
    const want = new Set<string>();
    for (const a of tunneled) {
      for (const b of tunneled) {
        if (a.name === b.name || a.underlayIp === b.underlayIp) continue;
        const key = `${a.name}\0${b.name}`;
        want.add(key);
        const p = this.pairs.get(key);
        if (!p) this.pairs.set(key, { key, from: a, to: b, slot: slotOf(key), state: 'unknown', rttMs: null, lastSeen: null, misses: 0, pending: false });
        else if (p.from.underlayIp !== a.underlayIp || p.to.underlayIp !== b.underlayIp || p.from.dpid !== a.dpid || p.to.dpid !== b.dpid) {
          // the same names, other hosts (unregistered and registered again): start over
          this.drop(p);
          this.pairs.set(key, { key, from: a, to: b, slot: slotOf(key), state: 'unknown', rttMs: null, lastSeen: null, misses: 0, pending: false });
        }
      }
    }
    for (const p of this.pairs.values()) if (!want.has(p.key)) this.drop(p);
  }

  private drop(p: Pair): void {
    if (p.nonce) this.nonces.delete(p.nonce);
    this.pairs.delete(p.key);
  }

  private set(p: Pair, state: Pair['state']): void {
    if (p.state === state) return;
    p.state = state;
    if (state === 'down') p.rttMs = null;
    this.ctx?.log.info({ from: p.from.name, to: p.to.name, state }, 'tunnel state');
    this.deps.changed(view(p));
  }

  onTick(): Effect[] {
    this.refresh();
    if (this.tick === 0) {
      // a new cycle: the pairs as they are now, spread over SLOTS ticks, or over more if the budget needs them
      this.cycle = [...this.pairs.values()].sort((a, b) => a.slot - b.slot || (a.key < b.key ? -1 : 1));
      const ticks = Math.max(SLOTS, Math.ceil(this.cycle.length / this.perTick));
      if (ticks !== this.cycleTicks) this.ctx?.log.info({ pairs: this.cycle.length, ticks, cycleMs: ticks * this.tickMs }, 'tunnel probe cycle');
      this.cycleTicks = ticks;
    }
    const n = this.cycle.length, t = this.tick;
    const due = this.cycle.slice(Math.floor((t * n) / this.cycleTicks), Math.floor(((t + 1) * n) / this.cycleTicks));
    this.tick = (this.tick + 1) % this.cycleTicks;
    const out: Effect[] = [];
    const ports = new Map<string, Map<string, number> | undefined>();
    const portsOf = (dpid: string) => { if (!ports.has(dpid)) ports.set(dpid, this.deps.ports(dpid)); return ports.get(dpid); };
    for (const p of due) {
      if (this.pairs.get(p.key) !== p) continue; // gone since the cycle began
      if (p.pending) {
        if (p.nonce) this.nonces.delete(p.nonce);
        p.nonce = undefined;
        p.misses++;
        if (p.misses >= MISSES) this.set(p, 'down');
      }
      p.pending = true;
      const tun = portsOf(p.from.dpid)?.get(TUNNEL_PORT);
      if (tun === undefined) continue; // its br-int is away: this round is a miss
      const nonce = randomBytes(NONCE_BYTES);
      p.nonce = nonce.toString('hex');
      p.sentAt = this.now();
      this.nonces.set(p.nonce, p);
      out.push({ dpid: p.from.dpid, msg: probeOut(tun, p.to.underlayIp, nonce) });
    }
    return out;
  }

  onPacketIn(dpid: string, pi: PacketIn): Effect[] | void {
    if (categoryOf(pi.cookie) !== CATEGORY.probe) return;
    // the cheap checks first: a forged probe costs a map lookup
    const nonce = probeNonce(pi.data);
    const p = nonce === undefined ? undefined : this.nonces.get(nonce);
    if (!p || p.to.dpid !== dpid || pi.table_id !== BR_INT.tableId.classifier) return;
    const m = (f: string) => pi.match?.find((x) => x.field === f)?.value;
    const tun = this.deps.ports(dpid)?.get(TUNNEL_PORT);
    if (tun === undefined || m('in_port') !== tun) return;
    const vni = m('tunnel_id');
    if (vni === undefined || BigInt(vni as number | bigint) !== BigInt(TUNNEL_PROBE_VNI)) return;
    const src = m('tun_ipv4_src');
    if (src !== undefined && src !== p.from.underlayIp) return;
    this.nonces.delete(nonce!);
    const now = this.now();
    p.nonce = undefined;
    p.pending = false;
    p.misses = 0;
    p.rttMs = Math.round((now - p.sentAt!) * 1000) / 1000;
    p.lastSeen = new Date().toISOString();
    this.set(p, 'up');
  }
}

/** The packet-out on the sending host: the tunnel's VNI and destination, then vxlan0. */
export function probeOut(tunnelPort: number, toIp: string, nonce: Buffer): Outgoing {
  return {
    type: 'packet_out', buffer_id: OFP_NO_BUFFER, in_port: OFPP_CONTROLLER, data: probeFrame(nonce),
    actions: [
      { type: 'set_field', field: { field: 'tunnel_id', value: BigInt(TUNNEL_PROBE_VNI) } },
      { type: 'set_field', field: { field: 'tun_ipv4_dst', value: toIp } },
      { type: 'output', port: tunnelPort, max_len: 0 },
    ],
  };
}

const view = (p: Pair): TunnelView => ({
  from: p.from.name, to: p.to.name, fromIp: p.from.underlayIp, toIp: p.to.underlayIp, state: p.state, rttMs: p.rttMs, lastSeen: p.lastSeen,
});
