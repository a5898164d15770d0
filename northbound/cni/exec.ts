// Runs host commands (ip, ethtool, nsenter, ovs-vsctl) without a shell.
import { execFile } from 'node:child_process';

/** A host command that failed; the message holds the command line and its stderr. */
export class ExecError extends Error {
  constructor(
    readonly cmd: string,
    readonly args: readonly string[],
    readonly exitCode: number | string | null,
    readonly stderr: string,
  ) {
    super(`${[cmd, ...args].join(' ')} failed (${exitCode ?? 'killed'})${stderr ? `: ${stderr}` : ''}`);
    this.name = 'ExecError';
  }
}

/** Default time limit of one command. */
const EXEC_TIMEOUT_MS = 20_000;

/** Runs `cmd args...` (with `input` on its stdin) and resolves to its stdout; rejects with an ExecError. */
export function run(cmd: string, args: readonly string[], timeoutMs = EXEC_TIMEOUT_MS, input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args as string[], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
        reject(new ExecError(cmd, args, e.killed ? `timed out after ${timeoutMs} ms` : (e.code ?? null), String(stderr ?? '').trim()));
        return;
      }
      resolve(String(stdout));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}
