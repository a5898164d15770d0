// The live trace (POST /v1/traces with "live": true), in the style of
// Antrea's Traceflow: while the trace runs, every bridge of the hosts on the
// computed path gets observation flows that match only the trace's marked
// packet (IP DSCP = the trace's tag, plus its addresses and protocol); a
// marked packet is injected by packet-out at the source endpoint's port as if
// the container had sent it (output OFPP_TABLE); the observation flows copy
// it to the controller table by table, and what comes back (host, bridge,
// table, and what the switch's flow did) is the live path. The observation
// flows are copies of the flows the switch actually holds (read back with a
// flow-stats request), not of the flows the controller wants, so a flow
// missing on a switch shows as a difference with the computed trace. They
// are removed by cookie when the trace ends.
//
// It is a host-scoped app: its flow-mods and packet-outs are Effects sent by
// the AppRunner, and the packet-ins of its observation flows reach it like
// any host packet-in. Reading the switch's flows and the barriers that order
// them before the injection are requests, given to it by the composition root.
import type { App, AppContext, Effect } from './app';
import type { Resources, EndpointRec, HostRec } from './resources';
import {
  FlowMod, FlowStats, Action, Instruction, Oxm, PacketIn, flowMod,
  OFPFC_ADD, OFPFC_DELETE, OFPTT_ALL, OFPP_CONTROLLER, OFPP_TABLE, OFPP_LOCAL, OFPCML_NO_BUFFER, OFP_NO_BUFFER,
  OFPP_IN_PORT, OFPP_NORMAL, OFPP_FLOOD, OFPP_ALL,
} from '../southbound/codec';
import { formatFlow } from '../southbound/text';
import {
  BR_INT, BR_PHY, Pipeline, CATEGORY, TRACE_OBSERVE, TRACE_TAG_MASK, categoryOf, objectIdOf, cookie,
  TUNNEL_PORT, PATCH_PORT, PHY_PATCH_PORT, ETH_TYPE, IP_PROTO,
} from './pipeline';
import type { TraceRequest, TraceResult, TraceHop, TraceVerdict } from './trace';
import { conflict } from './errors';

export type LiveEvent = 'forwarded' | 'tunneled' | 'delivered' | 'dropped' | 'left';

export interface LiveObservation {
  host: string;
  bridge: 'br-int' | 'br-phy';
  tableId: number;
  table: string;
  event: LiveEvent;
  /** the switch's flow that matched the marked packet (ovs-ofctl text), or null when none did */
  flow: string | null;
  /** delivered: the endpoint whose port the flow outputs to */
  endpoint?: string;
  /** tunneled, forwarded or left: the port it left by */
  port?: string;
  /** the port the packet came in by on this bridge */
  inPort?: number;
}

export type LiveVerdict =
  | { result: 'delivered'; endpoint: string; host: string }
  | { result: 'dropped'; host: string; bridge: string; table: string; reason: string }
  | { result: 'left'; host: string; bridge: string; how: string }
  | { result: 'lost'; host: string; detail: string };

export interface LiveResult {
  /** the trace's tag: the marked packet's IP DSCP, and bits of its observation flows' cookie */
  tag: number;
  /** bridges that had observation flows: host/bridge */
  bridges: string[];
  /** marked packets injected: another when one was not seen to its end (delivered or dropped) in time */
  injections: number;
  observed: LiveObservation[];
  verdict: LiveVerdict;
}

export interface Comparison {
  agree: boolean;
  /** the first difference between the computed and the live path, in words, or null when they agree */
  difference: null | { index: number; computed: string; live: string; detail: string };
}

export interface LiveTraceDeps {
  resources: Resources;
  /** a bridge's ports by name, undefined while it is not connected */
  ports(dpid: string): Map<string, number> | undefined;
  /** the flows the switch holds (a flow-stats request) */
  dumpFlows(dpid: string): Promise<FlowStats[]>;
  /** resolves when the switch has processed everything sent before */
  barrier(dpid: string): Promise<void>;
  /** the AppRunner's send, for this app */
  send(effects: Effect[]): void;
  /** how long to wait for observations (default 2000 ms) */
  timeoutMs?: number;
}

/**
 * DSCP values a trace may use: none of the standard code points (CS*, AF*,
 * EF, VOICE-ADMIT), so ordinary marked traffic is never mistaken for a trace.
 */
