// The real controller as a child process (so tests can SIGKILL it), with a
// throw-away database, reachable at a given address.
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { repoRoot } from './paths';
import { waitFor } from './wait';

export async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => res(p)); });
  });
}

export class WeftProcess {
  proc?: ChildProcess;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-proc-'));
  private constructor(readonly host: string, readonly ofPort: number, readonly apiPort: number, readonly apps: string, readonly args: string[]) {}

  /** `args`: more `weft controller` flags (e.g. --bgp-asn). */
  static async start(opts: { host?: string; apps?: string; args?: string[] } = {}): Promise<WeftProcess> {
    const w = new WeftProcess(opts.host ?? '127.0.0.1', await freePort(), await freePort(), opts.apps ?? 'none', opts.args ?? []);
    await w.spawn();
    return w;
  }

  get api(): string { return `http://${this.host}:${this.apiPort}`; }
  get ofTarget(): string { return `tcp:${this.host}:${this.ofPort}`; }

  async spawn(): Promise<void> {
    this.proc = spawn(process.execPath, [path.join(repoRoot(), 'dist/northbound/cli/weft.js'), 'controller', '--of-port', String(this.ofPort),
      '--of-host', this.host, '--api-port', String(this.apiPort), '--api-host', this.host, '--db', path.join(this.dir, 'weft.db'),
      '--apps', this.apps, '--log-level', process.env.WEFT_TEST_LOG ?? 'warn', ...this.args], { stdio: ['ignore', 'inherit', 'inherit'] });
    await waitFor(() => fetch(`${this.api}/v1/health`).then((r) => r.ok), { what: 'controller API', timeoutMs: 15000 });
  }

  /** SIGKILL and wait for the exit. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  async call<T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
    const r = await fetch(this.api + url, { method, headers: body ? { 'content-type': 'application/json' } : {}, body: body ? JSON.stringify(body) : undefined });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  async stop(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
