// Kernel network operations through iproute2 and ethtool. Commands for the
// container run inside its namespace through `nsenter --net=PATH`, which
// takes /run/netns/NAME and /proc/PID/ns/net alike (as does
// `ip link set dev X netns PATH`, with iproute2 5.x and later).
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { run, ExecError } from './exec';

/**
 * weft-plumb (northbound/cni/shim/weft-plumb.c, built into dist/bin): the
 * veth and the container's interface over rtnetlink in one process each,
 * instead of four to six ip/ethtool processes. Without it (not built, or
 * WEFT_CNI_PLUMB=ip) the same work is done with iproute2 and ethtool.
 */
const PLUMB = path.join(__dirname, '../../bin/weft-plumb');
let plumbExists: boolean | undefined;
function plumbHelper(): string | undefined {
  if (process.env.WEFT_CNI_PLUMB === 'ip') return undefined;
  plumbExists ??= fs.existsSync(PLUMB);
  return plumbExists ? PLUMB : undefined;
}

export interface LinkInfo {
  name: string;
  ifindex: number;
  mac: string;
  mtu: number;
  up: boolean;
}

/** Argument vector that runs `cmd args` in the network namespace at `netns` (or here if undefined). */
function inNs(netns: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return netns === undefined ? [cmd, args] : ['nsenter', [`--net=${netns}`, '--', cmd, ...args]];
}

function ns(netns: string | undefined, cmd: string, args: string[]): Promise<string> {
  const [c, a] = inNs(netns, cmd, args);
  return run(c, a);
}

/**
 * A resident `weft-plumb serve` (the CNI agent's): requests go down its
 * stdin and answers come back by id, so an ADD's kernel work costs a fork of
 * that small process instead of a Node child process per step.
 */
class PlumbServer {
  private proc?: ChildProcess;
  private readonly pending = new Map<number, { proc: ChildProcess; args: string[]; resolve(out: string): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  private nextId = 1;

  constructor(private readonly helper: string) {}

  private ensure(): ChildProcess {
    if (this.proc && this.proc.exitCode === null && !this.proc.killed) return this.proc;
    const p = spawn(this.helper, ['serve'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.proc = p;
    let buf = '';
    p.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^(\d+) (\d+) ?(.*)$/.exec(line);
        const r = m && this.pending.get(Number(m[1]));
        if (!m || !r) continue;
        this.pending.delete(Number(m[1]));
        clearTimeout(r.timer);
        if (m[2] === '0') r.resolve(m[3]!);
        else r.reject(new ExecError(this.helper, r.args, Number(m[2]), m[3]!));
      }
    });
    const gone = () => {
      if (this.proc === p) this.proc = undefined;
      for (const [id, r] of this.pending) {
        if (r.proc !== p) continue;
        clearTimeout(r.timer);
        r.reject(new ExecError(this.helper, r.args, null, 'weft-plumb serve exited'));
        this.pending.delete(id);
      }
    };
    // 'close', not 'exit': answers still in the pipe are read first
    p.on('close', gone);
    p.on('error', gone);
    p.stdin!.on('error', () => { /* the exit handler reports it */ });
    p.unref();
    (p.stdout as unknown as { unref?: () => void }).unref?.();
    (p.stdin as unknown as { unref?: () => void }).unref?.();
    return p;
  }

  start(): void { this.ensure(); }

  call(args: string[], timeoutMs = 20_000): Promise<string> {
    const p = this.ensure();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new ExecError(this.helper, args, `timed out after ${timeoutMs} ms`, '')); }, timeoutMs);
      this.pending.set(id, { proc: p, args, resolve, reject, timer });
      p.stdin!.write(`${id}\t${args.join('\t')}\n`);
    });
  }

  stop(): void {
    this.proc?.stdin?.end();
    this.proc = undefined;
  }
}

let server: PlumbServer | undefined;

/**
 * For a resident caller: keep one `weft-plumb serve` running and send the
 * kernel work to it (when weft-plumb is built). `false` stops it.
 */
