// Real etcd members for tests: /usr/bin/etcd on loopback ports, data in a
// temporary directory, each member stopped by its pid (and the directory
// removed) at the end. Election timings are short (heartbeat 50 ms,
// election 500 ms) so a 1 s lease TTL is honoured (etcd's minimum TTL is
// 1.5 election timeouts) and a lost member is noticed fast.
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
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

export class EtcdCluster {
  readonly dir: string;
  private readonly members: Member[] = [];

  private constructor(base: string) {
    this.dir = fs.mkdtempSync(path.join(base, 'weft-etcd-'));
  }

  /** n members; their data in a new folder under `base` (default the OS tmpdir). */
  static async start(n: number, base = os.tmpdir()): Promise<EtcdCluster> {
    const c = new EtcdCluster(base);
    for (let i = 0; i < n; i++) c.members.push({ name: `m${i}`, client: await freePort(), peer: await freePort(), log: [] });
    for (let i = 0; i < n; i++) c.spawn(i);
    await c.waitHealthy();
    return c;
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
    const p = spawn(ETCD, [
      '--name', m.name, '--data-dir', dataDir,
      '--listen-client-urls', `http://127.0.0.1:${m.client}`, '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
      '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
      '--initial-cluster', cluster, '--initial-cluster-state', fs.existsSync(dataDir) ? 'existing' : 'new', '--initial-cluster-token', path.basename(this.dir),
      '--heartbeat-interval', '50', '--election-timeout', '500', '--logger', 'zap', '--log-level', 'error',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (d: Buffer) => { m.log.push(d.toString()); if (m.log.length > 50) m.log.shift(); });
    m.proc = p;
  }

  /** Whether member i answers /health with a quorum behind it. */
  async healthy(i: number): Promise<boolean> {
    try {
      const r = await fetch(`http://127.0.0.1:${this.members[i]!.client}/health`, { signal: AbortSignal.timeout(1000) });
      return ((await r.json()) as { health: string }).health === 'true';
    } catch {
      return false;
    }
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