const STANDARD_DSCP = new Set([0, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 44, 46, 48, 56]);
export const TRACE_TAGS = Array.from({ length: 63 }, (_, i) => i + 1).filter((d) => !STANDARD_DSCP.has(d));
/** TCP/UDP source port of the marked packet (the computed trace uses it too). */
export const TRACE_SRC_PORT = 40000;

interface FlowInfo {
  host: string; bridge: 'br-int' | 'br-phy'; tableId: number; table: string; event: LiveEvent; flow: string | null; endpoint?: string; port?: string;
  /** br-phy's catch of the marked packet coming back from the host's own IP stack (LOCAL): it left to the host */
  fromStack?: boolean;
}

interface Running {
  tag: number;
  flows: Map<number, FlowInfo>;
  /** observations by injection (the marked packet's IP id) */
  observed: Map<number, (LiveObservation & { fromStack?: boolean })[]>;
  attempt: number;
  done: () => void;
  /** ends the wait a moment after the packet left a bridge, unless it is seen again (on another host, routed) */
  leftTimer?: NodeJS.Timeout;
}

interface Bridge { host: HostRec; bridge: 'br-int' | 'br-phy'; dpid: string; ports: Map<string, number> }

export class LiveTracer implements App {
  readonly name = 'live-trace';
  readonly scope = 'hosts' as const;
  private readonly running = new Map<number, Running>();
  private lastTag = 0;
  private ctx?: AppContext;

  constructor(private readonly deps: LiveTraceDeps) {}

  init(ctx: AppContext): void {
    this.ctx = ctx;
  }

  onPacketIn(_dpid: string, pi: PacketIn): Effect[] | void {
    if (categoryOf(pi.cookie) !== CATEGORY.trace) return;
    const id = objectIdOf(pi.cookie);
    const r = this.running.get(id >>> 24);
    const info = r?.flows.get(id & 0xffffff);
    if (!r || !info) return;
    const inPort = pi.match?.find((m) => m.field === 'in_port')?.value;
    const attempt = ipIdOf(pi.data);
    if (attempt === undefined) return;
    let list = r.observed.get(attempt);
    if (!list) r.observed.set(attempt, (list = []));
    list.push({ ...info, ...(typeof inPort === 'number' ? { inPort } : {}) });
    if (attempt !== r.attempt) return;
    // the end: delivered, dropped, back from the host's IP stack, or handed to the controller or the host
    if (info.event === 'delivered' || info.event === 'dropped' || info.fromStack || (info.event === 'left' && (info.port === 'CONTROLLER' || info.port === 'LOCAL'))) { r.done(); return; }
    // out of an uplink (or NORMAL): another host may see it next (its own end or exit ends the wait then);
    // if none does soon, that was the end. Bridges report on their own connections, so a host's earlier
    // tables may be heard of after its exit: only another host's observation keeps the trace waiting.
    if (info.event !== 'left') return;
    clearTimeout(r.leftTimer);
    const at = list.length, host = info.host;
    r.leftTimer = setTimeout(() => { if (!list!.slice(at).some((x) => x.host !== host)) r.done(); }, LEFT_WAIT_MS);
  }

