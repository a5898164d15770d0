// Controller benchmark in the spirit of cbench (OpenFlow 1.3): emulated
// switches send PACKET_INs between learned MACs to a learning-switch
// controller and count the FLOW_MODs and PACKET_OUTs that come back.
//
//   throughput mode: a window of packet-ins in flight per switch, refilled
//                    as answers arrive; figure = answered packet-ins/s
//   latency mode:    one packet-in in flight per switch; answered/s and the
//                    round-trip time
//
// Weft's learning app and the os-ken peer (bench/osken-simple-switch-13.py)
// run one after the other in the same run, each started fresh, each pinned to
// its own core while the generator keeps the other; the generator prints its
// own CPU use so a generator-bound figure cannot pass for a controller's.
// Prints figures; asserts nothing.
//
//   node dist/bench/cbench.js [--switches 16] [--seconds 2] [--rounds 5] [--warmup 2]
//     [--window 128] [--macs 100] [--ports 4] [--only weft|osken]
//     [--mode both|throughput|latency] [--no-pin] [--verbose] [--profile DIR]
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { EmuSwitch, Recorder, PI_LEN, MAX_WINDOW } from './cbench/switch';
import { Histogram, LatencySummary } from './cbench/histogram';
import { ControllerProcess, ControllerSpec, killAll, pinSelf, machineCpuSeconds } from './cbench/controllers';

interface Config {
  switches: number;
  seconds: number;
  rounds: number;
  warmup: number;
  window: number;
  macs: number;
  ports: number;
  only?: 'weft' | 'osken';
  modes: ('throughput' | 'latency')[];
  pin: boolean;
  verbose: boolean;
  profileDir?: string;
}

interface Row {
  controller: string;
  mode: 'throughput' | 'latency';
  window: number;
  /** best round */
  answeredPerSec: number;
  /** answered/s of every round */
  rounds: number[];
  flowModsPerSec: number;
  packetOutsPerSec: number;
  lat: LatencySummary;
  genCpu: number;
  ctlCpu: number;
  /** everything else on the machine (other processes, kernel, steal), % of one core */
  otherCpu: number;
  /** slowest and fastest switch, answered/s */
  perSwitch: [number, number];
  mismatches: number;
  lost: number;
  errors: number;
  undrained: number;
}

const ROOT = path.resolve(__dirname, '..', '..'); // dist/bench -> repository root
const GEN_CORE = 0;
const CTL_CORE = 1;
const LOST_AFTER_MS = 3000;
const GEN_CPU_WARN = 85;
/**
 * A round is clean when the controller had its core (>= CLEAN_CTL_CPU %: it
 * was the bottleneck) or the rest of the machine stayed below
 * CLEAN_OTHER_CPU % of a core; others are marked disturbed.
 */
const CLEAN_CTL_CPU = 95;
const CLEAN_OTHER_CPU = 10;
const CLEAN_WANTED = 2;
const isClean = (r: Row) => r.ctlCpu >= CLEAN_CTL_CPU || r.otherCpu < CLEAN_OTHER_CPU;
/** From the issue: Weft should answer this many times as many packet-ins/s as os-ken. */
const TARGET = { throughput: 25, latency: 10 } as const;

function usage(msg?: string): never {
  if (msg) process.stderr.write(`cbench: ${msg}\n`);
  process.stderr.write('usage: node dist/bench/cbench.js [--switches N] [--seconds S] [--rounds R] [--warmup S] [--window W] [--macs M] [--ports P] [--only weft|osken] [--mode both|throughput|latency] [--no-pin] [--verbose] [--profile DIR]\n');
  process.exit(2);
}

