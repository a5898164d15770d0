// Multi-host benchmark: Weft against OVN 23.03 in the same lab and the same
// run. For each host count it builds a fresh lab per system (one system at
// a time, never concurrently: 2 cores), attaches endpoints one after the
// other, spread round-robin over the hosts, and measures
//
//   attach latency: t0 = spawn of the attach call (weft-cni ADD for Weft,
//     ovn-attach.sh / ovn-attach.js for OVN, all in the host's netns like a
//     CNI runtime runs a plugin),
//     t = the first ping reply from the new container's address to a probe
//     container on another host. The probes are endpoints #1 (host h1) and
//     #2 (host h2); endpoint #n goes to host ((n-1) mod H)+1 and is pinged
//     by probe #1, or by probe #2 when it is on h1. Pinging starts when the
//     attach call returns: `ping -c1 -w10 -i0.01` (a request every 10 ms
//     until the first reply).
//   OpenFlow flows per host on br-int (ovs-ofctl dump-flows) when the
//     cluster has 10 and 50 endpoints (and at the end; also at 25 and 75
//     for the fit flows = base + b*local + c*remote endpoints).
//   The steps inside each attach call (traced), their CPU, and the control
//   planes' CPU and memory.
//
// Prints figures and ratios; asserts nothing (docs/bench.md, "Multi-host:
// Weft vs OVN").
//
//   npx tsc -p tsconfig.json && node dist/bench/multihost.js
//   BENCH_HOSTS=3,10          host counts (each >= 2)
//   BENCH_ENDPOINTS=100       endpoints in the cluster at the end (>= 3)
//   BENCH_SYSTEMS=weft-overlay,weft-routed,ovn,ovn-node
//       weft-*: weft-cni's native front end and the host's CNI agent;
//       weft-overlay-node, weft-routed-node (not run by default): the Node plugin as a process per call
//       ovn: the OVN attach call is a bash script; ovn-node: a Node script
//       running the same commands through execFile (what a Node plugin
//       costs, as weft-cni is one)
//   BENCH_OVN_WAIT_INSTALLED=1  OVN attach waits for ovn-installed (0: returns after add-port)
//   BENCH_VERBOSE=1           print every attach
//   BENCH_DUMP_FLOWS=DIR      write h1's br-int flows at each snapshot to DIR/<system>-<H>h-<n>ep.txt
//   BENCH_TRACE=1             time the steps inside the attach calls (0: weft-cni runs without the tracer wrapper)
//   BENCH_PING_DEADLINE_S=10
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Container, cleanupAll, emuAvailable, pidRssKb } from '../test/helpers/emu-host';
import { runStatus } from '../test/helpers/emu/common';
import { repoRoot } from '../test/helpers/paths';
import { brIntFlows, Lab, OvnLab, stableFlows, WeftLab } from './multihost/labs';
import { ensureOvn } from './multihost/ovn';
import { cpuSeconds, intEnv, listEnv, machineJiffies, selfAndChildrenCpu, stop, checkStop, onStop, ms, now, pct, pingUntilReply, ratio, table } from './multihost/common';

const HOSTS = listEnv('BENCH_HOSTS', '3,10').map(Number);
const N = intEnv('BENCH_ENDPOINTS', 100, 3);
const SYSTEM_NAMES = ['weft-overlay', 'weft-routed', 'weft-overlay-node', 'weft-routed-node', 'ovn', 'ovn-node'];
const SYSTEMS = listEnv('BENCH_SYSTEMS', 'weft-overlay,weft-routed,ovn,ovn-node');
const OVN_WAIT_INSTALLED = intEnv('BENCH_OVN_WAIT_INSTALLED', 1, 0) === 1;
const VERBOSE = process.env.BENCH_VERBOSE === '1';
const TRACE = intEnv('BENCH_TRACE', 1, 0) === 1;
const DUMP_DIR = process.env.BENCH_DUMP_FLOWS ?? '';
const PING_DEADLINE_S = intEnv('BENCH_PING_DEADLINE_S', 10, 1);
/** Flow counts shown (per host, cluster at 10 and 50 endpoints, and at the end). */
const FLOW_POINTS = [10, 50].filter((x) => x < N).concat([N]);
/** Flow counts taken: also at 25 and 75, where round-robin leaves hosts with different local counts (for the fit). */
const SNAP_POINTS = [...new Set([...FLOW_POINTS, ...[25, 75].filter((x) => x < N)])].sort((a, b) => a - b);

