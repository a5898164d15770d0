// Tunnel health per ordered pair of hosts, by probes from the controller.
// Weft has one flow-based VXLAN port per host (vxlan0, remote_ip=flow), so
// OVS's BFD, which wants a tunnel port per peer, cannot watch the tunnels.
// Instead, for each ordered pair (A, B), once per cycle: a packet-out on A's
// br-int sets the tunnel's VNI to TUNNEL_PROBE_VNI and its destination to
// B's underlay address and outputs a small probe frame to vxlan0; on B, the
// classifier's tunnelProbe flows (apps/container/tunnel-probe.ts) send it to
// the controller through a meter. A probe counts only when it comes from
// B's vxlan0, by a probe flow, with that VNI, from A's address, and carries
// the nonce the controller put in the probe it sent last for the pair (A's
// index and 12 random bytes): a container cannot make a tunnel look up, and
// what the underlay sends to the probe flows costs at most the meter's rate.
//
// A pair is unknown before its first result, up when its last probe
// arrived, down after MISSES probes in a row did not (a probe that could
// not be sent, its host's br-int being away, is a miss too): a probe is
// missed when the pair's next one is due and it has not arrived.
//
// Scale (issue 14): N hosts make N(N-1) pairs, so nothing here is done per
// pair unless a probe is sent or the pairs are listed.
// - The hosts are kept by index (reused after a removal) and read again
//   from deps.hosts() at most once a second (HOST_REFRESH_MS), or at the
//   next tick after a host, switch or tunnel-port event: O(N).
// - A pair's state lives in typed arrays indexed by from * cap + to (46
//   bytes a pair, no object), cleared when either host goes.
// - A cycle enumerates the pairs of a snapshot of the hosts (sorted by
//   name) without materialising them: k -> (d = 1 + k / N, a = k % N), the
//   pair (host a, host (a + d) % N). Consecutive probes come from different
//   hosts and go to different hosts, so a tick's probes are spread over
//   the senders and over the receivers' meters.
// - Each tick sends at most the budget's share (budgetPerSecond * tickMs /
//   1000, rounded up; on average exactly that): a cycle lasts SLOTS ticks
//   (the interval), or as many ticks as the budget needs,
//   ceil(N(N-1) / share); each pair is probed once a cycle. A tick costs
//   O(its probes); a cycle's start O(N).
// Changes of state are reported (the composition root emits them on the bus
// as `tunnel` events).
import { randomBytes } from 'node:crypto';
import type { App, AppContext, Effect } from '../controller/app';
import type { HostRec } from '../controller/resources';
import type { TunnelView, Stamped, WeftEvent } from '../controller/events';
import {
  BR_INT, CATEGORY, categoryOf, GATEWAY_MAC, TUNNEL_PORT, TUNNEL_PROBE_VNI, TUNNEL_PROBE_ETH_TYPE,
} from '../controller/pipeline';
import { OFPP_CONTROLLER, OFP_NO_BUFFER, PacketIn, macToBytes, Outgoing } from '../southbound/codec';

/** Probes missed in a row before a pair is down. */
export const MISSES = 3;
/** Ticks per interval: each pair is probed at one of them (more ticks per cycle when the budget needs them). */
export const SLOTS = 10;
/** The hosts are read again at least this often (ms; and after a host, switch or tunnel-port event). */
export const HOST_REFRESH_MS = 1000;
/** The probe frame's payload starts with this; the nonce follows. */
const MAGIC = Buffer.from('weftprb1');
const NONCE_BYTES = 16;
/** Random bytes of a nonce (after the sender's index). */
const NONCE_RANDOM = NONCE_BYTES - 4;

export interface TunnelProberDeps {
  /** The registered hosts. */
  hosts(): HostRec[];
  /** A connected bridge's ports by name; undefined while it is not connected. */
  ports(dpid: string): Map<string, number> | undefined;
  /** A bridge's tunnel port: its number, null when it is connected without one, undefined while it is not connected (default: from ports()). */
  tunnelPort?(dpid: string): number | null | undefined;
  /** A pair's state changed. */
  changed(t: TunnelView): void;
  /** Each pair is probed once per interval (ms), as long as the budget allows. */
  intervalMs: number;
  /** a monotonic clock in ms (round trips); default performance.now */
  now?(): number;
  /** Probes per second at most, all pairs together (default DEFAULT_PROBE_BUDGET). */
  budgetPerSecond?: number;
}

/** Probes per second the controller sends at most by default. */
export const DEFAULT_PROBE_BUDGET = 2000;

/** A host that has pairs: its record and its index in the pair arrays. */
interface HostEntry { rec: HostRec; i: number }

