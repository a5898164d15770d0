// The scale bench (issue 14): many container hosts whose br-int is an
// in-process OpenFlow agent (no OVS), one controller, endpoints attached at a
// steady rate, and what that costs as the cluster grows.
//
// Each agent is a host: it answers the handshake, port_desc, echo and
// barriers, keeps its flow table (FakeTable: OpenFlow add/delete
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
//   npm run bench:scale
//   BENCH_HOSTS=1000 BENCH_EPS_PER_HOST=100 BENCH_BUDGET_S=600 BENCH_STEP=1000
//   BENCH_STORE=etcd   the etcd store (a 1-member etcd from /usr/bin/etcd on loopback) instead of SQLite
//
// The controller and the agents share one process (its CPU and RSS are
// both): the agents are light, but the figures are an upper bound.
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { startController } from '../test/helpers/controller';
import { FakeTable } from '../test/helpers/fake-table';
import { Framer } from '../southbound/channel/framer';
import { decodeMessage, encodeMessage, OfpMessage, FlowMod, Port, OFPPR_ADD, OFPFC_DELETE, OFPFC_DELETE_STRICT } from '../southbound/codec';
import { flowKey } from '../controller/reconciler';
import type { Controller } from '../northbound/compose';
import { pct, mean } from './multihost/common';
import { EtcdCluster } from '../test/helpers/etcd';

const HOSTS = Math.max(1, Number(process.env.BENCH_HOSTS ?? 1000) | 0);
const EPS_PER_HOST = Math.max(1, Number(process.env.BENCH_EPS_PER_HOST ?? 100) | 0);
const BUDGET_S = Math.max(10, Number(process.env.BENCH_BUDGET_S ?? 600));
const STEP = Math.max(1, Number(process.env.BENCH_STEP ?? 1000) | 0);
const STORE = process.env.BENCH_STORE === 'etcd' ? 'etcd' : 'SQLite';
const VXLAN_PORT = 10;

type Ctl = Controller & { cleanup(): Promise<void> };

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');

function port(no: number, name: string): Port {
  return {
    port_no: no, hw_addr: `02:00:00:00:${((no >> 8) & 0xff).toString(16).padStart(2, '0')}:${(no & 0xff).toString(16).padStart(2, '0')}`, name,
    config: 0, state: 0, curr: 0, advertised: 0, supported: 0, peer: 0, curr_speed: 10_000_000, max_speed: 0,
  };
}

/** A host's br-int as an OpenFlow 1.3 agent that keeps its table and counts, and stores no messages. */
class Agent {
  readonly table = new FakeTable();
  readonly ports = new Map<string, Port>([['vxlan0', port(VXLAN_PORT, 'vxlan0')]]);
  flowMods = 0;
  barriers = 0;
  stats = 0;
  lastFlowModAt = 0;
  lastBarrierAt = 0;
  /** flows deleted while the same flow (table, priority, match) was re-added later: counted at the end of a resync */
  deletedKeys: string[] = [];
  private sock?: net.Socket;

  constructor(readonly index: number, readonly dpid: bigint) {}

  get localAddress(): string { return `127.1.${(this.index >> 8) & 255}.${this.index & 255}`; }

