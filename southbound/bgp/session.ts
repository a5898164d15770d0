// One BGP-4 session to a peer (RFC 4271 §8, a subset of the FSM): Weft opens
// the TCP connection (it never listens), sends OPEN, and goes Idle ->
// Connect -> OpenSent -> OpenConfirm -> Established; any error closes the
// connection (with a NOTIFICATION, §6) and a new attempt follows after the
// connect-retry interval. Timers (§10): a 4-minute hold timer until the
// peer's OPEN (§8.2.2), then the negotiated hold time (the smaller of ours and
// the peer's), KEEPALIVEs every third of it. It only speaks: UPDATEs from the
// peer are read and ignored. What to announce comes from the caller, through
// advertise(); the session remembers what it sent (its Adj-RIB-Out, §9.2) and
// sends only the differences. The first table of a session is followed by
// End-of-RIB (RFC 4724 §2).
//
// Graceful restart, the restarting speaker's side (RFC 4724): with a restart
// time, the OPEN carries the Graceful Restart capability for IPv4 unicast
// with the Forwarding State bit (the switches keep their flows while no
// controller programs them) and the Restart State bit once the speaker has
// restarted. A peer that has it too keeps our routes, stale, when the
// connection drops and until our End-of-RIB in the next session (or the
// restart time). So with a restart time the session is never ended with a
// NOTIFICATION by stop() (that would flush the routes, RFC 4724 §4): the
// connection is just closed.
import net from 'node:net';
import type { Logger } from 'pino';
import { FramingError } from '../channel/framer';
import { BgpFramer, BGP_TYPE, messageBody, messageType } from './header';
import {
  BGP_ERR, BGP_SUBCODE, BGP_VERSION, checkMessage, decodeOpen, encodeEndOfRib, encodeKeepalive, encodeNotification, encodeOpen,
} from './messages';
import { AFI_IPV4, BgpCapabilities, BgpOpenError, OwnCapabilities, SAFI_UNICAST } from './capabilities';
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
  /** Graceful restart (RFC 4724): the Restart Time to advertise, seconds (1..4095); 0 or absent: no capability. */
  restartTime?: number;
  /** The local address to connect from (the address the peer has configured as its neighbor); the kernel's choice when absent. */
  localAddress?: string;
}

/** Graceful restart as this session has it (GET /v1/bgp). */
export interface GracefulRestartStatus {
  /** Both sides advertised the capability in this session. */
  negotiated: boolean;
  /** The Restart Time we advertise (null: no capability). */
  restartTime: number | null;
  /** The Restart State bit of our last OPEN. */
  restartState: boolean;
  /** The peer's Restart Time, when its last OPEN had the capability. */
  peerRestartTime: number | null;
  /** End-of-RIB sent in this session (after the first table). */
  endOfRibSent: boolean;
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
  /**
   * The Restart State bit for the next OPEN: set by the owner when this
   * speaker is a restarted one, and by the session itself once a session
   * of it has been up.
   */
  restarting = false;
  private sentRestartState = false;
  private peerCaps: BgpCapabilities | null = null;
  private endOfRibSent = false;

  /** `onEstablished` runs each time the session comes up, to send the whole table. */
  constructor(readonly cfg: BgpSessionConfig, private readonly log: Logger, private readonly onEstablished: () => void) {}

  private get restartTime(): number {
    return this.cfg.restartTime ?? 0;
  }

  /** What our OPEN says: IPv4 unicast, and graceful restart with a restart time. */
  private capabilities(): OwnCapabilities {
    const families = [{ afi: AFI_IPV4, safi: SAFI_UNICAST }];
    if (!this.restartTime) return { families };
    return { families, gracefulRestart: { restartState: this.restarting, restartTime: this.restartTime, families: families.map((f) => ({ ...f, forwarding: true })) } };
  }

  get gracefulRestart(): GracefulRestartStatus {
    const peer = this.peerCaps?.gracefulRestart ?? null;
    return {
      negotiated: this.restartTime > 0 && peer !== null, restartTime: this.restartTime || null, restartState: this.sentRestartState,
      peerRestartTime: peer?.restartTime ?? null, endOfRibSent: this.endOfRibSent,
    };
  }

  /** Routes announced to the peer in this session. */
  get advertised(): number {
    return this.sent.size;
  }

  /** Opens the session (again after stop()), retrying until stop(). */
  start(): void {
    this.stopped = false;
    this.connect();
  }

