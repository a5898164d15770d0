// A small OVSDB client (RFC 7047): JSON-RPC 1.0 over a Unix or TCP stream,
// one connection kept open, requests matched to replies by id, the server's
// echo requests answered. Enough for transactions ("transact"); the CNI agent
// uses it to add container ports to br-int without starting ovs-vsctl.
//
// Messages on the wire are JSON objects written back to back with no
// delimiter, so the reader splits the stream by tracking JSON nesting
// (JsonSplitter), inside strings too.
import net from 'node:net';

/** An OVSDB error: a JSON-RPC error, or an error inside a transaction's results. */
export class OvsdbError extends Error {
  constructor(message: string, readonly details?: unknown) {
    super(message);
    this.name = 'OvsdbError';
  }
}

/** Splits a byte stream into complete top-level JSON values (objects or arrays). */
export class JsonSplitter {
  private buf = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = 0;
  private scanned = 0;
  /** Largest value accepted; a peer sending more is broken. */
  constructor(private readonly maxBytes = 64 * 1024 * 1024) {}

  /** Feeds a chunk; returns the values it completed, in order. */
  push(chunk: string): unknown[] {
    this.buf += chunk;
    const out: unknown[] = [];
    for (let i = this.scanned; i < this.buf.length; i++) {
      const c = this.buf.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true; // backslash
        else if (c === 0x22) this.inString = false;
        continue;
      }
      if (c === 0x22) { this.inString = true; continue; }
      if (c === 0x7b || c === 0x5b) { // { [
        if (this.depth === 0) this.start = i;
        this.depth++;
      } else if (c === 0x7d || c === 0x5d) { // } ]
        this.depth--;
        if (this.depth < 0) throw new OvsdbError('malformed JSON stream: unbalanced close');
        if (this.depth === 0) out.push(JSON.parse(this.buf.slice(this.start, i + 1)));
      } else if (this.depth === 0 && c > 0x20) {
        throw new OvsdbError(`malformed JSON stream: unexpected ${JSON.stringify(this.buf[i])} between messages`);
      }
    }
    if (this.depth === 0) {
      this.buf = '';
      this.scanned = 0;
    } else {
      // keep only the value in progress
      this.buf = this.buf.slice(this.start);
      this.scanned = this.buf.length;
      this.start = 0;
      if (this.buf.length > this.maxBytes) throw new OvsdbError(`JSON message over ${this.maxBytes} bytes`);
    }
    return out;
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

/** Parses "unix:/path" or "tcp:host:port" (ovs-vsctl --db syntax). */
export function parseOvsdbTarget(target: string): net.NetConnectOpts {
  if (target.startsWith('unix:')) return { path: target.slice(5) };
  const m = /^tcp:(\[[^\]]+\]|[^:]+):(\d+)$/.exec(target);
  if (m) return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  throw new OvsdbError(`unsupported OVSDB target "${target}" (want unix:PATH or tcp:HOST:PORT)`);
}

export class OvsdbClient {
  private sock?: net.Socket;
  private connecting?: Promise<net.Socket>;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(readonly target: string, private readonly timeoutMs = 10_000) {
    parseOvsdbTarget(target);
  }

  /** Whether a connection is open now (the next call opens one when not). */
  get connected(): boolean {
    return !!this.sock && !this.sock.destroyed;
  }

  private connect(): Promise<net.Socket> {
    if (this.sock && !this.sock.destroyed) return Promise.resolve(this.sock);
    this.connecting ??= new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(parseOvsdbTarget(this.target));
      const splitter = new JsonSplitter();
      s.setEncoding('utf8');
      s.setNoDelay(true);
      const fail = (e: Error) => {
        this.sock = undefined;
        for (const [id, p] of this.pending) { clearTimeout(p.timer); p.reject(e); this.pending.delete(id); }
      };
      const timer = setTimeout(() => s.destroy(new Error(`no connection within ${this.timeoutMs} ms`)), this.timeoutMs);
      s.once('connect', () => { clearTimeout(timer); this.sock = s; this.connecting = undefined; resolve(s); });
      s.on('error', (e) => { clearTimeout(timer); this.connecting = undefined; reject(new OvsdbError(`OVSDB ${this.target}: ${e.message}`)); fail(e); });
      s.on('close', () => fail(new OvsdbError(`OVSDB ${this.target}: connection closed`)));
      s.on('data', (d: string) => {
        let msgs: unknown[];
        try {
          msgs = splitter.push(d);
        } catch (e) {
          s.destroy(e as Error);
          return;
        }
        for (const m of msgs) this.onMessage(s, m as { id?: unknown; method?: string; params?: unknown; result?: unknown; error?: unknown });
      });
    });
    return this.connecting;
  }

  private onMessage(s: net.Socket, m: { id?: unknown; method?: string; params?: unknown; result?: unknown; error?: unknown }): void {
    if (m.method === 'echo') {
      s.write(JSON.stringify({ id: m.id, result: m.params ?? [], error: null }));
      return;
    }
    if (typeof m.id !== 'number') return; // notifications (update, locked ...) are not used
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.error !== null && m.error !== undefined) p.reject(new OvsdbError(`OVSDB error: ${JSON.stringify(m.error)}`, m.error));
    else p.resolve(m.result);
  }

  /** One JSON-RPC call. */
  async call(method: string, params: unknown[]): Promise<unknown> {
    const s = await this.connect();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new OvsdbError(`OVSDB ${this.target}: no answer to ${method} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      s.write(JSON.stringify({ id, method, params }));
    });
  }

  /**
   * A transaction on database `db`. Rejects with an OvsdbError when any
   * operation failed (the transaction was then not committed).
   */
  async transact(db: string, ops: unknown[]): Promise<Array<Record<string, unknown>>> {
    const res = await this.call('transact', [db, ...ops]);
    if (!Array.isArray(res)) throw new OvsdbError('OVSDB transact: the answer is not an array', res);
    const bad = (res as Array<Record<string, unknown> | null>).find((r) => r && typeof r.error === 'string');
    if (bad) throw new OvsdbError(`OVSDB transaction failed: ${String(bad.error)}${bad.details ? `: ${String(bad.details)}` : ''}`, res);
    return res as Array<Record<string, unknown>>;
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
  }
}

/** An OVSDB map value from a plain object. */
export const ovsdbMap = (o: Record<string, string>): ['map', [string, string][]] => ['map', Object.entries(o)];