export function residentPlumbing(on: boolean): void {
  if (!on) { server?.stop(); server = undefined; return; }
  const helper = plumbHelper();
  if (helper && !server) {
    server = new PlumbServer(helper);
    server.start(); // now, so the first ADD does not wait for it
  }
}

/** Sends the resident helper a request it refuses: its fork and answer paths run once. */
export async function plumbingWarmUp(): Promise<void> {
  await server?.call(['warm-up']).catch(() => undefined);
}

/** One weft-plumb command: through the resident server when there is one, else as a process. */
function plumb(helper: string, args: string[]): Promise<string> {
  // the helper reads requests of up to 4 KiB, one per line
  if (server && args.every((a) => !/[\t\n]/.test(a)) && args.join('\t').length < 3500) return server.call(args);
  return run(helper, args);
}

/** True if the error says the device does not exist. */
function isNoDevice(e: unknown): boolean {
  return e instanceof ExecError && /Cannot find device|does not exist|No such device/i.test(e.stderr);
}

/** The link `name` (in `netns`, default here), or null if there is none. */
export async function getLink(name: string, netns?: string): Promise<LinkInfo | null> {
  let out: string;
  try {
    out = await ns(netns, 'ip', ['-j', 'link', 'show', 'dev', name]);
  } catch (e) {
    if (isNoDevice(e)) return null;
    throw e;
  }
  const list = JSON.parse(out) as Array<{ ifname: string; ifindex: number; address: string; mtu: number; flags?: string[] }>;
  const l = list[0];
  if (!l) return null;
  return { name: l.ifname, ifindex: l.ifindex, mac: l.address, mtu: l.mtu, up: (l.flags ?? []).includes('UP') };
}

