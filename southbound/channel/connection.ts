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
  OFPET_BAD_REQUEST, Hello, OFPP_MAX, OFPP_LOCAL,
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
  /**
   * Largest multipart reply, in bytes on the wire summed over its parts
   * (OFPMPF_REPLY_MORE reassembly); a switch that sends more is cut off.
   * The handshake's port-desc is held to the smaller of this and
   * PORT_DESC_MAX_BYTES (what 65535 ports take).
   */
  maxMultipartBytes?: number;
  /**
   * Most bytes one connection may hold: what waits to be written to the
   * switch (including the socket's queue) plus the multipart replies being
   * reassembled. Above it the connection is closed.
   */
  maxBufferedBytes?: number;
  /**
   * When a new session claims a dpid that has a live session, the old one
   * is probed with an ECHO_REQUEST; it keeps the dpid (and the newcomer is
   * refused) if it answers, or sends anything, within this many ms.
   */
  takeoverProbeMs?: number;
  /**
   * With TLS, let a certificate that names no dpid claim any (the behaviour
   * before dpid binding, for certificates made elsewhere). Default false: such
   * a certificate covers none.
   */
  allowUnboundCertificates?: boolean;
  // Listener limits (OfServer): a connection over one of them is refused.
  /** Connections at once, all addresses together. */
  maxConnections?: number;
  /** Connections at once from one source address. */
  maxConnectionsPerAddress?: number;
  /** Connections at once that have not finished the handshake (TLS, HELLO, FEATURES, port-desc). */
  maxHandshakes?: number;
  /** Of those, from one source address: one address can never hold every handshake slot. */
  maxHandshakesPerAddress?: number;
}

/** What the limits default to: generous for Mininet fat-trees and cbench on one address. */
export const CONNECTION_DEFAULTS: Required<ConnectionOptions> = {
  echoIntervalMs: 5000, deadAfterMs: 15000, requestTimeoutMs: 10000, handshakeTimeoutMs: 10000,
  highWaterMark: 4 * 1024 * 1024, maxFrame: 65535,
  maxMultipartBytes: 16 * 1024 * 1024, maxBufferedBytes: 64 * 1024 * 1024, takeoverProbeMs: 3000, allowUnboundCertificates: false,
  maxConnections: 1024, maxConnectionsPerAddress: 256, maxHandshakes: 256, maxHandshakesPerAddress: 64,
};

/** The most ports a switch may have (port-status adds beyond it close the connection). */
export const MAX_PORTS = 4096;

/** 65535 ports of 64 bytes, in parts of at most 65535 bytes with 16-byte headers: the largest sane port-desc. */
export const PORT_DESC_MAX_BYTES = 4 * 1024 * 1024 + 64 * 1024;

/**
 * What a switch's TLS certificate lets it claim (southbound/channel/identity.ts):
 * `covers(dpid)` says whether it may be that datapath.
 */
export interface SwitchIdentity {
  /** Names the certificate in logs (its subject). */
  subject: string;
  /** The dpids (16 lowercase hex digits) the certificate is bound to. */
  dpids: ReadonlySet<string>;
  covers(dpid: string): boolean;
}

/** A limit of the channel was exceeded; the connection is closed. */
export class LimitExceeded extends Error {
  override readonly name = 'LimitExceeded';
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
  /** Wire bytes of the parts so far, and the most allowed. */
  bytes: number;
  maxBytes: number;
}

export interface RequestOptions {
  timeoutMs?: number;
  /** Cap on the reply's bytes (multipart: all parts); default maxMultipartBytes. */
  maxBytes?: number;
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
  /** port_no -> index in ports (rebuilt when the handshake's port-desc replaces them) */
  private portIndex = new Map<number, number>();
  log: Logger;
  private nextXid = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly framer: Framer;
  private out: Writer | null = null;
  private flushScheduled = false;
  private lastRx = Date.now();
  /** when the keepalive last ran (a late one means the event loop was busy) */
  private lastTick = 0;
  private echoTimer?: NodeJS.Timeout;
  private handshakeTimer?: NodeJS.Timeout;
  private readonly o: Required<ConnectionOptions>;
  /** Bytes of multipart replies being reassembled, all requests together. */
  private reassembling = 0;
  readonly remote: string;
  /** The peer's IP address (without the port). */
  readonly remoteAddress: string;
  readonly connectedAt = Date.now();

