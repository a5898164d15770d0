// One OpenFlow channel to one switch (OpenFlow 1.3.5 §6.3): version
// negotiation, features and port-desc on connect, echo keepalive and
// dead-peer detection, request/reply by xid with timeouts, multipart
// reassembly, barriers, and batched writes with backpressure.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import {
  OfpMessage, Outgoing, decodeMessage, encodeInto, Writer, OfDecodeError, OFP_VERSION, FeaturesReply, Port,
  MultipartReply, MultipartReplyBody, ErrorMsg, OFPMPF_REPLY_MORE, OFPET_HELLO_FAILED, OFPHFC_INCOMPATIBLE,
  OFPET_BAD_REQUEST, Hello,
} from '../codec';
import { Framer, FramingError } from './framer';

export interface ConnectionOptions {
  /** Send ECHO_REQUEST after this much silence from the switch (ms). */
  echoIntervalMs?: number;
  /** Declare the switch dead after this much silence (ms). */
  deadAfterMs?: number;
  /** Default request timeout (ms). */
  requestTimeoutMs?: number;
  /** Give up on a peer that has not finished the handshake by then (ms). */
  handshakeTimeoutMs?: number;
  /** Max bytes queued in the socket before send() reports backpressure. */
  highWaterMark?: number;
  maxFrame?: number;
}

/** The switch answered a request with OFPT_ERROR. */
export class OfErrorReply extends Error {
  override readonly name = 'OfErrorReply';
  constructor(readonly error: ErrorMsg) {
    super(`switch returned error type ${error.errType} code ${error.code}`);
  }
}
export class RequestTimeout extends Error {
  override readonly name = 'RequestTimeout';
}
export class ConnectionClosed extends Error {
  override readonly name = 'ConnectionClosed';
}

interface Pending {
  resolve: (m: OfpMessage[]) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  parts: OfpMessage[];
}

export type ConnState = 'hello' | 'features' | 'ready' | 'closed';

export function dpidToString(d: bigint): string {
  return d.toString(16).padStart(16, '0');
}

/**
 * Events: 'ready' (features, ports), 'message' (msg) for every message not
 * consumed as a reply, 'close' (reason), 'decode-error' (err, frame).
 */
export class Connection extends EventEmitter {
  state: ConnState = 'hello';
  features?: FeaturesReply;
  dpid = '';
  ports: Port[] = [];
  log: Logger;
  private nextXid = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly framer: Framer;
  private out: Writer | null = null;
  private flushScheduled = false;
  private lastRx = Date.now();
  private echoTimer?: NodeJS.Timeout;
  private handshakeTimer?: NodeJS.Timeout;
  private readonly o: Required<ConnectionOptions>;
  readonly remote: string;
  readonly connectedAt = Date.now();

