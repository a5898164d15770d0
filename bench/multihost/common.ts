// Shared pieces of the multi-host benchmark (bench/multihost.ts): timing,
// percentiles, tables, CPU/RSS readings, pinging until the first reply;
// the other benches take their percentiles, means and seeded PRNG from here.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { runStatus } from '../../test/helpers/emu/common';
import type { Container } from '../../test/helpers/emu-host';

/** Wall clock in ms with sub-ms resolution, comparable across processes (epoch based). */
export const now = (): number => performance.timeOrigin + performance.now();

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Nearest-rank percentile (NaN for no data). */
export function pct(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A seeded PRNG (mulberry32): a run's random choices repeat for the same seed (BENCH_SEED). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function ms(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (Math.abs(x) >= 10_000) return `${(x / 1000).toFixed(1)} s`;
  if (Math.abs(x) >= 100) return `${x.toFixed(0)} ms`;
  return `${x.toFixed(1)} ms`;
}

export function ratio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '-';
  const r = a / b;
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}x`;
}

export function table(head: string[], rows: string[][], align: ('l' | 'r')[] = []): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => ((align[i] ?? (i === 0 ? 'l' : 'r')) === 'l' ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ').trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('  '), ...rows.map(line)].join('\n');
}

const CLK_TCK = 100; // USER_HZ

/** utime + stime of a process in seconds (0 if it is gone). */
export function cpuSeconds(pid: number | null | undefined): number {
  if (!pid) return 0;
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** Busy and total jiffies of the whole machine (/proc/stat). */
/** This process plus its reaped children (plugins, ping, ip, ovs-vsctl ...), CPU seconds. */
export function selfAndChildrenCpu(): number {
  const s = fs.readFileSync('/proc/self/stat', 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / CLK_TCK;
}

/** Stop state shared by a benchmark: SIGINT/SIGTERM or a crash clean up once, then exit. */
export const stop = { exiting: false };

export function checkStop(): void {
  if (stop.exiting) throw new Error('interrupted');
}

/**
 * Clean up once on SIGINT/SIGTERM or an uncaught error. An interrupted plugin
 * run can also leave an unhandled EPIPE on its stdin (the runtime helper does
 * not listen for it): such errors are ignored once stopping.
 */
export function onStop(name: string, cleanup: () => Promise<void>): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stop.exiting) return;
      stop.exiting = true;
      console.error(`\n${sig}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  process.on('uncaughtException', (e) => {
    if (stop.exiting) return;
    stop.exiting = true;
    console.error(`${name} crashed: ${e.stack ?? String(e)}`);
    void cleanup().finally(() => process.exit(1));
  });
}

export function machineJiffies(): { busy: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

export interface PingOutcome {
  ok: boolean;
  /** icmp_seq of the first answered echo request (1 = the first one sent). */
  seq: number | null;
  /** When the ping process ended (just after the first reply). */
  tEnd: number;
}

/**
 * Pings `ip` from `from` until one echo request is answered: one process,
 * `ping -c 1 -w DEADLINE -i 0.01`, i.e. a request every 10 ms until the
 * first reply (or the deadline).
 */
export async function pingUntilReply(from: Container, ip: string, deadlineS: number): Promise<PingOutcome> {
  const r = await runStatus('ip', ['netns', 'exec', from.netns, 'ping', '-n', '-c', '1', '-w', String(deadlineS), '-i', '0.01', ip], {
    timeoutMs: deadlineS * 1000 + 5000,
  });
  const tEnd = now();
  const m = /icmp_seq=(\d+)/.exec(r.stdout);
  return { ok: r.code === 0, seq: m ? Number(m[1]) : null, tEnd };
}

export function intEnv(name: string, dflt: number, min: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    console.error(`${name}=${v}: want an integer >= ${min}`);
    process.exit(2);
  }
  return n;
}

export function listEnv(name: string, dflt: string): string[] {
  const v = process.env[name];
  return (v === undefined || v.trim() === '' ? dflt : v).split(',').map((s) => s.trim()).filter((s) => s !== '');
}
