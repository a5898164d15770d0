// The Weft CNI agent (`weft cni-agent`): a resident process on a container
// host that runs CNI calls handed to it by the native weft-cni front end
// (northbound/cni/shim/weft-cni.c) over a Unix socket. It runs the same code
// as the Node plugin (runCni), but warm: no Node start or exit per call, and
// its HTTP connection to the controller is kept alive.
//
// Wire format, one call per connection (see the shim):
//   request: "WEFTCNI1\n", NAME=VALUE\0 per CNI_* variable, \0, config bytes, EOF
//   reply:   "<exit code>\n" + stdout bytes, then the agent closes
// The socket file is created mode 0600 in a 0700 directory: only root (the
// runtime) may hand the agent a call, as only root may run a CNI plugin.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { runCni } from './weft-cni';
import { Ovs, OvsdbOvs } from './ovs';
import { OvsdbClient } from '../../southbound/ovsdb/client';
import { Marks, withTrace } from './trace';
import { residentPlumbing, plumbingWarmUp } from './netlink';
import { WeftApi } from './api-client';
import { listenPrivate } from './unix-socket';
import http from 'node:http';

export const AGENT_MAGIC = 'WEFTCNI1\n';
/** The agent's socket when --socket is not given (the plugin uses an agent only when its configuration names one). */
export const DEFAULT_AGENT_SOCKET = '/run/weft/cni.sock';
/** A request larger than this is refused (the shim caps configurations at 4 MiB). */
export const AGENT_MAX_REQUEST = 5 * 1024 * 1024;
/** A caller that sends nothing for this long while its request is unfinished is cut off (the shim writes it at once). */
export const AGENT_IDLE_MS = 10_000;
/** The whole request must have arrived by then, however it trickles in. */
export const AGENT_REQUEST_DEADLINE_MS = 30_000;

export interface AgentRequest {
  env: Record<string, string>;
  stdin: string;
}

/** Parses one request; throws with a reason when it is malformed. */
export function parseAgentRequest(buf: Buffer): AgentRequest {
  if (buf.length < AGENT_MAGIC.length || buf.subarray(0, AGENT_MAGIC.length).toString('latin1') !== AGENT_MAGIC) {
    throw new Error('not a weft-cni request (bad magic)');
  }
  const env: Record<string, string> = {};
  let i = AGENT_MAGIC.length;
  for (;;) {
    const z = buf.indexOf(0, i);
    if (z < 0) throw new Error('truncated environment');
    if (z === i) { i = z + 1; break; }
    const entry = buf.subarray(i, z).toString('utf8');
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new Error(`malformed environment entry "${entry.slice(0, 40)}"`);
    const name = entry.slice(0, eq);
    if (!name.startsWith('CNI_')) throw new Error(`unexpected environment variable ${name}`);
    env[name] = entry.slice(eq + 1);
    i = z + 1;
  }
  return { env, stdin: buf.subarray(i).toString('utf8') };
}

export interface AgentOptions {
  socket: string;
  log: Logger;
  /** Largest request in bytes (default AGENT_MAX_REQUEST). */
  maxRequestBytes?: number;
  /** Idle limit while a request is being read, ms (default AGENT_IDLE_MS). */
  idleTimeoutMs?: number;
  /** Limit on reading a whole request, ms (default AGENT_REQUEST_DEADLINE_MS). */
  requestDeadlineMs?: number;
}

export class CniAgent {
  private server?: net.Server;
  private readonly inflight = new Set<Promise<void>>();
  /** One kept-open OVSDB connection per target the calls name. */
  private readonly ovsdb = new Map<string, OvsdbClient>();

  constructor(private readonly opts: AgentOptions) {}

  async start(): Promise<void> {
    const { socket } = this.opts;
    // allowHalfOpen: the plugin shuts its write side down after the request; the answer still goes back
    const server = net.createServer({ allowHalfOpen: true }, (c) => this.serve(c));
    this.server = server;
    // a socket file left by an agent that died is removed; a live agent is not displaced
    await listenPrivate(server, socket, 'agent', 0o700);
    this.opts.log.info({ socket }, 'CNI agent listening');
    residentPlumbing(true);
    this.warm = this.warmUp().catch((e: Error) => this.opts.log.debug({ err: e.message }, 'warm-up failed'));
  }

  /** Resolves when the start-up warm-up is over (tests). */
  warm: Promise<void> = Promise.resolve();