/** A pair's flags (the `st` array): its state in the low bits, then whether a round is open and whether its probe was sent. */
const STATE_MASK = 3, UP = 1, DOWN = 2, OPEN = 4, SENT = 8; // state 0: unknown
const STATES: TunnelView['state'][] = ['unknown', 'up', 'down'];

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

/** The nonce of a probe frame, or undefined when it is not one. */
function nonceOf(data: Buffer): Buffer | undefined {
  if (data.length < 14 + MAGIC.length + NONCE_BYTES || data.readUInt16BE(12) !== TUNNEL_PROBE_ETH_TYPE) return undefined;
  if (!data.subarray(14, 14 + MAGIC.length).equals(MAGIC)) return undefined;
  return data.subarray(14 + MAGIC.length, 14 + MAGIC.length + NONCE_BYTES);
}

/** The nonce of a probe frame (hex), or undefined when it is not one. */
export function probeNonce(data: Buffer): string | undefined {
  return nonceOf(data)?.toString('hex');
}

export class TunnelProber implements App {
  readonly name = 'tunnel-prober';
  readonly scope = 'hosts' as const;
  readonly tickMs: number;
  private ctx?: AppContext;
  private readonly now: () => number;
  /** probes one tick may send on average (a fraction with a small budget: then some ticks send none) */
  readonly perTick: number;

  // ---- the hosts
  private readonly byName = new Map<string, HostEntry>();
  private readonly byDpid = new Map<string, HostEntry>();
  /** by index; undefined: a free index (its row and column are clear) */
  private readonly at: (HostEntry | undefined)[] = [];
  private readonly free: number[] = [];
  /** the hosts by name (undefined after a change) */
  private sorted?: HostEntry[];
  /** read the hosts again at the next tick */
  private dirty = true;
  private ticksSinceRefresh = 0;
  private readonly refreshTicks: number;

  // ---- the pairs: pair (i, j) at i * cap + j
  private cap = 0;
  private st = new Uint8Array(0);
  private misses = new Uint8Array(0);
  /** the open round's nonce, less the sender's index: three 32-bit words a pair */
  private nonce = new Uint32Array(0);
  /** when the open round's probe was sent (this.now()) */
  private sentAt = new Float64Array(0);
  /** wall clock (ms) of the last probe sent, of the last one that arrived; 0: never */
  private probedAt = new Float64Array(0);
  private seenAt = new Float64Array(0);
  /** the last round trip (ms), valid while up */
  private rtt = new Float64Array(0);

  // ---- the cycle: a snapshot of the hosts, its pairs' count, its length in ticks, the tick it is at
  private snap: HostEntry[] = [];
  private cyclePairs = 0;
  private cycleTicks = SLOTS;
  private tick = 0;

  constructor(private readonly deps: TunnelProberDeps) {
    this.tickMs = Math.max(1, Math.round(deps.intervalMs / SLOTS));
    this.now = deps.now ?? (() => performance.now());
    this.perTick = Math.max(1e-6, ((deps.budgetPerSecond ?? DEFAULT_PROBE_BUDGET) * this.tickMs) / 1000);
    this.refreshTicks = Math.max(1, Math.round(HOST_REFRESH_MS / this.tickMs));
  }

  /** Ticks the current cycle lasts: SLOTS, or more when the pairs exceed the budget. */
  get ticksPerCycle(): number {
    return this.cycleTicks;
  }

  /** How often each pair is probed now (ms): the interval, or longer when the pairs exceed the budget. */
  get cycleMs(): number {
    return this.cycleTicks * this.tickMs;
  }

  /** Hosts that have pairs now (with the pairs' state kept), and the size of the pair arrays (hosts). */
  get size(): { hosts: number; capacity: number } {
    return { hosts: this.byName.size, capacity: this.cap };
  }

  init(ctx: AppContext): void {
    this.ctx = ctx;
  }

  onEvent(e: Stamped<WeftEvent>): void {
    // the hosts, their br-int and its tunnel port: read again at the next tick
    if (e.type === 'host.registered' || e.type === 'host.unregistered' || e.type === 'switch.connected' || e.type === 'switch.disconnected'
      || (e.type.startsWith('port.') && 'port' in e && e.port.name === TUNNEL_PORT)) this.dirty = true;
  }

  /** Every pair's health, ordered by from and to. */
  list(): TunnelView[] {
    this.refresh();
    const hosts = this.byNameSorted();
    const out: TunnelView[] = [];
    for (const a of hosts) for (const b of hosts) if (a !== b && a.rec.underlayIp !== b.rec.underlayIp) out.push(this.view(a, b));
    return out;
  }

