/**
 * Shared plumbing for the emulated-host harness (see ../emu-host.ts):
 * running commands (in the root namespace or in a netns), process and
 * namespace housekeeping, the process-wide registry used by cleanupAll(),
 * and IPv4 subnet arithmetic.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { sh } from '../ovs';
import { waitFor } from '../wait';

/** Linux interface names are at most 15 characters (IFNAMSIZ - 1). */
export const MAX_IFNAME = 15;

/** Default folder under which each host gets `<baseDir>/<name>`. */
export const DEFAULT_BASE_DIR = '/tmp/weft-emu';

/** Default netns prefix of emulated hosts (`wf-h1`) and containers (`wfc-c1`). */
export const DEFAULT_HOST_PREFIX = 'wf-';
export const DEFAULT_CONTAINER_PREFIX = 'wfc-';

/** Prefix of underlay bridges in the root namespace (`wfu<id>`). */
export const UNDERLAY_PREFIX = 'wfu';

/**
 * Names the leftover sweep may remove: netns and root-namespace links that
 * start with `wf`, up to two more lowercase letters, and `-` (wf-h1, wfc-c1,
 * wft-h1 ...), plus `wfu*` underlay bridges.
 */
export const OWNED_NETNS_RE = /^wf[a-z]{0,2}-/;
export const OWNED_LINK_RE = /^(wfu|wf[a-z]{0,2}-)/;

export interface RunOptions {
  /** Kill the command after this long (default 60 s). */
  timeoutMs?: number;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Written to the command's stdin (which is otherwise empty). */
  input?: string | Buffer;
}

/** A command line for error messages, long arguments shortened. */
function showCmd(cmd: string, args: string[]): string {
  return [cmd, ...args].map((a) => (a.length > 120 ? `${a.slice(0, 60).replace(/\s+/g, ' ')}…(${a.length} chars)` : a)).join(' ');
}

/** Like run() but never throws: returns exit code (-1 if killed / not started), stdout and stderr. */
export function runStatus(
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<{ code: number; stdout: string; stderr: string; signal: string | null }> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(cmd, args, {
        env: opts.env ? { ...process.env, ...opts.env } : process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
        timeout: opts.timeoutMs ?? 60_000,
        killSignal: 'SIGKILL',
      });
    } catch (e) {
      resolve({ code: -1, stdout: '', stderr: (e as Error).message, signal: null });
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.stdin.on('error', () => undefined); // EPIPE if the command does not read its input
    child.stdin.end(opts.input ?? '');
    let spawnError = '';
    child.on('error', (e) => (spawnError = e.message));
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString() || spawnError,
        signal,
      }),
    );
  });
}

/**
 * Runs `cmd args...` (no shell) and returns stdout; throws with the command
 * line, exit code and stderr on failure. Plain calls go through `sh` from
 * ../ovs; this adds a timeout, environment and stdin.
 */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  if (opts.timeoutMs === undefined && opts.env === undefined && opts.input === undefined) return sh(cmd, args);
  const r = await runStatus(cmd, args, opts);
  if (r.code === 0) return r.stdout;
  const why = r.signal ? `signal ${r.signal}${r.signal === 'SIGKILL' ? ', timed out?' : ''}` : String(r.code);
  const stderr = r.stderr.trim();
  throw new Error(`${showCmd(cmd, args)} failed (${why})${stderr ? `: ${stderr}` : ''}`);
}

/** Runs a command inside network namespace `netns` (`ip netns exec`). */
export function runIn(netns: string, cmd: string[], opts: RunOptions = {}): Promise<string> {
  if (cmd.length === 0) throw new Error('runIn: empty command');
  return run('ip', ['netns', 'exec', netns, ...cmd], opts);
}

/** Path of a named network namespace (what CNI_NETNS wants). */
export function netnsPath(netns: string): string {
  return `/run/netns/${netns}`;
}

/** Names of the named network namespaces (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']);
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

export function netnsExists(netns: string): boolean {
  return existsSync(netnsPath(netns));
}

/** Names of all links in the root namespace. */
export async function listLinks(): Promise<string[]> {
  const out = await sh('ip', ['-o', 'link', 'show']);
  return out
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n !== '');
}

export async function linkExists(name: string): Promise<boolean> {
  return (await runStatus('ip', ['link', 'show', 'dev', name])).code === 0;
}

/** Deletes a root-namespace link if it exists and waits until it is gone. */
export async function deleteLink(name: string): Promise<void> {
  if (!(await linkExists(name))) return;
  const r = await runStatus('ip', ['link', 'del', 'dev', name]);
  if (r.code !== 0 && !/Cannot find device/.test(r.stderr)) {
    throw new Error(`ip link del ${name} failed: ${r.stderr.trim()}`);
  }
  await waitFor(async () => !(await linkExists(name)), { what: `link ${name} gone`, timeoutMs: 5000 });
}

