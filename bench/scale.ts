// The scale bench (issue 14): many container hosts whose br-int is an
// in-process OpenFlow agent (no OVS), one controller, endpoints attached at a
// steady rate, and what that costs as the cluster grows.
//
// Each agent is a host: it answers the handshake, port_desc, echo and
// barriers, keeps its flow table (keyed by table, priority and match: OpenFlow add/delete
// semantics) and counts what it gets: flow-mods, barriers, stats requests.
// Agents connect from their own loopback address (127.1.x.y), as hosts do
// from theirs, so the listener's per-address limits apply as in production.
//
// Phases (figures printed, nothing asserted):
//   1. connect BENCH_HOSTS agents and register them as hosts: time until
//      every br-int has its pipeline;
//   2. attach endpoints round-robin, one per host per round, one at a time
//      (POST /v1/endpoints, the port appears on the agent, long-poll until
//      ready): attach latency p50/p99 per step of the endpoint count, the
//      first round apart (each host's first attach claims an IPAM block,
//      which every other host must learn: the "recompute after a block is
//      claimed" figure), controller CPU and RSS, flows per switch. Stops
//      when BENCH_EPS_PER_HOST rounds are done or BENCH_BUDGET_S is spent;
//   3. restart: the controller stops, a new one opens the same database,
//      every agent reconnects with its flows kept (as OVS keeps them), and
//      the time until every switch is re-synced (a barrier answered and no
//      flow-mod for 1 s), with the flows deleted that were still desired
//      (each would be a dropped packet in a real datapath).
//
//   npm run bench:scale                      (1000 hosts x 100 endpoints)
//   BENCH_HOSTS=100 BENCH_EPS=10 npm run bench:scale      (a quick one)
//   BENCH_RATE=50: attaches after the first round started at 50/s (open loop) instead of one at a time
//   BENCH_STORE=sqlite (default) | etcd (a 1-member etcd from /usr/bin/etcd on loopback): where the controller keeps its state
//   BENCH_CLAIMS=5: blocks claimed after the attaches; BENCH_PROBE_S=0: tunnel probes off
//   BENCH_BUDGET_S=1200: the attach phase stops when spent
//   BENCH_PROFILE_RESTART=FILE: a CPU profile of the restart phase (.cpuprofile, for Chrome's devtools)
//   BENCH_PROFILE_ATTACH=FILE: a CPU profile of the attaches after the first round
//   BENCH_IDLE_S=60: after phase 1, the controller left alone this long (CPU, RSS, probes sent: what the tunnel prober costs)
//   BENCH_RESTART=0: no phase 3
//
// The controller and the agents share one process (its CPU and RSS are
// both): the agents are light, but the figures are an upper bound.
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { performance, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import inspector from 'node:inspector';
import { startController } from '../test/helpers/controller';
import { Framer } from '../southbound/channel/framer';
import { decodeMessage, encodeMessage, OfpMessage, FlowMod, Port, OFPPR_ADD, OFPFC_ADD, OFPFC_DELETE, OFPFC_DELETE_STRICT, OFPMPF_REPLY_MORE, OFPTT_ALL } from '../southbound/codec';
import { flowKey, FlowSource } from '../controller/reconciler';
import type { Controller, ControllerConfig } from '../northbound/compose';
import { pct, mean } from './multihost/common';
import { EtcdCluster } from '../test/helpers/etcd';

const HOSTS = Math.max(1, Number(process.env.BENCH_HOSTS ?? 1000) | 0);
/** endpoints per host (BENCH_EPS_PER_HOST is the older name) */
const EPS_PER_HOST = Math.max(1, Number(process.env.BENCH_EPS ?? process.env.BENCH_EPS_PER_HOST ?? 100) | 0);
const BUDGET_S = Math.max(10, Number(process.env.BENCH_BUDGET_S ?? 1200));
/** a line of figures every this many endpoints (default: a tenth of them, at least 1000) */
const STEP = Math.max(1, Number(process.env.BENCH_STEP ?? Math.max(1000, Math.round((HOSTS * EPS_PER_HOST) / 10))) | 0);
/** attaches started per second (open loop, at most BENCH_CONCURRENCY at once); 0: one at a time, each after the last is ready */
const RATE = Math.max(0, Number(process.env.BENCH_RATE ?? 0));
const CONCURRENCY = Math.max(1, Number(process.env.BENCH_CONCURRENCY ?? 32) | 0);
/** the controller's tunnel probe interval in s (0: off). At most --tunnel-probe-budget probes a second (default 2000), the pairs' state in typed arrays (docs/bench.md) */
const PROBE_S = Math.max(0, Number(process.env.BENCH_PROBE_S ?? 0));
/** blocks claimed one by one after the attaches (each: every host's flows follow) */
const CLAIMS = Math.max(0, Number(process.env.BENCH_CLAIMS ?? 5) | 0);
/** seconds of doing nothing after phase 1 (0: none) */
const IDLE_S = Math.max(0, Number(process.env.BENCH_IDLE_S ?? 0));
const RESTART = process.env.BENCH_RESTART !== '0';
const VXLAN_PORT = 10;
/** flow stats per multipart reply part (a reply is split to stay under OpenFlow's 64 KiB frame) */
const STATS_PER_PART = 200;

/**
 * Where the controller keeps its state: BENCH_STORE picks one (default
 * sqlite). A store gives the controller config for a fresh cluster, and for
 * the restart the same state again; cleanup removes it.
 */
interface BenchStore { name: string; cfg: Partial<ControllerConfig>; cleanup(): Promise<void> | void }
const STORES: Record<string, () => Promise<BenchStore>> = {
  sqlite: async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-scale-'));
    return { name: 'SQLite', cfg: { db: path.join(dir, 'weft.db') }, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
  },
  etcd: async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-scale-'));
    const etcd = await EtcdCluster.start(1, dir);
    return {
      name: 'etcd', cfg: { db: path.join(dir, 'weft.db'), etcd: { endpoints: etcd.endpoints, prefix: '/scale/' } } as Partial<ControllerConfig>,
      cleanup: async () => { await etcd.stop(); fs.rmSync(dir, { recursive: true, force: true }); },
    };
  },
};

