// The main thread's side of the etcd worker (controller/etcd-worker.ts):
// synchronous calls (post the request, Atomics.wait for the reply, bounded)
// and the worker's stream (watch batches, health, leadership), read either
// as 'message' events or drained synchronously when a write must catch up.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Worker, MessageChannel, MessagePort, receiveMessageOnPort } from 'node:worker_threads';

export interface EtcdOptions {
  /** HOST:PORT of each member. */
  endpoints: string[];
  /** Keys live under this prefix (default /weft/). */
  prefix: string;
  /** TLS to etcd: its CA (https then), and a client certificate and key if etcd asks for one. */
  ca?: string;
  cert?: string;
  key?: string;
  /** etcd authentication: user name and a file holding the password. */
  user?: string;
  passwordFile?: string;
  /** Each etcd call's deadline (ms). */
  callTimeoutMs: number;
  /** Between two quorum probes (ms). */
  probeMs: number;
  /** The leader lease's TTL (s). */
  leaseTtl: number;
  /** Take part in the leader election. */
  campaign: boolean;
  /** This controller's name in the election. */
  memberId: string;
}

export const ETCD_DEFAULTS = { prefix: '/weft/', callTimeoutMs: 1000, probeMs: 250, leaseTtl: 1 };

/** A changed key: value null when deleted. */
export interface KvChange { key: string; value: string | null }

export type WorkerRequest = { id: number } & (
  | { op: 'snapshot' }
  | { op: 'txn'; seqMod: number; changes: KvChange[] }
  | { op: 'nextRound' }
  | { op: 'watch'; from: number }
  | { op: 'close' });

export type StreamMessage =
  | { kind: 'events'; revision: number; changes: KvChange[] }
  | { kind: 'health'; ok: boolean; reason: string }
  | { kind: 'watchLost'; reason: string }
  | { kind: 'leader'; leader: boolean; generation: number; holder: string };

type DistOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type Reply = { id: number; ok: boolean; error?: string } & Record<string, unknown>;

/** Parse etcd://HOST:PORT[,HOST:PORT...] into the members' HOST:PORT. */
export function parseEtcdUrl(url: string): string[] {
  const m = /^etcd:\/\/(.+)$/.exec(url);
  if (!m) throw new Error(`--store: "${url}" is neither sqlite nor etcd://HOST:PORT[,HOST:PORT...]`);
  const eps = m[1]!.split(',');
  for (const e of eps) {
    if (!/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(e) || Number(e.slice(e.lastIndexOf(':') + 1)) > 65535) throw new Error(`--store: "${e}" is not HOST:PORT`);
  }
  return eps;
}

export class EtcdTimeout extends Error {}

/** The etcd store could not start: a TLS or password file that does not do, or etcd not read. The message says which. */
export class EtcdStartError extends Error {
  override readonly name = 'EtcdStartError';
}

/** What the worker is given instead of paths: the files' contents, read and checked on the main thread. */
export interface EtcdSecrets { ca?: string; cert?: string; key?: string; password?: string }

/** The flag that names each file (the CLI's; the messages name them). */
const FLAG = { ca: '--etcd-ca', cert: '--etcd-cert', key: '--etcd-key', passwordFile: '--etcd-password-file' } as const;

