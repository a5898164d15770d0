// The OpenFlow listener: TCP (OVS `tcp:`) or TLS (OVS `ssl:`), one
// Connection per accepted socket. It enforces the listener's limits
// (connections in total, per source address, and handshakes in progress,
// each with a deadline), and with TLS it gives each Connection the dpids
// its certificate is bound to (identity.ts), so a switch can only claim
// those.
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Connection, ConnectionOptions, CONNECTION_DEFAULTS } from './connection';
import { identityFromCertificate } from './identity';

export interface TlsPaths {
  /** PEM private key of the controller. */
  key: string;
  /** PEM certificate of the controller. */
  cert: string;
  /** PEM CA certificate that switch certificates must chain to. */
  ca: string;
}

export interface OfServerOptions extends ConnectionOptions {
  port: number;
  host?: string;
  tls?: TlsPaths;
}

/** An accepted TCP connection, counted against the limits until it closes. */
interface Slot {
  address: string;
  /** Still in the handshake (TLS, then OpenFlow until ready). */
  handshaking: boolean;
  /** Closes it if the TLS handshake has not finished by the deadline. */
  deadline?: NodeJS.Timeout;
  /** Uncounts it (once; the raw socket and its TLS socket both call it). */
  release: () => void;
}

/** Emits 'connection' (Connection) for every accepted switch socket, and 'refused' (remote, reason) for every one turned away. */
export class OfServer extends EventEmitter {
  private server?: net.Server;
  readonly connections = new Set<Connection>();
  /** Accepted sockets by "address:port". */
  private readonly slots = new Map<string, Slot>();
  private readonly perAddress = new Map<string, number>();
  private handshakes = 0;

  constructor(readonly opts: OfServerOptions, readonly log: Logger) {
    super();
  }

  private limit(k: 'maxConnections' | 'maxConnectionsPerAddress' | 'maxHandshakes' | 'maxHandshakesPerAddress' | 'handshakeTimeoutMs'): number {
    return this.opts[k] ?? CONNECTION_DEFAULTS[k];
  }

  async listen(): Promise<number> {
    if (this.opts.tls) {
      const t = this.opts.tls;
      this.server = tls.createServer({
        key: fs.readFileSync(t.key), cert: fs.readFileSync(t.cert), ca: fs.readFileSync(t.ca),
        requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2', handshakeTimeout: this.limit('handshakeTimeoutMs'),
      }, (s) => this.accept(s, true));
      this.server.on('tlsClientError', (e, s) => this.log.warn({ err: e.message, remote: `${s.remoteAddress}:${s.remotePort}` }, 'TLS handshake with switch failed'));
    } else {
      this.server = net.createServer((s) => this.accept(s, false));
    }
    // counted before TLS sees the socket, so a refused one costs no handshake
    this.server.prependListener('connection', (s: net.Socket) => this.admit(s));
    const srv = this.server;
    await new Promise<void>((res, rej) => {
      srv.once('error', rej);
      srv.listen(this.opts.port, this.opts.host ?? '0.0.0.0', () => { srv.off('error', rej); res(); });
    });
    const port = (srv.address() as net.AddressInfo).port;
    this.log.info({ port, tls: !!this.opts.tls }, 'OpenFlow listener up');
    return port;
  }

  /** Counts a new TCP connection, or refuses it (destroyed, logged) when it would exceed a limit. */
  private admit(s: net.Socket): void {
    const address = s.remoteAddress ?? '';
    const remote = `${address}:${s.remotePort}`;
    const fromAddr = this.perAddress.get(address) ?? 0;
    let why: string | undefined;
    if (this.slots.size >= this.limit('maxConnections')) why = `${this.slots.size} connections, the limit`;
    else if (fromAddr >= this.limit('maxConnectionsPerAddress')) why = `${fromAddr} connections from ${address}, the limit per address`;
    else if (this.handshakes >= this.limit('maxHandshakes')) why = `${this.handshakes} handshakes in progress, the limit`;
    else if (this.handshakingFrom(address) >= this.limit('maxHandshakesPerAddress')) why = `${this.handshakingFrom(address)} handshakes in progress from ${address}, the limit per address`;
    if (why) {
      this.log.warn({ remote, reason: why }, 'switch connection refused');
      s.on('error', () => {});
      s.destroy();
      this.emit('refused', remote, why);
      return;
    }
    let released = false;
    const slot: Slot = {
      address, handshaking: true,
      release: () => {
        if (released) return;
        released = true;
        clearTimeout(slot.deadline);
        this.handshakeDone(slot);
        this.slots.delete(remote);
        const n = (this.perAddress.get(address) ?? 1) - 1;
        if (n > 0) this.perAddress.set(address, n);
        else this.perAddress.delete(address);
      },
    };
    this.slots.set(remote, slot);
    this.perAddress.set(address, fromAddr + 1);
    this.handshakes++;
    if (this.opts.tls) {
      const ms = this.limit('handshakeTimeoutMs');
      slot.deadline = setTimeout(() => {
        this.log.warn({ remote, reason: `no TLS handshake within ${ms} ms` }, 'closing connection: limit exceeded');
        s.destroy();
      }, ms);
    }
    s.once('close', slot.release);
  }

  private handshakingFrom(address: string): number {
    let n = 0;
    for (const slot of this.slots.values()) if (slot.handshaking && slot.address === address) n++;
    return n;
  }

  private handshakeDone(slot: Slot): void {
    if (!slot.handshaking) return;
    slot.handshaking = false;
    this.handshakes--;
  }

  /** Connections counted now: in total, from one address, and still in their handshake. */
  counts(address?: string): { total: number; fromAddress: number; handshakes: number } {
    return { total: this.slots.size, fromAddress: address ? this.perAddress.get(address) ?? 0 : 0, handshakes: this.handshakes };
  }

  private accept(s: net.Socket, secure: boolean): void {
    const slot = this.slots.get(`${s.remoteAddress}:${s.remotePort}`);
    if (slot) clearTimeout(slot.deadline);
    const identity = secure ? identityFromCertificate((s as tls.TLSSocket).getPeerCertificate()) : undefined;
    const c = new Connection(s, this.log, this.opts, identity);
    this.connections.add(c);
    if (slot) {
      s.once('close', slot.release);
      c.once('ready', () => this.handshakeDone(slot));
      c.once('close', slot.release);
    }
    c.once('close', () => this.connections.delete(c));
    this.emit('connection', c);
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close('controller shutting down');
    const srv = this.server;
    if (srv) await new Promise<void>((res) => srv.close(() => res()));
  }
}