type Ctl = Controller & { cleanup(): Promise<void> };

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');

function port(no: number, name: string): Port {
  return {
    port_no: no, hw_addr: `02:00:00:00:${((no >> 8) & 0xff).toString(16).padStart(2, '0')}:${(no & 0xff).toString(16).padStart(2, '0')}`, name,
    config: 0, state: 0, curr: 0, advertised: 0, supported: 0, peer: 0, curr_speed: 10_000_000, max_speed: 0,
  };
}

/** OFPT_FLOW_MOD, and where an OpenFlow 1.3 flow-mod keeps its fields. */
const FLOW_MOD = 14;

/**
 * A switch's flow table keyed by table, priority and match bytes (OpenFlow
 * add/delete semantics for the controller's own encoding, which is the
 * same for the same flow): an add replaces the same flow, a strict delete
 * removes it, a non-strict delete here only comes with an empty match and a
 * cookie mask (a stale round), over every table. Flows are kept as the
 * bytes that came (outside the JavaScript heap: a thousand agents' million
 * flows would otherwise weigh on the controller's garbage collection, whose
 * process they share) and decoded only for a flow-stats reply.
 */
class KeyedTable {
  private readonly byKey = new Map<string, { cookie: bigint; raw: Buffer }>();
  get flows(): FlowMod[] { return [...this.byKey.values()].map((f) => decodeMessage(f.raw) as FlowMod); }
  get size(): number { return this.byKey.size; }
  keys(): IterableIterator<string> { return this.byKey.keys(); }
  /** Applies a flow-mod frame (kept: a copy the caller no longer uses); the keys it deleted. */
  apply(frame: Buffer): string[] {
    const table = frame[24]!, command = frame[25]!, priority = frame.readUInt16BE(30);
    const matchLen = frame.readUInt16BE(50);
    const key = `${table}|${priority}|${frame.toString('hex', 52, 48 + matchLen)}`;
    if (command === OFPFC_DELETE_STRICT) return this.byKey.delete(key) ? [key] : [];
    if (command === OFPFC_DELETE) {
      if (matchLen > 4) throw new Error('bench agent: a non-strict delete with a match');
      const cookie = frame.readBigUInt64BE(8), mask = frame.readBigUInt64BE(16);
      const gone: string[] = [];
      for (const [k, f] of this.byKey) {
        if ((f.cookie & mask) === (cookie & mask) && (table === OFPTT_ALL || Number(k.slice(0, k.indexOf('|'))) === table)) { this.byKey.delete(k); gone.push(k); }
      }
      return gone;
    }
    if (command !== OFPFC_ADD) throw new Error(`bench agent: flow-mod command ${command}`);
    this.byKey.set(key, { cookie: frame.readBigUInt64BE(8), raw: frame });
    return [];
  }
}