function parseConfig(argv: string[]): Config {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv, strict: true, allowPositionals: false,
      options: {
        switches: { type: 'string' }, seconds: { type: 'string' }, rounds: { type: 'string' }, warmup: { type: 'string' }, window: { type: 'string' },
        macs: { type: 'string' }, ports: { type: 'string' }, only: { type: 'string' }, mode: { type: 'string' },
        'no-pin': { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' }, profile: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    usage((e as Error).message);
  }
  if (values.help) usage();
  const num = (name: string, v: string | undefined, env: string, dflt: number, min: number): number => {
    const s = v ?? process.env[env];
    if (s === undefined || s === '') return dflt;
    const n = Number(s);
    if (!Number.isFinite(n) || n < min) usage(`--${name}: "${s}" is not a number >= ${min}`);
    return n;
  };
  const only = values.only;
  if (only !== undefined && only !== 'weft' && only !== 'osken') usage(`--only: "${only}" is not weft or osken`);
  const mode = values.mode ?? 'both';
  if (!['both', 'throughput', 'latency'].includes(mode)) usage(`--mode: "${mode}" is not both, throughput or latency`);
  const window = Math.floor(num('window', values.window, 'CBENCH_WINDOW', 128, 1));
  if (window > MAX_WINDOW) usage(`--window: at most ${MAX_WINDOW} packet-ins in flight per switch`);
  return {
    switches: Math.floor(num('switches', values.switches, 'CBENCH_SWITCHES', 16, 1)),
    seconds: num('seconds', values.seconds, 'CBENCH_SECONDS', 2, 0.1),
    rounds: Math.floor(num('rounds', values.rounds, 'CBENCH_ROUNDS', 5, 1)),
    warmup: num('warmup', values.warmup, 'CBENCH_WARMUP', 2, 0),
    window,
    macs: Math.floor(num('macs', values.macs, 'CBENCH_MACS', 100, 2)),
    ports: Math.floor(num('ports', values.ports, 'CBENCH_PORTS', 4, 2)),
    only,
    modes: mode === 'both' ? ['throughput', 'latency'] : [mode as 'throughput' | 'latency'],
    pin: !values['no-pin'],
    verbose: !!values.verbose,
    profileDir: values.profile ? path.resolve(values.profile) : undefined,
  };
}

function controllers(cfg: Config): ControllerSpec[] {
  const specs: ControllerSpec[] = [];
  if (cfg.only !== 'osken') {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cbench-weft-'));
    scratch.push(tmp);
    const prof = cfg.profileDir ? ['--cpu-prof', '--cpu-prof-dir', cfg.profileDir] : [];
    specs.push({
      name: 'weft', command: process.execPath, cwd: ROOT, cleanup: [tmp],
      args: (p) => [...prof, path.join(ROOT, 'dist/northbound/cli/weft.js'), 'controller', '--apps', 'learning',
        '--of-host', '127.0.0.1', '--of-port', String(p), '--api-port', '0', '--db', path.join(tmp, 'weft.db'), '--log-level', 'warn'],
    });
  }
  if (cfg.only !== 'weft') {
    specs.push({
      name: 'os-ken', command: 'osken-manager', cwd: ROOT,
      args: (p) => ['--ofp-listen-host', '127.0.0.1', '--ofp-tcp-listen-port', String(p),
        path.join(ROOT, 'bench/osken-simple-switch-13.py'), '--default-log-level', '30'],
    });
  }
  return specs;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `cond` every `everyMs` (running `tick` each time) until true or the timeout; returns whether it held. */
async function waitFor(cond: () => boolean, timeoutMs: number, everyMs = 20, tick?: () => void): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(everyMs);
    tick?.();
  }
  return true;
}

interface Snap {
  t: number;
  cpu: NodeJS.CpuUsage;
  ctl: number;
  machine: number;
  answered: number[];
  flowMods: number;
  packetOuts: number;
  mismatches: number;
  lost: number;
  errors: number;
}

function snap(sw: EmuSwitch[], ctl: ControllerProcess): Snap {
  const sum = (f: (s: EmuSwitch) => number) => sw.reduce((a, s) => a + f(s), 0);
  return {
    t: performance.now(), cpu: process.cpuUsage(), ctl: ctl.cpuSeconds(), machine: machineCpuSeconds().busy, answered: sw.map((s) => s.answered),
    flowMods: sum((s) => s.flowMods), packetOuts: sum((s) => s.packetOuts), mismatches: sum((s) => s.mismatches),
    lost: sum((s) => s.lost), errors: sum((s) => s.errors),
  };
}

function fail(ctl: ControllerProcess, sw: EmuSwitch[], what: string): never {
  const closed = sw.filter((s) => s.closed).map((s) => `s${s.index}: ${s.closeReason}`);
  throw new Error(`${ctl.spec.name}: ${what}${closed.length ? `\nclosed switches: ${closed.slice(0, 4).join('; ')}` : ''}${ctl.running ? '' : '\ncontroller exited'}\n${ctl.output()}`);
}

