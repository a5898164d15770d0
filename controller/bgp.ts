// A small BGP-4 speaker (RFC 4271) that advertises routed networks to the
// underlay's routers, the Calico model: each host block of a routed network
// is announced with the owning host's underlay address as next hop (and an
// endpoint on a borrowed address as a /32), so routers learn where container
// addresses live without static routes. It only speaks: routes it receives
// are read and ignored.
//
// One TCP session per configured peer, opened by Weft (port 179 by default)
// and re-opened after a failure. Two-octet AS numbers, IPv4 unicast, no
// optional capabilities. eBGP peers get our AS prepended; iBGP peers (same
// AS) get LOCAL_PREF 100. Keepalives every hold/3; a session with no message
// for the hold time is closed with a NOTIFICATION.
import net from 'node:net';
import type { Logger } from 'pino';
import { intToIp, ipToInt, prefixMask } from './ipv4';

export const BGP_PORT = 179;
const MARKER = Buffer.alloc(16, 0xff);
const TYPE = { open: 1, update: 2, notification: 3, keepalive: 4 } as const;
const HOLD_TIME = 90;
const RETRY_MS = 5000;
const MAX_MESSAGE = 4096;

/** A route to announce: prefix "a.b.c.d/len" and its next hop. */
export interface BgpRoute { prefix: string; nextHop: string }

export interface BgpPeerConfig { address: string; asn: number; port?: number }

export interface BgpConfig {
  asn: number;
  routerId: string;
  peers: BgpPeerConfig[];
}

export class BgpError extends Error {}

// ---- encoding ---------------------------------------------------------------

function message(type: number, body: Buffer): Buffer {
  const len = 19 + body.length;
  if (len > MAX_MESSAGE) throw new BgpError(`BGP message of ${len} bytes`);
  const h = Buffer.alloc(19);
  MARKER.copy(h);
  h.writeUInt16BE(len, 16);
  h[18] = type;
  return Buffer.concat([h, body]);
}

export function encodeOpen(asn: number, holdTime: number, routerId: string): Buffer {
  const b = Buffer.alloc(10);
  b[0] = 4;
  b.writeUInt16BE(asn, 1);
  b.writeUInt16BE(holdTime, 3);
  b.writeUInt32BE(ipToInt(routerId), 5);
  b[9] = 0; // no optional parameters
  return message(TYPE.open, b);
}

export const encodeKeepalive = (): Buffer => message(TYPE.keepalive, Buffer.alloc(0));

export function encodeNotification(code: number, subcode: number): Buffer {
  return message(TYPE.notification, Buffer.from([code, subcode]));
}

function encodePrefix(prefix: string): Buffer {
  const [ip, lenS] = prefix.split('/');
  const len = Number(lenS);
  const n = (ipToInt(ip!) & prefixMask(len)) >>> 0;
  const bytes = Math.ceil(len / 8);
  const b = Buffer.alloc(1 + bytes);
  b[0] = len;
  for (let i = 0; i < bytes; i++) b[1 + i] = (n >>> (24 - 8 * i)) & 0xff;
  return b;
}

function attr(flags: number, type: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([flags, type, value.length]), value]);
}

/**
 * UPDATE messages announcing `routes` (grouped by next hop) and withdrawing
 * `withdrawn` prefixes, for a peer in `peerAsn` from us in `asn`.
 */
