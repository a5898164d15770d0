// The real controller as a child process (so tests can SIGKILL it), with a
// throw-away database, reachable at a given address. Its admin token is read
// from the file the controller writes next to that database; every call()
// carries it. hostToken() makes a host token through the API and writes it,
// mode 0600, to a file for a CNI configuration's `tokenFile`.
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

/** Writes a token to `file`, mode 0600 from its creation on (the folder is made if missing). */
export function writeTokenFile(file: string, token: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, token + '\n', { mode: 0o600, flag: 'wx' });
  return file;
}

export interface WeftProcessOptions {
  host?: string;
  apps?: string;
  /** More `weft controller` flags (e.g. --bgp-asn). */
  args?: string[];
  /** false: start with --no-auth (no tokens; call() sends none). Default true. */
  auth?: boolean;
}

export class WeftProcess {
  proc?: ChildProcess;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-proc-'));
  /** The admin token (undefined with auth off), read from adminTokenFile after each start. */
  adminToken?: string;
  private readonly hostTokens = new Map<string, string>();
  private constructor(readonly host: string, readonly ofPort: number, readonly apiPort: number, readonly apps: string, readonly args: string[], readonly auth: boolean) {}

  static async start(opts: WeftProcessOptions = {}): Promise<WeftProcess> {
    const w = new WeftProcess(opts.host ?? '127.0.0.1', await freePort(), await freePort(), opts.apps ?? 'none', opts.args ?? [], opts.auth ?? true);
    await w.spawn();
    return w;
  }

  get api(): string { return `http://${this.host}:${this.apiPort}`; }
  get ofTarget(): string { return `tcp:${this.host}:${this.ofPort}`; }
  get db(): string { return path.join(this.dir, 'weft.db'); }
  /** Where the controller writes its admin token: next to its database. */
  get adminTokenFile(): string { return path.join(this.dir, 'weft-admin.token'); }

  /** Starts the controller (again, after kill(): same ports and database), with `args` instead of the flags it was made with when given. */
  async spawn(args: string[] = this.args): Promise<void> {
    this.proc = spawn(process.execPath, [path.join(repoRoot(), 'dist/northbound/cli/weft.js'), 'controller', '--of-port', String(this.ofPort),
      '--of-host', this.host, '--api-port', String(this.apiPort), '--api-host', this.host, '--db', this.db,
      '--apps', this.apps, '--log-level', process.env.WEFT_TEST_LOG ?? 'warn', ...(this.auth ? [] : ['--no-auth']), ...args],
    { stdio: ['ignore', 'inherit', 'inherit'] });
    await waitFor(() => fetch(`${this.api}/v1/health`).then((r) => r.ok), { what: 'controller API', timeoutMs: 15000 });
    // the file is written before the API listens
    this.adminToken = this.auth ? fs.readFileSync(this.adminTokenFile, 'utf8').trim() : undefined;
  }

  /** Headers that carry the admin token (none with auth off). */
  headers(): Record<string, string> {
    return this.adminToken ? { authorization: `Bearer ${this.adminToken}` } : {};
  }

  /**
   * A host token for `host` (registered already), written 0600 to
   * <dir>/tokens/<host>.token; the file's path. Made once per host; with
   * auth off, undefined (a configuration then names no tokenFile).
   */
  async hostTokenFile(host: string): Promise<string | undefined> {
    if (!this.auth) return undefined;
    const known = this.hostTokens.get(host);
    if (known) return known;
    const r = await this.call<{ token: string }>('POST', '/v1/tokens', { role: 'host', host });
    if (r.status !== 201) throw new Error(`a host token for ${host}: ${r.status} ${JSON.stringify(r.body)}`);
    const file = writeTokenFile(path.join(this.dir, 'tokens', `${host}.token`), r.body.token);
    this.hostTokens.set(host, file);
    return file;
  }

  /** SIGKILL and wait for the exit. */
  async kill(): Promise<void> {
    const p = this.proc;
    // killed before (by a signal, so no exit code): 'exit' will not come again
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  /** A request as the admin (or with `token`'s bearer token instead; '' for none). */
  async call<T = Record<string, unknown>>(method: string, url: string, body?: unknown, token?: string): Promise<{ status: number; body: T }> {
    const auth = token === undefined ? this.headers() : token === '' ? {} : { authorization: `Bearer ${token}` };
    const r = await fetch(this.api + url, { method, headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /** Stops the controller and removes its folder: database, admin token file, host token files. */
  async stop(): Promise<void> {
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