  /** Run a live trace of `req`, whose computed trace is `computed`. */
  async run(req: TraceRequest, from: EndpointRec, dstIp: string, computed: TraceResult): Promise<LiveResult> {
    const res = this.deps.resources;
    const src = res.host(from.host)!;
    const srcPorts = this.deps.ports(src.dpid);
    const inPort = srcPorts?.get(from.portName);
    if (!srcPorts || inPort === undefined) throw conflict(`a live trace needs ${src.name}'s br-int connected with ${from.portName} on it`);
    if (!computed.arp.mac) throw conflict(`a live trace needs the next hop's MAC: ${computed.arp.target} has no ARP answer`);
    // tags in turn, not the lowest free one: a datapath's cached flow of the last trace must not pass for this one's
    const start = (TRACE_TAGS.indexOf(this.lastTag) + 1) % TRACE_TAGS.length;
    const tag = [...TRACE_TAGS.slice(start), ...TRACE_TAGS.slice(0, start)].find((t) => !this.running.has(t));
    if (tag !== undefined) this.lastTag = tag;
    if (tag === undefined) throw conflict(`${TRACE_TAGS.length} live traces are running already`);
    // the bridges: every bridge of the hosts on the computed path, and the source's
    const names = new Set([src.name, ...computed.hops.flatMap((h) => ('host' in h ? [h.host] : []))]);
    const bridges: Bridge[] = [];
    for (const n of names) {
      const h = res.host(n);
      if (!h) continue;
      for (const [bridge, dpid] of [['br-int', h.dpid], ['br-phy', h.phyDpid]] as const) {
        const ports = dpid ? this.deps.ports(dpid) : undefined;
        if (dpid && ports) bridges.push({ host: h, bridge, dpid, ports });
      }
    }
    const run: Running = { tag, flows: new Map(), observed: new Map(), attempt: 0, done: () => undefined };
    this.running.set(tag, run);
    const mark: Mark = { tag, src: from.ip, dst: dstIp, proto: req.proto === 'icmp' ? 1 : IP_PROTO[req.proto] };
    try {
      for (const b of bridges) {
        const flows = observationFlows(b, await this.deps.dumpFlows(b.dpid), mark, run.flows, res.endpoints({ host: b.host.name }));
        this.deps.send(flows.map((msg) => ({ dpid: b.dpid, msg })));
      }
      await Promise.all(bridges.map((b) => this.deps.barrier(b.dpid)));
      const timeoutMs = this.deps.timeoutMs ?? 2000;
      const t0 = Date.now();
      const left = () => timeoutMs - (Date.now() - t0);
      let timer: NodeJS.Timeout | undefined;
      const sleep = (ms: number) => new Promise<void>((resolve) => { timer = setTimeout(resolve, Math.max(0, ms)); });
      // A barrier says the switch took the flows, not that its datapath forgot the cached flows of
      // real traffic with the same addresses (OVS revalidates them a moment later): a marked packet
      // arriving over the tunnel meanwhile takes the cached path unseen. So let it settle, and inject
      // again (a new IP id) while an injection was not seen to its end.
      await sleep(Math.min(SETTLE_MS, timeoutMs / 4));
      while (left() > 0 && run.attempt < MAX_INJECTIONS) {
        run.attempt++;
        const finished = new Promise<void>((resolve) => { run.done = resolve; });
        const frame = markedFrame(mark, from.mac, computed.arp.mac, req.proto, req.dstPort ?? 80, run.attempt);
        this.deps.send([{ dpid: src.dpid, msg: { type: 'packet_out', buffer_id: OFP_NO_BUFFER, in_port: inPort, actions: [{ type: 'output', port: OFPP_TABLE, max_len: 0 }], data: frame } }]);
        const ended = await Promise.race([finished.then(() => true), sleep(Math.min(left(), timeoutMs / MAX_INJECTIONS)).then(() => false)]);
        clearTimeout(timer);
        if (ended) {
          // the end may be reported before the bridges the packet crossed (their packet-ins come on
          // other connections): give them a moment
          await sleep(Math.min(GRACE_MS, left()));
          break;
        }
      }
    } finally {
      clearTimeout(run.leftTimer);
      this.running.delete(tag);
      const del = flowMod({ command: OFPFC_DELETE, table_id: OFPTT_ALL, cookie: cookie(0, 'trace', tag << 24), cookie_mask: TRACE_TAG_MASK });
      for (const b of bridges) this.deps.send([{ dpid: b.dpid, msg: del }]);
      await Promise.all(bridges.map((b) => this.deps.barrier(b.dpid).catch(() => undefined)));
    }
    const patches = new Map(bridges.map((b) => [`${b.host.name}/${b.bridge}`, b.ports.get(b.bridge === 'br-int' ? PATCH_PORT : PHY_PATCH_PORT)]));
    // the injection seen to its end, else the last one
    const ended = [...run.observed.entries()].find(([, o]) => o.some((x) => x.event === 'delivered' || x.event === 'dropped' || x.fromStack));
    const raw = fromStack(ended?.[1] ?? run.observed.get(run.attempt) ?? []);
    const observed = inPathOrder(raw, src.name, patches).map(({ inPort: _i, ...o }) => o);
    this.ctx?.log.info({ tag, from: from.id, to: dstIp, observed: observed.length, injections: run.attempt }, 'live trace');
    return { tag, bridges: bridges.map((b) => `${b.host.name}/${b.bridge}`), injections: run.attempt, observed, verdict: verdictOf(observed) };
  }
}

