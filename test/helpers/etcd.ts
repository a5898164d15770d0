// Real etcd members for tests: /usr/bin/etcd on loopback ports, data in a
// temporary directory, each member stopped by its pid (and the directory
// removed) at the end. Election timings are short (heartbeat 50 ms,
// election 500 ms) so a 1 s lease TTL is honoured (etcd's minimum TTL is
// 1.5 election timeouts) and a lost member is noticed fast.
//
// With { tls: true } the client port speaks only https and asks every
// client for a certificate (--client-cert-auth): a throwaway CA, a server
// certificate for 127.0.0.1/localhost and a client certificate, made by
// `weft pki` (northbound/cli/pki.ts) in the cluster's folder. The peers
// talk plain http among themselves (loopback).
import { spawn, execFileSync, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pkiInit, pkiController } from '../../northbound/cli/pki';
import { waitFor } from './wait';

export const ETCD = '/usr/bin/etcd';
export const etcdAvailable = (): boolean => fs.existsSync(ETCD);

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => res(p)); });
  });
}

interface Member { name: string; client: number; peer: number; proc?: ChildProcess; log: string[] }

/** A TLS etcd's files: its CA, and a client certificate and key it accepts (--etcd-ca, --etcd-cert, --etcd-key). */
export interface EtcdTlsFiles { ca: string; cert: string; key: string; serverCert: string; serverKey: string }

export class EtcdCluster {
  readonly dir: string;
  private readonly members: Member[] = [];
  /** Set with { tls: true }. */
  tls?: EtcdTlsFiles;

  private constructor(base: string) {
    this.dir = fs.mkdtempSync(path.join(base, 'weft-etcd-'));
  }

  /**
   * n members; their data in a new folder under `base` (default the OS tmpdir).
   * tls: https with client certificates, the server certificate naming
   * serverIps and serverDns (default 127.0.0.1 and localhost).
   */
  static async start(n: number, base = os.tmpdir(), opts: { tls?: boolean; serverIps?: string[]; serverDns?: string[] } = {}): Promise<EtcdCluster> {
    const c = new EtcdCluster(base);
    try {
      if (opts.tls) {
        const pki = path.join(c.dir, 'pki');
        const { cert: ca } = await pkiInit(pki, 2);
        const server = await pkiController(pki, 'etcd-server', opts.serverIps ?? ['127.0.0.1'], opts.serverDns ?? ['localhost'], 2);
        const client = await pkiController(pki, 'weft-client', ['127.0.0.1'], ['localhost'], 2);
        c.tls = { ca, cert: client.cert, key: client.key, serverCert: server.cert, serverKey: server.key };
      }
      for (let i = 0; i < n; i++) c.members.push({ name: `m${i}`, client: await freePort(), peer: await freePort(), log: [] });
      for (let i = 0; i < n; i++) c.spawn(i);
      await c.waitHealthy();
    } catch (e) {
      await c.stop();
      throw e;
    }
    return c;
  }

  private get scheme(): string {
    return this.tls ? 'https' : 'http';
  }

  /** HOST:PORT of every member (for --store etcd://...). */
  get endpoints(): string[] {
    return this.members.map((m) => `127.0.0.1:${m.client}`);
  }

  get url(): string {
    return `etcd://${this.endpoints.join(',')}`;
  }

  private spawn(i: number): void {
    const m = this.members[i]!;
    const cluster = this.members.map((x) => `${x.name}=http://127.0.0.1:${x.peer}`).join(',');
    const dataDir = path.join(this.dir, m.name);
    const t = this.tls;
    const p = spawn(ETCD, [
      '--name', m.name, '--data-dir', dataDir,
      '--listen-client-urls', `${this.scheme}://127.0.0.1:${m.client}`, '--advertise-client-urls', `${this.scheme}://127.0.0.1:${m.client}`,
      ...(t ? ['--cert-file', t.serverCert, '--key-file', t.serverKey, '--client-cert-auth', '--trusted-ca-file', t.ca] : []),
      '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-cluster', cluster, '--initial-cluster-state', fs.existsSync(dataDir) ? 'existing' : 'new', '--initial-cluster-token', path.basename(this.dir),
      '--heartbeat-interval', '50', '--election-timeout', '500', '--logger', 'zap', '--log-level', 'error',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (d: Buffer) => { m.log.push(d.toString()); if (m.log.length > 50) m.log.shift(); });
    m.proc = p;
  }

  /** Whether member i answers /health with a quorum behind it. */
  async healthy(i: number): Promise<boolean> {
    const url = `${this.scheme}://127.0.0.1:${this.members[i]!.client}/health`;
    try {
      const t = this.tls;
      const body = t
        ? await new Promise<string>((res, rej) => {
          const rq = https.get(url, { ca: fs.readFileSync(t.ca), cert: fs.readFileSync(t.cert), key: fs.readFileSync(t.key), timeout: 1000, checkServerIdentity: () => undefined }, (r) => {
            let b = '';
            r.setEncoding('utf8').on('data', (d: string) => { b += d; }).on('end', () => res(b)).on('error', rej);
          });
          rq.on('timeout', () => rq.destroy(new Error('timeout'))).on('error', rej);
        })
        : await (await fetch(url, { signal: AbortSignal.timeout(1000) })).text();
      return (JSON.parse(body) as { health: string }).health === 'true';
    } catch {
      return false;
    }
  }

  /** etcdctl (v3) against the first member, with the client certificate if TLS; its output. */
  etcdctl(...args: string[]): string {
    const t = this.tls;
    const tlsArgs = t ? ['--cacert', t.ca, '--cert', t.cert, '--key', t.key] : [];
    return execFileSync('/usr/bin/etcdctl', ['--endpoints', `${this.scheme}://${this.endpoints[0]}`, ...tlsArgs, ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 }).toString();
  }

  async waitHealthy(): Promise<void> {
    await waitFor(async () => {
      for (let i = 0; i < this.members.length; i++) if (this.members[i]!.proc && !(await this.healthy(i))) return false;
      return true;
    }, { what: 'etcd members healthy', timeoutMs: 20000, intervalMs: 100 });
  }

  /** kill -9 member i (its data stays: restart() brings it back). */
  async kill(i: number): Promise<void> {
    const p = this.members[i]!.proc;
    if (!p) return;
    this.members[i]!.proc = undefined;
    if (p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      process.kill(p.pid!, 'SIGKILL');
      await gone;
    }
  }

  async restart(i: number): Promise<void> {
    if (this.members[i]!.proc) return;
    this.spawn(i);
    await this.waitHealthy();
  }

  async stop(): Promise<void> {
    for (let i = 0; i < this.members.length; i++) await this.kill(i);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
