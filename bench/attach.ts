// Attach latency benchmark: containers on one emulated host, attached by the
// real weft-cni plugin (run in the host's netns the way a runtime runs it)
// against a real Weft controller child process. Prints figures; asserts
// nothing.
//
//   npm run build && node dist/bench/attach.js
//   BENCH_N=100          containers per scenario (default 100)
//   BENCH_TRACE_N=20     containers in the traced breakdown pass (0 = skip it)
//   BENCH_AUTH_N=N       ADDs per side in the authentication pass (0 = skip it)
//   BENCH_AUTH_REQ=2000  API requests per side in the authentication pass
//
// Per container:  t0 = just before the plugin process is spawned (ADD start)
//                 t1 = the ADD returned (weft-cni waits until Weft reports
//                      the endpoint ready, i.e. its flows are confirmed)
//                 t2 = the first ping reply, probe container -> new
//                      container, `ping -c 1 -w 5 -i 0.01` (one echo request
//                      every 10 ms until one is answered), started at t1
//
// Scenarios:
//   (a) sequential: one ADD at a time (ADD, then ping, then the next ADD)
//   (b) concurrent: all N ADDs spawned at once, each pinged as soon as it returns
//   (c) traced:     BENCH_TRACE_N sequential ADDs through a wrapper that
//                   preloads a tracer into the plugin (timestamps of every
//                   command and API call), for the breakdown of the ADD time
//   (d) auth:       what bearer tokens cost. A second controller with
//                   --no-auth and a second emulated host (h2) on it, beside
//                   the first (tokens on; h1's plugin calls with h1's host
//                   token from its tokenFile). BENCH_AUTH_N sequential ADDs
//                   on each, interleaved (on, off, off, on, ...) so drift
//                   hits both alike; then BENCH_AUTH_REQ GET /v1/endpoints/{id}
//                   on each from this process over a kept-alive connection
//                   (the plugin's node:http client), interleaved too. Printed:
//                   p50/p99 of both and the difference.
// The containers of (a) and (c) are deleted (CNI DEL) before the next
// scenario, so each one starts with only the probe attached; those of (b)
// stay until the end, when the flow count is read.
//
// Also printed: fixed-cost baselines measured in the host netns with the
// plugin's environment (Node startup, one ip / nsenter / ovs-vsctl call, a
// fresh process's first fetch(), the ping itself), and per scenario the CPU
// of the controller, the host's OVS daemons and the bench with everything it
// spawned, against machine-wide busy time (scenarios disturbed by other work
// on the machine are flagged). See docs/bench.md.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Underlay, EmuHost, Container, cleanupAll, emuAvailable, pidRssKb } from '../test/helpers/emu-host';
import { runStatus } from '../test/helpers/emu/common';
import { TestRuntime, ConfList } from '../test/helpers/cni-runtime';
import { WeftProcess } from '../test/helpers/weft-process';
import { repoRoot } from '../test/helpers/paths';
import { waitFor } from '../test/helpers/wait';
import { intEnv, now, pct, ms, table, cpuSeconds, machineJiffies, selfAndChildrenCpu, stop, checkStop, onStop, PingOutcome, pingUntilReply as pingUntilReplyFor } from './multihost/common';


const N = intEnv('BENCH_N', 100, 1);
const TRACE_N = intEnv('BENCH_TRACE_N', 20, 0);
const AUTH_N = intEnv('BENCH_AUTH_N', N, 0);
const AUTH_REQ = intEnv('BENCH_AUTH_REQ', 2000, 1);
const BASELINE_RUNS = 20;
const UNDERLAY_SUBNET = '172.31.242.0/24';
const NETWORK = 'bench';
const HOST = 'h1';
/** The host of the authentication pass's --no-auth controller. */
const HOST_OFF = 'h2';
const CONTAINER_PREFIX = 'wfbc-';
const PING_DEADLINE_S = 5;

// ---------------------------------------------------------------------------
// small helpers

const median = (xs: number[]): number => pct(xs, 50);
const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** A scenario is flagged when other work took at least this share of one core during it. */
const DISTURBED = 0.25;

const CLK_TCK = 100; // USER_HZ; getconf CLK_TCK is 100 on Linux


/** Busy and total jiffies of the whole machine (/proc/stat). */

/**
 * Runs `fn` with at most `limit` calls in flight. After a failure no new
 * call starts, and the first error is thrown once the calls in flight have
 * ended (so that nothing is still being made while the bench cleans up).
 */
async function pool<T, R>(items: T[], limit: number, fn: (x: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed: { e: unknown } | undefined;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        failed ??= { e };
      }
    }
  }));
  if (failed) throw failed.e;
  return out;
}

// ---------------------------------------------------------------------------
// the environment

let tmp = '';
let underlay: Underlay | undefined;
let weft: WeftProcess | undefined;
let host: EmuHost;
let rt: TestRuntime;
let rtTraced: TestRuntime;
let traceDir = '';
/** h1's host token file: the plugin calls Weft with it, as on a real host. */
let tokenFile: string | undefined;
/** The authentication pass's --no-auth controller and its host. */
let weftOff: WeftProcess | undefined;
let hostOff: EmuHost | undefined;

const conf = (): ConfList => ({
  cniVersion: '1.0.0', name: NETWORK,
  plugins: [{ type: 'weft-cni', api: weft!.api, host: HOST, network: NETWORK, ovsdb: host.ovsdb, bridge: 'br-int', ...(tokenFile ? { tokenFile } : {}) }],
});