interface Mark { tag: number; src: string; dst: string; proto: number }

/** How long to wait for the other bridges' packet-ins once the end was reported. */
const GRACE_MS = 300;
/** How long after the packet left a bridge (uplink, NORMAL) the trace waits to see it elsewhere. */
const LEFT_WAIT_MS = 400;
/** br-phy's catch of the marked packet back from the host's own IP stack: above every copy (1000 + 1 + p). */
export const FROM_STACK_PRIORITY = 65000;

/**
 * The marked packet came back into br-phy from LOCAL: it had gone to the
 * host's own IP stack (which routed it back out). That catch is not a hop:
 * the host's last 'left' observation before it says LOCAL instead.
 */
function fromStack(o: (LiveObservation & { fromStack?: boolean })[]): LiveObservation[] {
  const out: LiveObservation[] = [];
  for (const x of o) {
    if (!x.fromStack) { out.push(x); continue; }
    for (let i = out.length - 1; i >= 0; i--) {
      const y = out[i]!;
      if (y.host === x.host && y.event === 'left') { out[i] = { ...y, port: 'LOCAL' }; break; }
    }
  }
  return out.map(({ fromStack: _f, ...x }: LiveObservation & { fromStack?: boolean }) => x);
}

/** Names of the reserved ports a flow may output to. */
const RESERVED_PORTS = new Map<number, string>([[OFPP_IN_PORT, 'IN_PORT'], [OFPP_NORMAL, 'NORMAL'], [OFPP_FLOOD, 'FLOOD'], [OFPP_ALL, 'ALL'], [OFPP_CONTROLLER, 'CONTROLLER'], [OFPP_LOCAL, 'LOCAL']]);
/** How long the datapaths get to revalidate their cached flows before the first injection. */
const SETTLE_MS = 100;
/** Injections at most, each waited for timeoutMs / MAX_INJECTIONS. */
const MAX_INJECTIONS = 3;

/** The IP id of a frame (untagged or one VLAN tag): which injection a packet-in is of. */
function ipIdOf(b: Buffer): number | undefined {
  const l3 = b.length >= 18 && b.readUInt16BE(12) === 0x8100 ? 18 : 14;
  if (b.length < l3 + 20 || b.readUInt16BE(l3 - 2) !== 0x0800) return undefined;
  return b.readUInt16BE(l3 + 4);
}

/**
 * Observations in path order: grouped by bridge (each bridge's in the order
 * it sent them: one connection keeps its order), the source host's first,
 * then the other hosts in the order they were first heard of; on a host, a
 * bridge the packet entered from the outside comes before the one it
 * reached through the patch port (and the source's br-int first).
 */
export function inPathOrder(o: LiveObservation[], source: string, patchPorts: Map<string, number | undefined>): LiveObservation[] {
  const hosts: string[] = [source];
  const by = new Map<string, LiveObservation[]>();
  for (const x of o) {
    if (!hosts.includes(x.host)) hosts.push(x.host);
    const k = `${x.host}/${x.bridge}`;
    if (!by.has(k)) by.set(k, []);
    by.get(k)!.push(x);
  }
  const rank = (h: string, bridge: string): number => {
    if (h === source) return bridge === 'br-int' ? 0 : 1;
    const first = by.get(`${h}/${bridge}`)![0];
    return first.inPort !== undefined && patchPorts.get(`${h}/${bridge}`) === first.inPort ? 1 : 0;
  };
  return hosts.flatMap((h) => (['br-int', 'br-phy'] as const).filter((b) => by.has(`${h}/${b}`)).sort((a, b) => rank(h, a) - rank(h, b)).flatMap((b) => by.get(`${h}/${b}`)!));
}

