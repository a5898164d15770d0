// Controller processes for the cbench-style benchmark: each is spawned
// fresh on a free 127.0.0.1 port (optionally pinned to one core), waited for
// until its OpenFlow port accepts connections, measured through
// /proc/<pid>/stat, and killed by pid (SIGTERM, then SIGKILL) before the next.
import { spawn, execFileSync, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

export interface ControllerSpec {
  name: string;
  command: string;
  args(ofPort: number): string[];
  cwd?: string;
  /** Files to remove once the controller is gone (its database, ...). */
  cleanup?: string[];
}

const live = new Set<ChildProcess>();

/** SIGKILL every controller still running (on exit, SIGINT, or a crash). */
export function killAll(): void {
  for (const c of live) {
    try { if (c.pid) process.kill(c.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
}

const CLK_TCK = (() => {
  try { return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { return 100; }
})();

/** CPU seconds (user + system, all threads) a process has used so far. */
export function procCpuSeconds(pid: number): number {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // fields 14 utime, 15 stime
}

/** Busy CPU seconds of the whole machine so far (all cores), and the hypervisor's steal among them. */
export function machineCpuSeconds(): { busy: number; steal: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
  return { busy: busy / CLK_TCK, steal: (f[7] ?? 0) / CLK_TCK };
}

/** Pin this process (every thread) to one core; false when taskset is missing or refuses. */
export function pinSelf(core: number): boolean {
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(core), String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
  });
}

export class ControllerProcess {
  private readonly tail: string[] = [];
  private exitCode: number | string | null = null;
  private readonly exited: Promise<void>;

  private constructor(readonly spec: ControllerSpec, readonly child: ChildProcess, readonly port: number) {
    live.add(child);
    const keep = (d: Buffer) => {
      for (const l of d.toString('utf8').split('\n')) if (l.trim()) this.tail.push(l);
      if (this.tail.length > 40) this.tail.splice(0, this.tail.length - 40);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((res) => child.once('exit', (code, sig) => {
      this.exitCode = code ?? sig;
      live.delete(child);
      res();
    }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.exitCode === null;
  }

  /** Last lines the controller printed (for error reports). */
  output(): string {
    return this.tail.join('\n');
  }

  /** Resident set size in MiB. */
  rssMiB(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  }

  cpuSeconds(): number {
    return procCpuSeconds(this.pid);
  }

  /** Spawn the controller and wait until its OpenFlow port accepts connections. */
  static async start(spec: ControllerSpec, pinCore: number | undefined, timeoutMs = 30000): Promise<ControllerProcess> {
    const port = await freePort();
    let argv = [spec.command, ...spec.args(port)];
    // taskset execs the command: the pid stays the controller's
    if (pinCore !== undefined) argv = ['taskset', '-c', String(pinCore), ...argv];
    const [cmd, ...args] = argv;
    const child = spawn(cmd, args, { cwd: spec.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const cp = new ControllerProcess(spec, child, port);
    const spawnErr = new Promise<Error>((res) => child.once('error', res));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const err = await Promise.race([spawnErr, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
      if (err) throw new Error(`${spec.name}: cannot start ${cmd}: ${err.message}`);
      if (!cp.running) throw new Error(`${spec.name} exited (${cp.exitCode}) before listening:\n${cp.output()}`);
      if (await tryConnect(port)) return cp;
      if (Date.now() > deadline) {
        await cp.stop();
        throw new Error(`${spec.name}: port ${port} not accepting connections after ${timeoutMs} ms:\n${cp.output()}`);
      }
    }
  }

  /** SIGTERM, SIGKILL after 3 s; resolves once the process is gone. */
  async stop(): Promise<void> {
    if (this.running) {
      try { process.kill(this.pid, 'SIGTERM'); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000);
      await this.exited;
      clearTimeout(t);
    }
    // reaped by node once 'exit' fired; make sure nothing answers to the pid any more
    let alive = true;
    try { process.kill(this.pid, 0); } catch { alive = false; }
    if (alive) throw new Error(`${this.spec.name} (pid ${this.pid}) is still alive after being killed`);
    for (const f of this.spec.cleanup ?? []) fs.rmSync(f, { force: true, recursive: true });
  }
}