interface CniResult { ips: { address: string }[] }
const ipOf = (r: Record<string, unknown>): string => (r as unknown as CniResult).ips[0]!.address.split('/')[0]!;

/**
 * A tracer preloaded into the plugin (`node --require`) for the breakdown
 * pass: it timestamps every execFile (ip, nsenter, ethtool, ovs-vsctl) and
 * every fetch (the Weft API), and writes them to <traceDir>/<CNI_CONTAINERID>.json
 * when the plugin exits.
 */
function tracerSource(dir: string): string {
  return `'use strict';
const { performance } = require('perf_hooks');
const fs = require('fs');
const cp = require('child_process');
const now = () => performance.timeOrigin + performance.now();
const ev = [];
const preload = now();
const label = (file, args) => {
  let a = [...args];
  let f = file;
  let pre = '';
  if (f === 'nsenter') { const i = a.indexOf('--'); pre = 'in ctr: '; f = a[i + 1]; a = a.slice(i + 2); }
  a = a.filter((x) => !x.startsWith('-') || x === '-K');
  let l = f + ' ' + a.slice(0, 2).join(' ');
  if (f === 'ip' && a[1] === 'set') {
    if (a.includes('netns')) l += ' netns';
    else if (a.includes('name')) l += ' name+mac+mtu';
    else if (a[a.length - 1] === 'up') l += ' up';
  }
  if (f === 'ip' && a[0] === 'route') l += ' ' + a[2];
  if (f === 'ethtool') l += ' tx off';
  return pre + l;
};
const execFile = cp.execFile;
cp.execFile = function (file, args, opts, cb) {
  if (typeof cb !== 'function' || !Array.isArray(args)) return execFile.apply(this, arguments);
  const s = now();
  const l = label(file, args);
  return execFile.call(this, file, args, opts, function () { ev.push([l, s, now()]); return cb.apply(this, arguments); });
};
const f0 = globalThis.fetch;
globalThis.fetch = async function (url, init) {
  const s = now();
  const u = new URL(String(url));
  const l = 'API ' + ((init && init.method) || 'GET') + ' ' + u.pathname.replace(/[0-9a-f-]{36}/, '{id}') + (u.searchParams.get('wait') ? '?wait=' + u.searchParams.get('wait') : '');
  try { return await f0(url, init); } finally { ev.push([l, s, now()]); }
};
process.on('exit', () => {
  try {
    // utime, stime, cutime, cstime (clock ticks): this node process, and the commands it ran and reaped
    const st = fs.readFileSync('/proc/self/stat', 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number);
    fs.writeFileSync(${JSON.stringify(dir)} + '/' + process.env.CNI_COMMAND + '-' + process.env.CNI_CONTAINERID + '.json',
      JSON.stringify({ origin: performance.timeOrigin, v8Start: performance.nodeTiming.v8Start, preload, ev, exit: now(), cpu: f }));
  } catch {}
});
`;
}

async function setup(): Promise<Container> {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-bench-attach-'));
  underlay = await Underlay.create({ id: 'ba', subnet: UNDERLAY_SUBNET });
  weft = await WeftProcess.start({ host: underlay.ip });
  host = await EmuHost.create({
    name: HOST, underlay, index: 1, controller: weft.ofTarget, tunnel: false, patch: false, prefix: 'wfb-', baseDir: path.join(tmp, 'emu'),
  });
  const plugin = path.join(repoRoot(), 'dist/northbound/cni/weft-cni.js');
  if (!fs.existsSync(plugin)) throw new Error(`${plugin} missing: run npm run build first`);
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(plugin, path.join(bin, 'weft-cni'));
  rt = new TestRuntime([bin], host.netns);

  traceDir = path.join(tmp, 'trace');
  fs.mkdirSync(traceDir);
  const tracer = path.join(tmp, 'tracer.js');
  fs.writeFileSync(tracer, tracerSource(traceDir));
  const tbin = path.join(tmp, 'bin-traced');
  fs.mkdirSync(tbin);
  fs.writeFileSync(path.join(tbin, 'weft-cni'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --require ${JSON.stringify(tracer)} ${JSON.stringify(plugin)}\n`, { mode: 0o755 });
  rtTraced = new TestRuntime([tbin], host.netns);

  const reg = await weft.call('POST', '/v1/hosts', { name: HOST, dpid: host.dpid, underlayIp: host.ip });
  if (reg.status !== 201) throw new Error(`registering the host: ${reg.status} ${JSON.stringify(reg.body)}`);
  tokenFile = await weft.hostTokenFile(HOST);
  await waitFor(() => weft!.call<{ connected: boolean }>('GET', `/v1/hosts/${HOST}`).then((r) => r.body.connected), { what: 'br-int connected', timeoutMs: 20_000 });
  // Room for the probe and every scenario's containers (DEL releases addresses, but IPAM may not reuse them at once).
  const need = 1 + 2 * N + TRACE_N + 16;
  let len = 22;
  while (2 ** (32 - len) < need && len > 8) len--;
  const net = await weft.call('POST', '/v1/networks', { name: NETWORK, cidr: `10.42.0.0/${len}` });
  if (net.status !== 201) throw new Error(`creating the network: ${net.status} ${JSON.stringify(net.body)}`);

  const probe = await Container.create(host, 'probe', { prefix: CONTAINER_PREFIX });
  await rt.add(conf(), { containerId: 'probe', netns: probe.netnsPath, ifName: 'eth0' });
  return probe;
}

/** Set on SIGINT/SIGTERM: start nothing new, clean up, exit. */

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    try {
      await cleanupAll();
    } catch (e) {
      console.error(`cleanup: ${(e as Error).message}`);
    }
    await weft?.stop().catch(() => undefined);
    await weftOff?.stop().catch(() => undefined);
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}

// ---------------------------------------------------------------------------
// measurements

/**
 * The environment the runtime gives the plugin (TestRuntime passes PATH and
 * the CNI_* variables only). Baselines use it too: variables such as
 * NODE_EXTRA_CA_CERTS make every Node start much slower (the CA bundle is
 * parsed at startup), and the plugin does not get them.
 */
const PLUGIN_ENV = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };

/** Runs a command with PLUGIN_ENV; spawn-to-close time and stdout. */
function timedRun(cmd: string, args: string[]): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], env: PLUGIN_ENV });
    let stdout = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.on('error', reject);
    c.on('close', (code) => {
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`));
      else resolve({ ms: performance.now() - t0, stdout });
    });
  });
}