function verdictOf(o: LiveObservation[]): LiveVerdict {
  const end = o.find((x) => x.event === 'delivered' || x.event === 'dropped');
  if (end?.event === 'delivered') return { result: 'delivered', endpoint: end.endpoint!, host: end.host };
  if (end) return { result: 'dropped', host: end.host, bridge: end.bridge, table: end.table, reason: end.flow ? 'a flow of the switch drops it' : 'no flow of the switch matched it' };
  const last = o[o.length - 1];
  if (last?.event === 'left') return { result: 'left', host: last.host, bridge: last.bridge, how: last.port === 'LOCAL' ? 'to the host\'s own IP stack' : last.port === 'CONTROLLER' ? `to the controller from ${last.bridge}` : `out of ${last.port ?? 'a port'}` };
  return { result: 'lost', host: last?.host ?? '-', detail: last ? `last seen on ${last.host} ${last.bridge} ${last.table} (${last.event}), then nothing` : 'never seen: not even the source bridge reported it' };
}

/** The marked packet's matches on a bridge: eth_type, the DSCP tag, protocol and addresses (br-phy: not the addresses, NAT may rewrite them). */
function markMatch(m: Mark, bridge: 'br-int' | 'br-phy'): Oxm[] {
  return [
    { field: 'eth_type', value: ETH_TYPE.ipv4 }, { field: 'ip_dscp', value: m.tag }, { field: 'ip_proto', value: m.proto },
    ...(bridge === 'br-int' ? [{ field: 'ipv4_src', value: m.src }, { field: 'ipv4_dst', value: m.dst }] : []),
  ];
}

/** A flow's match plus the mark; undefined when the flow cannot match the marked packet (ARP, another address). */
function withMark(match: readonly Oxm[], mark: Oxm[]): Oxm[] | undefined {
  const out = [...match];
  for (const k of mark) {
    const o = match.find((x) => x.field === k.field);
    if (!o) { out.push(k); continue; }
    if (!compatible(o, k.value)) return undefined;
  }
  return out;
}

function compatible(o: Oxm, v: Oxm['value']): boolean {
  if (o.mask === undefined) return String(o.value).toLowerCase() === String(v).toLowerCase();
  if (typeof v === 'string' && v.includes('.')) {
    const n = (s: string) => s.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);
    return ((n(String(o.value)) & n(String(o.mask))) >>> 0) === ((n(v) & n(String(o.mask))) >>> 0);
  }
  return (BigInt(o.value as number) & BigInt(o.mask as number)) === (BigInt(v as number) & BigInt(o.mask as number));
}

const toController: Action = { type: 'output', port: OFPP_CONTROLLER, max_len: OFPCML_NO_BUFFER };

/**
 * A bridge's observation flows for one trace: per table, a catch (band
 * traceObserve: the marked packet matched no flow: dropped) and a copy of
 * each of the switch's flows that can match the marked packet, one priority
 * above its band, that sends it to the controller first and then does what
 * the flow does — except delivering it to an endpoint or the host's stack:
 * the marked packet never reaches a container.
 */