  /**
   * `identity`: the switch's TLS certificate's claims; when given, a
   * FEATURES_REPLY with a dpid it does not cover closes the connection
   * before it is ready.
   */
  constructor(readonly socket: Socket, log: Logger, opts: ConnectionOptions = {}, readonly identity?: SwitchIdentity) {
    super();
    this.o = { ...CONNECTION_DEFAULTS };
    for (const [k, v] of Object.entries(opts)) if (v !== undefined) (this.o as Record<string, unknown>)[k] = v;
    this.remote = `${socket.remoteAddress}:${socket.remotePort}`;
    this.remoteAddress = socket.remoteAddress ?? '';
    this.log = log.child({ remote: this.remote });
    this.framer = new Framer(this.o.maxFrame);
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.log.debug({ err: e.message }, 'socket error'));
    socket.on('close', () => this.teardown('socket closed'));
    // judged after this turn's input is read (see request)
    this.handshakeTimer = setTimeout(() => setImmediate(() => {
      if (this.state !== 'ready' && this.state !== 'closed') this.abort(`no handshake within ${this.o.handshakeTimeoutMs} ms`);
    }), this.o.handshakeTimeoutMs);
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

  /**
   * Queue a message encoded before (encodeMessage), under a new xid: a flow
   * many switches get (another host's block) is encoded once for all of
   * them. Returns the xid.
   */
  sendEncoded(frame: Buffer): number {
    if (this.state === 'closed') throw new ConnectionClosed('connection closed');
    if (frame.length < 8 || frame.readUInt16BE(2) !== frame.length) throw new Error('sendEncoded: not one encoded OpenFlow message');
    const xid = this.allocXid();
    if (!this.out) this.out = new Writer(16384);
    const at = this.out.pos;
    this.out.bytes(frame);
    this.out.patchU32(at + 4, xid);
    this.afterWrite();
    return xid;
  }

  /** Queue a message with exactly this xid (replies to the switch keep its xid, 0 included). */
  private write(m: Outgoing, xid: number): number {
    if (this.state === 'closed') throw new ConnectionClosed('connection closed');
    if (!this.out) this.out = new Writer(16384);
    encodeInto(this.out, m, xid);
    this.afterWrite();
    return xid;
  }