  private tunnelPort(dpid: string): number | null | undefined {
    if (this.deps.tunnelPort) return this.deps.tunnelPort(dpid);
    const p = this.deps.ports(dpid);
    return p ? (p.get(TUNNEL_PORT) ?? null) : undefined;
  }

  /** The hosts that have pairs: every registered host, less hosts whose br-int is connected without a tunnel port. O(hosts). */
  private refresh(): void {
    let hosts: HostRec[];
    try { hosts = this.deps.hosts(); } catch { return; }
    this.dirty = false;
    this.ticksSinceRefresh = 0;
    const fresh = new Map<string, HostRec>();
    for (const h of hosts) if (!fresh.has(h.name) && this.tunnelPort(h.dpid) !== null) fresh.set(h.name, h);
    // the gone first (their indexes are free for the new), then the new, or the same name for another host (unregistered and registered again): it starts over
    for (const e of [...this.byName.values()]) {
      const h = fresh.get(e.rec.name);
      if (h && h.underlayIp === e.rec.underlayIp && h.dpid === e.rec.dpid) e.rec = h; else this.dropHost(e);
    }
    if (fresh.size !== this.byName.size) for (const h of fresh.values()) if (!this.byName.has(h.name)) this.addHost(h);
  }

  private byNameSorted(): HostEntry[] {
    this.sorted ??= [...this.byName.values()].sort((a, b) => (a.rec.name < b.rec.name ? -1 : a.rec.name > b.rec.name ? 1 : 0));
    return this.sorted;
  }

  private addHost(h: HostRec): HostEntry {
    const i = this.free.pop() ?? this.at.length;
    if (i >= this.cap) this.grow(i + 1);
    const e: HostEntry = { rec: h, i };
    this.at[i] = e;
    this.byName.set(h.name, e);
    this.byDpid.set(h.dpid, e);
    this.sorted = undefined;
    return e;
  }

  /** A host goes: its pairs are forgotten (its row and column cleared), its index is free again. */
  private dropHost(e: HostEntry): void {
    const { i } = e, cap = this.cap;
    for (const a of [this.st, this.misses, this.sentAt, this.probedAt, this.seenAt, this.rtt]) {
      a.fill(0, i * cap, (i + 1) * cap);
      for (let j = 0; j < cap; j++) a[j * cap + i] = 0;
    }
    this.nonce.fill(0, 3 * i * cap, 3 * (i + 1) * cap);
    for (let j = 0; j < cap; j++) this.nonce.fill(0, 3 * (j * cap + i), 3 * (j * cap + i) + 3);
    this.at[i] = undefined;
    this.free.push(i);
    this.byName.delete(e.rec.name);
    if (this.byDpid.get(e.rec.dpid) === e) this.byDpid.delete(e.rec.dpid);
    this.sorted = undefined;
  }

  /** Room for n hosts: the arrays grow by a quarter at least, rows copied. */
  private grow(n: number): void {
    const old = this.cap, cap = Math.max(n, Math.ceil(old * 1.25), 16);
    const re = <T extends Uint8Array | Uint32Array | Float64Array>(a: T, make: (len: number) => T, w = 1): T => {
      const b = make(cap * cap * w);
      for (let i = 0; i < old; i++) b.set(a.subarray(i * old * w, (i + 1) * old * w), i * cap * w);
      return b;
    };
    this.st = re(this.st, (l) => new Uint8Array(l));
    this.misses = re(this.misses, (l) => new Uint8Array(l));
    this.nonce = re(this.nonce, (l) => new Uint32Array(l), 3);
    this.sentAt = re(this.sentAt, (l) => new Float64Array(l));
    this.probedAt = re(this.probedAt, (l) => new Float64Array(l));
    this.seenAt = re(this.seenAt, (l) => new Float64Array(l));
    this.rtt = re(this.rtt, (l) => new Float64Array(l));
    this.cap = cap;
  }

  private set(a: HostEntry, b: HostEntry, state: number): void {
    const p = a.i * this.cap + b.i;
    if ((this.st[p]! & STATE_MASK) === state) return;
    this.st[p] = (this.st[p]! & ~STATE_MASK) | state;
    this.ctx?.log.info({ from: a.rec.name, to: b.rec.name, state: STATES[state] }, 'tunnel state');
    this.deps.changed(this.view(a, b));
  }