/** Spawn-to-exit time of a command, `runs` times, one after the other. */
async function spawnTimes(cmd: string, args: string[], runs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    checkStop();
    out.push((await timedRun(cmd, args)).ms);
  }
  return out;
}


/** Pings `ip` from `from` until one echo is answered (one request every 10 ms, for up to 5 s). */
async function pingUntilReply(from: Container, ip: string): Promise<PingOutcome> {
  checkStop();
  return pingUntilReplyFor(from, ip, PING_DEADLINE_S);
}

interface Sample {
  containerId: string;
  t0: number;
  /** ADD returned (NaN if it failed). */
  t1: number;
  /** First ping reply (NaN if none). */
  t2: number;
  ip: string;
  seq: number | null;
  error?: string;
}

async function attachOne(runtime: TestRuntime, c: Container, containerId: string, probe: Container): Promise<Sample> {
  checkStop();
  const t0 = now();
  let r: Record<string, unknown>;
  try {
    r = await runtime.add(conf(), { containerId, netns: c.netnsPath, ifName: 'eth0' });
  } catch (e) {
    return { containerId, t0, t1: NaN, t2: NaN, ip: '', seq: null, error: (e as Error).message };
  }
  const t1 = now();
  const ip = ipOf(r);
  const p = await pingUntilReply(probe, ip);
  return { containerId, t0, t1, t2: p.ok ? p.tEnd : NaN, ip, seq: p.seq, ...(p.ok ? {} : { error: `no ping reply from ${ip} within ${PING_DEADLINE_S} s` }) };
}

interface Usage {
  weftCpu: number;
  vswitchdCpu: number;
  ovsdbCpu: number;
  /** the bench itself and every child it reaped: the plugins and what they ran, pings */
  benchCpu: number;
  machineBusy: number;
  machineTotal: number;
  wall: number;
  /** other processes: pid:starttime -> CPU; after usageDelta, comm -> CPU seconds in the scenario */
  others: Map<string, { comm: string; cpu: number }>;
}

/**
 * CPU (utime+stime, s) of every process other than the ones the scenario
 * accounts for, keyed by pid and start time. Only a diagnostic for "rest of
 * machine": processes that start and end within a scenario are missed.
 */
function otherProcesses(): Map<string, { comm: string; cpu: number }> {
  const mine = new Set([process.pid, weft?.proc?.pid, host.pids.ovsVswitchd, host.pids.ovsdbServer,
    weftOff?.proc?.pid, hostOff?.pids.ovsVswitchd, hostOff?.pids.ovsdbServer]);
  const out = new Map<string, { comm: string; cpu: number }>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || mine.has(Number(e))) continue;
    try {
      const st = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const comm = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      if (Number(f[1]) === process.pid) continue; // our own children (plugins, pings in flight)
      out.set(`${e}:${f[19]}`, { comm, cpu: (Number(f[11]) + Number(f[12])) / CLK_TCK });
    } catch {
      // gone
    }
  }
  return out;
}

function usageNow(): Usage {
  const m = machineJiffies();
  return {
    others: otherProcesses(),
    weftCpu: cpuSeconds(weft?.proc?.pid),
    vswitchdCpu: cpuSeconds(host.pids.ovsVswitchd),
    ovsdbCpu: cpuSeconds(host.pids.ovsdbServer),
    benchCpu: selfAndChildrenCpu(),
    machineBusy: m.busy,
    machineTotal: m.total,
    wall: performance.now(),
  };
}

function usageDelta(a: Usage, b: Usage): Usage {
  return {
    weftCpu: b.weftCpu - a.weftCpu,
    vswitchdCpu: b.vswitchdCpu - a.vswitchdCpu,
    ovsdbCpu: b.ovsdbCpu - a.ovsdbCpu,
    benchCpu: b.benchCpu - a.benchCpu,
    machineBusy: b.machineBusy - a.machineBusy,
    machineTotal: b.machineTotal - a.machineTotal,
    wall: b.wall - a.wall,
    others: (() => {
      const byComm = new Map<string, { comm: string; cpu: number }>();
      for (const [k, v] of b.others) {
        const d = v.cpu - (a.others.get(k)?.cpu ?? 0);
        if (d <= 0) continue;
        const name = v.comm.replace(/\/\d+(:\d+)?$/, ''); // kworker/0:1 -> kworker
        const cur = byComm.get(name) ?? { comm: name, cpu: 0 };
        cur.cpu += d;
        byComm.set(name, cur);
      }
      return byComm;
    })(),
  };
}