/** One measured window [a, b]; correctness counters are filled in over all rounds by the caller. */
function windowRow(name: string, mode: Row['mode'], window: number, a: Snap, b: Snap, lat: LatencySummary): Row {
  const dt = (b.t - a.t) / 1000;
  const perSwitch = b.answered.map((n, i) => (n - a.answered[i]) / dt);
  const cpuUs = (b.cpu.user - a.cpu.user) + (b.cpu.system - a.cpu.system);
  return {
    controller: name, mode, window, answeredPerSec: perSwitch.reduce((x, y) => x + y, 0), rounds: [],
    flowModsPerSec: (b.flowMods - a.flowMods) / dt, packetOutsPerSec: (b.packetOuts - a.packetOuts) / dt,
    lat, genCpu: (cpuUs / 1e6 / dt) * 100, ctlCpu: ((b.ctl - a.ctl) / dt) * 100,
    otherCpu: Math.max(0, ((b.machine - a.machine) - (b.ctl - a.ctl) - cpuUs / 1e6) / dt) * 100,
    perSwitch: [Math.min(...perSwitch), Math.max(...perSwitch)],
    mismatches: 0, lost: 0, errors: 0, undrained: 0,
  };
}

/**
 * Warm up, then measure back-to-back windows of `seconds` and keep the best
 * one. On a shared machine a round that other processes disturbed can only be
 * slower, never faster, so disturbed rounds (see isClean) do not count when a
 * clean one exists, and up to 3 x `rounds` rounds are run to get at least
 * CLEAN_WANTED clean ones. Every round is listed; correctness counters cover
 * all of them.
 */
async function measure(name: string, mode: Row['mode'], cfg: Config, sw: EmuSwitch[], ctl: ControllerProcess, rec: Recorder): Promise<Row> {
  const window = mode === 'latency' ? 1 : cfg.window;
  for (const s of sw) s.run(window);
  await sleep(cfg.warmup * 1000);
  const first = snap(sw, ctl);
  const rows: Row[] = [];
  const clean = () => rows.filter(isClean);
  let a = first;
  while (rows.length < cfg.rounds || (clean().length < Math.min(CLEAN_WANTED, cfg.rounds) && rows.length < 3 * cfg.rounds)) {
    rec.hist.reset();
    rec.on = true;
    await sleep(cfg.seconds * 1000);
    rec.on = false;
    const b = snap(sw, ctl);
    const r = windowRow(name, mode, window, a, b, rec.hist.summary());
    rows.push(r);
    process.stdout.write(`#   ${name} ${mode} round ${rows.length}: ${fmtInt(r.answeredPerSec)} answered/s, p50 ${fmtUs(r.lat.p50Us)}, ` +
      `CPU gen ${r.genCpu.toFixed(0)}% ctl ${r.ctlCpu.toFixed(0)}% other ${r.otherCpu.toFixed(0)}%${isClean(r) ? '' : ' (disturbed)'}, ` +
      `ctl RSS ${ctl.rssMiB().toFixed(0)} MiB\n`);
    a = snap(sw, ctl);
  }
  for (const s of sw) s.stopSending();
  const drained = await waitFor(() => sw.every((s) => s.outstanding === 0 || s.closed), 2 * LOST_AFTER_MS + 1000, 20);
  if (sw.some((s) => s.closed) || !ctl.running) fail(ctl, sw, `connection lost during the ${mode} run`);
  const last = snap(sw, ctl);
  const pool = clean().length ? clean() : rows;
  const best = pool.reduce((x, y) => (y.answeredPerSec > x.answeredPerSec ? y : x));
  best.rounds = rows.map((r) => r.answeredPerSec);
  best.mismatches = last.mismatches - first.mismatches;
  best.lost = last.lost - first.lost;
  best.errors = last.errors - first.errors;
  best.undrained = drained ? 0 : sw.reduce((x, s) => x + s.outstanding, 0);
  return best;
}