  constructor(readonly socket: Socket, log: Logger, opts: ConnectionOptions = {}) {
    super();
    this.o = {
      echoIntervalMs: 5000, deadAfterMs: 15000, requestTimeoutMs: 10000, handshakeTimeoutMs: 10000,
      highWaterMark: 4 * 1024 * 1024, maxFrame: 65535, ...opts,
    };
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.log = log.child({ remote: this.remote });
    this.framer = new Framer(this.o.maxFrame);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.log.debug({ err: e.message }, 'socket error'));
    socket.on('close', () => this.teardown('socket closed'));
    this.handshakeTimer = setTimeout(() => this.close(`no handshake within ${this.o.handshakeTimeoutMs} ms`), this.o.handshakeTimeoutMs);
    this.echoTimer = setInterval(() => this.keepalive(), Math.max(100, Math.floor(this.o.echoIntervalMs / 2)));
    this.send({ type: 'hello', elements: [{ type: 'versionbitmap', bitmaps: [1 << OFP_VERSION] }] });
  }

  /**
   * Queue a message; returns its xid. A message without an xid (or with xid 0,
   * as built by helpers such as flowMod()) gets a fresh one, so errors and
   * replies map back to it. Writes are batched per tick.
   */
  send(m: Outgoing): number {
    return this.write(m, m.xid ? m.xid : this.allocXid());
  }

  /** Queue a message with exactly this xid (replies to the switch keep its xid, 0 included). */
  private write(m: Outgoing, xid: number): number {
    if (this.state === 'closed') throw new ConnectionClosed('connection closed');
    if (!this.out) this.out = new Writer(16384);
    encodeInto(this.out, m, xid);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
    return xid;
  }

  /** True when the socket has more queued than the high-water mark. */
  get congested(): boolean {
    return this.socket.writableLength > this.o.highWaterMark;
  }

  /** Resolves when the socket has drained below the high-water mark. */
  async drained(): Promise<void> {
    if (!this.congested || this.state === 'closed') return;
    await new Promise<void>((res) => {
      const done = () => { this.socket.off('drain', done); this.off('close', done); res(); };
      this.socket.on('drain', done);
      this.once('close', done);
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    const w = this.out;
    this.out = null;
    if (!w || w.pos === 0 || this.socket.destroyed) return;
    this.socket.write(w.finish());
  }

  private allocXid(): number {
    const x = this.nextXid;
    this.nextXid = this.nextXid >= 0xfffffff0 ? 1 : this.nextXid + 1;
    return x;
  }

  /**
   * Send a request and resolve with its reply (for multipart: every part,
   * reassembled until a reply without OFPMPF_REPLY_MORE). Rejects with
   * OfErrorReply if the switch answers OFPT_ERROR, RequestTimeout on timeout.
   */
  request(m: Outgoing, timeoutMs = this.o.requestTimeoutMs): Promise<OfpMessage[]> {
    return new Promise((resolve, reject) => {
      let xid: number;
      try {
        xid = this.send(m);
      } catch (e) {
        reject(e as Error);
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(xid);
        reject(new RequestTimeout(`${m.type} xid ${xid} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(xid, { resolve, reject, timer, parts: [] });
    });
  }

  /** A multipart request; resolves with the reply bodies in order. */
  async multipart<K extends MultipartReplyBody['kind']>(body: Extract<Outgoing, { type: 'multipart_request' }>['body'] & { kind: K }, timeoutMs?: number): Promise<Extract<MultipartReplyBody, { kind: K }>[]> {
    const replies = await this.request({ type: 'multipart_request', flags: 0, body }, timeoutMs);
    return replies.map((r) => (r as MultipartReply).body as Extract<MultipartReplyBody, { kind: K }>);
  }

  /** Barrier: resolves when the switch has processed everything sent before. */
  async barrier(timeoutMs?: number): Promise<void> {
    await this.request({ type: 'barrier_request' }, timeoutMs);
  }

  close(reason = 'closed by controller'): void {
    if (this.state === 'closed') return;
    this.log.info({ reason }, 'closing connection');
    this.flush();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.teardown(reason);
  }

  private teardown(reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearInterval(this.echoTimer);
    clearTimeout(this.handshakeTimer);
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ConnectionClosed(reason));
    }
    this.pending.clear();
    if (!this.socket.destroyed) this.socket.destroy();
    this.emit('close', reason);
  }

  private keepalive(): void {
    if (this.state === 'closed') return;
    const idle = Date.now() - this.lastRx;
    if (idle > this.o.deadAfterMs) {
      this.log.warn({ idleMs: idle }, 'switch silent, declaring it dead');
      this.close('echo timeout');
    } else if (idle > this.o.echoIntervalMs && this.state !== 'hello') {
      this.send({ type: 'echo_request', data: Buffer.alloc(0) });
    }
  }

  private onData(chunk: Buffer): void {
    this.lastRx = Date.now();
    try {
      this.framer.push(chunk, (f) => this.onFrame(f));
    } catch (e) {
      if (e instanceof FramingError) {
        this.log.warn({ err: e.message }, 'unrecoverable framing error');
        this.sendError(OFPET_BAD_REQUEST, 6 /* OFPBRC_BAD_LEN */, chunk.subarray(0, 64));
        this.close(`framing: ${e.message}`);
        return;
      }
      throw e;
    }
  }

  private sendError(errType: number, code: number, data: Buffer, xid = 0): void {
    try {
      this.write({ type: 'error', errType, code, data: Buffer.from(data) }, xid);
    } catch { /* closed */ }
  }

  private onFrame(frame: Buffer): void {
    if (this.state === 'closed') return;
    let m: OfpMessage;
    try {
      m = decodeMessage(frame);
    } catch (e) {
      if (!(e instanceof OfDecodeError)) throw e;
      this.log.warn({ err: e.message, errType: e.errType, errCode: e.errCode }, 'malformed message from switch');
      this.emit('decode-error', e, frame);
      const xid = frame.readUInt32BE(4);
      if (this.state === 'hello') {
        this.sendHelloFailed(`bad hello: ${e.message}`);
        return;
      }
      this.sendError(e.errType, e.errCode, frame.subarray(0, 64), xid);
      return;
    }
    this.dispatch(m);
  }

  private sendHelloFailed(text: string): void {
    this.sendError(OFPET_HELLO_FAILED, OFPHFC_INCOMPATIBLE, Buffer.from(text, 'ascii'));
    this.close(text);
  }

  private dispatch(m: OfpMessage): void {
    switch (m.type) {
      case 'hello':
        if (this.state === 'hello') this.onHello(m);
        return;
      case 'echo_request':
        this.write({ type: 'echo_reply', data: m.data }, m.xid);
        return;
      case 'echo_reply':
        if (!this.pending.has(m.xid)) return;
        break;
    }
    const p = this.pending.get(m.xid);
    if (p) {
      if (m.type === 'error') {
        this.pending.delete(m.xid);
        clearTimeout(p.timer);
        p.reject(new OfErrorReply(m));
        return;
      }
      p.parts.push(m);
      if (m.type === 'multipart_reply' && (m.flags & OFPMPF_REPLY_MORE)) return;
      this.pending.delete(m.xid);
      clearTimeout(p.timer);
      p.resolve(p.parts);
      return;
    }
    if (m.type === 'port_status') this.applyPortStatus(m.reason, m.desc);
    this.emit('message', m);
  }

  private onHello(h: Hello): void {
    const bitmap = h.elements.find((e) => e.type === 'versionbitmap');
    const peerVersion = h.version ?? OFP_VERSION;
    const ok = bitmap && bitmap.type === 'versionbitmap'
      ? ((bitmap.bitmaps[0] ?? 0) & (1 << OFP_VERSION)) !== 0
      : peerVersion >= OFP_VERSION;
    if (!ok) {
      this.log.warn({ peerVersion }, 'switch offers no OpenFlow version we speak');
      this.sendHelloFailed(`Weft speaks OpenFlow 1.3 (0x04) only; peer offered version 0x${peerVersion.toString(16)}`);
      return;
    }
    this.state = 'features';
    void this.handshake();
  }

  private async handshake(): Promise<void> {
    try {
      const [fr] = await this.request({ type: 'features_request' });
      this.features = fr as FeaturesReply;
      this.dpid = dpidToString(this.features.datapath_id);
      this.log = this.log.child({ dpid: this.dpid });
      const parts = await this.multipart({ kind: 'port_desc' });
      this.ports = parts.flatMap((b) => b.ports);
      clearTimeout(this.handshakeTimer);
      this.state = 'ready';
      this.log.info({ ports: this.ports.length, n_tables: this.features.n_tables }, 'switch connected');
      this.emit('ready', this.features, this.ports);
    } catch (e) {
      if (this.state !== 'closed') this.close(`handshake failed: ${(e as Error).message}`);
    }
  }

  private applyPortStatus(reason: number, desc: Port): void {
    const i = this.ports.findIndex((p) => p.port_no === desc.port_no);
    if (reason === 1 /* OFPPR_DELETE */) {
      if (i >= 0) this.ports.splice(i, 1);
    } else if (i >= 0) this.ports[i] = desc;
    else this.ports.push(desc);
  }
}