interface Scenario {
  name: string;
  samples: Sample[];
  usage: Usage;
  /** first t0 .. last t1 / last t2 */
  wallReady: number;
  wallReply: number;
  rssKb: number;
  /** sequential only: controller CPU (ms) during each attach, including its ping */
  ctlCpuPerAttach?: number[];
}

function summarize(name: string, samples: Sample[], usage: Usage): Scenario {
  const ok = samples.filter((s) => Number.isFinite(s.t1));
  const t0 = Math.min(...samples.map((s) => s.t0));
  return {
    name, samples, usage,
    wallReady: Math.max(...ok.map((s) => s.t1)) - t0,
    wallReply: Math.max(...ok.filter((s) => Number.isFinite(s.t2)).map((s) => s.t2)) - t0,
    rssKb: pidRssKb(weft!.proc!.pid!),
  };
}

async function makeContainers(tag: string, n: number): Promise<Container[]> {
  return pool(Array.from({ length: n }, (_, i) => i), 8, (i) => {
    checkStop();
    return Container.create(host, `${tag}${i}`, { prefix: CONTAINER_PREFIX });
  });
}

async function sequential(name: string, runtime: TestRuntime, tag: string, n: number, probe: Container): Promise<{ sc: Scenario; cs: Container[] }> {
  const cs = await makeContainers(tag, n);
  const u0 = usageNow();
  const samples: Sample[] = [];
  const ctlCpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = cpuSeconds(weft!.proc!.pid);
    samples.push(await attachOne(runtime, cs[i]!, `${tag}-${i}`, probe));
    ctlCpu.push((cpuSeconds(weft!.proc!.pid) - c0) * 1000);
  }
  const sc = summarize(name, samples, usageDelta(u0, usageNow()));
  sc.ctlCpuPerAttach = ctlCpu;
  return { sc, cs };
}

async function concurrent(name: string, tag: string, n: number, probe: Container): Promise<{ sc: Scenario; cs: Container[] }> {
  const cs = await makeContainers(tag, n);
  const u0 = usageNow();
  const samples = await Promise.all(cs.map((c, i) => attachOne(rt, c, `${tag}-${i}`, probe)));
  return { sc: summarize(name, samples, usageDelta(u0, usageNow())), cs };
}

/** CNI DEL of every container, one after the other; returns each DEL's time and destroys the netns. */
async function detachAll(runtime: TestRuntime, cs: Container[], tag: string): Promise<number[]> {
  const times: number[] = [];
  for (const [i, c] of cs.entries()) {
    checkStop();
    const t0 = now();
    await runtime.del(conf(), { containerId: `${tag}-${i}`, netns: c.netnsPath, ifName: 'eth0' });
    times.push(now() - t0);
  }
  await pool(cs, 8, (c) => c.destroy());
  return times;
}

// ---------------------------------------------------------------------------
// (d) authentication on and off

interface AuthSide { label: string; add: number[]; del: number[]; req: number[]; errors: string[] }

