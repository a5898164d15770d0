// The libnetwork remote plugin protocol: JSON over HTTP/1.1 on a Unix
// socket, one POST per call to /<Interface>.<Method> (Plugin.Activate,
// NetworkDriver.*, IpamDriver.*). An answer is 200 with the method's JSON;
// a failure is a non-200 status with {"Err": "..."}, which dockerd reports
// as "<Interface>.<Method>: <Err>".
//
// What one caller can cost is bounded: a body over MAX_BODY_BYTES is refused
// (413) without being read further, a request must arrive whole within
// REQUEST_DEADLINE_MS, and the socket is made mode 0600 (only root, which
// runs dockerd, may call it).
import fs from 'node:fs';
import http from 'node:http';
import type { Logger } from 'pino';
import { listenPrivate } from '../cni/unix-socket';

/** The media type Docker's plugin client sends and expects. */
export const PLUGIN_MEDIA_TYPE = 'application/vnd.docker.plugins.v1.2+json';
/** A request body larger than this is refused (Docker's are a few KiB). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** The whole request must have arrived by then. */
export const REQUEST_DEADLINE_MS = 30_000;

/** A handler's failure that should reach Docker as {"Err": message} with this status. */
export class PluginError extends Error {
  constructor(message: string, readonly status = 500) {
    super(message);
    this.name = 'PluginError';
  }
}

/** One method: the parsed JSON body in, the JSON answer out (throw to fail). */
export type Handler = (body: Record<string, unknown>) => Promise<unknown>;

export interface ServeOptions {
  socket: string;
  handlers: Record<string, Handler>;
  log: Logger;
  maxBodyBytes?: number;
  requestDeadlineMs?: number;
}

/** Reads a body of at most `max` bytes; rejects with a 413 PluginError beyond. */
function readBody(req: http.IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) { reject(new PluginError(`request body over ${max} bytes`, 413)); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (d: Buffer) => {
      size += d.length;
      if (size > max) { req.removeAllListeners('data'); reject(new PluginError(`request body over ${max} bytes`, 413)); req.resume(); return; }
      chunks.push(d);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Parses a request body: empty is {}, anything but a JSON object is a 400. */
export function parseBody(buf: Buffer): Record<string, unknown> {
  const text = buf.toString('utf8').trim();
  if (text === '' || text === 'null') return {};
  let v: unknown;
  try { v = JSON.parse(text); } catch (e) { throw new PluginError(`request body is not JSON: ${(e as Error).message}`, 400); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PluginError('request body must be a JSON object', 400);
  return v as Record<string, unknown>;
}

/** Answers one request: the route's handler, or the error it names. */
export async function dispatch(handlers: Record<string, Handler>, method: string | undefined, url: string | undefined, body: () => Promise<Buffer>):
  Promise<{ status: number; json: unknown; call: string }> {
  const call = (url ?? '').split('?')[0]!.replace(/^\//, '');
  const handler = Object.prototype.hasOwnProperty.call(handlers, call) ? handlers[call] : undefined;
  try {
    if (method !== 'POST') throw new PluginError(`${method} is not allowed: every call is a POST`, 405);
    if (!handler) throw new PluginError(`unknown call ${JSON.stringify(call.slice(0, 80))}`, 404);
    return { status: 200, json: (await handler(parseBody(await body()))) ?? {}, call };
  } catch (e) {
    const status = e instanceof PluginError ? e.status : 500;
    return { status, json: { Err: (e as Error).message ?? String(e) }, call };
  }
}

export class PluginServer {
  private server?: http.Server;

  constructor(private readonly o: ServeOptions) {}

  async start(): Promise<void> {
    const { socket } = this.o;
    const max = this.o.maxBodyBytes ?? MAX_BODY_BYTES;
    const server = http.createServer({ requestTimeout: this.o.requestDeadlineMs ?? REQUEST_DEADLINE_MS }, (req, res) => {
      const t0 = Date.now();
      void dispatch(this.o.handlers, req.method, req.url, () => readBody(req, max)).then(({ status, json, call }) => {
        const level = status === 200 ? 'info' : 'warn';
        this.o.log[level]({ call, status, ms: Date.now() - t0, ...(status !== 200 ? { err: (json as { Err: string }).Err } : {}) }, 'docker call');
        const text = JSON.stringify(json);
        res.writeHead(status, { 'content-type': PLUGIN_MEDIA_TYPE, 'content-length': Buffer.byteLength(text), ...(status === 413 ? { connection: 'close' } : {}) });
        res.end(text);
      });
    });
    this.server = server;
    await listenPrivate(server, socket, 'plugin', 0o755);
    this.o.log.info({ socket }, 'Docker plugin listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => { server.close(() => resolve()); server.closeIdleConnections(); });
    try { fs.unlinkSync(this.o.socket); } catch { /* already gone */ }
  }
}
