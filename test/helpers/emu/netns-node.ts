/**
 * Base class for anything that is a named network namespace (an emulated
 * host, a container): run commands in it, ping, and a TCP echo server /
 * client pair built on the running Node binary (no nc/busybox needed; the
 * child is `ip netns exec <ns> node -e ...`, and `ip netns exec` execs, so
 * the child's pid is node's).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { killPid, netnsPath, run, runIn, runStatus, RunOptions } from './common';
import { waitFor } from '../wait';

export interface PingResult {
  sent: number;
  received: number;
}

export interface PingOptions {
  /** Echo requests to send (default 3). */
  count?: number;
  /** Seconds to wait for each reply (ping -W, default 1). */
  timeoutS?: number;
  /** Seconds between requests (ping -i, default 0.2). */
  intervalS?: number;
  /** Source address (ping -I). */
  source?: string;
}

export interface TcpServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  readonly pid: number;
  /** Kills the server and waits until it is gone. */
  stop(): Promise<void>;
}

export interface ServeTcpOptions {
  /** Address to bind (default 0.0.0.0). */
  bind?: string;
  /** Sent once on every accepted connection before the echo (e.g. the container's name). */
  banner?: string;
}

const ECHO_SERVER = `
const net = require('net');
const [, port, bind, banner] = process.argv;
const srv = net.createServer((s) => {
  s.on('error', () => {});
  if (banner) s.write(banner);
  s.pipe(s);
});
srv.on('error', (e) => { console.error(e.message); process.exit(1); });
srv.listen(Number(port), bind, () => console.log('listening ' + srv.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

const TCP_CLIENT = `
const net = require('net');
const [, ip, port, timeoutMs] = process.argv;
const payload = require('fs').readFileSync(0);
const chunks = [];
const timer = setTimeout(() => { console.error('timeout after ' + timeoutMs + ' ms'); process.exit(2); }, Number(timeoutMs));
const s = net.connect(Number(port), ip);
s.on('connect', () => s.end(payload));
s.on('data', (d) => chunks.push(d));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.on('close', () => { clearTimeout(timer); process.stdout.write(Buffer.concat(chunks)); });
`;

export abstract class NetnsNode {
  private readonly servers = new Set<TcpServer>();

  protected constructor(
    /** Network namespace name, e.g. 'wf-h1'. */
    readonly netns: string,
  ) {}

  /** /run/netns/<netns>: what CNI_NETNS and `nsenter --net=` want. */
  get netnsPath(): string {
    return netnsPath(this.netns);
  }

  /** Runs `cmd` inside this namespace and returns stdout; throws with stderr on failure. */
  exec(cmd: string[], opts?: RunOptions): Promise<string> {
    return runIn(this.netns, cmd, opts);
  }

  /** Sends `count` pings to `ip` from this namespace; never throws for lost replies. */
  async ping(ip: string, opts: PingOptions = {}): Promise<PingResult> {
    const count = opts.count ?? 3;
    const timeoutS = opts.timeoutS ?? 1;
    const intervalS = opts.intervalS ?? 0.2;
    // No -w: with a deadline, ping -c counts replies, not requests.
    const r = await runStatus(
      'ip',
      ['netns', 'exec', this.netns, 'ping', '-n', '-c', String(count), '-W', String(timeoutS), '-i', String(intervalS), ...(opts.source ? ['-I', opts.source] : []), ip],
      { timeoutMs: Math.ceil((count * intervalS + timeoutS) * 1000) + 5000 },
    );
    const m = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(r.stdout);
    if (!m) throw new Error(`ping ${ip} in ${this.netns} failed: ${(r.stderr || r.stdout).trim()}`);
    return { sent: Number(m[1]), received: Number(m[2]) };
  }

  /**
   * Pings until one reply comes back (the first packet to a new neighbour
   * may be lost while ARP / OVS's tunnel neighbour cache resolve).
   */
  async waitPing(ip: string, timeoutMs = 10_000): Promise<void> {
    await waitFor(async () => (await this.ping(ip, { count: 1, timeoutS: 1 })).received > 0, {
      what: `ping ${ip} from ${this.netns}`,
      timeoutMs,
      intervalMs: 0,
    });
  }

  /**
   * Starts a TCP echo server in this namespace (port 0 picks one). Resolves
   * once it listens. Killed by stop(), by destroy(), or with the namespace.
   */
  async serveTcp(port: number, opts: ServeTcpOptions = {}): Promise<TcpServer> {
    const child = spawn(
      'ip',
      ['netns', 'exec', this.netns, process.execPath, '-e', ECHO_SERVER, String(port), opts.bind ?? '0.0.0.0', opts.banner ?? ''],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const bound = await Promise.race([
      waitFor(() => /listening (\d+)/.exec(out)?.[1], { what: `TCP server on ${this.netns}:${port}`, timeoutMs: 10_000 }),
      exited.then((code) => {
        throw new Error(`TCP server in ${this.netns} on port ${port} exited (${code}): ${err.trim()}`);
      }),
    ]).catch(async (e: unknown) => {
      if (child.pid !== undefined) await killPid(child.pid);
      throw e;
    });
    // Do not keep the test process alive for the server's sake.
    child.unref();
    child.stdout.destroy();
    child.stderr.destroy();
    const pid = child.pid!;
    const server: TcpServer = {
      port: Number(bound),
      pid,
      stop: async () => {
        this.servers.delete(server);
        await killPid(pid);
      },
    };
    this.servers.add(server);
    return server;
  }

  /**
   * Connects from this namespace to ip:port, sends `payload`, half-closes,
   * and returns everything the peer sent back until it closed.
   */
  async tcpConnect(ip: string, port: number, payload: string | Buffer, timeoutMs = 5000): Promise<string> {
    return run(
      'ip',
      ['netns', 'exec', this.netns, process.execPath, '-e', TCP_CLIENT, ip, String(port), String(timeoutMs)],
      { timeoutMs: timeoutMs + 5000, input: payload },
    );
  }

  /**
   * True if a TCP echo round trip to ip:port works from this namespace
   * (the reply, after any banner, ends with what was sent).
   */
  async tcpCheck(ip: string, port: number, timeoutMs = 3000): Promise<boolean> {
    const token = `weft-${randomBytes(6).toString('hex')}`;
    try {
      return (await this.tcpConnect(ip, port, token, timeoutMs)).endsWith(token);
    } catch {
      return false;
    }
  }

  /** Stops the TCP servers started by serveTcp(). */
  protected async stopServers(): Promise<void> {
    for (const s of [...this.servers]) await s.stop();
  }
}