for (const h of HOSTS) {
  if (!Number.isInteger(h) || h < 2 || h > 200) {
    console.error(`BENCH_HOSTS: ${h}: want integers 2..200`);
    process.exit(2);
  }
}
for (const s of SYSTEMS) {
  if (!SYSTEM_NAMES.includes(s)) {
    console.error(`BENCH_SYSTEMS: ${s}: want some of ${SYSTEM_NAMES.join(', ')}`);
    process.exit(2);
  }
}

const log = (s: string): void => console.log(s);

// ---------------------------------------------------------------------------

interface Sample {
  n: number;
  host: number;
  t0: number;
  /** attach call returned, ms after t0 (NaN on failure) */
  call: number;
  /** first ping reply, ms after t0 (NaN if none) */
  reply: number;
  seq: number | null;
  /** ms spent in each step (start, register, plumb, add-port, wait, exit, ping), when traced */
  steps?: Record<string, number>;
  /** CPU ms of the attach call: its own process and the commands it ran */
  cpu?: { self: number; children: number };
  error?: string;
}

interface FlowPoint {
  endpoints: number;
  /** per host: [flows, local endpoints] */
  perHost: [number, number][];
  /** Weft only: what the controller thinks it installed on h1 */
  controllerH1?: number;
}

interface Run {
  system: string;
  hosts: number;
  samples: Sample[];
  flows: FlowPoint[];
  setupMs: number;
  wallMs: number;
  cpu: Record<string, number>;
  rssKb: Record<string, number>;
  hostDaemonsCpu: number;
  benchCpu: number;
  machineBusyS: number;
  describe: string;
  baselines?: Record<string, number[]>;
  loadAvg: string;
}

/** Short hash of the .js files in a dist folder: which build of Weft a run measured. */
function buildHash(dir: string): string {
  const abs = path.join(repoRoot(), dir);
  try {
    const h = createHash('sha256');
    for (const f of fs.readdirSync(abs).filter((x) => x.endsWith('.js')).sort()) h.update(f).update(fs.readFileSync(path.join(abs, f)));
    return h.digest('hex').slice(0, 10);
  } catch {
    return '?';
  }
}


let current: Lab | undefined;
let tmpRoot = '';


function makeLab(system: string, hosts: number, dir: string): WeftLab | OvnLab {
  if (system.startsWith('ovn')) return new OvnLab({ hosts, dir, waitInstalled: OVN_WAIT_INSTALLED, attach: system === 'ovn-node' ? 'node' : 'sh' });
  return new WeftLab(system.startsWith('weft-routed') ? 'routed' : 'overlay', { hosts, dir, trace: TRACE, plugin: system.endsWith('-node') ? 'node' : 'agent' });
}