export function encodeUpdates(asn: number, peerAsn: number, routes: BgpRoute[], withdrawn: string[]): Buffer[] {
  const out: Buffer[] = [];
  const room = MAX_MESSAGE - 19 - 4 - 64;
  // withdrawals, as many per message as fit
  let w: Buffer[] = [];
  let wLen = 0;
  const flushW = () => {
    if (!w.length) return;
    const wb = Buffer.concat(w);
    const b = Buffer.alloc(2 + wb.length + 2);
    b.writeUInt16BE(wb.length, 0);
    wb.copy(b, 2);
    b.writeUInt16BE(0, 2 + wb.length);
    out.push(message(TYPE.update, b));
    w = [];
    wLen = 0;
  };
  for (const p of withdrawn) {
    const e = encodePrefix(p);
    if (wLen + e.length > room) flushW();
    w.push(e);
    wLen += e.length;
  }
  flushW();
  const byHop = new Map<string, string[]>();
  for (const r of routes) byHop.set(r.nextHop, [...(byHop.get(r.nextHop) ?? []), r.prefix]);
  for (const [hop, prefixes] of byHop) {
    const ebgp = peerAsn !== asn;
    const asPath = ebgp ? Buffer.from([2, 1, (asn >> 8) & 0xff, asn & 0xff]) : Buffer.alloc(0);
    const nh = Buffer.alloc(4);
    nh.writeUInt32BE(ipToInt(hop));
    const attrs = Buffer.concat([
      attr(0x40, 1, Buffer.from([0])), // ORIGIN IGP
      attr(0x40, 2, asPath), // AS_PATH
      attr(0x40, 3, nh), // NEXT_HOP
      ...(ebgp ? [] : [attr(0x40, 5, Buffer.from([0, 0, 0, 100]))]), // LOCAL_PREF
    ]);
    let nlri: Buffer[] = [];
    let nLen = 0;
    const flush = () => {
      if (!nlri.length) return;
      const nb = Buffer.concat(nlri);
      const b = Buffer.alloc(2 + 2 + attrs.length + nb.length);
      b.writeUInt16BE(0, 0);
      b.writeUInt16BE(attrs.length, 2);
      attrs.copy(b, 4);
      nb.copy(b, 4 + attrs.length);
      out.push(message(TYPE.update, b));
      nlri = [];
      nLen = 0;
    };
    for (const p of prefixes) {
      const e = encodePrefix(p);
      if (nLen + e.length > room - attrs.length) flush();
      nlri.push(e);
      nLen += e.length;
    }
    flush();
  }
  return out;
}

/** Splits a byte stream into BGP messages; throws BgpError on a bad marker or length. */
export class BgpFramer {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): { type: number; body: Buffer }[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: { type: number; body: Buffer }[] = [];
    while (this.buf.length >= 19) {
      if (!this.buf.subarray(0, 16).equals(MARKER)) throw new BgpError('bad BGP marker');
      const len = this.buf.readUInt16BE(16);
      if (len < 19 || len > MAX_MESSAGE) throw new BgpError(`bad BGP message length ${len}`);
      if (this.buf.length < len) break;
      out.push({ type: this.buf[18]!, body: this.buf.subarray(19, len) });
      this.buf = this.buf.subarray(len);
    }
    return out;
  }
}

export function decodeOpen(body: Buffer): { version: number; asn: number; holdTime: number; routerId: string } {
  if (body.length < 10) throw new BgpError('short OPEN');
  return { version: body[0]!, asn: body.readUInt16BE(1), holdTime: body.readUInt16BE(3), routerId: intToIp(body.readUInt32BE(5)) };
}

// ---- sessions ---------------------------------------------------------------

export type PeerState = 'idle' | 'connect' | 'opensent' | 'openconfirm' | 'established';

export interface PeerStatus {
  address: string;
  asn: number;
  state: PeerState;
  /** routes announced to the peer in this session */
  advertised: number;
  lastError: string | null;
  upSince: string | null;
}

class Peer {
  state: PeerState = 'idle';
  private sock?: net.Socket;
  private retry?: NodeJS.Timeout;
  private keepalive?: NodeJS.Timeout;
  private hold?: NodeJS.Timeout;
  private holdTime = HOLD_TIME;
  private sent = new Map<string, string>(); // prefix -> next hop announced in this session
  lastError: string | null = null;
  upSince: string | null = null;
  private stopped = false;

  constructor(readonly cfg: BgpPeerConfig, private readonly speaker: BgpSpeaker, private readonly log: Logger) {}

  status(): PeerStatus {
    return { address: this.cfg.address, asn: this.cfg.asn, state: this.state, advertised: this.sent.size, lastError: this.lastError, upSince: this.upSince };
  }

  start(): void {
    if (this.stopped || this.sock) return;
    this.state = 'connect';
    const s = net.connect({ host: this.cfg.address, port: this.cfg.port ?? BGP_PORT });
    this.sock = s;
    const framer = new BgpFramer();
    s.setNoDelay(true);
    // a peer that drops the SYN: give up after the connect-retry interval, not the kernel's two minutes
    const connectTimer = setTimeout(() => { this.lastError = 'connect timed out'; s.destroy(); }, RETRY_MS);
    s.on('connect', () => {
      clearTimeout(connectTimer);
      s.write(encodeOpen(this.speaker.cfg.asn, HOLD_TIME, this.speaker.cfg.routerId));
      this.state = 'opensent';
      this.armHold(240); // RFC 4271: a large hold timer until OPEN arrives
    });
    s.on('data', (d: Buffer) => {
      try {
        for (const m of framer.push(d)) this.onMessage(m.type, m.body);
      } catch (e) {
        this.fail((e as Error).message, [1, 0]);
      }
    });
    s.on('error', (e) => { clearTimeout(connectTimer); this.down(e.message); });
    s.on('close', () => { clearTimeout(connectTimer); this.down(this.lastError ?? 'connection closed'); });
  }