  async connect(ofPort: number): Promise<void> {
    const sock = net.connect({ port: ofPort, host: '127.0.0.1', localAddress: this.localAddress });
    await new Promise<void>((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
    sock.on('error', () => {});
    const framer = new Framer();
    sock.on('data', (c) => framer.push(c, (f) => this.onMessage(decodeMessage(Buffer.from(f)))));
    this.sock = sock;
    this.send({ type: 'hello', xid: 1, elements: [{ type: 'versionbitmap', bitmaps: [0x10] }] });
  }

  close(): void { this.sock?.destroy(); }

  private send(m: OfpMessage): void { if (this.sock && !this.sock.destroyed) this.sock.write(encodeMessage(m)); }

  private onMessage(m: OfpMessage): void {
    if (m.type === 'features_request') {
      this.send({ type: 'features_reply', xid: m.xid, datapath_id: this.dpid, n_buffers: 0, n_tables: 254, auxiliary_id: 0, capabilities: 0x4f, reserved: 0 });
    } else if (m.type === 'multipart_request' && m.body.kind === 'port_desc') {
      this.send({ type: 'multipart_reply', xid: m.xid, flags: 0, body: { kind: 'port_desc', ports: [...this.ports.values()] } });
    } else if (m.type === 'multipart_request' && m.body.kind === 'flow') {
      this.stats++;
      const stats = this.table.flows.map((f) => ({ ...f, duration_sec: 0, duration_nsec: 0, idle_timeout: 0, hard_timeout: 0, flags: 0, packet_count: 0n, byte_count: 0n }));
      this.send({ type: 'multipart_reply', xid: m.xid, flags: 0, body: { kind: 'flow', stats } });
    } else if (m.type === 'flow_mod') {
      const fm = m as FlowMod;
      this.flowMods++;
      this.lastFlowModAt = performance.now();
      if (fm.command === OFPFC_DELETE || fm.command === OFPFC_DELETE_STRICT) {
        const before = new Set(this.table.flows.map((f) => flowKey(f as unknown as FlowMod)));
        this.table.apply(fm);
        const after = new Set(this.table.flows.map((f) => flowKey(f as unknown as FlowMod)));
        for (const k of before) if (!after.has(k)) this.deletedKeys.push(k);
      } else {
        this.table.apply(fm);
      }
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
  const n = agents.map((a) => a.table.flows.length);
  return `flows per switch min ${Math.min(...n)} / median ${pct(n, 50)} / max ${Math.max(...n)}`;
}

async function main(): Promise<void> {
  console.log(`scale bench: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log(`${HOSTS} hosts, up to ${EPS_PER_HOST} endpoints each (${HOSTS * EPS_PER_HOST} in all), budget ${BUDGET_S} s, store ${STORE}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-scale-'));
  const db = path.join(dir, 'weft.db');
  const agents = Array.from({ length: HOSTS }, (_, i) => new Agent(i + 1, BigInt(0xd0000000 + i + 1)));
  const etcd = STORE === 'etcd' ? await EtcdCluster.start(1, dir) : undefined;
  const cfg = { db, apps: 'none', maxEndpointsPerHost: String(Math.max(1024, EPS_PER_HOST)), ...(etcd ? { etcd: { endpoints: etcd.endpoints, prefix: '/scale/' } } : {}) };
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
    await until('every br-int synced', () => agents.every((a) => a.barriers > 0 && a.table.flows.length > 0), 300_000);
    console.log(`[1] ${HOSTS} switches connected and given their pipeline in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${usage(cpu0, t0)}; ${flowsPerSwitch(agents)}`);

    // ---- 2. attaches
    t0 = performance.now();
    cpu0 = process.cpuUsage();
    const deadline = Date.now() + BUDGET_S * 1000;
    const firstRound: number[] = [];
    let step: number[] = [];
    let total = 0;
    let stepStart = performance.now();
    const stepCpu = { c: process.cpuUsage() };
    console.log(`[2] attaches, one at a time (POST, port appears, long-poll until ready), ms:`);
    console.log('    endpoints     p50     p99    mean   per-s  notes');
    const report = (label: string, xs: number[], note: string) => {
      const wall = (performance.now() - stepStart) / 1000;
      console.log(`    ${label.padStart(9)} ${f1(pct(xs, 50)).padStart(7)} ${f1(pct(xs, 99)).padStart(7)} ${f1(mean(xs)).padStart(7)} ${(xs.length / wall).toFixed(1).padStart(7)}  ${note}`);
      stepStart = performance.now();
      stepCpu.c = process.cpuUsage();
    };
    let stopped = '';
    outer: for (let round = 0; round < EPS_PER_HOST; round++) {
      for (const a of agents) {
        if (Date.now() > deadline) { stopped = `budget of ${BUDGET_S} s spent`; break outer; }
        const t = performance.now();
        const e = await req<{ id: string; portName: string; ofportRequest: number }>(c, 'POST', '/v1/endpoints', { containerId: `e${round}-${a.index}`, ifName: 'eth0', host: `s${a.index}`, network: 'scale' });
        if (e.status !== 201) throw new Error(`POST /v1/endpoints: ${e.status} ${e.text}`);
        a.addPort(e.body.portName, e.body.ofportRequest);
        const w = await req<{ state: string }>(c, 'GET', `/v1/endpoints/${e.body.id}?wait=ready&timeoutMs=60000`);
        if (w.body?.state !== 'ready') throw new Error(`endpoint ${e.body.id} not ready: ${w.text}`);
        const ms = performance.now() - t;
        total++;
        if (round === 0) firstRound.push(ms); else step.push(ms);
        if (round === 0 && firstRound.length === HOSTS) report(`${total}`, firstRound, `first round: each attach claims its host's block (every host re-syncs)`);
        if (round > 0 && step.length >= STEP) { report(`${total}`, step, usage(stepCpu.c, stepStart)); step = []; }
      }
    }
    if (round0Partial(firstRound)) report(`${total}`, firstRound, `first round, partial: each attach claims its host's block (every host re-syncs)`);
    if (step.length) report(`${total}`, step, usage(stepCpu.c, stepStart));
    console.log(`    ${total} endpoints attached in ${((performance.now() - t0) / 1000).toFixed(1)} s${stopped ? ` (stopped: ${stopped})` : ''}; ${usage(cpu0, t0)}`);
    console.log(`    ${flowsPerSwitch(agents)}; flow-mods received ${agents.reduce((s, a) => s + a.flowMods, 0)}, barriers ${agents.reduce((s, a) => s + a.barriers, 0)}, flow-stats requests ${agents.reduce((s, a) => s + a.stats, 0)}`);

    // ---- 3. restart and resync
    const flowsBefore = agents.reduce((s, a) => s + a.table.flows.length, 0);
    await c.cleanup();
    c = undefined;
    for (const a of agents) { a.close(); a.deletedKeys = []; a.barriers = 0; }
    t0 = performance.now();
    cpu0 = process.cpuUsage();
    c = await startController(cfg);
    await connectAll(c, agents);
    await until('every switch re-synced', () => agents.every((a) => a.barriers > 0) && performance.now() - Math.max(...agents.map((a) => a.lastFlowModAt)) > 1000, 600_000);
    const doneAt = Math.max(...agents.map((a) => Math.max(a.lastBarrierAt, a.lastFlowModAt)));
    const kept = new Set<string>();
    let lost = 0;
    for (const a of agents) {
      for (const f of a.table.flows) kept.add(`${a.index}/${flowKey(f as unknown as FlowMod)}`);
      lost += a.deletedKeys.filter((k) => kept.has(`${a.index}/${k}`)).length;
    }
    const flowsAfter = agents.reduce((s, a) => s + a.table.flows.length, 0);
    console.log(`[3] restart: ${HOSTS} switches × ${(flowsAfter / HOSTS).toFixed(0)} flows re-synced in ${((doneAt - t0) / 1000).toFixed(1)} s; ${usage(cpu0, t0)}`);
    console.log(`    flows ${flowsBefore} before, ${flowsAfter} after; desired flows deleted during the resync (a dropped packet each on a real datapath): ${lost}`);
  } finally {
    for (const a of agents) a.close();
    if (c) await c.cleanup();
    await etcd?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The first round ended early (budget): report it on its own. */
function round0Partial(firstRound: number[]): boolean {
  return firstRound.length > 0 && firstRound.length < HOSTS;
}

main().catch((e) => { console.error(e); process.exit(1); });