  onTick(): Effect[] {
    if (this.dirty || ++this.ticksSinceRefresh >= this.refreshTicks) this.refresh();
    if (this.tick === 0) {
      // a new cycle: the hosts as they are now, their pairs spread over SLOTS ticks, or over more if the budget needs them
      this.snap = this.byNameSorted();
      const n = this.snap.length;
      this.cyclePairs = n * (n - 1);
      const ticks = Math.max(SLOTS, Math.ceil(this.cyclePairs / this.perTick - 1e-9));
      if (ticks !== this.cycleTicks) this.ctx?.log.info({ pairs: this.cyclePairs, ticks, cycleMs: ticks * this.tickMs }, 'tunnel probe cycle');
      this.cycleTicks = ticks;
    }
    const n = this.snap.length, total = this.cyclePairs, t = this.tick;
    const k0 = Math.floor((t * total) / this.cycleTicks), k1 = Math.floor(((t + 1) * total) / this.cycleTicks);
    this.tick = (this.tick + 1) % this.cycleTicks;
    const out: Effect[] = [];
    if (k1 <= k0) return out;
    const tunnels = new Map<HostEntry, number | null | undefined>();
    const random = randomBytes((k1 - k0) * NONCE_RANDOM);
    for (let k = k0; k < k1; k++) {
      const d = 1 + Math.floor(k / n), x = k % n;
      const a = this.snap[x]!, b = this.snap[(x + d) % n]!;
      if (this.at[a.i] !== a || this.at[b.i] !== b || a.rec.underlayIp === b.rec.underlayIp) continue; // gone since the cycle began
      const p = a.i * this.cap + b.i;
      if (this.st[p]! & OPEN) {
        if (this.misses[p]! < 255) this.misses[p]!++;
        if (this.misses[p]! >= MISSES) this.set(a, b, DOWN);
      }
      this.st[p] = (this.st[p]! & STATE_MASK) | OPEN;
      if (!tunnels.has(a)) tunnels.set(a, this.tunnelPort(a.rec.dpid));
      const tun = tunnels.get(a);
      if (tun === undefined || tun === null) continue; // its br-int is away: this round is a miss
      const nonce = Buffer.allocUnsafe(NONCE_BYTES);
      nonce.writeUInt32BE(a.i, 0);
      random.copy(nonce, 4, (k - k0) * NONCE_RANDOM, (k - k0 + 1) * NONCE_RANDOM);
      for (let w = 0; w < 3; w++) this.nonce[3 * p + w] = nonce.readUInt32BE(4 + 4 * w);
      this.st[p]! |= SENT;
      this.sentAt[p] = this.now();
      this.probedAt[p] = Date.now();
      out.push({ dpid: a.rec.dpid, msg: probeOut(tun, b.rec.underlayIp, nonce) });
    }
    return out;
  }

  onPacketIn(dpid: string, pi: PacketIn): Effect[] | void {
    if (categoryOf(pi.cookie) !== CATEGORY.probe) return;
    // the cheap checks first: a forged probe costs a few lookups
    const nonce = nonceOf(pi.data);
    const b = this.byDpid.get(dpid);
    if (!nonce || !b || this.at[b.i] !== b) return;
    const a = this.at[nonce.readUInt32BE(0)];
    if (!a || a === b) return;
    const p = a.i * this.cap + b.i;
    if (!(this.st[p]! & SENT)) return;
    for (let w = 0; w < 3; w++) if (this.nonce[3 * p + w] !== nonce.readUInt32BE(4 + 4 * w)) return;
    if (pi.table_id !== BR_INT.tableId.classifier) return;
    const m = (f: string) => pi.match?.find((x) => x.field === f)?.value;
    const tun = this.tunnelPort(dpid);
    if (tun === undefined || tun === null || m('in_port') !== tun) return;
    const vni = m('tunnel_id');
    if (vni === undefined || BigInt(vni as number | bigint) !== BigInt(TUNNEL_PROBE_VNI)) return;
    const src = m('tun_ipv4_src');
    if (src !== undefined && src !== a.rec.underlayIp) return;
    this.st[p] = this.st[p]! & STATE_MASK;
    this.nonce.fill(0, 3 * p, 3 * p + 3);
    this.misses[p] = 0;
    this.rtt[p] = Math.round((this.now() - this.sentAt[p]!) * 1000) / 1000;
    this.seenAt[p] = Date.now();
    this.set(a, b, UP);
  }

  private view(a: HostEntry, b: HostEntry): TunnelView {
    const p = a.i * this.cap + b.i, state = this.st[p]! & STATE_MASK;
    const iso = (ms: number) => (ms ? new Date(ms).toISOString() : null);
    return {
      from: a.rec.name, to: b.rec.name, fromIp: a.rec.underlayIp, toIp: b.rec.underlayIp, state: STATES[state]!,
      rttMs: state === UP ? this.rtt[p]! : null, lastSeen: iso(this.seenAt[p]!), lastProbed: iso(this.probedAt[p]!),
    };
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