  /** Output grew: over the limit, the connection is aborted; otherwise a flush is scheduled. */
  private afterWrite(): void {
    if (this.buffered > this.bufferLimit) {
      const msg = `${this.buffered} bytes buffered for the switch, over the limit of ${this.bufferLimit}`;
      this.abort(msg);
      throw new LimitExceeded(msg);
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /**
   * What this connection may hold: maxBufferedBytes once the switch is
   * ready; before, enough for the handshake's port-desc reply and little
   * more, so peers that never finish a handshake cannot pile up output.
   */
  private get bufferLimit(): number {
    return this.state === 'ready' ? this.o.maxBufferedBytes : Math.min(this.o.maxBufferedBytes, PORT_DESC_MAX_BYTES + 1024 * 1024);
  }

  /** Bytes this connection holds: unwritten output (ours and the socket's) and replies being reassembled. */
  get buffered(): number {
    return (this.out?.pos ?? 0) + this.socket.writableLength + this.reassembling;
  }

  /** Options in force (defaults filled in). */
  get options(): Readonly<Required<ConnectionOptions>> {
    return this.o;
  }

  /** When the switch last sent anything (ms since the epoch). */
  get lastReceived(): number {
    return this.lastRx;
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
  request(m: Outgoing, opt: number | RequestOptions = {}): Promise<OfpMessage[]> {
    const o = typeof opt === 'number' ? { timeoutMs: opt } : opt;
    const timeoutMs = o.timeoutMs ?? this.o.requestTimeoutMs;
    const maxBytes = o.maxBytes ?? this.o.maxMultipartBytes;
    return new Promise((resolve, reject) => {
      let xid: number;
      try {
        xid = this.send(m);
      } catch (e) {
        reject(e as Error);
        return;
      }
      // judged after this turn's input is read: a reply waiting in the socket while the event loop was
      // busy (a long computation, a garbage collection) arrived in time, it was only not read yet
      const timer = setTimeout(() => setImmediate(() => {
        const p = this.pending.get(xid);
        if (!p) return; // answered meanwhile
        this.settle(xid, p);
        reject(new RequestTimeout(`${m.type} xid ${xid} timed out after ${timeoutMs} ms`));
      }), timeoutMs);
      this.pending.set(xid, { resolve, reject, timer, parts: [], bytes: 0, maxBytes });
    });
  }

  /** A multipart request; resolves with the reply bodies in order. */
  async multipart<K extends MultipartReplyBody['kind']>(body: Extract<Outgoing, { type: 'multipart_request' }>['body'] & { kind: K }, opt?: number | RequestOptions): Promise<Extract<MultipartReplyBody, { kind: K }>[]> {
    const replies = await this.request({ type: 'multipart_request', flags: 0, body }, opt);
    return replies.map((r) => (r as MultipartReply).body as Extract<MultipartReplyBody, { kind: K }>);
  }

  /** Barrier: resolves when the switch has processed everything sent before. */
  async barrier(timeoutMs?: number): Promise<void> {
    await this.request({ type: 'barrier_request' }, timeoutMs);
  }

  /** Forgets a pending request and the bytes it held. */
  private settle(xid: number, p: Pending): void {
    this.pending.delete(xid);
    clearTimeout(p.timer);
    this.reassembling -= p.bytes;
  }

  /** Closes at once, dropping unsent output: a limit was exceeded (logged at warn with the remote and dpid). */
  abort(reason: string): void {
    if (this.state === 'closed') return;
    this.log.warn({ reason }, 'closing connection: limit exceeded'); // the child logger names remote and dpid
    this.out = null;
    this.socket.destroy();
    this.teardown(reason);
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
    this.reassembling = 0;
    if (!this.socket.destroyed) this.socket.destroy();
    this.emit('close', reason);
  }

  private keepalive(): void {
    if (this.state === 'closed') return;
    // a tick that comes late means this controller was busy: a switch is not silent while nobody listened
    const now = Date.now(), every = Math.max(100, Math.floor(this.o.echoIntervalMs / 2));
    const stalled = this.lastTick ? now - this.lastTick - every : 0;
    this.lastTick = now;
    if (stalled > every) this.lastRx = Math.min(now, this.lastRx + stalled);
    const idle = now - this.lastRx;
    if (idle > this.o.deadAfterMs) {
      // judged after this turn's input is read (see request): a controller that was busy has not heard a silent switch
      setImmediate(() => {
        const still = Date.now() - this.lastRx;
        if (this.state === 'closed' || still <= this.o.deadAfterMs) return;
        this.log.warn({ idleMs: still }, 'switch silent, declaring it dead');
        this.close('echo timeout');
      });
    } else if (idle > this.o.echoIntervalMs && this.state !== 'hello') {
      try { this.send({ type: 'echo_request', data: Buffer.alloc(0) }); } catch { /* over a limit: aborted */ }
    }
  }

  private onData(chunk: Buffer): void {
    this.lastRx = Date.now();
    try {
      this.framer.push(chunk, (f) => this.onFrame(f));
      if (this.state !== 'closed' && this.framer.buffered + this.buffered > this.bufferLimit) {
        this.abort(`${this.framer.buffered + this.buffered} bytes buffered, over the limit of ${this.bufferLimit}`);
      }
    } catch (e) {
      if (e instanceof FramingError) {
        this.log.warn({ err: e.message }, 'unrecoverable framing error');
        this.sendError(OFPET_BAD_REQUEST, 6 /* OFPBRC_BAD_LEN */, chunk.subarray(0, 64));
        this.close(`framing: ${e.message}`);
        return;
      }
      // a limit tripped while answering (LimitExceeded has closed it), or a bug: this connection ends, the process never does
      if (!(e instanceof LimitExceeded)) this.log.error({ err: (e as Error).stack }, 'error handling a message from the switch');
      this.abort(`error handling its messages: ${(e as Error).message}`);
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
    this.dispatch(m, frame.length);
  }

  private sendHelloFailed(text: string): void {
    this.sendError(OFPET_HELLO_FAILED, OFPHFC_INCOMPATIBLE, Buffer.from(text, 'ascii'));
    this.close(text);
  }

  private dispatch(m: OfpMessage, len: number): void {
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
        this.settle(m.xid, p);
        p.reject(new OfErrorReply(m));
        return;
      }
      p.parts.push(m);
      p.bytes += len;
      this.reassembling += len;
      if (p.bytes > p.maxBytes) {
        this.abort(`reply to xid ${m.xid} is over ${p.maxBytes} bytes (${p.parts.length} parts)`);
        return;
      }
      if (this.buffered > this.o.maxBufferedBytes) {
        this.abort(`${this.buffered} bytes buffered, over the limit of ${this.o.maxBufferedBytes}`);
        return;
      }
      if (m.type === 'multipart_reply' && (m.flags & OFPMPF_REPLY_MORE)) return;
      this.settle(m.xid, p);
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
      const unboundOk = this.o.allowUnboundCertificates && this.identity?.dpids.size === 0;
      if (this.identity && !unboundOk && !this.identity.covers(this.dpid)) {
        this.log.warn({ subject: this.identity.subject, certDpids: [...this.identity.dpids] }, // with remote and dpid (child logger)
          'switch refused: its certificate does not cover the dpid it claims');
        this.close(`certificate (${this.identity.subject}) does not cover dpid ${this.dpid}`);
        return;
      }
      const parts = await this.multipart({ kind: 'port_desc' }, { maxBytes: Math.min(this.o.maxMultipartBytes, PORT_DESC_MAX_BYTES) });
      this.ports = parts.flatMap((b) => b.ports);
      this.portIndex = new Map(this.ports.map((p, k) => [p.port_no, k]));
      clearTimeout(this.handshakeTimer);
      this.state = 'ready';
      this.log.info({ ports: this.ports.length, n_tables: this.features.n_tables }, 'switch connected');
      this.emit('ready', this.features, this.ports);
    } catch (e) {
      if (this.state !== 'closed') this.close(`handshake failed: ${(e as Error).message}`);
    }
  }

  private applyPortStatus(reason: number, desc: Port): void {
    // a port number a switch cannot have (above OFPP_MAX, but LOCAL) is not a port
    if (desc.port_no > OFPP_MAX && desc.port_no !== OFPP_LOCAL) {
      this.log.warn({ port_no: desc.port_no }, 'port-status for a reserved port number ignored');
      return;
    }
    // constant time per message: a switch may send port-status as fast as it likes
    const i = this.portIndex.get(desc.port_no);
    if (reason === 1 /* OFPPR_DELETE */) {
      if (i === undefined) return;
      const last = this.ports.pop()!;
      this.portIndex.delete(desc.port_no);
      if (i < this.ports.length) { this.ports[i] = last; this.portIndex.set(last.port_no, i); }
    } else if (i !== undefined) this.ports[i] = desc;
    else if (this.ports.length >= MAX_PORTS) this.abort(`more than ${MAX_PORTS} ports announced`);
    else { this.portIndex.set(desc.port_no, this.ports.length); this.ports.push(desc); }
  }
}
