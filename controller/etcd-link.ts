// The main thread's side of the etcd worker (controller/etcd-worker.ts):
// synchronous calls (post the request, Atomics.wait for the reply, bounded)
// and the worker's stream (watch batches, health, leadership), read either
// as 'message' events or drained synchronously when a write must catch up.
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

export class EtcdLink {
  private readonly worker: Worker;
  private readonly flags = new Int32Array(new SharedArrayBuffer(16));
  private readonly reply: MessagePort;
  readonly stream: MessagePort;
  private seq = 0;
  private closed = false;

  constructor(readonly opts: EtcdOptions) {
    const r = new MessageChannel();
    const s = new MessageChannel();
    this.reply = r.port1;
    this.stream = s.port1;
    this.worker = new Worker(path.join(__dirname, 'etcd-worker.js'), {
      workerData: { opts, flags: this.flags.buffer, reply: r.port2, stream: s.port2 }, transferList: [r.port2, s.port2],
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
