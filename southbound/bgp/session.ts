// One BGP-4 session to a peer (RFC 4271 §8, a subset of the FSM): Weft opens
// the TCP connection (it never listens), sends OPEN, and goes Idle ->
// Connect -> OpenSent -> OpenConfirm -> Established; any error closes the
// connection (with a NOTIFICATION, §6) and a new attempt follows after the
// connect-retry interval. Timers (§10): a 4-minute hold timer until the
// peer's OPEN (§8.2.2), then the negotiated hold time (the smaller of ours and
// the peer's), KEEPALIVEs every third of it. It only speaks: UPDATEs from the
// peer are read and ignored. What to announce comes from the caller, through
// advertise(); the session remembers what it sent (its Adj-RIB-Out, §9.2) and
// sends only the differences.
import net from 'node:net';
import type { Logger } from 'pino';
import { FramingError } from '../channel/framer';
import { BgpFramer, BGP_TYPE, messageBody, messageType } from './header';
import {
  BGP_ERR, BGP_SUBCODE, BGP_VERSION, checkMessage, decodeOpen, encodeKeepalive, encodeNotification, encodeOpen,
} from './messages';
import { BgpRoute, encodeUpdates } from './update';

export const BGP_PORT = 179;
/** Our proposed hold time, seconds (§10 suggests 90). */
export const BGP_HOLD_TIME = 90;
/** Hold timer while waiting for the peer's OPEN (§8.2.2: "4 minutes is suggested"). */
const OPEN_HOLD_TIME = 240;
/** Wait before reconnecting, and the longest a TCP connect may take. */
const RETRY_MS = 5000;
/** How long a closing connection may take to flush its NOTIFICATION. */
const LINGER_MS = 1000;

export interface BgpPeerConfig { address: string; asn: number; port?: number }

export interface BgpSessionConfig {
  /** Our AS (two octets) and BGP Identifier. */
  asn: number;
  routerId: string;
  peer: BgpPeerConfig;
}

/** The FSM states (§8.2.2) the session passes through; Active is not used (no listening). */
export type BgpState = 'idle' | 'connect' | 'opensent' | 'openconfirm' | 'established';

type Notification = [code: number, subcode: number, data?: Buffer];

export class BgpSession {
  state: BgpState = 'idle';
  lastError: string | null = null;
  /** When the session last became Established (ISO time), while it is. */
  upSince: string | null = null;
  private sock?: net.Socket;
  private retry?: NodeJS.Timeout;
  private keepalive?: NodeJS.Timeout;
  private hold?: NodeJS.Timeout;
  private holdTime = BGP_HOLD_TIME;
  /** Adj-RIB-Out: prefix -> next hop announced in this session. */
  private sent = new Map<string, string>();
  private stopped = false;

  /** `onEstablished` runs each time the session comes up, to send the whole table. */
  constructor(readonly cfg: BgpSessionConfig, private readonly log: Logger, private readonly onEstablished: () => void) {}

  /** Routes announced to the peer in this session. */
  get advertised(): number {
    return this.sent.size;
  }

  start(): void {
    if (this.stopped || this.sock) return;
    const { peer } = this.cfg;
    this.state = 'connect';
    const s = net.connect({ host: peer.address, port: peer.port ?? BGP_PORT });
    this.sock = s;
    const framer = new BgpFramer();
    s.setNoDelay(true);
    // a peer that drops the SYN: give up after the connect-retry interval, not the kernel's two minutes
    const connectTimer = setTimeout(() => { this.lastError = 'connect timed out'; s.destroy(); }, RETRY_MS);
    s.on('connect', () => {
      clearTimeout(connectTimer);
      s.write(encodeOpen(this.cfg.asn, BGP_HOLD_TIME, this.cfg.routerId));
      this.state = 'opensent';
      this.armHold(OPEN_HOLD_TIME);
    });
    s.on('data', (d: Buffer) => {
      try {
        // the whole chunk is framed before any message acts, so a bad frame stops the chunk before it
        const frames: Buffer[] = [];
        framer.push(d, (m) => frames.push(m));
        for (const m of frames) {
          if (this.sock !== s || s.writableEnded) return; // failed on an earlier message of the chunk
          this.onMessage(messageType(m), messageBody(m));
        }
      } catch (e) {
        if (e instanceof FramingError) {
          // §6.1: a bad marker is Connection Not Synchronized; a length outside 19..4096 Bad Message Length, with the Length field
          if (e.reason === 'marker') this.fail(e.message, [BGP_ERR.MESSAGE_HEADER, BGP_SUBCODE.CONNECTION_NOT_SYNCHRONIZED]);
          else {
            const len = Buffer.alloc(2);
            len.writeUInt16BE(e.length ?? 0);
            this.fail(e.message, [BGP_ERR.MESSAGE_HEADER, BGP_SUBCODE.BAD_MESSAGE_LENGTH, len]);
          }
          return;
        }
        // an undecodable message: Message Header Error, no subcode
        this.fail((e as Error).message, [BGP_ERR.MESSAGE_HEADER, BGP_SUBCODE.UNSPECIFIC]);
      }
    });
    s.on('error', (e) => { clearTimeout(connectTimer); this.down(e.message); });
    s.on('close', () => { clearTimeout(connectTimer); this.down(this.lastError ?? 'connection closed'); });
  }