  private onMessage(type: number, body: Buffer): void {
    this.armHold(this.holdTime);
    if (type === TYPE.open) {
      if (this.state !== 'opensent') return this.fail('unexpected OPEN', [5, 0]);
      const o = decodeOpen(body);
      if (o.version !== 4) return this.fail(`peer speaks BGP version ${o.version}`, [2, 1]);
      if (o.asn !== this.cfg.asn) return this.fail(`peer AS ${o.asn}, configured ${this.cfg.asn}`, [2, 2]);
      if (o.holdTime !== 0 && o.holdTime < 3) return this.fail(`hold time ${o.holdTime}`, [2, 6]);
      this.holdTime = o.holdTime === 0 ? 0 : Math.min(HOLD_TIME, o.holdTime);
      this.sock!.write(encodeKeepalive());
      this.state = 'openconfirm';
      if (this.holdTime > 0) this.keepalive = setInterval(() => this.sock?.write(encodeKeepalive()), Math.max(1000, (this.holdTime * 1000) / 3));
      this.armHold(this.holdTime);
    } else if (type === TYPE.keepalive) {
      if (this.state === 'openconfirm') {
        this.state = 'established';
        this.upSince = new Date().toISOString();
        this.lastError = null;
        this.log.info({ peer: this.cfg.address, asn: this.cfg.asn }, 'BGP session established');
        this.sync();
      }
    } else if (type === TYPE.notification) {
      this.lastError = `peer sent NOTIFICATION ${body[0]}/${body[1]}`;
      this.sock?.destroy();
    } else if (type === TYPE.update) {
      if (this.state !== 'established') return this.fail('UPDATE before the session was up', [5, 0]);
      // routes from the peer are not used
    } else {
      this.fail(`unknown message type ${type}`, [1, 3]);
    }
  }

  /** Announces what changed since the last sync (whole table after the session comes up). */
  sync(): void {
    if (this.state !== 'established' || !this.sock) return;
    const want = new Map(this.speaker.routes().map((r) => [r.prefix, r.nextHop]));
    const withdrawn = [...this.sent.keys()].filter((p) => !want.has(p));
    const announce = [...want].filter(([p, h]) => this.sent.get(p) !== h).map(([prefix, nextHop]) => ({ prefix, nextHop }));
    if (!withdrawn.length && !announce.length) return;
    for (const m of encodeUpdates(this.speaker.cfg.asn, this.cfg.asn, announce, withdrawn)) this.sock.write(m);
    this.sent = want;
    this.log.debug({ peer: this.cfg.address, announced: announce.length, withdrawn: withdrawn.length }, 'BGP routes sent');
  }

  private armHold(seconds: number): void {
    if (this.hold) clearTimeout(this.hold);
    this.hold = seconds > 0 ? setTimeout(() => this.fail('hold timer expired', [4, 0]), seconds * 1000) : undefined;
  }

  private fail(why: string, [code, sub]: [number, number]): void {
    this.lastError = why;
    this.log.warn({ peer: this.cfg.address, why }, 'BGP session error');
    const s = this.sock;
    if (!s) return;
    // the NOTIFICATION goes out before the close (end flushes it); destroy if the peer does not let go
    try { s.end(encodeNotification(code, sub)); } catch { s.destroy(); return; }
    setTimeout(() => s.destroy(), 1000).unref();
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
    if (wasUp) this.log.warn({ peer: this.cfg.address, why }, 'BGP session down');
    if (!this.stopped) this.retry = setTimeout(() => { this.retry = undefined; this.start(); }, RETRY_MS);
  }

  stop(): void {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    if (this.sock && this.state === 'established') { try { this.sock.write(encodeNotification(6, 2)); } catch { /* ignore */ } }
    this.sock?.destroy();
    if (this.keepalive) clearInterval(this.keepalive);
    if (this.hold) clearTimeout(this.hold);
  }
}

/** The speaker: the routes come from `routes()`; call sync() when they may have changed. */
export class BgpSpeaker {
  private readonly peers: Peer[];

  constructor(readonly cfg: BgpConfig, readonly routes: () => BgpRoute[], log: Logger) {
    this.peers = cfg.peers.map((p) => new Peer(p, this, log.child({ component: 'bgp' })));
  }

  start(): void { for (const p of this.peers) p.start(); }
  sync(): void { for (const p of this.peers) p.sync(); }
  status(): PeerStatus[] { return this.peers.map((p) => p.status()); }
  stop(): void { for (const p of this.peers) p.stop(); }
}
