// A real dockerd 20.10 (Debian docker.io) for tests, started in an emulated
// host's network namespace with private roots, socket and pidfile, no
// iptables and no docker0 (LAB.md); a busybox image imported without a
// registry; and `weft docker-plugin` started beside it in the same namespace.
import { spawn, execFile, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from './paths';
import { waitFor } from './wait';

export const DOCKER = '/usr/bin/docker';
export const DOCKERD = '/usr/sbin/dockerd';
export const IMAGE = 'weft-bb';

export const dockerAvailable = (): boolean => fs.existsSync(DOCKERD) && fs.existsSync(DOCKER) && fs.existsSync('/bin/busybox');

function run(cmd: string, args: string[], timeoutMs = 60_000): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (e, out, err) => {
      resolve({ code: e ? (typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : 1) : 0, out: String(out), err: String(err) });
    });
  });
}

/** Stops a process by pid (TERM, then KILL after `graceMs`) and waits for it to go. */
async function stopPid(pid: number, signal: NodeJS.Signals = 'SIGTERM', graceMs = 20_000): Promise<void> {
  const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
  if (!alive()) return;
  try { process.kill(pid, signal); } catch { return; }
  const until = Date.now() + graceMs;
  while (alive() && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  if (alive()) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  while (alive()) await new Promise((r) => setTimeout(r, 50));
}

export class Dockerd {
  private proc?: ChildProcess;
  readonly sock: string;
  private constructor(readonly dir: string, readonly netns: string | null, readonly flags: string[]) {
    this.sock = path.join(dir, 'docker.sock');
  }

  get url(): string { return `unix://${this.sock}`; }

  /** Starts dockerd (in `netns` if given) with its roots under a new folder. */
  static async start(netns: string | null, flags: string[] = []): Promise<Dockerd> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-dockerd-'));
    const d = new Dockerd(dir, netns, flags);
    try {
      await d.launch();
    } catch (e) {
      await d.stop().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return d;
  }

  async launch(): Promise<void> {
    const args = ['--iptables=false', '--ip6tables=false', '--bridge=none', '--ip-forward=false', '--ip-masq=false', '--userland-proxy=false',
      `--storage-driver=${process.env.WEFT_DOCKER_STORAGE ?? 'overlay2'}`, '--data-root', path.join(this.dir, 'data'), '--exec-root', path.join(this.dir, 'exec'),
      '-H', this.url, '--pidfile', path.join(this.dir, 'docker.pid'), ...this.flags];
    // nsenter, not `ip netns exec`: that one remounts /sys, and dockerd needs the host's cgroup mounts under it
    const [cmd, argv] = this.netns ? ['nsenter', [`--net=/run/netns/${this.netns}`, '--', DOCKERD, ...args]] : [DOCKERD, args];
    const log = fs.openSync(path.join(this.dir, 'dockerd.log'), 'a');
    this.proc = spawn(cmd, argv, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const p = this.proc;
    await waitFor(async () => {
      if (p.exitCode !== null) throw new Error(`dockerd exited: ${this.log().slice(-2000)}`);
      return (await this.cli(['version', '--format', '{{.Server.Version}}'], 5000)).code === 0;
    }, { what: 'dockerd answers', timeoutMs: 60_000 });
  }

  log(): string { try { return fs.readFileSync(path.join(this.dir, 'dockerd.log'), 'utf8'); } catch { return ''; } }

  /** `docker -H ... ARGS`: exit code and output, never throws. */
  cli(args: string[], timeoutMs = 60_000): Promise<{ code: number; out: string; err: string }> {
    return run(DOCKER, ['-H', this.url, ...args], timeoutMs);
  }

  /** `docker ARGS`, throwing with stderr on failure; the trimmed stdout. */
  async ok(args: string[], timeoutMs = 60_000): Promise<string> {
    const r = await this.cli(args, timeoutMs);
    if (r.code !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.code}): ${r.err.trim()}`);
    return r.out.trim();
  }

  /** Imports busybox as IMAGE (busybox plus one link per applet, except `busybox` itself). */
  async importBusybox(): Promise<void> {
    const root = path.join(this.dir, 'bb');
    fs.mkdirSync(path.join(root, 'bin'), { recursive: true });
    fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
    fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
    const list = (await run('/bin/busybox', ['--list'])).out.split('\n').filter((a) => a && a !== 'busybox');
    for (const a of list) fs.symlinkSync('busybox', path.join(root, 'bin', a));
    const tar = path.join(this.dir, 'bb.tar');
    const t = await run('tar', ['-C', root, '-cf', tar, '.']);
    if (t.code !== 0) throw new Error(`tar: ${t.err}`);
    await this.ok(['import', '--change', 'CMD ["/bin/sh"]', '--change', 'ENV PATH=/bin', tar, IMAGE]);
  }

  /** The daemon's pid (from its pidfile). */
  pid(): number { return Number(fs.readFileSync(path.join(this.dir, 'docker.pid'), 'utf8').trim()); }

  /** Stops dockerd with `signal` (SIGTERM: as a host shutting down), keeping its data for a restart. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    let pid: number | undefined;
    try { pid = this.pid(); } catch { pid = this.proc?.pid; }
    if (pid) await stopPid(pid, signal, 30_000);
    if (this.proc && this.proc.exitCode === null) await new Promise((r) => this.proc!.once('close', r));
  }

  /** Stops dockerd (removing its containers first) and deletes its folder. */
  async destroy(): Promise<void> {
    const ids = (await this.cli(['ps', '-aq'], 20_000)).out.split('\n').filter(Boolean);
    if (ids.length) await this.cli(['rm', '-f', ...ids], 60_000);
    await this.stop();
    // containerd's shims and mounts under the folder
    await run('sh', ['-c', `grep ' ${this.dir}' /proc/mounts | cut -d' ' -f2 | sort -r | xargs -r -n1 umount -l`]);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `weft docker-plugin` as a process in `netns`. */
export class PluginProcess {
  private constructor(readonly proc: ChildProcess, readonly logFile: string) {}

  static async start(netns: string, args: string[], socket: string, logFile: string): Promise<PluginProcess> {
    const from = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
    const log = fs.openSync(logFile, 'a');
    const proc = spawn('nsenter', [`--net=/run/netns/${netns}`, '--', process.execPath, path.join(repoRoot(), 'dist/northbound/cli/weft.js'), 'docker-plugin', '--socket', socket, ...args],
      { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    const p = new PluginProcess(proc, logFile);
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`weft docker-plugin exited: ${fs.readFileSync(logFile).subarray(from).toString('utf8').slice(-2000)}`);
      return fs.existsSync(socket) && new Promise<boolean>((resolve) => {
        const c = net.connect(socket, () => { c.destroy(); resolve(true); });
        c.on('error', () => resolve(false));
      });
    }, { what: 'plugin listening', timeoutMs: 20_000 });
    return p;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const closed = new Promise((r) => this.proc.once('close', r));
    this.proc.kill('SIGTERM');
    await closed;
  }
}