async function benchOne(spec: ControllerSpec, cfg: Config): Promise<Row[]> {
  process.stdout.write(`# ${spec.name}: starting ... `);
  const t0 = performance.now();
  const ctl = await ControllerProcess.start(spec, cfg.pin ? CTL_CORE : undefined);
  process.stdout.write(`pid ${ctl.pid}, port ${ctl.port}, listening after ${Math.round(performance.now() - t0)} ms\n`);
  const rec: Recorder = { on: false, hist: new Histogram() };
  const sw = Array.from({ length: cfg.switches }, (_, i) => new EmuSwitch(i, cfg.macs, cfg.ports, rec));
  const reclaim = setInterval(() => { for (const s of sw) s.reclaimLost(LOST_AFTER_MS); }, 250);
  try {
    await Promise.all(sw.map((s) => s.connect('127.0.0.1', ctl.port)));
    if (!await waitFor(() => sw.every((s) => s.ready), 20000)) fail(ctl, sw, `handshake incomplete (${sw.filter((s) => s.ready).length}/${sw.length} switches ready)`);
    // learning phase: every MAC sends a broadcast until the controller has answered it
    for (const s of sw) s.learn();
    if (!await waitFor(() => sw.every((s) => s.learnedAll), 30000, 300, () => { for (const s of sw) if (!s.learnedAll) s.learn(); })) {
      fail(ctl, sw, `learning incomplete (${sw.reduce((a, s) => a + s.learnedCount, 0)}/${cfg.switches * cfg.macs} MACs)`);
    }
    const learnMismatch = sw.reduce((a, s) => a + s.mismatches, 0);
    process.stdout.write(`# ${spec.name}: ${cfg.switches} switches connected, ${cfg.switches * cfg.macs} MACs learned` +
      `${learnMismatch ? `, ${learnMismatch} learning answers NOT flooded` : ''}\n`);
    const rows: Row[] = [];
    for (const mode of cfg.modes) {
      const r = await measure(spec.name, mode, cfg, sw, ctl, rec);
      rows.push(r);
    }
    if (cfg.verbose) {
      process.stdout.write(`# ${spec.name}: per switch (whole run, learning included): dpid sent answered flow-mods packet-outs mismatches lost\n`);
      for (const s of sw) process.stdout.write(`#   ${s.dpid} ${s.sent} ${s.answered} ${s.flowMods} ${s.packetOuts} ${s.mismatches} ${s.lost}\n`);
    }
    const errs = [...new Set(sw.flatMap((s) => s.errorSamples))];
    if (errs.length) process.stdout.write(`# ${spec.name}: OFPT_ERROR received: ${errs.join(', ')}\n`);
    return rows;
  } finally {
    clearInterval(reclaim);
    for (const s of sw) s.close();
    await ctl.stop();
    process.stdout.write(`# ${spec.name}: stopped (pid ${ctl.pid} gone)\n`);
  }
}

const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const fmtK = (n: number) => (n >= 10000 ? `${Math.round(n / 1000)}k` : n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(Math.round(n)));
const fmtUs = (n: number) => (n === Infinity ? '>10s' : Number.isFinite(n) ? (n >= 1000 ? `${(n / 1000).toFixed(1)}ms` : `${Math.round(n)}µs`) : '-');

function table(rows: Row[]): string {
  const head = ['controller', 'mode', 'window', 'answered/s', 'p50', 'p99', 'mean', 'flow-mods/s', 'pkt-outs/s', 'rounds: min..max/s', 'switch min..max/s', 'gen CPU', 'ctl CPU', 'other CPU', 'mismatch', 'lost'];
  const body = rows.map((r) => [
    r.controller, r.mode, String(r.window), fmtInt(r.answeredPerSec), fmtUs(r.lat.p50Us), fmtUs(r.lat.p99Us), fmtUs(r.lat.meanUs),
    fmtInt(r.flowModsPerSec), fmtInt(r.packetOutsPerSec), `${r.rounds.length}: ${fmtK(Math.min(...r.rounds))}..${fmtK(Math.max(...r.rounds))}`, `${fmtInt(r.perSwitch[0])}..${fmtInt(r.perSwitch[1])}`,
    `${r.genCpu.toFixed(0)}%`, `${r.ctlCpu.toFixed(0)}%`, `${r.otherCpu.toFixed(0)}%`, String(r.mismatches), String(r.lost + r.undrained),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i < 2 ? x.padEnd(w[i]) : x.padStart(w[i]))).join('  ');
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...body.map(line)].join('\n');
}