/** IPv4 addresses ("a.b.c.d/p") on `name` in `netns`. */
export async function getIPv4Addresses(name: string, netns?: string): Promise<string[]> {
  const out = await ns(netns, 'ip', ['-j', '-4', 'addr', 'show', 'dev', name]);
  const list = JSON.parse(out) as Array<{ addr_info?: Array<{ family: string; local: string; prefixlen: number }> }>;
  return (list[0]?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}

/** True if a failed command said the object already exists. */
export function isExists(e: unknown): boolean {
  return e instanceof ExecError && /File exists/i.test(e.stderr);
}

/**
 * A veth pair: `hostName` here (with MAC `hostMac` if given, up) and its peer
 * `peerName` born inside the namespace at `peerNetns` (about 4 ms, against
 * 20-40 ms for making it here and moving it), both with `mtu`: one
 * weft-plumb request, or one `ip -batch` process. A host end that already
 * exists fails with an ExecError that isExists() knows.
 */
export async function createVethUp(hostName: string, peerName: string, mtu: number, peerNetns: string, hostMac?: string): Promise<void> {
  const helper = plumbHelper();
  if (helper && hostMac) {
    await plumb(helper, ['veth', hostName, hostMac, peerName, String(mtu), peerNetns]);
    return;
  }
  await run('ip', ['-batch', '-'], undefined, [
    ['link', 'add', 'name', hostName, ...(hostMac ? ['address', hostMac] : []), 'mtu', String(mtu), 'type', 'veth',
      'peer', 'name', peerName, 'mtu', String(mtu), 'netns', quote(peerNetns)],
    ['link', 'set', 'dev', hostName, 'up'],
  ].map((l) => l.join(' ')).join('\n') + '\n');
}

/**
 * A veth pair with both ends here (the Docker driver's: dockerd moves the
 * container end into the sandbox itself and names it there): `hostName` up
 * with `hostMac`, `peerName` with the endpoint's MAC, both with `mtu`, and
 * TX checksum offload off on the peer (it stays off in the container; TCP
 * through the OVS userspace datapath needs that, see LAB.md).
 */
export async function createVethPairHere(hostName: string, hostMac: string, peerName: string, peerMac: string, mtu: number): Promise<void> {
  await run('ip', ['-batch', '-'], undefined, [
    ['link', 'add', 'name', hostName, 'address', hostMac, 'mtu', String(mtu), 'type', 'veth',
      'peer', 'name', peerName, 'address', peerMac, 'mtu', String(mtu)],
    ['link', 'set', 'dev', hostName, 'up'],
  ].map((l) => l.join(' ')).join('\n') + '\n');
  await run('ethtool', ['-K', peerName, 'tx', 'off']);
}

/** A word for an `ip -batch` line (paths with spaces or quotes are quoted). */
function quote(w: string): string {
  if (/^[A-Za-z0-9_./:@%+=,-]+$/.test(w)) return w;
  if (/["\\\n]/.test(w)) throw new ExecError('ip', ['-batch'], null, `cannot pass ${JSON.stringify(w)} to ip -batch`);
  return `"${w}"`;
}

export interface ContainerIfConfig {
  /** Current (temporary) name of the link inside the namespace. */
  tmpName: string;
  /** Final name (CNI_IFNAME). */
  ifName: string;
  mac: string;
  mtu: number;
  /** "a.b.c.d/p" */
  address: string;
  gateway: string | null;
}

/**
 * Configures the container end inside `netns`: name, MAC, MTU, address, up,
 * default route via the gateway, and TX checksum offload off (TCP through
 * the OVS userspace datapath fails without that; see LAB.md). A default
 * route the container already has (from its first network) is kept; the
 * answer says whether this interface got the default route.
 */
export async function configureContainerIf(netns: string, c: ContainerIfConfig): Promise<{ defaultRoute: boolean }> {
  const helper = plumbHelper();
  if (helper) {
    const out = await plumb(helper, ['config', netns, c.tmpName, c.ifName, c.mac, String(c.mtu), c.address, c.gateway ?? '-']);
    return { defaultRoute: (JSON.parse(out) as { defaultRoute: boolean }).defaultRoute === true };
  }
  // name, MAC, MTU, address and up in one `ip -batch` process; then the route and the offloads side by side
  const [c1, a1] = inNs(netns, 'ip', ['-batch', '-']);
  await run(c1, a1, undefined, [
    ['link', 'set', 'dev', c.tmpName, 'name', c.ifName, 'address', c.mac, 'mtu', String(c.mtu)],
    ['addr', 'add', c.address, 'dev', c.ifName],
    ['link', 'set', 'dev', c.ifName, 'up'],
  ].map((l) => l.join(' ')).join('\n') + '\n');
  const route = async (): Promise<boolean> => {
    if (c.gateway === null) return false;
    try {
      await ns(netns, 'ip', ['route', 'add', 'default', 'via', c.gateway, 'dev', c.ifName]);
      return true;
    } catch (e) {
      if (isExists(e)) return false;
      throw e;
    }
  };
  const [r, o] = await Promise.allSettled([route(), ns(netns, 'ethtool', ['-K', c.ifName, 'tx', 'off'])]);
  if (r.status === 'rejected') throw r.reason;
  if (o.status === 'rejected') throw o.reason;
  return { defaultRoute: r.value };
}

/** Sets the MTU of link `name` here. */
export async function setMtu(name: string, mtu: number): Promise<void> {
  await run('ip', ['link', 'set', 'dev', name, 'mtu', String(mtu)]);
}

/** Brings link `name` up here. */
export async function setUp(name: string): Promise<void> {
  await run('ip', ['link', 'set', 'dev', name, 'up']);
}

/** Deletes link `name` (in `netns`, default here); false if it did not exist. */
export async function deleteLink(name: string, netns?: string): Promise<boolean> {
  try {
    await ns(netns, 'ip', ['link', 'del', 'dev', name]);
    return true;
  } catch (e) {
    if (isNoDevice(e)) return false;
    throw e;
  }
}

/** Parses `ethtool -k` output into feature -> on/off. */
export function parseEthtoolFeatures(out: string): Record<string, boolean> {
  const features: Record<string, boolean> = {};
  for (const line of out.split('\n')) {
    const m = /^\s*([a-z0-9-]+):\s+(on|off)\b/.exec(line);
    if (m) features[m[1]!] = m[2] === 'on';
  }
  return features;
}

/** Offload features of `name` in `netns` (`ethtool -k`). */
export async function getFeatures(name: string, netns?: string): Promise<Record<string, boolean>> {
  return parseEthtoolFeatures(await ns(netns, 'ethtool', ['-k', name]));
}