/** Pids of the processes whose network namespace is `netns`. */
export async function netnsPids(netns: string): Promise<number[]> {
  if (!netnsExists(netns)) return [];
  const r = await runStatus('ip', ['netns', 'pids', netns]);
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/** Kills every process left in `netns`, then deletes the namespace (no error if missing). */
export async function deleteNetns(netns: string): Promise<void> {
  if (!netnsExists(netns)) return;
  for (const pid of await netnsPids(netns)) await killPid(pid);
  const r = await runStatus('ip', ['netns', 'del', netns]);
  if (r.code !== 0 && netnsExists(netns)) throw new Error(`ip netns del ${netns} failed: ${r.stderr.trim()}`);
}

/** True if `pid` runs and is not a zombie (detached daemons are reparented to a pid 1 that may not reap). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** The NUL-separated command line of `pid` joined by spaces ('' if gone). */
export function pidCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** Resident set size of `pid` in KiB (0 if gone). */
export function pidRssKb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * SIGTERM, wait up to `graceMs`, then SIGKILL and wait until `pid` is dead.
 * With `mustMatch`, does nothing unless the process's command line contains
 * that string (protects against a recycled pid from a stale pidfile).
 */
export async function killPid(pid: number, opts: { mustMatch?: string; graceMs?: number } = {}): Promise<void> {
  if (!pidAlive(pid)) return;
  if (opts.mustMatch !== undefined && !pidCmdline(pid).includes(opts.mustMatch)) return;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  };
  signal('SIGTERM');
  try {
    await waitFor(() => !pidAlive(pid), { what: `pid ${pid} to exit`, timeoutMs: opts.graceMs ?? 3000, intervalMs: 20 });
    return;
  } catch {
    signal('SIGKILL');
  }
  await waitFor(() => !pidAlive(pid), { what: `pid ${pid} to die after SIGKILL`, timeoutMs: 3000, intervalMs: 20 });
}

/** Reads a pidfile; null if missing or malformed. */
export async function readPidfile(file: string): Promise<number | null> {
  try {
    const n = Number((await readFile(file, 'utf8')).trim());
    return Number.isInteger(n) && n > 1 ? n : null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Registry

/** Something the harness created and must tear down. */
export interface Destroyable {
  /** Lower destroys first: containers 0, hosts 1, underlays 2. */
  readonly destroyOrder: number;
  readonly label: string;
  destroy(): Promise<void>;
}

const registry = new Set<Destroyable>();

export function register(d: Destroyable): void {
  registry.add(d);
}

export function unregister(d: Destroyable): void {
  registry.delete(d);
}

/** What the registry holds now (for diagnostics). */
export function registered(): string[] {
  return [...registry].map((d) => d.label);
}

/**
 * Destroys everything this process created and has not destroyed yet:
 * containers, then hosts, then underlays, newest first within each kind.
 * Tries all of them; throws an AggregateError at the end if any failed.
 * Use in `after` hooks.
 */
export async function cleanupAll(): Promise<void> {
  const items = [...registry].reverse();
  items.sort((a, b) => a.destroyOrder - b.destroyOrder); // stable: newest first within a kind
  const errors: unknown[] = [];
  for (const d of items) {
    try {
      await d.destroy();
    } catch (e) {
      errors.push(new Error(`destroying ${d.label}: ${(e as Error).message}`, { cause: e }));
    }
    registry.delete(d);
  }
  if (errors.length > 0) throw new AggregateError(errors, `cleanupAll: ${errors.length} failure(s)`);
}

// ---------------------------------------------------------------------------
// IPv4

export function ipToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new Error(`bad IPv4 address ${ip}`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export interface Subnet {
  /** Network address as an integer. */
  network: number;
  prefixLen: number;
  /** Number of addresses in the subnet. */
  size: number;
  /** e.g. '172.31.250.0/24' */
  cidr: string;
}

/** Parses 'a.b.c.d/len' (host bits are cleared). Prefix length 8..30. */
export function parseSubnet(cidr: string): Subnet {
  const m = /^([\d.]+)\/(\d+)$/.exec(cidr.trim());
  if (!m) throw new Error(`bad subnet ${cidr} (want a.b.c.d/len)`);
  const prefixLen = Number(m[2]);
  if (prefixLen < 8 || prefixLen > 30) throw new Error(`subnet ${cidr}: prefix length must be 8..30`);
  const size = 2 ** (32 - prefixLen);
  const network = Math.floor(ipToInt(m[1]!) / size) * size;
  return { network, prefixLen, size, cidr: `${intToIp(network)}/${prefixLen}` };
}

/** Locally administered MAC 02:00:<4 bytes of ip>, e.g. 02:00:ac:1f:fa:02. */
export function macFromIp(ip: string): string {
  const n = ipToInt(ip);
  const bytes = [2, 0, ...[24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256)];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function checkIfname(name: string, what: string): void {
  if (name.length === 0 || name.length > MAX_IFNAME) {
    throw new Error(`${what} ${JSON.stringify(name)} must be 1..${MAX_IFNAME} characters`);
  }
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`${what} ${JSON.stringify(name)} has characters other than [A-Za-z0-9_.-]`);
}