  private onMessage(type: number, body: Buffer): void {
    const bad = checkMessage(type, body);
    if (bad) return this.fail(bad.why, [bad.code, bad.subcode, bad.data]);
    this.armHold(this.holdTime);
    if (type === BGP_TYPE.OPEN) {
      if (this.state !== 'opensent') return this.fail('unexpected OPEN', [BGP_ERR.FSM, BGP_SUBCODE.UNSPECIFIC]);
      const o = decodeOpen(body);
      const want = this.cfg.peer.asn;
      if (o.version !== BGP_VERSION) return this.fail(`peer speaks BGP version ${o.version}`, [BGP_ERR.OPEN_MESSAGE, BGP_SUBCODE.UNSUPPORTED_VERSION_NUMBER]);
      if (o.asn !== want) return this.fail(`peer AS ${o.asn}, configured ${want}`, [BGP_ERR.OPEN_MESSAGE, BGP_SUBCODE.BAD_PEER_AS]);
      // §4.2: a hold time of 1 or 2 seconds must be refused
      if (o.holdTime !== 0 && o.holdTime < 3) return this.fail(`hold time ${o.holdTime}`, [BGP_ERR.OPEN_MESSAGE, BGP_SUBCODE.UNACCEPTABLE_HOLD_TIME]);
      this.holdTime = o.holdTime === 0 ? 0 : Math.min(BGP_HOLD_TIME, o.holdTime);
      this.sock!.write(encodeKeepalive());
      this.state = 'openconfirm';
      if (this.holdTime > 0) this.keepalive = setInterval(() => this.sock?.write(encodeKeepalive()), Math.max(1000, (this.holdTime * 1000) / 3));
      this.armHold(this.holdTime);
    } else if (type === BGP_TYPE.KEEPALIVE) {
      if (this.state === 'openconfirm') {
        this.state = 'established';
        this.upSince = new Date().toISOString();
        this.lastError = null;
        this.log.info({ peer: this.cfg.peer.address, asn: this.cfg.peer.asn }, 'BGP session established');
        this.onEstablished();
      }
    } else if (type === BGP_TYPE.NOTIFICATION) {
      this.lastError = `peer sent NOTIFICATION ${body[0]}/${body[1]}`;
      this.sock?.destroy();
    } else if (type === BGP_TYPE.UPDATE) {
      if (this.state !== 'established') return this.fail('UPDATE before the session was up', [BGP_ERR.FSM, BGP_SUBCODE.UNSPECIFIC]);
      // routes from the peer are not used
    }
  }

  /**
   * Makes the peer's view `routes`: announces what is new or has a new next
   * hop and withdraws what is gone since the last call in this session.
   * Does nothing unless the session is Established.
   */
  advertise(routes: BgpRoute[]): void {
    if (this.state !== 'established' || !this.sock) return;
    const want = new Map(routes.map((r) => [r.prefix, r.nextHop]));
    const withdrawn = [...this.sent.keys()].filter((p) => !want.has(p));
    const announce = [...want].filter(([p, h]) => this.sent.get(p) !== h).map(([prefix, nextHop]) => ({ prefix, nextHop }));
    if (!withdrawn.length && !announce.length) return;
    for (const m of encodeUpdates(this.cfg.asn, this.cfg.peer.asn, announce, withdrawn)) this.sock.write(m);
    this.sent = want;
    this.log.debug({ peer: this.cfg.peer.address, announced: announce.length, withdrawn: withdrawn.length }, 'BGP routes sent');
  }

  private armHold(seconds: number): void {
    if (this.hold) clearTimeout(this.hold);
    this.hold = seconds > 0 ? setTimeout(() => this.fail('hold timer expired', [BGP_ERR.HOLD_TIMER_EXPIRED, BGP_SUBCODE.UNSPECIFIC]), seconds * 1000) : undefined;
  }

  private fail(why: string, [code, sub, data]: Notification): void {
    this.lastError = why;
    this.log.warn({ peer: this.cfg.peer.address, why, code, subcode: sub }, 'BGP session error');
    const s = this.sock;
    if (!s || s.writableEnded) return;
    if (this.hold) clearTimeout(this.hold);
    if (this.keepalive) clearInterval(this.keepalive);
    // the NOTIFICATION goes out before the close (end flushes it); destroy if the peer does not let go
    try { s.end(encodeNotification(code, sub, data)); } catch { s.destroy(); return; }
    setTimeout(() => s.destroy(), LINGER_MS).unref();
  }

  private down(why: string): void {
    if (!this.sock) return;
    const wasUp = this.state === 'established';
    this.sock.destroy();
    this.sock = undefined;
    this.state = 'idle';
    this.upSince = null;
    this.sent.clear();
    if (this.keepalive) clearInterval(this.keepalive);
    if (this.hold) clearTimeout(this.hold);
    this.keepalive = this.hold = undefined;
    if (why && !this.lastError) this.lastError = why;
    if (wasUp) this.log.warn({ peer: this.cfg.peer.address, why }, 'BGP session down');
    if (!this.stopped) this.retry = setTimeout(() => { this.retry = undefined; this.start(); }, RETRY_MS);
  }

  /** Closes the session for good (Cease, Administrative Shutdown, when it is up). */
  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.sock && this.state === 'established') {
      try { this.sock.write(encodeNotification(BGP_ERR.CEASE, BGP_SUBCODE.ADMINISTRATIVE_SHUTDOWN)); } catch { /* the socket is going anyway */ }
    }
    this.sock?.destroy();
    if (this.keepalive) clearInterval(this.keepalive);
    if (this.hold) clearTimeout(this.hold);
  }
}