/** A host's br-int as an OpenFlow 1.3 agent that keeps its table and counts, and stores no messages. */
class Agent {
  readonly table = new KeyedTable();
  readonly ports = new Map<string, Port>([['vxlan0', port(VXLAN_PORT, 'vxlan0')]]);
  flowMods = 0;
  barriers = 0;
  stats = 0;
  packetOuts = 0;
  lastFlowModAt = 0;
  lastBarrierAt = 0;
  /** flows deleted while the same flow (table, priority, match) was re-added later: counted at the end of a resync */
  deletedKeys: string[] = [];
  private sock?: net.Socket;

  constructor(readonly index: number, readonly dpid: bigint) {}

  get localAddress(): string { return `127.1.${(this.index >> 8) & 255}.${this.index & 255}`; }

  /** closed by the bench (no reconnect), and how many times the controller closed it */
  private closing = false;
  private again?: NodeJS.Timeout;
  reconnects = 0;

  async connect(ofPort: number): Promise<void> {
    this.closing = false;
    const sock = net.connect({ port: ofPort, host: '127.0.0.1', localAddress: this.localAddress });
    await new Promise<void>((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
    sock.on('error', () => {});
    // closed by the controller (a handshake or a barrier it gave up on): connect again after 1 s, as OVS does
    sock.on('close', () => {
      if (this.closing || this.sock !== sock) return;
      this.reconnects++;
      this.again = setTimeout(() => { if (!this.closing) this.connect(ofPort).catch(() => undefined); }, 1000);
      this.again.unref();
    });
    const framer = new Framer();
    sock.on('data', (c) => framer.push(c, (f) => {
      // flow-mods are counted and kept as bytes (KeyedTable); the rest decoded
      if (f[1] === FLOW_MOD) {
        this.flowMods++;
        this.lastFlowModAt = performance.now();
        for (const k of this.table.apply(Buffer.from(f))) this.deletedKeys.push(k);
        return;
      }
      this.onMessage(decodeMessage(Buffer.from(f)));
    }));
    this.sock = sock;
    this.send({ type: 'hello', xid: 1, elements: [{ type: 'versionbitmap', bitmaps: [0x10] }] });
  }

  /** (forgets the socket: its close, which may come after the next connect began, is not the controller's) */
  close(): void { this.closing = true; clearTimeout(this.again); this.sock?.destroy(); this.sock = undefined; }

  private send(m: OfpMessage): void { if (this.sock && !this.sock.destroyed) this.sock.write(encodeMessage(m)); }

  private onMessage(m: OfpMessage): void {
    if (m.type === 'features_request') {
      this.send({ type: 'features_reply', xid: m.xid, datapath_id: this.dpid, n_buffers: 0, n_tables: 254, auxiliary_id: 0, capabilities: 0x4f, reserved: 0 });
    } else if (m.type === 'multipart_request' && m.body.kind === 'port_desc') {
      this.send({ type: 'multipart_reply', xid: m.xid, flags: 0, body: { kind: 'port_desc', ports: [...this.ports.values()] } });
    } else if (m.type === 'multipart_request' && m.body.kind === 'flow') {
      this.stats++;
      const stats = this.table.flows.map((f) => ({ ...f, duration_sec: 0, duration_nsec: 0, idle_timeout: 0, hard_timeout: 0, flags: 0, packet_count: 0n, byte_count: 0n }));
      // in parts (OFPMPF_REPLY_MORE on all but the last), as OVS does
      for (let i = 0; i === 0 || i < stats.length; i += STATS_PER_PART) {
        const more = i + STATS_PER_PART < stats.length;
        this.send({ type: 'multipart_reply', xid: m.xid, flags: more ? OFPMPF_REPLY_MORE : 0, body: { kind: 'flow', stats: stats.slice(i, i + STATS_PER_PART) } });
      }
    } else if (m.type === 'packet_out') {
      this.packetOuts++;
    } else if (m.type === 'echo_request') {
      this.send({ type: 'echo_reply', xid: m.xid, data: m.data });
    } else if (m.type === 'barrier_request') {
      this.barriers++;
      this.lastBarrierAt = performance.now();
      this.send({ type: 'barrier_reply', xid: m.xid });
    }
  }

  addPort(name: string, no: number): void {
    const p = port(no, name);
    this.ports.set(name, p);
    this.send({ type: 'port_status', xid: 0, reason: OFPPR_ADD, desc: p });
  }
}

async function req<T = unknown>(c: Ctl, method: string, url: string, body?: unknown): Promise<{ status: number; body: T; text: string }> {
  const r = await c.api!.inject({ method: method as 'GET', url, ...(body === undefined ? {} : { payload: body as object }) });
  let json: unknown;
  try { json = r.body ? r.json() : undefined; } catch { json = undefined; }
  return { status: r.statusCode, body: json as T, text: r.body };
}

async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Connects agents in batches (the listener allows a bounded number of handshakes at a time). */
async function connectAll(c: Ctl, agents: Agent[]): Promise<void> {
  for (let i = 0; i < agents.length; i += 100) await Promise.all(agents.slice(i, i + 100).map((a) => a.connect(c.ofPort)));
}

function usage(cpu0: NodeJS.CpuUsage, t0: number): string {
  const cpu = process.cpuUsage(cpu0);
  const wall = (performance.now() - t0) / 1000;
  const s = (cpu.user + cpu.system) / 1e6;
  return `CPU ${s.toFixed(1)} s over ${wall.toFixed(1)} s (${((s / wall) * 100).toFixed(0)}% of a core), RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`;
}

function flowsPerSwitch(agents: Agent[]): string {
  const n = agents.map((a) => a.table.size);
  return `flows per switch min ${Math.min(...n)} / median ${pct(n, 50)} / max ${Math.max(...n)}`;
}

/** Times each desired-flow computation the reconciler asks for (a sync's own cost, without the switch's round trip). */
function timeComputations(c: Ctl): { take(): number[] } {
  const src = c.containers.reconciler.source as FlowSource;
  const orig = src.desiredFlows.bind(src);
  let xs: number[] = [];
  src.desiredFlows = (dpid: string) => { const t = performance.now(); const out = orig(dpid); xs.push(performance.now() - t); return out; };
  return { take: () => { const out = xs; xs = []; return out; } };
}

/** Attaches not ready within 60 s (each is waited for until it is). */
const slow = { count: 0 };

/** The event loop's worst delay since the last call, ms (the controller and the agents share it). */
const loop = monitorEventLoopDelay({ resolution: 20 });
/** Garbage collections since the last take: their total and longest pause, ms (what of the loop's delay is the collector's). */
const gc = (() => {
  let sum = 0, max = 0;
  new PerformanceObserver((l) => { for (const e of l.getEntries()) { sum += e.duration; max = Math.max(max, e.duration); } }).observe({ entryTypes: ['gc'] });
  return { take: () => { const out = `GC ${(sum / 1000).toFixed(1)} s, longest pause ${max.toFixed(0)} ms`; sum = 0; max = 0; return out; } };
})();
loop.enable();
function loopMax(): number { const m = loop.max / 1e6; loop.reset(); return m; }

async function attach(c: Ctl, a: Agent, containerId: string, network = 'scale'): Promise<number> {
  const t = performance.now();
  const e = await req<{ id: string; portName: string; ofportRequest: number }>(c, 'POST', '/v1/endpoints', { containerId, ifName: 'eth0', host: `s${a.index}`, network });
  if (e.status !== 201) throw new Error(`POST /v1/endpoints: ${e.status} ${e.text}`);
  a.addPort(e.body.portName, e.body.ofportRequest);
  // not ready in 60 s: counted (and waited for again, so the figures include it), not fatal
  for (let tries = 0; ; tries++) {
    const w = await req<{ state: string }>(c, 'GET', `/v1/endpoints/${e.body.id}?wait=ready&timeoutMs=60000`);
    if (w.body?.state === 'ready') break;
    if (tries === 0) slow.count++;
    if (tries >= 9) throw new Error(`endpoint ${e.body.id} not ready in 10 minutes: ${w.text}`);
  }
  return performance.now() - t;
}

async function main(): Promise<void> {
  const storeName = process.env.BENCH_STORE ?? 'sqlite';
  const makeStore = STORES[storeName];
  if (!makeStore) throw new Error(`BENCH_STORE=${storeName}: unknown (known: ${Object.keys(STORES).join(', ')})`);
  const store = await makeStore();
  console.log(`scale bench: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`${HOSTS} hosts, up to ${EPS_PER_HOST} endpoints each (${HOSTS * EPS_PER_HOST} in all), budget ${BUDGET_S} s, store ${store.name}, ` +
    `${RATE ? `${RATE} attaches/s (at most ${CONCURRENCY} at once)` : 'one attach at a time'}, tunnel probes ${PROBE_S ? `every ${PROBE_S} s` : 'off'}`);
  const agents = Array.from({ length: HOSTS }, (_, i) => new Agent(i + 1, BigInt(0xd0000000 + i + 1)));
  const cfg: Partial<ControllerConfig> = { ...store.cfg, apps: 'none', maxEndpointsPerHost: String(Math.max(1024, EPS_PER_HOST)), tunnelProbeInterval: PROBE_S } as Partial<ControllerConfig>;
  let c: Ctl | undefined = await startController(cfg);
  try {
    // ---- 1. hosts
    let t0 = performance.now();
    let cpu0 = process.cpuUsage();
    for (const a of agents) {
      const r = await req(c, 'POST', '/v1/hosts', { name: `s${a.index}`, dpid: a.dpid.toString(16).padStart(16, '0'), underlayIp: `172.20.${a.index >> 8}.${a.index & 255}` });
      if (r.status !== 201) throw new Error(`POST /v1/hosts: ${r.status} ${r.text}`);
    }
    const r0 = await req(c, 'POST', '/v1/networks', { name: 'scale', cidr: '10.128.0.0/9', mode: 'overlay', blockSize: 24 });
    if (r0.status !== 201) throw new Error(`POST /v1/networks: ${r0.status} ${r0.text}`);
    await connectAll(c, agents);
    await until('every br-int synced', () => agents.every((a) => a.barriers > 0 && a.table.size > 0), 600_000);
    console.log(`[1] ${HOSTS} switches connected and given their pipeline in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${usage(cpu0, t0)}; ${flowsPerSwitch(agents)}`);
    if (IDLE_S) {
      const sent = () => agents.reduce((s, a) => s + a.packetOuts, 0);
      const p0 = sent(), i0 = performance.now(), icpu = process.cpuUsage();
      await new Promise((r) => setTimeout(r, IDLE_S * 1000));
      const s = (performance.now() - i0) / 1000;
      console.log(`[1b] idle ${s.toFixed(1)} s: ${usage(icpu, i0)}; ${((sent() - p0) / s).toFixed(0)} probes/s received by the switches, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);
    }

    // ---- 2. attaches
    const comp = timeComputations(c);
    t0 = performance.now();
    cpu0 = process.cpuUsage();
    const deadline = Date.now() + BUDGET_S * 1000;
    const firstRound: number[] = [];
    let step: number[] = [];
    let total = 0;
    let stepStart = performance.now();
    const stepCpu = { c: process.cpuUsage() };
    console.log(`[2] attaches (POST, port appears, long-poll until ready), ms; "compute": each desired-flow computation of a sync meanwhile, ms:`);
    console.log('    endpoints     p50     p99    mean   per-s  compute p50/p99/n  notes');
    const report = (label: string, xs: number[], note: string) => {
      const wall = (performance.now() - stepStart) / 1000;
      const cs = comp.take();
      console.log(`    ${label.padStart(9)} ${f1(pct(xs, 50)).padStart(7)} ${f1(pct(xs, 99)).padStart(7)} ${f1(mean(xs)).padStart(7)} ${(xs.length / wall).toFixed(1).padStart(7)}  ${`${pct(cs, 50).toFixed(2)}/${pct(cs, 99).toFixed(2)}/${cs.length}`.padStart(17)}  ${note}; loop delay max ${loopMax().toFixed(0)} ms; ${gc.take()}${slow.count ? `; ${slow.count} not ready within 60 s so far` : ''}`);
      stepStart = performance.now();
      stepCpu.c = process.cpuUsage();
    };
    let stopped = '';
    // the order of attaches: round by round, one per host per round
    const order = function* () { for (let round = 0; round < EPS_PER_HOST; round++) for (const a of agents) yield { round, a }; };
    let attachProf: { stop(): Promise<unknown> } | undefined;
    const done = (round: number, ms: number) => {
      total++;
      if (round === 0) firstRound.push(ms); else step.push(ms);
      if (round === 0 && firstRound.length === HOSTS) {
        report(`${total}`, firstRound, `first round: each attach claims its host's block (every host re-syncs)`);
        if (process.env.BENCH_PROFILE_ATTACH) void startProfile().then((p) => { attachProf = p; });
      }
      if (round > 0 && step.length >= STEP) { report(`${total}`, step, usage(stepCpu.c, stepStart)); step = []; }
    };
    if (!RATE) {
      for (const { round, a } of order()) {
        if (Date.now() > deadline) { stopped = `budget of ${BUDGET_S} s spent`; break; }
        done(round, await attach(c, a, `e${round}-${a.index}`));
      }
    } else {
      // open loop: attach i starts at i / RATE s (later if CONCURRENCY are in flight); the first round one at a time
      // (each claims its host's block, which every host must learn before it is ready: BENCH_RATE measures the steady state)
      const inFlight = new Set<Promise<void>>();
      let i = 0;
      const start = performance.now();
      for (const { round, a } of order()) {
        if (Date.now() > deadline) { stopped = `budget of ${BUDGET_S} s spent`; break; }
        if (round === 0) { done(round, await attach(c, a, `e${round}-${a.index}`)); continue; }
        const at = start + (i++ * 1000) / RATE;
        const wait = at - performance.now();
        if (wait > 0) await new Promise((res) => setTimeout(res, wait));
        while (inFlight.size >= CONCURRENCY) await Promise.race(inFlight);
        const p: Promise<void> = attach(c, a, `e${round}-${a.index}`).then((ms) => done(round, ms)).finally(() => inFlight.delete(p));
        inFlight.add(p);
      }
      await Promise.all(inFlight);
    }
    if (attachProf) fs.writeFileSync(process.env.BENCH_PROFILE_ATTACH!, JSON.stringify(await attachProf.stop()));
    if (round0Partial(firstRound)) report(`${total}`, firstRound, `first round, partial: each attach claims its host's block (every host re-syncs)`);
    if (step.length) report(`${total}`, step, usage(stepCpu.c, stepStart));
    console.log(`    ${total} endpoints attached in ${((performance.now() - t0) / 1000).toFixed(1)} s${stopped ? ` (stopped: ${stopped})` : ''}; ${usage(cpu0, t0)}`);
    console.log(`    ${flowsPerSwitch(agents)}; flow-mods received ${agents.reduce((s, a) => s + a.flowMods, 0)}, barriers ${agents.reduce((s, a) => s + a.barriers, 0)}, flow-stats requests ${agents.reduce((s, a) => s + a.stats, 0)}`);

    // ---- 2b. a block claimed: every host must route to it before the endpoint is ready
    if (CLAIMS) {
      const r1 = await req(c, 'POST', '/v1/networks', { name: 'claims', cidr: '10.0.0.0/16', mode: 'overlay', blockSize: 28 });
      if (r1.status !== 201) throw new Error(`POST /v1/networks: ${r1.status} ${r1.text}`);
      const xs: number[] = [];
      comp.take();
      const cpu1 = process.cpuUsage(), t1 = performance.now();
      for (let k = 0; k < CLAIMS; k++) xs.push(await attach(c, agents[(k * 7919) % HOSTS]!, `claim-${k}`, 'claims'));
      const cs = comp.take();
      console.log(`[2b] a block claimed (a new network's first endpoint on a host; ready once all ${HOSTS} switches route to it), ${CLAIMS} times: ` +
        `p50 ${f1(pct(xs, 50))} ms, max ${f1(Math.max(...xs))} ms; computations ${cs.length} (p50 ${pct(cs, 50).toFixed(2)} ms, sum ${(cs.reduce((x, y) => x + y, 0) / CLAIMS).toFixed(0)} ms per claim); ${usage(cpu1, t1)}`);
    }

    // ---- 3. restart and resync
    if (!RESTART) return;
    const flowsBefore = agents.reduce((s, a) => s + a.table.size, 0);
    // the agents hang up first (as OVS would see its controller go), then the controller stops
    for (const a of agents) { a.close(); a.deletedKeys = []; a.barriers = 0; a.reconnects = 0; }
    await c.cleanup();
    c = undefined;
    t0 = performance.now();
    cpu0 = process.cpuUsage();
    const prof = process.env.BENCH_PROFILE_RESTART ? await startProfile() : undefined;
    c = await startController(cfg);
    await connectAll(c, agents);
    await until('every switch re-synced', () => agents.every((a) => a.barriers > 0) && performance.now() - Math.max(...agents.map((a) => a.lastFlowModAt)) > 1000, 1_200_000);
    const doneAt = Math.max(...agents.map((a) => Math.max(a.lastBarrierAt, a.lastFlowModAt)));
    if (prof) fs.writeFileSync(process.env.BENCH_PROFILE_RESTART!, JSON.stringify(await prof.stop()));
    const kept = new Set<string>();
    let lost = 0;
    for (const a of agents) {
      for (const k of a.table.keys()) kept.add(`${a.index}/${k}`);
      lost += a.deletedKeys.filter((k) => kept.has(`${a.index}/${k}`)).length;
    }
    const flowsAfter = agents.reduce((s, a) => s + a.table.size, 0);
    console.log(`[3] restart: ${HOSTS} switches × ${(flowsAfter / HOSTS).toFixed(0)} flows re-synced in ${((doneAt - t0) / 1000).toFixed(1)} s; ${usage(cpu0, t0)}`);
    console.log(`    flows ${flowsBefore} before, ${flowsAfter} after; desired flows deleted during the resync (a dropped packet each on a real datapath): ${lost}; ` +
      `connections the controller closed (the agents connect again after 1 s, as OVS does): ${agents.reduce((x, a) => x + a.reconnects, 0)}`);
  } finally {
    for (const a of agents) a.close();
    if (c) await c.cleanup();
    await store.cleanup();
  }
}

/** The inspector's CPU profiler, started now; stop() gives the profile. */
async function startProfile(): Promise<{ stop(): Promise<unknown> }> {
  const session = new inspector.Session();
  session.connect();
  const post = (method: string): Promise<unknown> => new Promise((res, rej) => session.post(method, (err, r) => (err ? rej(err) : res(r))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return { stop: async () => { const r = (await post('Profiler.stop')) as { profile: unknown }; session.disconnect(); return r.profile; } };
}

/** The first round ended early (budget): report it on its own. */
function round0Partial(firstRound: number[]): boolean {
  return firstRound.length > 0 && firstRound.length < HOSTS;
}

main().catch((e) => { console.error(e); process.exit(1); });