export function observationFlows(b: Bridge, actual: FlowStats[], m: Mark, index: Map<number, FlowInfo>, locals: EndpointRec[]): FlowMod[] {
  const pipeline = (b.bridge === 'br-int' ? BR_INT : BR_PHY) as Pipeline<string>;
  const mark = markMatch(m, b.bridge);
  const names = new Map([...b.ports].map(([n, no]) => [no, n]));
  const endpointAt = new Map(locals.map((e) => [b.ports.get(e.portName), e] as const).filter(([p]) => p !== undefined));
  const out: FlowMod[] = [];
  const add = (info: Omit<FlowInfo, 'host' | 'bridge' | 'table'>, f: Omit<Parameters<typeof flowMod>[0], 'cookie'>) => {
    const i = index.size;
    if (i > 0xffffff) return;
    index.set(i, { host: b.host.name, bridge: b.bridge, table: pipeline.nameOf(info.tableId) ?? String(info.tableId), ...info });
    out.push(flowMod({ ...f, command: OFPFC_ADD, cookie: cookie(0, 'trace', (m.tag << 24) | i) }));
  };
  for (const t of pipeline.tables) {
    const id = pipeline.tableId[t.name];
    add({ tableId: id, event: 'dropped', flow: null }, { table_id: id, priority: TRACE_OBSERVE, match: mark, instructions: [{ type: 'apply_actions', actions: [toController] }] });
  }
  // br-phy: back from the host's own IP stack (NORMAL took it to LOCAL, the host routed it): reported, and no further
  if (b.bridge === 'br-phy') {
    add({ tableId: 0, event: 'left', flow: null, port: 'LOCAL', fromStack: true },
      { table_id: 0, priority: FROM_STACK_PRIORITY, match: [{ field: 'in_port', value: OFPP_LOCAL }, ...mark], instructions: [{ type: 'apply_actions', actions: [toController] }] });
  }
  for (const f of actual) {
    if (categoryOf(f.cookie) === CATEGORY.trace || pipeline.nameOf(f.table_id) === undefined) continue;
    const match = withMark(f.match, mark);
    if (!match) continue;
    let event: LiveEvent | undefined;
    let endpoint: string | undefined, port: string | undefined;
    const rank: Record<LiveEvent, number> = { dropped: 0, left: 1, forwarded: 2, tunneled: 3, delivered: 4 };
    const see = (e: LiveEvent) => { if (event === undefined || rank[e] > rank[event]) event = e; };
    const keep = (acts: readonly Action[]): Action[] => acts.filter((a) => {
      if (a.type === 'resubmit' || a.type === 'ct') { see('forwarded'); return true; }
      if (a.type !== 'output') return true;
      const e = b.bridge === 'br-int' ? endpointAt.get(a.port) : undefined;
      if (e) { see('delivered'); endpoint = e.id; return false; }
      const name = names.get(a.port);
      if (name === TUNNEL_PORT) { see('tunneled'); port = name; return true; }
      if (name === PATCH_PORT || name === PHY_PATCH_PORT) { see('forwarded'); port = name; return true; }
      // to the host's stack or the controller: not the marked packet (the observation itself reports it)
      if (a.port === OFPP_LOCAL || a.port === OFPP_CONTROLLER) { see('left'); port = RESERVED_PORTS.get(a.port); return false; }
      see('left'); port = name ?? RESERVED_PORTS.get(a.port) ?? String(a.port);
      return true;
    });
    const instructions: Instruction[] = [];
    let applied = false;
    for (const ins of f.instructions) {
      if (ins.type === 'apply_actions') { instructions.push({ type: 'apply_actions', actions: [toController, ...keep(ins.actions)] }); applied = true; }
      else if (ins.type === 'write_actions') instructions.push({ ...ins, actions: keep(ins.actions) });
      else { if (ins.type === 'goto_table') see('forwarded'); instructions.push(ins); }
    }
    if (!applied) instructions.unshift({ type: 'apply_actions', actions: [toController] });
    add({ tableId: f.table_id, event: event ?? 'dropped', flow: formatFlow({ ...f, cookie: f.cookie } as unknown as Parameters<typeof formatFlow>[0]), endpoint, port },
      { table_id: f.table_id, priority: TRACE_OBSERVE + 1 + f.priority, match, instructions });
  }
  return out;
}

/** The marked packet: Ethernet, IPv4 with DSCP = tag, then ICMP echo, TCP SYN or a UDP datagram. */
export function markedFrame(m: Mark, srcMac: string, dstMac: string, proto: TraceRequest['proto'], dstPort: number, ipId = 1): Buffer {
  const payload = Buffer.from('weft-trace');
  let l4: Buffer;
  if (proto === 'icmp') {
    l4 = Buffer.concat([Buffer.from([8, 0, 0, 0, 0x77, 0x74, 0, m.tag]), payload]);
    l4.writeUInt16BE(checksum(l4), 2);
  } else if (proto === 'tcp') {
    l4 = Buffer.alloc(20);
    l4.writeUInt16BE(TRACE_SRC_PORT, 0); l4.writeUInt16BE(dstPort, 2); l4.writeUInt32BE(m.tag, 4);
    l4[12] = 5 << 4; l4[13] = 0x02; l4.writeUInt16BE(64240, 14);
    l4.writeUInt16BE(checksum(Buffer.concat([pseudo(m, 20), l4])), 16);
  } else {
    l4 = Buffer.concat([Buffer.alloc(8), payload]);
    l4.writeUInt16BE(TRACE_SRC_PORT, 0); l4.writeUInt16BE(dstPort, 2); l4.writeUInt16BE(l4.length, 4);
    l4.writeUInt16BE(checksum(Buffer.concat([pseudo(m, l4.length), l4])) || 0xffff, 6);
  }
  const ip = Buffer.alloc(20);
  ip[0] = 0x45; ip[1] = m.tag << 2; ip.writeUInt16BE(20 + l4.length, 2); ip.writeUInt16BE(ipId, 4); ip[6] = 0x40;
  ip[8] = 64; ip[9] = m.proto; ipBytes(m.src).copy(ip, 12); ipBytes(m.dst).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  const eth = Buffer.concat([macBytes(dstMac), macBytes(srcMac), Buffer.from([0x08, 0x00])]);
  return Buffer.concat([eth, ip, l4]);
}

