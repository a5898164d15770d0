// The Weft CNI agent (`weft cni-agent`) as a child process inside an
// emulated host's network namespace, and the native weft-cni front end in a
// plugin folder. Stopped by pid; the socket is removed with it.
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths';
import { waitFor } from './wait';

/** Path of the built native front end (npm run build compiles it). */
export const NATIVE_PLUGIN = path.join(repoRoot(), 'dist/bin/weft-cni');

/** A folder holding `weft-cni` as a symlink to the native front end (it finds weft-cni.js through the link). */
export function nativePluginDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const link = path.join(dir, 'weft-cni');
  if (!fs.existsSync(link)) fs.symlinkSync(NATIVE_PLUGIN, link);
  return dir;
}

export class AgentProcess {
  private proc?: ChildProcess;
  /** The agent's log records (pino JSON lines on its stdout), one per call at level info. */
  readonly records: Array<Record<string, unknown>> = [];
  private constructor(readonly socket: string, readonly netns: string | undefined) {}

  /** Starts the agent (in `netns` when given) and waits until its socket accepts calls. */
  static async start(socket: string, netns?: string): Promise<AgentProcess> {
    const a = new AgentProcess(socket, netns);
    const cmd = [process.execPath, path.join(repoRoot(), 'dist/northbound/cli/weft.js'), 'cni-agent', '--socket', socket,
      '--log-level', 'info'];
    a.proc = netns ? spawn('ip', ['netns', 'exec', netns, ...cmd], { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let rest = '';
    a.proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (rest + d).split('\n');
      rest = lines.pop()!;
      for (const l of lines) {
        try { a.records.push(JSON.parse(l) as Record<string, unknown>); } catch { /* not a log record */ }
      }
    });
    await waitFor(() => fs.existsSync(socket) || a.proc!.exitCode !== null, { what: `CNI agent on ${socket}`, timeoutMs: 15000 });
    if (a.proc.exitCode !== null) throw new Error(`CNI agent exited with ${a.proc.exitCode}`);
    return a;
  }

  get pid(): number | undefined { return this.proc?.pid; }

  /** The calls the agent ran: [command, containerId, exit code]. */
  calls(): Array<[string, string, number]> {
    return this.records.filter((r) => r.msg === 'CNI call').map((r) => [String(r.command), String(r.containerId), Number(r.exitCode)]);
  }

  /** SIGTERM (the agent finishes its calls and removes its socket), SIGKILL after 5 s. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(t);
  }
}
