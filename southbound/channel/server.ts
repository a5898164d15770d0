// The OpenFlow listener: TCP (OVS `tcp:`) or TLS (OVS `ssl:`), one
// Connection per accepted socket.
import net from 'node:net';
import tls from 'node:tls';
import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Connection, ConnectionOptions } from './connection';

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

/** Emits 'connection' (Connection) for every accepted switch socket. */
export class OfServer extends EventEmitter {
  private server?: net.Server;
  readonly connections = new Set<Connection>();

  constructor(readonly opts: OfServerOptions, readonly log: Logger) {
    super();
  }

  async listen(): Promise<number> {
    const onSocket = (s: net.Socket) => this.accept(s);
    if (this.opts.tls) {
      const t = this.opts.tls;
      this.server = tls.createServer({
        key: fs.readFileSync(t.key), cert: fs.readFileSync(t.cert), ca: fs.readFileSync(t.ca),
        requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2',
      }, onSocket);
      this.server.on('tlsClientError', (e) => this.log.warn({ err: e.message }, 'TLS handshake with switch failed'));
    } else {
      this.server = net.createServer(onSocket);
    }
    const srv = this.server;
    await new Promise<void>((res, rej) => {
      srv.once('error', rej);
      srv.listen(this.opts.port, this.opts.host ?? '0.0.0.0', () => { srv.off('error', rej); res(); });
    });
    const port = (srv.address() as net.AddressInfo).port;
    this.log.info({ port, tls: !!this.opts.tls }, 'OpenFlow listener up');
    return port;
  }

  private accept(s: net.Socket): void {
    const c = new Connection(s, this.log, this.opts);
    this.connections.add(c);
    c.once('close', () => this.connections.delete(c));
    this.emit('connection', c);
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.close('controller shutting down');
    const srv = this.server;
    if (srv) await new Promise<void>((res) => srv.close(() => res()));
  }
}