async function main(): Promise<number> {
  const cfg = parseConfig(process.argv.slice(2));
  const cores = os.cpus().length;
  if (cfg.pin && cores < 2) cfg.pin = false;
  const pinned = cfg.pin && pinSelf(GEN_CORE);
  if (cfg.pin && !pinned) cfg.pin = false;
  if (!fs.existsSync(path.join(ROOT, 'dist/northbound/cli/weft.js'))) {
    process.stderr.write('cbench: dist/northbound/cli/weft.js missing: run `npx tsc -p tsconfig.json` first\n');
    return 2;
  }
  console.log(`# cbench-style OpenFlow 1.3 controller benchmark — ${new Date().toISOString()}`);
  console.log(`# ${os.cpus()[0]?.model ?? 'cpu'} x${cores}, node ${process.version}; ` +
    (pinned ? `generator pinned to core ${GEN_CORE}, controller to core ${CTL_CORE}` : 'no CPU pinning'));
  console.log(`# ${cfg.switches} switches x ${cfg.macs} MACs on ${cfg.ports} ports; packet-in ${PI_LEN} bytes (NO_BUFFER, ` +
    `60-byte frame); per mode ${cfg.warmup} s warm-up, then the best of >= ${cfg.rounds} x ${cfg.seconds} s rounds (clean ones first); throughput window ${cfg.window}/switch, latency window 1/switch`);
  const rows: Row[] = [];
  const specs = controllers(cfg);
  for (const spec of specs) {
    try {
      rows.push(...await benchOne(spec, cfg));
    } catch (e) {
      process.stdout.write(`# ${spec.name}: FAILED: ${(e as Error).message}\n`);
    }
  }
  console.log('');
  console.log(table(rows));
  const get = (c: string, m: string) => rows.find((r) => r.controller === c && r.mode === m);
  console.log('');
  for (const mode of cfg.modes) {
    const w = get('weft', mode); const o = get('os-ken', mode);
    if (w && o) {
      console.log(`ratio weft/os-ken, ${mode.padEnd(10)}: ${(w.answeredPerSec / o.answeredPerSec).toFixed(1)}x answered packet-ins/s ` +
        `(target >= ${TARGET[mode]}x, reported, not asserted)`);
    }
  }
  for (const r of rows) {
    if (r.genCpu >= GEN_CPU_WARN) {
      console.log(`WARNING: generator used ${r.genCpu.toFixed(0)}% of a core during ${r.controller} ${r.mode}: it may be the bottleneck; that figure is a lower bound`);
    } else if (r.mode === 'throughput' && r.ctlCpu < 85) {
      console.log(`note: ${r.controller} throughput run used ${r.ctlCpu.toFixed(0)}% of its core: not saturated (try a larger --window)`);
    }
    if (!isClean(r)) console.log(`note: no clean round for ${r.controller} ${r.mode}: other processes used ${r.otherCpu.toFixed(0)}% of a core, the controller ${r.ctlCpu.toFixed(0)}%; figures may be low`);
    if (r.mismatches) console.log(`WARNING: ${r.controller} ${r.mode}: ${r.mismatches} packet-outs did not output to the destination's port`);
    if (r.lost || r.undrained) console.log(`WARNING: ${r.controller} ${r.mode}: ${r.lost} packet-ins unanswered after ${LOST_AFTER_MS} ms, ${r.undrained} still in flight at the end`);
    if (r.errors) console.log(`WARNING: ${r.controller} ${r.mode}: ${r.errors} OFPT_ERROR messages received`);
  }
  console.log(`(answers checked: every PACKET_OUT's first action against the destination MAC's port; CPU = % of one core over the measured seconds: gen = this process, ctl = the controller's /proc/<pid>/stat, other = rest of the machine)`);
  return rows.length === specs.length * cfg.modes.length ? 0 : 1;
}

/** Scratch directories (Weft's database); removed however the run ends. */
const scratch: string[] = [];
process.on('exit', () => {
  killAll();
  for (const d of scratch) fs.rmSync(d, { force: true, recursive: true });
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { killAll(); process.exit(130); });

main().then((code) => process.exit(code), (e: Error) => {
  process.stderr.write(`cbench: ${e.stack ?? e.message}\n`);
  killAll();
  process.exit(1);
});