/** Sub-millisecond figures need more digits than ms() gives. */
const fine = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(3)} ms` : '-');

/** One GET over a kept-alive connection, as the plugin's client makes it; its time in ms. */
function timedGet(agent: http.Agent, url: string, token: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.get(url, { agent, headers: { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`GET ${url}: ${res.statusCode}`))));
    });
    req.on('error', reject);
  });
}

/**
 * The same sequential ADD (and DEL) against a controller with tokens (h1,
 * with h1's host token) and one with --no-auth (h2), interleaved; then API
 * requests alone. The second controller and host exist only for this pass.
 */
async function authPass(n: number, reqs: number): Promise<{ on: AuthSide; off: AuthSide; setupMs: number }> {
  const t0 = performance.now();
  weftOff = await WeftProcess.start({ host: underlay!.ip, auth: false });
  hostOff = await EmuHost.create({
    name: HOST_OFF, underlay: underlay!, index: 2, controller: weftOff.ofTarget, tunnel: false, patch: false, prefix: 'wfb-', baseDir: path.join(tmp, 'emu'),
  });
  const reg = await weftOff.call('POST', '/v1/hosts', { name: HOST_OFF, dpid: hostOff.dpid, underlayIp: hostOff.ip });
  if (reg.status !== 201) throw new Error(`registering ${HOST_OFF}: ${reg.status} ${JSON.stringify(reg.body)}`);
  await waitFor(() => weftOff!.call<{ connected: boolean }>('GET', `/v1/hosts/${HOST_OFF}`).then((r) => r.body.connected), { what: `${HOST_OFF} br-int connected`, timeoutMs: 20_000 });
  const net = await weftOff.call('POST', '/v1/networks', { name: NETWORK, cidr: '10.43.0.0/22' });
  if (net.status !== 201) throw new Error(`creating the network on the --no-auth controller: ${net.status} ${JSON.stringify(net.body)}`);
  const rtOff = new TestRuntime(rt.cniPath, hostOff.netns);
  const confOff = (): ConfList => ({
    cniVersion: '1.0.0', name: NETWORK,
    plugins: [{ type: 'weft-cni', api: weftOff!.api, host: HOST_OFF, network: NETWORK, ovsdb: hostOff!.ovsdb, bridge: 'br-int' }],
  });
  const sides = [
    { s: { label: `tokens (h1, host token)`, add: [], del: [], req: [], errors: [] } as AuthSide, h: host, runtime: rt, cf: conf, w: weft! },
    { s: { label: `--no-auth (h2)`, add: [], del: [], req: [], errors: [] } as AuthSide, h: hostOff, runtime: rtOff, cf: confOff, w: weftOff },
  ];
  const setupMs = performance.now() - t0;
  // one after the other: the two sides' netns names differ (wfbc-ua0.., wfbc-ub0..)
  const cs: Container[][] = [];
  for (const [k, x] of sides.entries()) {
    cs.push(await pool(Array.from({ length: n }, (_, i) => i), 8, (i) => {
      checkStop();
      return Container.create(x.h, `u${'ab'[k]}${i}`, { prefix: CONTAINER_PREFIX });
    }));
  }
  // on, off, off, on, on, off, ...: each side goes first half of the time
  const order = (i: number) => (i % 2 === 0 ? [0, 1] : [1, 0]);
  const ids: string[][] = [[], []];
  for (let i = 0; i < n; i++) {
    for (const k of order(i)) {
      checkStop();
      const x = sides[k]!;
      const id = `auth-${k}-${i}`;
      const a = now();
      try {
        await x.runtime.add(x.cf(), { containerId: id, netns: cs[k]![i]!.netnsPath, ifName: 'eth0' });
        x.s.add.push(now() - a);
        ids[k]!.push(id);
      } catch (e) {
        x.s.errors.push(`${id}: ${(e as Error).message}`);
      }
    }
  }
  // API requests alone: GET one endpoint, as the plugin's long-poll on a ready endpoint does
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const targets = await Promise.all(sides.map(async (x, k) => {
    const ep = (await x.w.call<{ id: string }[]>('GET', `/v1/endpoints?containerId=${ids[k]![0]}`)).body[0];
    if (!ep) throw new Error(`no endpoint ${ids[k]![0]} to read`);
    return `${x.w.api}/v1/endpoints/${ep.id}`;
  }));
  const tokens = [fs.readFileSync(tokenFile!, 'utf8').trim(), undefined];
  for (let i = 0; i < 200; i++) for (const k of [0, 1]) await timedGet(agent, targets[k]!, tokens[k]); // warm-up
  for (let i = 0; i < reqs; i++) {
    for (const k of order(i)) sides[k]!.s.req.push(await timedGet(agent, targets[k]!, tokens[k]));
  }
  agent.destroy();
  for (let i = 0; i < n; i++) {
    for (const k of order(i)) {
      checkStop();
      const x = sides[k]!;
      const id = `auth-${k}-${i}`;
      if (!ids[k]!.includes(id)) continue;
      const a = now();
      await x.runtime.del(x.cf(), { containerId: id, netns: cs[k]![i]!.netnsPath, ifName: 'eth0' });
      x.s.del.push(now() - a);
    }
  }
  for (const c of cs.flat()) await c.destroy();
  await hostOff.destroy();
  hostOff = undefined;
  await weftOff.stop();
  weftOff = undefined;
  return { on: sides[0]!.s, off: sides[1]!.s, setupMs };
}

function authRows(on: AuthSide, off: AuthSide): string {
  const row = (label: string, f: (s: AuthSide) => number[], p: number) => [label, fine(pct(f(on), p)), fine(pct(f(off), p)), fine(pct(f(on), p) - pct(f(off), p))];
  return table(['', 'tokens', '--no-auth', 'added by tokens'], [
    row(`ADD p50 (${on.add.length} / ${off.add.length} ADDs)`, (s) => s.add, 50),
    row('ADD p99', (s) => s.add, 99),
    row(`DEL p50 (${on.del.length} / ${off.del.length})`, (s) => s.del, 50),
    row('DEL p99', (s) => s.del, 99),
    row(`API GET /v1/endpoints/{id} p50 (${on.req.length} each, kept-alive)`, (s) => s.req, 50),
    row('API GET p99', (s) => s.req, 99),
  ]);
}

// ---------------------------------------------------------------------------
// the breakdown of the traced pass

interface Trace {
  origin: number;
  /** ms after origin */
  v8Start: number;
  preload: number;
  ev: [string, number, number][];
  exit: number;
  /** clock ticks: utime, stime, cutime, cstime of the plugin process at exit */
  cpu?: number[];
}

interface EndpointView { containerId: string; createdAt: string; readyAt: string | null }

function breakdown(samples: Sample[], eps: Map<string, EndpointView>): string {
  const steps = new Map<string, number[]>();
  const order: string[] = [];
  const add = (k: string, v: number) => {
    if (!steps.has(k)) { steps.set(k, []); order.push(k); }
    steps.get(k)!.push(v);
  };
  const totals: number[] = [];
  const cpuSelf: number[] = [];
  const cpuCmds: number[] = [];
  let readyFirst = 0;
  let withReady = 0;
  for (const s of samples) {
    if (!Number.isFinite(s.t1)) continue;
    const file = path.join(traceDir, `ADD-${s.containerId}.json`);
    if (!fs.existsSync(file)) continue;
    const t = JSON.parse(fs.readFileSync(file, 'utf8')) as Trace;
    const ev = [...t.ev].sort((a, b) => a[1] - b[1]);
    totals.push(s.t1 - s.t0);
    if (t.cpu?.length === 4) {
      cpuSelf.push(((t.cpu[0]! + t.cpu[1]!) * 1000) / CLK_TCK);
      cpuCmds.push(((t.cpu[2]! + t.cpu[3]!) * 1000) / CLK_TCK);
    }
    add('spawn: ip netns exec + sh wrapper + exec node', t.origin - s.t0);
    add('node: process start -> V8 initialised', t.v8Start);
    add('node: V8 -> bootstrap done (the preload runs)', t.preload - t.origin - t.v8Start);
    add('plugin modules, stdin, config (to the 1st call)', (ev[0]?.[1] ?? t.exit) - t.preload);
    const seen = new Map<string, number>();
    let prevEnd = ev[0]?.[1] ?? t.preload;
    let gaps = 0;
    let addPortEnd = NaN;
    let waitStart = NaN;
    for (const [label, a, b] of ev) {
      const k = (seen.get(label) ?? 0) + 1;
      seen.set(label, k);
      add(k > 1 ? `${label} (#${k})` : label, b - a);
      gaps += Math.max(0, a - prevEnd);
      prevEnd = Math.max(prevEnd, b);
      if (label.startsWith('ovs-vsctl add-port')) addPortEnd = b;
      if (label.includes('?wait=ready')) waitStart = a;
    }
    add('JS between the steps above', gaps);
    add('result printed -> process exit', t.exit - prevEnd);
    add('process exit -> runtime sees it (t1)', s.t1 - t.exit);
    const e = eps.get(s.containerId);
    if (e?.readyAt && Number.isFinite(addPortEnd)) {
      const ready = Date.parse(e.readyAt);
      add('  [controller] add-port returned -> endpoint marked ready (readyAt)', ready - addPortEnd);
      withReady++;
      if (ready <= waitStart) readyFirst++;
    }
  }
  const tot = median(totals);
  const rows = order.map((k) => {
    const v = steps.get(k)!;
    const sub = k.startsWith('  [');
    return [k, ms(median(v)), ms(pct(v, 90)), sub ? '' : `${((100 * median(v)) / tot).toFixed(0)}%`];
  });
  rows.push(['total ADD (t0 -> t1), traced', ms(tot), ms(pct(totals, 90)), '']);
  const lines = [table(['step (in order)', 'p50', 'p90', 'of p50 total'], rows)];
  lines.push(`endpoint already ready when the plugin sent its long-poll: ${readyFirst}/${withReady} (readyAt has 1 ms resolution)`);
  if (cpuSelf.length) {
    lines.push(`CPU per ADD (p50, 10 ms ticks): plugin node process ${ms(median(cpuSelf))}, the commands it ran ${ms(median(cpuCmds))}`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------

function scenarioRows(scs: Scenario[]): string {
  const rows = scs.map((sc) => {
    const ok = sc.samples.filter((s) => Number.isFinite(s.t1));
    const replied = ok.filter((s) => Number.isFinite(s.t2));
    const ready = ok.map((s) => s.t1 - s.t0);
    const reply = replied.map((s) => s.t2 - s.t0);
    const after = replied.map((s) => s.t2 - s.t1);
    const seq = sc.name.startsWith('(a)');
    // sequential: ADDs back to back (ping time excluded); concurrent: N over the wall time to the last ready
    const perSec = seq ? (1000 * ok.length) / ready.reduce((a, b) => a + b, 0) : (1000 * ok.length) / sc.wallReady;
    return [
      sc.name, `${ok.length}/${sc.samples.length}`, `${replied.length}`,
      ms(median(ready)), ms(pct(ready, 99)), ms(median(reply)), ms(pct(reply, 99)), ms(median(after)),
      `${replied.filter((s) => s.seq === 1).length}/${replied.length}`,
      ms(sc.wallReady), ms(sc.wallReply), perSec.toFixed(1),
    ];
  });
  return table(
    ['scenario', 'ADD ok', 'replied', 'ready p50', 'ready p99', 'reply p50', 'reply p99', 'ready->reply p50', '1st echo answered', 'wall to last ready', 'wall to last reply', 'attaches/s'],
    rows,
  );
}

function usageRows(scs: Scenario[]): string {
  const cores = os.cpus().length;
  const rows = scs.map((sc) => {
    const u = sc.usage;
    const pctOf = (s: number) => `${s.toFixed(2)} s (${((100 * s * 1000) / u.wall).toFixed(0)}%)`;
    // machine-wide busy time in core-seconds (jiffies are summed over all cores)
    const busyS = u.machineBusy / CLK_TCK;
    const ours = u.weftCpu + u.vswitchdCpu + u.ovsdbCpu + u.benchCpu;
    return [
      sc.name + (busyS - ours > DISTURBED * (u.wall / 1000) ? ' *' : ''), ms(u.wall), pctOf(u.weftCpu), `${(sc.rssKb / 1024).toFixed(0)} MiB`, pctOf(u.vswitchdCpu), pctOf(u.ovsdbCpu), pctOf(u.benchCpu),
      `${((100 * busyS * 1000) / u.wall / cores).toFixed(0)}%`, pctOf(Math.max(0, busyS - ours)),
    ];
  });
  return table(['scenario', 'wall', 'controller CPU', 'controller RSS', 'ovs-vswitchd CPU', 'ovsdb-server CPU', 'bench+plugins+ping CPU', `machine busy (${cores} cores)`, 'rest of machine'], rows);
}

async function main(): Promise<void> {
  if (!(await emuAvailable())) {
    console.error('attach bench: needs root and the OVS binaries (ovsdb-server, ovs-vswitchd, ovs-vsctl, ovs-ofctl, ethtool)');
    process.exitCode = 1;
    return;
  }
  const ovsVersion = (await runStatus('ovs-vswitchd', ['--version'])).stdout.split('\n')[0]?.replace(/^ovs-vswitchd \(Open vSwitch\) /, '') ?? '?';
  const cpuModel = os.cpus()[0]?.model ?? '?';
  console.log(`Weft attach latency: ${N} containers on one emulated host (own OVS ${ovsVersion}, netdev datapath), weft-cni run in the host netns`);
  const load = () => os.loadavg().map((x) => x.toFixed(1)).join(' ');
  console.log(`machine: ${os.cpus().length} x ${cpuModel}, node ${process.version}, ${new Date().toISOString().slice(0, 19)}Z, load average ${load()}`);
  const tSetup = performance.now();
  const probe = await setup();
  console.log(`setup (underlay, controller, host, probe attached): ${ms(performance.now() - tSetup)}`);
  console.log('latency: t0 = plugin spawn (ADD start), ready = ADD returned (the plugin waits for the endpoint to be ready),');
  console.log(`         reply = first ping reply, probe container -> new container (ping -c1 -w${PING_DEADLINE_S} -i0.01, started when ADD returned)`);
  console.log('');

  // Baselines: fixed costs inside every ADD and every ping measurement.
  const hostNs = ['netns', 'exec', host.netns];
  const bTrue = await spawnTimes('ip', [...hostNs, 'true'], BASELINE_RUNS);
  const bNode = await spawnTimes('ip', [...hostNs, process.execPath, '-e', '0'], BASELINE_RUNS);
  const bVersion: number[] = [];
  for (let i = 0; i < BASELINE_RUNS; i++) {
    checkStop();
    const t0 = now();
    await rt.exec('VERSION', { containerId: 'v', netns: '', ifName: 'eth0' }, { type: 'weft-cni', cniVersion: '1.0.0', name: NETWORK });
    bVersion.push(now() - t0);
  }
  const bNsenter = await spawnTimes('ip', [...hostNs, 'nsenter', `--net=${probe.netnsPath}`, '--', 'ip', 'link', 'show', 'lo'], BASELINE_RUNS);
  const bIp = await spawnTimes('ip', [...hostNs, 'ip', 'link', 'show', 'lo'], BASELINE_RUNS);
  const bVsctl = await spawnTimes('ovs-vsctl', [`--db=${host.ovsdb}`, 'list-br'], BASELINE_RUNS);
  // The plugin talks to Weft with fetch(); a fresh Node process pays for loading it on the first call.
  const fetchScript = `const {performance:p}=require('perf_hooks');const u=${JSON.stringify(`${weft!.api}/v1/health`)};` +
    'const a=p.now();fetch(u).then(r=>r.text()).then(()=>{const b=p.now();return fetch(u).then(r=>r.text()).then(()=>{const c=p.now();' +
    "const h=require('http');const d=p.now();h.get(u,(r)=>{r.resume();r.on('end',()=>{console.log(JSON.stringify([b-a,c-b,p.now()-d]));process.exit(0);});});});});";
  const bFetch: number[][] = [[], [], []];
  for (let i = 0; i < BASELINE_RUNS; i++) {
    const out = JSON.parse((await timedRun('ip', [...hostNs, process.execPath, '-e', fetchScript])).stdout) as number[];
    out.forEach((v, k) => bFetch[k]!.push(v));
  }

  // (a) sequential
  const a = await sequential('(a) sequential', rt, 's', N, probe);
  // ping method's own cost: ping a container that is already reachable
  const bPing: number[] = [];
  for (let i = 0; i < BASELINE_RUNS; i++) {
    const s = a.sc.samples[i % a.sc.samples.length]!;
    if (!s.ip) continue;
    const t0 = now();
    const p = await pingUntilReply(probe, s.ip);
    if (p.ok) bPing.push(p.tEnd - t0);
  }
  const delA = await detachAll(rt, a.cs, 's');

  // (c) traced sequential pass for the breakdown
  let traced: Scenario | undefined;
  let tracedEps = new Map<string, EndpointView>();
  if (TRACE_N > 0) {
    const c = await sequential('(c) sequential, traced', rtTraced, 't', TRACE_N, probe);
    traced = c.sc;
    const eps = (await weft!.call<EndpointView[]>('GET', `/v1/endpoints?network=${NETWORK}`)).body;
    tracedEps = new Map(eps.map((e) => [e.containerId, e]));
    await detachAll(rt, c.cs, 't');
  }

  // (d) authentication on and off, while h1 holds only the probe
  const auth = AUTH_N > 0 ? await authPass(AUTH_N, AUTH_REQ) : undefined;

  // (b) concurrent
  const b = await concurrent(`(b) concurrent (${N} at once)`, 'c', N, probe);

  // state at the end: probe + N concurrent containers attached
  const flowsCtl = (await weft!.call<unknown[]>('GET', `/v1/switches/${host.dpid}/flows`)).body.length;
  const flowsOvs = (await host.dumpFlows()).length;
  const eps = (await weft!.call<{ state: string }[]>('GET', `/v1/endpoints?network=${NETWORK}`)).body;
  const weftPid = weft!.proc!.pid!;

  console.log(`baselines (each run ${BASELINE_RUNS} times, one after the other; spawn to exit)`);
  console.log(table(['fixed cost', 'p50', 'p99'], [
    ['ip netns exec <host> true', ms(median(bTrue)), ms(pct(bTrue, 99))],
    ['ip netns exec <host> node -e 0  (bare Node startup)', ms(median(bNode)), ms(pct(bNode, 99))],
    ['weft-cni VERSION via the runtime (node + plugin modules, no I/O)', ms(median(bVersion)), ms(pct(bVersion, 99))],
    ['one `ip link show` in the host netns', ms(median(bIp)), ms(pct(bIp, 99))],
    ['one `nsenter --net=<ctr> -- ip link show` in the host netns', ms(median(bNsenter)), ms(pct(bNsenter, 99))],
    ['one `ovs-vsctl list-br` against the host OVSDB', ms(median(bVsctl)), ms(pct(bVsctl, 99))],
    ['fresh node in the host netns: 1st fetch() GET /v1/health', ms(median(bFetch[0]!)), ms(pct(bFetch[0]!, 99))],
    ['  the same process: 2nd fetch()', ms(median(bFetch[1]!)), ms(pct(bFetch[1]!, 99))],
    ['  the same process: then http.get() (1st use of node:http)', ms(median(bFetch[2]!)), ms(pct(bFetch[2]!, 99))],
    ['ping an already-reachable container (the reply probe itself)', ms(median(bPing)), ms(pct(bPing, 99))],
  ]));
  console.log('');
  const scs = [a.sc, b.sc, ...(traced ? [traced] : [])];
  console.log('attach latency (ready = ADD start -> ADD returned; reply = ADD start -> first ping reply)');
  console.log(scenarioRows(scs));
  console.log('attaches/s: sequential = ADDs back to back (N / sum of ADD times, pings excluded); concurrent = N / wall time to the last ready');
  for (const sc of scs) {
    const errs = sc.samples.filter((s) => s.error);
    if (errs.length) console.log(`${sc.name}: ${errs.length} failure(s), first: ${errs[0]!.containerId}: ${errs[0]!.error}`);
    const late = sc.samples.filter((s) => s.seq !== null && s.seq > 1);
    if (late.length) {
      console.log(`${sc.name}: first echo request unanswered for ${late.length} (ADD had returned ready; 10 ms between requests): ` +
        late.slice(0, 5).map((s) => `${s.containerId} answered #${s.seq}, ${ms(s.t2 - s.t1)} after ready`).join(', '));
    }
  }
  console.log(`DEL, sequential (the ${N} containers of (a)): p50 ${ms(median(delA))}, p99 ${ms(pct(delA, 99))}`);
  const per = a.sc.ctlCpuPerAttach ?? [];
  if (per.length >= 20) {
    const k = Math.max(10, Math.floor(per.length / 10));
    console.log(`controller CPU per sequential attach (10 ms ticks): first ${k} mean ${ms(mean(per.slice(0, k)))}, last ${k} mean ${ms(mean(per.slice(-k)))}`);
  }
  console.log('');
  console.log('resources per scenario (CPU = utime+stime from /proc/<pid>/stat over the scenario, % of one core;');
  console.log(`"rest of machine" = machine busy time not used by the processes to its left: other work, kernel softirqs; load average now ${load()})`);
  console.log(usageRows(scs));
  console.log(`* disturbed: other work used >= ${DISTURBED * 100}% of a core during the scenario; its figures are slower than on a quiet machine`);
  for (const sc of scs) {
    const top = [...sc.usage.others.values()].sort((x, y) => y.cpu - x.cpu).slice(0, 4).filter((x) => x.cpu >= 0.1);
    if (top.length) console.log(`  ${sc.name}: busiest other processes (alive at its end): ${top.map((x) => `${x.comm} ${x.cpu.toFixed(1)} s`).join(', ')}`);
  }
  console.log('');
  console.log(`at the end (probe + ${N} containers of (b) attached):`);
  console.log(`  flows on br-int: ${flowsCtl} (controller flow-stats, GET /v1/switches/${host.dpid}/flows), ${flowsOvs} (ovs-ofctl dump-flows)`);
  console.log(`  endpoints: ${eps.length}, ready ${eps.filter((e) => e.state === 'ready').length}`);
  console.log(`  controller pid ${weftPid}: CPU ${cpuSeconds(weftPid).toFixed(2)} s total since start, RSS ${(pidRssKb(weftPid) / 1024).toFixed(0)} MiB`);
  if (auth) {
    console.log('');
    console.log(`(d) authentication: ${AUTH_N} sequential ADDs and DELs on each controller, interleaved, plus ${AUTH_REQ} API requests each ` +
      `(second controller and host set up in ${ms(auth.setupMs)})`);
    console.log(authRows(auth.on, auth.off));
    const added = pct(auth.on.add, 50) - pct(auth.off.add, 50);
    console.log(`added at ADD p50: ${fine(added)} (target < 0.5 ms: ${added < 0.5 ? 'met' : 'NOT met'}); ` +
      'the ADD figures also differ by host (h1 and h2 are separate OVS instances), so the API request rows are the cleaner measure');
    for (const s of [auth.on, auth.off]) if (s.errors.length) console.log(`${s.label}: ${s.errors.length} failed ADD(s), first: ${s.errors[0]}`);
  }
  if (traced) {
    console.log('');
    console.log(`ADD breakdown (traced pass, ${TRACE_N} sequential ADDs; the plugin runs under a sh wrapper with a preloaded tracer)`);
    console.log(breakdown(traced.samples, tracedEps));
  }
}

onStop('attach bench', cleanup);

main()
  .catch((e: unknown) => {
    if (!stop.exiting) {
      console.error(`attach bench failed: ${(e as Error).stack ?? String(e)}`);
      if (host && !host.isDestroyed && !host.alive()) {
        console.error(`note: the emulated host's OVS daemons are gone. Something else removed the ${host.netns} namespace or killed them; ` +
          '`mininet/hostlab cleanup` (run at the end of .ci/run) sweeps every wf* namespace on the machine.');
      }
      process.exitCode = 1;
    }
  })
  .finally(() => {
    if (!stop.exiting) void cleanup();
  });