async function runOne(system: string, H: number): Promise<Run> {
  const dir = path.join(tmpRoot, `${system}-${H}`);
  const t = performance.now();
  const lab = makeLab(system, H, dir);
  current = lab;
  await lab.setup();
  const setupMs = performance.now() - t;
  log(`  ${system}, ${H} hosts: lab up in ${ms(setupMs)}`);
  const baselines = lab instanceof WeftLab && system === SYSTEMS.find((x) => x.startsWith('weft')) ? await lab.baselines(10) : undefined;
  const hostPids = lab.hosts.flatMap((h) => [h.pids.ovsVswitchd, h.pids.ovsdbServer]).filter((p): p is number => p !== null);
  const ctl0 = Object.fromEntries(Object.entries(lab.controlPids()).map(([k, ps]) => [k, ps.reduce((a, p) => a + cpuSeconds(p), 0)]));
  const host0 = hostPids.reduce((a, p) => a + cpuSeconds(p), 0);
  const bench0 = selfAndChildrenCpu();
  const m0 = machineJiffies();
  const tw = performance.now();
  const loadAvg = os.loadavg().map((x) => x.toFixed(1)).join(' ');
  const samples: Sample[] = [];
  const flows: FlowPoint[] = [];
  const probes: Container[] = [];
  const local = new Array<number>(H).fill(0);
  for (let n = 1; n <= N; n++) {
    checkStop();
    const hi = (n - 1) % H;
    const c = await Container.create(lab.hosts[hi]!, n <= 2 ? `p${n}` : `e${n}`, { prefix: lab.containerPrefix });
    const t0 = now();
    let s: Sample;
    try {
      const r = await lab.attach(n, hi, c);
      s = { n, host: hi, t0, call: r.tReturned - t0, reply: NaN, seq: null, cpu: r.cpu };
      if (r.marks) {
        s.steps = {};
        let prev = t0;
        for (const [k, at] of r.marks) {
          s.steps[k] = at - prev;
          prev = at;
        }
        s.steps.exit = r.tReturned - prev;
      }
      local[hi]!++;
      if (n >= 2) {
        const pinger = probes[hi === 0 ? 1 : 0]!;
        const p = await pingUntilReply(pinger, r.ip, PING_DEADLINE_S);
        s.seq = p.seq;
        if (p.ok) {
          s.reply = p.tEnd - t0;
          if (s.steps) s.steps.ping = p.tEnd - r.tReturned;
        } else {
          s.error = `no ping reply from ${r.ip} (${lab.hosts[hi]!.name}) to ${pinger.name} within ${PING_DEADLINE_S} s`;
          // what the control plane and the switches say now, then whether it is only slow
          const pingerIdx = hi === 0 ? 1 : 0;
          const file = path.join(os.tmpdir(), `weft-multihost-diag-${system}-${H}-${n}.txt`);
          const text = await lab.diagnose(n, r.ip, hi, pingerIdx).catch((e: Error) => `diagnose failed: ${e.message}`);
          const again = await pingUntilReply(pinger, r.ip, 5);
          fs.writeFileSync(file, `${s.error}\nping again right after (5 s deadline): ${again.ok ? `reply, echo #${again.seq}` : 'no reply'}\n${text}\n`);
          s.error += `; again 5 s later: ${again.ok ? `reply (echo #${again.seq})` : 'no reply'}; details in ${file}`;
        }
      }
    } catch (e) {
      s = { n, host: hi, t0, call: NaN, reply: NaN, seq: null, error: (e as Error).message };
    }
    if (n <= 2) probes.push(c);
    if (s.error) log(`    #${n} on ${lab.hosts[hi]!.name}: ${s.error}`);
    else if (VERBOSE || s.reply > 1000) {
      log(`    #${n} on ${lab.hosts[hi]!.name}${s.reply > 1000 ? ' (slow)' : ''}: call ${ms(s.call)}, reply ${ms(s.reply)}, echo #${s.seq ?? '-'}` +
        (s.steps ? ` (${Object.entries(s.steps).map(([k, v]) => `${k} ${ms(v)}`).join(', ')})` : '') +
        (s.cpu ? ` CPU ${ms(s.cpu.self)} + commands ${ms(s.cpu.children)}` : ''));
    }
    samples.push(s);
    if (SNAP_POINTS.includes(n)) {
      await lab.settle();
      const perHost: [number, number][] = [];
      for (const [i, h] of lab.hosts.entries()) perHost.push([i === 0 ? await stableFlows(h) : await brIntFlows(h), local[i]!]);
      if (DUMP_DIR) {
        fs.mkdirSync(DUMP_DIR, { recursive: true });
        fs.writeFileSync(path.join(DUMP_DIR, `${system}-${H}h-${n}ep.txt`), (await lab.hosts[0]!.dumpFlows()).join('\n') + '\n');
      }
      const fp: FlowPoint = { endpoints: n, perHost };
      if (lab instanceof WeftLab) fp.controllerH1 = await lab.controllerFlows(lab.hosts[0]!);
      flows.push(fp);
      const fl = perHost.map((x) => x[0]);
      if (FLOW_POINTS.includes(n)) log(`    ${n} endpoints: flows on h1 ${perHost[0]![0]} (${perHost[0]![1]} local), all hosts ${Math.min(...fl)}..${Math.max(...fl)}`);
    }
  }

  const wallMs = performance.now() - tw;
  const m1 = machineJiffies();
  const cpu: Record<string, number> = {};
  const rssKb: Record<string, number> = {};
  for (const [k, ps] of Object.entries(lab.controlPids())) {
    cpu[k] = ps.reduce((a, p) => a + cpuSeconds(p), 0) - (ctl0[k] ?? 0);
    rssKb[k] = ps.reduce((a, p) => a + pidRssKb(p), 0);
  }
  const run: Run = {
    system, hosts: H, samples, flows, setupMs, wallMs, cpu, rssKb,
    hostDaemonsCpu: hostPids.reduce((a, p) => a + cpuSeconds(p), 0) - host0,
    benchCpu: selfAndChildrenCpu() - bench0,
    machineBusyS: (m1.busy - m0.busy) / 100,
    describe: lab.describe(),
    baselines, loadAvg,
  };
  await lab.destroy();
  current = undefined;
  await cleanupAll(); // the containers (their netns went with the hosts' registry entries)
  return run;
}

// ---------------------------------------------------------------------------
// report

const okReplies = (xs: Sample[]): number[] => xs.filter((s) => Number.isFinite(s.reply)).map((s) => s.reply);
const FIRST = (s: Sample) => s.n >= 2 && s.n <= 10;
const LATE_FROM = N >= 100 ? 50 : Math.max(3, Math.ceil(N / 2));
const LATE = (s: Sample) => s.n >= LATE_FROM;

/** add-port returned -> first ping reply, ms, for each traced attach that got a reply. */
function afterAddPort(r: Run): number[] {
  return r.samples.filter((x) => x.n >= 2 && x.steps && Number.isFinite(x.reply)).map((x) => x.steps!.wait! + x.steps!.exit! + x.steps!.ping!);
}

/** p50 of one traced step over the measured attaches. */
function stepP50(r: Run, step: string): number {
  return pct(r.samples.filter((x) => x.n >= 2 && x.steps?.[step] !== undefined).map((x) => x.steps![step]!), 50);
}

function latencyRows(runs: Run[]): string[][] {
  return runs.map((r) => {
    const a = okReplies(r.samples.filter(FIRST));
    const b = okReplies(r.samples.filter(LATE));
    const all = okReplies(r.samples.filter((s) => s.n >= 2));
    const calls = r.samples.filter((s) => s.n >= 2 && Number.isFinite(s.call)).map((s) => s.call);
    const lost = r.samples.filter((s) => s.seq !== null && s.seq > 1).length;
    const fail = r.samples.filter((s) => s.error).length;
    return [r.system, ms(pct(a, 50)), ms(pct(a, 99)), ms(pct(b, 50)), ms(pct(b, 99)), ms(pct(all, 50)), ms(pct(all, 99)), ms(pct(calls, 50)),
      String(lost), String(fail)];
  });
}

/** p50 of the reply latency per group of 10 endpoints: the flatness view. */
function decileRows(runs: Run[]): { head: string[]; rows: string[][] } {
  const groups: [number, number][] = [];
  for (let lo = 1; lo <= N; lo += 10) groups.push([lo, Math.min(N, lo + 9)]);
  const head = ['system', ...groups.map(([lo, hi]) => `${lo === 1 ? 2 : lo}-${hi}`)];
  const rows = runs.map((r) => [r.system, ...groups.map(([lo, hi]) => ms(pct(okReplies(r.samples.filter((s) => s.n >= Math.max(2, lo) && s.n <= hi)), 50)))]);
  return { head, rows };
}

/**
 * Least-squares fit flows = a + b * local + c * remote over every host and
 * every snapshot of a run (remote = endpoints on other hosts).
 */
function fitFlows(r: Run): { a: number; b: number; c: number } | null {
  const pts: [number, number, number][] = [];
  for (const fp of r.flows) for (const [f, l] of fp.perHost) pts.push([f, l, fp.endpoints - l]);
  if (pts.length < 4) return null;
  // normal equations for [1, l, m]
  const X = pts.map(([, l, m]) => [1, l, m]);
  const y = pts.map(([f]) => f);
  const A = [0, 1, 2].map((i) => [0, 1, 2].map((j) => X.reduce((s, x) => s + x[i]! * x[j]!, 0)));
  const v = [0, 1, 2].map((i) => X.reduce((s, x, k) => s + x[i]! * y[k]!, 0));
  const det = (M: number[][]) => M[0]![0]! * (M[1]![1]! * M[2]![2]! - M[1]![2]! * M[2]![1]!) - M[0]![1]! * (M[1]![0]! * M[2]![2]! - M[1]![2]! * M[2]![0]!) + M[0]![2]! * (M[1]![0]! * M[2]![1]! - M[1]![1]! * M[2]![0]!);
  const d = det(A);
  if (Math.abs(d) < 1e-9) return null;
  const col = (k: number) => A.map((row, i) => row.map((x, j) => (j === k ? v[i]! : x)));
  return { a: det(col(0)) / d, b: det(col(1)) / d, c: det(col(2)) / d };
}

function flowRows(runs: Run[]): { head: string[]; rows: string[][] } {
  const head = ['system', ...FLOW_POINTS.map((p) => `h1 @${p} ep (local)`), ...FLOW_POINTS.map((p) => `mean/host @${p}`), 'fit: base', '+/local ep', '+/remote ep'];
  const rows = runs.map((r) => {
    const at = (p: number) => r.flows.find((f) => f.endpoints === p);
    const fit = fitFlows(r);
    return [
      r.system,
      ...FLOW_POINTS.map((p) => { const f = at(p); return f ? `${f.perHost[0]![0]} (${f.perHost[0]![1]})` : '-'; }),
      ...FLOW_POINTS.map((p) => { const f = at(p); return f ? (f.perHost.reduce((a, x) => a + x[0], 0) / f.perHost.length).toFixed(0) : '-'; }),
      fit ? fit.a.toFixed(0) : '-', fit ? fit.b.toFixed(1) : '-', fit ? fit.c.toFixed(2) : '-',
    ];
  });
  return { head, rows };
}

function meanFlows(r: Run | undefined, p: number): number {
  const f = r?.flows.find((x) => x.endpoints === p);
  return f ? f.perHost.reduce((a, x) => a + x[0], 0) / f.perHost.length : NaN;
}

function report(H: number, runs: Run[]): void {
  log('');
  log(`=== ${H} hosts, ${N} endpoints (round-robin; #1 and #2 are the probes on h1 and h2) ===`);
  for (const r of runs) log(`  ${r.describe}`);
  log('');
  log(`attach latency: attach call spawned -> first ping reply on another host (first = endpoints #2-#10, late = #${LATE_FROM}-#${N})`);
  log(table(['system', 'first p50', 'first p99', 'late p50', 'late p99', 'all p50', 'all p99', 'call returned p50', 'echo #1 lost', 'failed'], latencyRows(runs)));
  for (const r of runs.filter((x) => x.baselines)) {
    log('');
    log(`fixed costs in a host netns (${r.system} lab, 10 runs each; what a Node plugin pays and a shell one does not)`);
    log(table(['', 'p50', 'p99'], Object.entries(r.baselines!).map(([k, v]) => [k, ms(pct(v, 50)), ms(pct(v, 99))])));
  }
  const traced = runs.filter((r) => r.samples.some((x) => x.steps));
  if (traced.length) {
    log('');
    log('where the time goes, p50 of each step over all attaches (ms; traced inside the call):');
    log('  start = spawn -> plugin code runs (Node start for weft-cni, bash for ovn-attach.sh); register = POST /v1/endpoints | NB lsp-add;');
    log('  plumb = veth + container config + host end up (the same commands on both); add-port = ovs-vsctl add-port;');
    log('  wait = link check + until ready (Weft: flows confirmed on every host) | ovn-installed (this host); exit = plugin exit -> runtime sees it;');
    log('  ping = call returned -> first reply; after add-port = add-port returned -> first reply (the control plane\'s own part)');
    const steps = ['start', 'register', 'plumb', 'add-port', 'wait', 'exit', 'ping'];
    const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
    log(table(['system', ...steps, 'after add-port p50', 'after add-port p99', 'CPU/call: plugin', 'its commands'], traced.map((r) => {
      const ss = r.samples.filter((x) => x.n >= 2 && x.steps && Number.isFinite(x.reply));
      const after = afterAddPort(r);
      const cs = r.samples.filter((x) => x.cpu);
      return [r.system, ...steps.map((k) => ms(pct(ss.map((x) => x.steps![k]!).filter(Number.isFinite), 50))), ms(pct(after, 50)), ms(pct(after, 99)),
        ms(mean(cs.map((x) => x.cpu!.self))), ms(mean(cs.map((x) => x.cpu!.children)))];
    })));
    log('  CPU/call = mean utime+stime of the attach process itself and of the commands it ran (ip, nsenter, ethtool, ovs-vsctl, ovn-nbctl), 10 ms ticks');
  }
  log('');
  const d = decileRows(runs);
  log('reply latency p50 by endpoint number (flatness)');
  log(table(d.head, d.rows));
  log('');
  const f = flowRows(runs);
  log('OpenFlow flows on br-int (ovs-ofctl dump-flows), after the control plane settled; fit over every host and snapshot: flows = base + b*local + c*remote endpoints');
  log(table(f.head, f.rows));
  for (const r of runs) {
    const c = r.flows.map((fp) => fp.controllerH1).filter((x): x is number => x !== undefined);
    if (c.length) log(`  ${r.system}: Weft's own flow-stats for h1 at the same points: ${c.join(', ')}`);
  }
  log('');
  log('resources over the attach phase (CPU seconds; host daemons = every host\'s ovsdb-server + ovs-vswitchd)');
  log(table(['system', 'load avg before', 'wall', 'control plane CPU', 'control plane RSS', 'host daemons CPU', 'bench+plugins+ping CPU', 'machine busy'], runs.map((r) => [
    r.system, r.loadAvg, ms(r.wallMs),
    Object.entries(r.cpu).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', '),
    Object.entries(r.rssKb).map(([k, v]) => `${k} ${(v / 1024).toFixed(0)} MiB`).join(', '),
    r.hostDaemonsCpu.toFixed(2), r.benchCpu.toFixed(2), `${r.machineBusyS.toFixed(1)} (${((100 * r.machineBusyS * 1000) / r.wallMs / os.cpus().length).toFixed(0)}%)`,
  ])));
  const weft = runs.filter((r) => r.system.startsWith('weft'));
  const ovns = runs.filter((r) => r.system.startsWith('ovn'));
  if (weft.length && ovns.length) {
    log('');
    log('ratios OVN / Weft (latency: > 1 = Weft faster, target >= 3x; flows: > 1 = Weft has fewer, target >= 3x; reported, not asserted)');
    const rows: string[][] = [];
    const lat = (r: Run, sel: (s: Sample) => boolean, p: number) => pct(okReplies(r.samples.filter(sel)), p);
    for (const o of ovns) {
      for (const w of weft) {
        rows.push([
          `${o.system} / ${w.system}`,
          ratio(lat(o, FIRST, 50), lat(w, FIRST, 50)), ratio(lat(o, FIRST, 99), lat(w, FIRST, 99)),
          ratio(lat(o, LATE, 50), lat(w, LATE, 50)), ratio(lat(o, LATE, 99), lat(w, LATE, 99)),
          ratio(pct(afterAddPort(o), 50), pct(afterAddPort(w), 50)),
          ratio(stepP50(o, 'wait'), stepP50(w, 'wait')),
          ...FLOW_POINTS.map((p) => ratio(meanFlows(o, p), meanFlows(w, p))),
        ]);
      }
    }
    log(table(['ratio', 'first p50', 'first p99', 'late p50', 'late p99', 'after add-port p50', 'wait p50', ...FLOW_POINTS.map((p) => `flows/host @${p}`)], rows));
    log('  wait = add-port returned -> Weft reports the endpoint ready (flows confirmed on every host) | ovn-controller sets ovn-installed (its own host only)');
  }
}

// ---------------------------------------------------------------------------

let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    try {
      await current?.destroy();
    } catch (e) {
      console.error(`cleanup: ${(e as Error).message}`);
    }
    try {
      await cleanupAll();
    } catch (e) {
      console.error(`cleanup: ${(e as Error).message}`);
    }
    if (tmpRoot) fs.rmSync(tmpRoot, { recursive: true, force: true });
  })();
  return cleaning;
}