  private connect(): void {
    if (this.stopped || this.sock) return;
    const { peer } = this.cfg;
    this.state = 'connect';
    const s = net.connect({ host: peer.address, port: peer.port ?? BGP_PORT, ...(this.cfg.localAddress ? { localAddress: this.cfg.localAddress } : {}) });
    this.sock = s;
    const framer = new BgpFramer();
    s.setNoDelay(true);
    // a peer that drops the SYN: give up after the connect-retry interval, not the kernel's two minutes
    const connectTimer = setTimeout(() => { this.lastError = 'connect timed out'; s.destroy(); }, RETRY_MS);
    s.on('connect', () => {
      clearTimeout(connectTimer);
      const caps = this.capabilities();
      s.write(encodeOpen(this.cfg.asn, BGP_HOLD_TIME, this.cfg.routerId, caps));
      this.sentRestartState = caps.gracefulRestart?.restartState ?? false;
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
    s.on('error', (e) => { clearTimeout(connectTimer); this.down(s, e.message); });
    s.on('close', () => { clearTimeout(connectTimer); this.down(s, this.lastError ?? 'connection closed'); });
  }

  private onMessage(type: number, body: Buffer): void {
    const bad = checkMessage(type, body);
    if (bad) return this.fail(bad.why, [bad.code, bad.subcode, bad.data]);
    this.armHold(this.holdTime);
    if (type === BGP_TYPE.OPEN) {
      if (this.state !== 'opensent') return this.fail('unexpected OPEN', [BGP_ERR.FSM, BGP_SUBCODE.UNSPECIFIC]);
      let o: ReturnType<typeof decodeOpen>;
      try {
        o = decodeOpen(body);
      } catch (e) {
        if (e instanceof BgpOpenError) return this.fail(`peer's OPEN: ${e.message}`, [BGP_ERR.OPEN_MESSAGE, e.subcode, e.data]);
        throw e;
      }
      const want = this.cfg.peer.asn;
      if (o.version !== BGP_VERSION) return this.fail(`peer speaks BGP version ${o.version}`, [BGP_ERR.OPEN_MESSAGE, BGP_SUBCODE.UNSUPPORTED_VERSION_NUMBER]);
      if (o.asn !== want) return this.fail(`peer AS ${o.asn}, configured ${want}`, [BGP_ERR.OPEN_MESSAGE, BGP_SUBCODE.BAD_PEER_AS]);
      // §4.2: a hold time of 1 or 2 seconds must be refused
      if (o.holdTime !== 0 && o.holdTime < 3) return this.fail(`hold time ${o.holdTime}`, [BGP_ERR.OPEN_MESSAGE, BGP_SUBCODE.UNACCEPTABLE_HOLD_TIME]);
      this.holdTime = o.holdTime === 0 ? 0 : Math.min(BGP_HOLD_TIME, o.holdTime);
      this.peerCaps = o.capabilities;
      this.sock!.write(encodeKeepalive());
      this.state = 'openconfirm';
      if (this.holdTime > 0) this.keepalive = setInterval(() => this.sock?.write(encodeKeepalive()), Math.max(1000, (this.holdTime * 1000) / 3));
      this.armHold(this.holdTime);
    } else if (type === BGP_TYPE.KEEPALIVE) {
      if (this.state === 'openconfirm') {
        this.state = 'established';
        this.upSince = new Date().toISOString();
        this.lastError = null;
        // a session that drops from now on is a restart for the next OPEN
        this.restarting = true;
        this.log.info({ peer: this.cfg.peer.address, asn: this.cfg.peer.asn, gracefulRestart: this.gracefulRestart.negotiated }, 'BGP session established');
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
   * The first call of a session ends with End-of-RIB (also when there is
   * nothing to announce): a graceful-restart peer then drops whatever of
   * ours it kept that was not announced again. Does nothing unless the
   * session is Established.
   */
  advertise(routes: BgpRoute[]): void {
    if (this.state !== 'established' || !this.sock) return;
    const want = new Map(routes.map((r) => [r.prefix, r.nextHop]));
    const withdrawn = [...this.sent.keys()].filter((p) => !want.has(p));
    const announce = [...want].filter(([p, h]) => this.sent.get(p) !== h).map(([prefix, nextHop]) => ({ prefix, nextHop }));
    if (withdrawn.length || announce.length) {
      for (const m of encodeUpdates(this.cfg.asn, this.cfg.peer.asn, announce, withdrawn)) this.sock.write(m);
      this.sent = want;
      this.log.debug({ peer: this.cfg.peer.address, announced: announce.length, withdrawn: withdrawn.length }, 'BGP routes sent');
    }
    if (!this.endOfRibSent) {
      this.sock.write(encodeEndOfRib());
      this.endOfRibSent = true;
      this.log.info({ peer: this.cfg.peer.address, routes: want.size }, 'BGP End-of-RIB sent');
    }
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

  /** The connection `s` is gone: back to Idle, and a new attempt later unless stopped. */
  private down(s: net.Socket, why: string): void {
    if (this.sock !== s) return; // an older connection, already let go
    const wasUp = this.state === 'established';
    this.reset();
    if (why && !this.lastError) this.lastError = why;
    if (wasUp) this.log.warn({ peer: this.cfg.peer.address, why }, 'BGP session down');
    if (!this.stopped) this.retry = setTimeout(() => { this.retry = undefined; this.connect(); }, RETRY_MS);
  }

  private reset(): void {
    this.sock?.destroy();
    this.sock = undefined;
    this.state = 'idle';
    this.upSince = null;
    this.sent.clear();
    this.endOfRibSent = false;
    this.peerCaps = null;
    if (this.keepalive) clearInterval(this.keepalive);
    if (this.hold) clearTimeout(this.hold);
    this.keepalive = this.hold = undefined;
  }

  /**
   * Closes the session until the next start(). Without graceful restart an
   * established session gets Cease, Administrative Shutdown, and the peer
   * withdraws our routes; with it the connection is only closed, so the
   * peer keeps them, stale, for the restart time (another controller, or
   * this one restarted, announces them again).
   */
  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = undefined;
    if (this.sock && this.state === 'established' && !this.restartTime) {
      try { this.sock.write(encodeNotification(BGP_ERR.CEASE, BGP_SUBCODE.ADMINISTRATIVE_SHUTDOWN)); } catch { /* the socket is going anyway */ }
    }
    if (this.sock) this.log.info({ peer: this.cfg.peer.address, gracefulRestart: !!this.restartTime }, 'BGP session closed');
    this.reset();
  }
}