function readFlagFile(k: keyof typeof FLAG, file: string): string {
  try {
    if (!fs.statSync(file).isFile()) throw new Error('not a file');
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new EtcdStartError(`${FLAG[k]}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function pemCerts(k: 'ca' | 'cert', file: string, pem: string): crypto.X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw new EtcdStartError(`${FLAG[k]}: ${file} holds no PEM certificate`);
  return blocks.map((b) => {
    let x: crypto.X509Certificate;
    try { x = new crypto.X509Certificate(b); } catch (e) { throw new EtcdStartError(`${FLAG[k]}: ${file}: not a certificate (${(e as Error).message})`); }
    if (Date.parse(x.validTo) < Date.now()) throw new EtcdStartError(`${FLAG[k]}: ${file}: the certificate ${x.subject.replace(/\n/g, ', ')} expired on ${x.validTo}`);
    return x;
  });
}

/**
 * Read and check the TLS files and the password file of `o` (each error
 * names its flag): the CA and the client certificate are PEM certificates
 * still valid, the key is a PEM private key (not encrypted) and the
 * certificate's, the password is not empty.
 */
export function loadEtcdSecrets(o: Pick<EtcdOptions, 'ca' | 'cert' | 'key' | 'user' | 'passwordFile'>): EtcdSecrets {
  const s: EtcdSecrets = {};
  if ((o.cert === undefined) !== (o.key === undefined)) throw new EtcdStartError('--etcd-cert and --etcd-key go together');
  if (o.cert !== undefined && o.ca === undefined) throw new EtcdStartError('--etcd-cert needs --etcd-ca (TLS to etcd)');
  if ((o.user === undefined) !== (o.passwordFile === undefined)) throw new EtcdStartError('--etcd-user and --etcd-password-file go together');
  if (o.ca !== undefined) {
    s.ca = readFlagFile('ca', o.ca);
    pemCerts('ca', o.ca, s.ca);
  }
  if (o.cert !== undefined && o.key !== undefined) {
    s.cert = readFlagFile('cert', o.cert);
    const leaf = pemCerts('cert', o.cert, s.cert)[0]!;
    s.key = readFlagFile('key', o.key);
    let key: crypto.KeyObject;
    try {
      key = crypto.createPrivateKey(s.key);
    } catch (e) {
      const m = (e as Error).message;
      throw new EtcdStartError(`${FLAG.key}: ${o.key}: ${/passphrase|interrupted or cancelled/i.test(m) || /ENCRYPTED/.test(s.key) ? 'the key is encrypted (give it unencrypted, readable by this user only)' : `not a PEM private key (${m})`}`);
    }
    if (!leaf.checkPrivateKey(key)) throw new EtcdStartError(`${FLAG.key}: ${o.key} is not the key of ${FLAG.cert} ${o.cert}`);
  }
  if (o.passwordFile !== undefined) {
    s.password = readFlagFile('passwordFile', o.passwordFile).trim();
    if (!s.password) throw new EtcdStartError(`${FLAG.passwordFile}: ${o.passwordFile} is empty`);
  }
  return s;
}

/** OpenSSL's and grpc's wrapping taken off an error message: the reason that is left. */
function tlsDetail(msg: string): string {
  const m = /Last error: (?:Error(?: \[\w+\])?: )?(.*?)(?:\s*\(\d{4}-\d\d-\d\dT[^)]*\))?\.?\s*(?:Resolution note:.*)?$/s.exec(msg);
  let d = (m ? m[1]! : msg).trim();
  // C036...:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/...:1601:SSL alert number 42
  const ssl = /SSL routines:[^:]*:([^:]+)/.exec(d);
  if (ssl) d = ssl[1]!.trim();
  return d;
}

/**
 * An etcd client error in words that say what to fix, for TLS handshakes
 * that fail (either side's certificate, or one side not speaking TLS);
 * other errors unchanged. `plainAnswersTls`: a plain client found the
 * port answering TLS.
 */
export function explainEtcdError(msg: string, o: { tls: boolean; clientCert: boolean; plainAnswersTls?: string }): string {
  const d = tlsDetail(msg);
  const hs = (why: string) => `TLS handshake with etcd failed: ${why} (${d})`;
  if (o.tls) {
    if (/certificate has expired|CERT_HAS_EXPIRED/i.test(msg)) return hs("etcd's certificate has expired");
    if (/unable to verify|self[- ]signed|unable to get (local )?issuer|certificate signature failure|CERT_UNTRUSTED|UNABLE_TO_VERIFY/i.test(msg)) return hs("etcd's certificate is not signed by the --etcd-ca CA");
    if (/does not match certificate's altnames|ERR_TLS_CERT_ALTNAME_INVALID/i.test(msg)) return hs("etcd's certificate does not name the host it was reached at (the HOST in --store etcd://HOST:PORT)");
    if (/alert (bad certificate|certificate required|unknown ca|certificate unknown)|alert number (42|46|48|116)/i.test(msg)) {
      return hs(o.clientCert ? 'etcd refused the client certificate (--etcd-cert is not signed by a CA etcd trusts, its --trusted-ca-file)' : 'etcd asks for a client certificate: give --etcd-cert and --etcd-key');
    }
    if (/wrong version number|packet length too long|unknown protocol|http request/i.test(msg)) return hs('etcd does not speak TLS on that port (its client URL is http://: drop --etcd-ca)');
    // (a plain server may close the connection, or reset it, on a ClientHello)
    if (/disconnected before secure TLS connection|No connection established.*ECONNRESET/is.test(msg)) return hs('etcd closed the connection in the handshake: does it serve TLS on that port? (its client URL must be https://)');
  } else if (o.plainAnswersTls) {
    return `etcd at ${o.plainAnswersTls} speaks TLS (https): give --etcd-ca, and --etcd-cert/--etcd-key if it asks for a client certificate (${d})`;
  }
  return /No connection established/i.test(msg) ? `no connection to etcd: ${d}` : msg;
}

export class EtcdLink {
  private readonly worker: Worker;
  private readonly flags = new Int32Array(new SharedArrayBuffer(16));
  private readonly reply: MessagePort;
  readonly stream: MessagePort;
  private seq = 0;
  private closed = false;

  /** Throws EtcdStartError if a TLS or password file does not do (before any thread starts). */
  constructor(readonly opts: EtcdOptions) {
    const secrets = loadEtcdSecrets(opts);
    const r = new MessageChannel();
    const s = new MessageChannel();
    this.reply = r.port1;
    this.stream = s.port1;
    this.worker = new Worker(path.join(__dirname, 'etcd-worker.js'), {
      workerData: { opts, secrets, flags: this.flags.buffer, reply: r.port2, stream: s.port2 }, transferList: [r.port2, s.port2],
    });
    this.worker.unref();
    this.reply.unref();
  }

  /** Whether the worker last found a quorum (true), found none (false), or has not probed yet (undefined). */
  get healthy(): boolean | undefined {
    const v = Atomics.load(this.flags, 2);
    return v === 0 ? undefined : v === 1;
  }

  /** A request, answered synchronously within timeoutMs (EtcdTimeout past it; the request may still be carried out). */
  call(req: DistOmit<WorkerRequest, 'id'>, timeoutMs = this.opts.callTimeoutMs * 3 + 500): Reply {
    if (this.closed) throw new EtcdTimeout('etcd link closed');
    const id = ++this.seq;
    this.worker.postMessage({ ...req, id });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = Atomics.load(this.flags, 0);
      if (v >= id) break;
      const left = deadline - Date.now();
      if (left <= 0) throw new EtcdTimeout(`etcd did not answer within ${timeoutMs} ms`);
      Atomics.wait(this.flags, 0, v, left);
    }
    for (;;) {
      const m = receiveMessageOnPort(this.reply)?.message as Reply | undefined;
      if (!m) throw new Error('etcd worker reply lost');
      if (m.id === id) return m;
    }
  }

  /** The next stream message if one is there, without waiting. */
  next(): StreamMessage | undefined {
    return receiveMessageOnPort(this.stream)?.message as StreamMessage | undefined;
  }

  /** Block until the worker posts another stream message than the `seen`-th, or timeoutMs passes. */
  waitStream(seen: number, timeoutMs: number): void {
    Atomics.wait(this.flags, 1, seen, timeoutMs);
  }

  get streamCount(): number {
    return Atomics.load(this.flags, 1);
  }

  /** Stop without a word to etcd (as a crash would: the leader lease runs out by itself). For tests. */
  async abandon(): Promise<void> {
    this.closed = true;
    this.stream.close();
    this.reply.close();
    await this.worker.terminate();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try { this.call({ op: 'close' }, 2000); } catch { /* going anyway */ }
    this.closed = true;
    this.stream.close();
    this.reply.close();
    await this.worker.terminate();
  }
}