async function main(): Promise<void> {
  if (!(await emuAvailable())) {
    console.error('multihost bench: needs root and the OVS binaries (ovsdb-server, ovs-vswitchd, ovs-vsctl, ovs-ofctl, ethtool)');
    process.exitCode = 1;
    return;
  }
  if (SYSTEMS.some((x) => x.startsWith('ovn'))) await ensureOvn(log);
  // /tmp/weft-emu* so that `mininet/hostlab cleanup` (sweepLeftovers) finds what a crashed run left
  tmpRoot = fs.mkdtempSync('/tmp/weft-emu-mhb-');
  const ver = async (cmd: string) => (await runStatus(cmd, ['--version'])).stdout.split('\n')[0]?.trim() ?? '?';
  log(`Multi-host attach latency and flows: ${SYSTEMS.join(', ')}; hosts ${HOSTS.join(', ')}; ${N} endpoints`);
  log(`${await ver('ovs-vswitchd')} (userspace datapath)${SYSTEMS.some((x) => x.startsWith('ovn')) ? `, ${await ver('ovn-controller')}, ${await ver('ovn-northd')}` : ''}`);
  log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, node ${process.version}, ${new Date().toISOString().slice(0, 19)}Z, load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  log(`weft build: weft-cni ${buildHash('dist/northbound/cni')}, controller ${buildHash('dist/controller')} (sha256 of the compiled files; other work changes them)`);
  log('each system gets a fresh lab (own underlay, hosts, control plane), one system at a time');
  const all: Run[] = [];
  for (const H of HOSTS) {
    const runs: Run[] = [];
    for (const s of SYSTEMS) {
      checkStop();
      runs.push(await runOne(s, H));
    }
    all.push(...runs);
    report(H, runs);
  }
  if (HOSTS.length > 1) {
    log('');
    log('=== summary ===');
    log(table(['hosts', 'system', 'first p50', 'first p99', 'late p50', 'late p99', 'after add-port p50', ...FLOW_POINTS.map((p) => `flows/host @${p}`)],
      all.map((r) => {
        const [, fp50, fp99, lp50, lp99] = latencyRows([r])[0]!;
        return [String(r.hosts), r.system, fp50!, fp99!, lp50!, lp99!, ms(pct(afterAddPort(r), 50)), ...FLOW_POINTS.map((p) => { const m = meanFlows(r, p); return Number.isFinite(m) ? m.toFixed(0) : '-'; })];
      })));
  }
  log(`load average at the end ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
}

onStop('multihost bench', cleanup);

main()
  .catch((e: unknown) => {
    if (!stop.exiting) {
      console.error(`multihost bench failed: ${(e as Error).stack ?? String(e)}`);
      process.exitCode = 1;
    }
  })
  .finally(() => cleanup());