  /**
   * Runs the code of a call once before the first one comes: the HTTP
   * client against a throw-away local server, and the plumbing helper with
   * a request it refuses. A host's first container then attaches about as
   * fast as the next ones (cold code cost its first call ~20 ms).
   */
  private async warmUp(): Promise<void> {
    const srv = http.createServer((_q, r) => r.end('{}'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    try {
      const api = new WeftApi(`http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, 2000);
      await api.health().catch(() => undefined);
      await api.health().catch(() => undefined);
    } finally {
      srv.closeAllConnections();
      srv.close();
    }
    await plumbingWarmUp();
    await runCni({ CNI_COMMAND: 'VERSION' }, async () => '{"cniVersion":"1.0.0"}');
  }

  private serve(c: net.Socket): void {
    const chunks: Buffer[] = [];
    let size = 0;
    const max = this.opts.maxRequestBytes ?? AGENT_MAX_REQUEST;
    const idleMs = this.opts.idleTimeoutMs ?? AGENT_IDLE_MS;
    let cut = false;
    /** Answers with a CNI error (if the caller still reads) and closes: a limit of the call was exceeded. */
    const cutOff = (why: string) => {
      if (cut) return;
      cut = true;
      clearTimeout(deadline);
      c.setTimeout(0);
      chunks.length = 0;
      this.opts.log.warn({ why, bytes: size }, 'CNI call refused');
      c.removeAllListeners('data');
      c.end(`1\n${JSON.stringify({ cniVersion: '1.0.0', code: 4, msg: `the Weft CNI agent refused the call: ${why}` })}\n`);
      setTimeout(() => c.destroy(), 1000).unref();
    };
    const deadlineMs = this.opts.requestDeadlineMs ?? AGENT_REQUEST_DEADLINE_MS;
    const deadline = setTimeout(() => cutOff(`request not complete within ${deadlineMs} ms`), deadlineMs);
    deadline.unref();
    c.setTimeout(idleMs, () => cutOff(`nothing received for ${idleMs} ms with the request unfinished`));
    c.on('data', (d: Buffer) => {
      size += d.length;
      if (size > max) { cutOff(`request over ${max} bytes`); return; }
      chunks.push(d);
    });
    c.on('error', () => { /* the plugin went away; nothing to answer */ });
    c.on('close', () => clearTimeout(deadline));
    c.on('end', () => {
      if (cut) return;
      clearTimeout(deadline);
      c.setTimeout(0);
      const t0 = performance.now();
      const marks: Marks = [['start', performance.timeOrigin + t0]];
      const p = withTrace(marks, () => this.handle(Buffer.concat(chunks))).then(({ exitCode, text, what }) => {
        // marks: [step, epoch ms] (start = the request was read; see northbound/cni/add.ts)
        this.opts.log.info({ ...what, exitCode, ms: Math.round((performance.now() - t0) * 10) / 10, marks }, 'CNI call');
        c.end(`${exitCode}\n${text}`);
      }).finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    });
  }

  private async handle(buf: Buffer): Promise<{ exitCode: number; text: string; what: Record<string, string | undefined> }> {
    let req: AgentRequest;
    try {
      req = parseAgentRequest(buf);
    } catch (e) {
      const msg = (e as Error).message;
      return { exitCode: 1, text: `${JSON.stringify({ cniVersion: '1.0.0', code: 4, msg: `malformed request to the Weft CNI agent: ${msg}` })}\n`, what: { error: msg } };
    }
    const { exitCode, output } = await runCni(req.env, async () => req.stdin, { ovs: (db, bridge) => this.ovsFor(db, bridge) });
    return {
      exitCode,
      text: output === undefined ? '' : `${JSON.stringify(output)}\n`,
      what: { command: req.env.CNI_COMMAND, containerId: req.env.CNI_CONTAINERID, ifName: req.env.CNI_IFNAME },
    };
  }

  private ovsFor(db: string, bridge: string): Ovs {
    let c = this.ovsdb.get(db);
    if (!c) {
      try {
        c = new OvsdbClient(db);
      } catch {
        return new Ovs(db, bridge); // a target the client does not speak: ovs-vsctl handles it
      }
      this.ovsdb.set(db, c);
    }
    return new OvsdbOvs(db, bridge, c);
  }

  /** Stops accepting calls, lets the running ones finish, removes the socket. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await Promise.allSettled([...this.inflight]);
    try { fs.unlinkSync(this.opts.socket); } catch { /* already gone */ }
    for (const c of this.ovsdb.values()) c.close();
    residentPlumbing(false);
  }
}