const ipBytes = (s: string) => Buffer.from(s.split('.').map(Number));
const macBytes = (s: string) => Buffer.from(s.split(':').map((x) => parseInt(x, 16)));
function pseudo(m: Mark, len: number): Buffer {
  const p = Buffer.alloc(12);
  ipBytes(m.src).copy(p, 0); ipBytes(m.dst).copy(p, 4); p[9] = m.proto; p.writeUInt16BE(len, 10);
  return p;
}
function checksum(b: Buffer): number {
  let s = 0;
  for (let i = 0; i < b.length; i += 2) s += (b[i] << 8) | (i + 1 < b.length ? b[i + 1] : 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return ~s & 0xffff;
}

/** Where the computed path and the live one first part, if they do: table by table, then the verdicts. */
export function compare(computed: TraceResult, live: LiveResult): Comparison {
  const c = computed.hops.filter((h): h is TraceHop => 'table' in h);
  const l = live.observed;
  const key = (x: { host: string; bridge: string; table: string }) => `${x.host} ${x.bridge} ${x.table}`;
  const n = Math.max(c.length, l.length);
  for (let i = 0; i < n; i++) {
    const a = c[i], b = l[i];
    if (a && b && key(a) === key(b)) {
      const cEnd = endOf(computed, a, i === c.length - 1);
      if (b.event === 'dropped' && cEnd !== 'dropped') {
        return diff(i, `${key(a)}: ${a.flow ?? 'no flow'} (${a.actions})`, `${key(b)}: dropped, ${b.flow ? `by ${b.flow}` : 'no flow matched'}`,
          `the switch dropped the packet at ${key(b)} where the controller's flows ${cEnd === 'delivered' ? 'deliver it' : 'pass it on'}: ${b.flow ? 'the switch holds another flow' : 'a flow is missing on the switch'}`);
      }
      continue;
    }
    if (!a && b) return diff(i, 'nothing: the computed path ended', `${key(b)}: ${b.event}`, `the packet went on to ${key(b)} where the computed path ended`);
    if (a && !b) return diff(i, `${key(a)}: ${a.flow ?? 'no flow'} (${a.actions})`, 'nothing observed', `the packet was not seen at ${key(a)}${l.length ? `: last seen at ${key(l[l.length - 1])} (${l[l.length - 1].event})` : ''}`);
    return diff(i, `${key(a!)}: ${a!.flow ?? 'no flow'}`, `${key(b!)}: ${b!.event}`, `the computed path goes through ${key(a!)}, the packet went through ${key(b!)}`);
  }
  const cv = computed.verdict, lv = live.verdict;
  const same = cv.result === lv.result && cv.host === lv.host
    && (cv.result !== 'delivered' || cv.endpoint === (lv as { endpoint?: string }).endpoint)
    && (cv.result !== 'dropped' || (cv.table === (lv as { table?: string }).table && cv.bridge === (lv as { bridge?: string }).bridge));
  if (same) return { agree: true, difference: null };
  return diff(n, verdictText(cv), verdictText(lv), 'the paths agree table by table but not their outcome');
}

function endOf(computed: TraceResult, _h: TraceHop, last: boolean): 'delivered' | 'dropped' | 'on' {
  if (!last) return 'on';
  return computed.verdict.result === 'delivered' ? 'delivered' : computed.verdict.result === 'dropped' ? 'dropped' : 'on';
}

function verdictText(v: TraceVerdict | LiveVerdict): string {
  switch (v.result) {
    case 'delivered': return `delivered to ${v.endpoint} on ${v.host}`;
    case 'dropped': return `dropped on ${v.host} ${v.bridge} ${v.table}`;
    case 'left': return `left ${v.host}: ${v.how}`;
    default: return `lost: ${v.detail}`;
  }
}

const diff = (index: number, computed: string, live: string, detail: string): Comparison => ({ agree: false, difference: { index, computed, live, detail } });
