/**
 * Leftover sweep by name, for crashed runs: what cleanupAll() could not
 * reach because the process that created it is gone.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  deleteLink,
  deleteNetns,
  killPid,
  listLinks,
  listNetns,
  OWNED_LINK_RE,
  OWNED_NETNS_RE,
  pidCmdline,
  readPidfile,
} from './common';

export interface SweepOptions {
  /**
   * Folders whose hosts' daemons are killed and which are then removed.
   * Default: every /tmp/weft-emu* folder.
   */
  baseDirs?: string[];
  /** Netns names to delete (default /^wf[a-z]{0,2}-/: wf-*, wfc-*, wft-* ...). */
  netnsRe?: RegExp;
  /** Root-namespace links to delete (default wfu* and wf[a-z]{0,2}-*). */
  linkRe?: RegExp;
  /** Only report what would be removed. */
  dryRun?: boolean;
}

export interface SweepReport {
  killed: number[];
  netns: string[];
  links: string[];
  dirs: string[];
}

async function defaultBaseDirs(): Promise<string[]> {
  try {
    return (await readdir('/tmp')).filter((n) => n.startsWith('weft-emu')).map((n) => path.join('/tmp', n));
  } catch {
    return [];
  }
}

/** Pids of ovsdb-server / ovs-vswitchd processes whose command line mentions `dir`. */
async function ovsPidsUnder(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = pidCmdline(Number(e));
    const exe = path.basename(cmd.split(' ')[0] ?? '');
    if ((exe === 'ovsdb-server' || exe === 'ovs-vswitchd') && cmd.includes(`${dir}/`)) out.push(Number(e));
  }
  return out;
}

/**
 * Kills the OVS daemons of every host folder under the base dirs (by
 * pidfile, and any ovsdb-server / ovs-vswitchd whose command line names the
 * folder), deletes matching netns (killing what still runs in them) and
 * links, and removes the base dirs.
 */
export async function sweepLeftovers(opts: SweepOptions = {}): Promise<SweepReport> {
  const report: SweepReport = { killed: [], netns: [], links: [], dirs: [] };
  const baseDirs = opts.baseDirs ?? (await defaultBaseDirs());
  const netnsRe = opts.netnsRe ?? OWNED_NETNS_RE;
  const linkRe = opts.linkRe ?? OWNED_LINK_RE;

  for (const base of baseDirs) {
    let subdirs: string[] = [];
    try {
      subdirs = (await readdir(base, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => path.join(base, d.name));
    } catch {
      continue;
    }
    const pids = new Set<number>();
    for (const d of subdirs) {
      for (const f of ['ovs-vswitchd.pid', 'ovsdb-server.pid']) {
        const p = await readPidfile(path.join(d, f));
        if (p !== null && pidCmdline(p).includes(`${d}/`)) pids.add(p);
      }
    }
    for (const p of await ovsPidsUnder(base)) pids.add(p);
    for (const p of pids) {
      report.killed.push(p);
      if (!opts.dryRun) await killPid(p);
    }
    report.dirs.push(base);
    if (!opts.dryRun) await rm(base, { recursive: true, force: true });
  }

  for (const ns of await listNetns()) {
    if (!netnsRe.test(ns)) continue;
    report.netns.push(ns);
    if (!opts.dryRun) await deleteNetns(ns);
  }
  // Veth ends vanish with their netns (asynchronously); delete what is left.
  for (const l of await listLinks()) {
    if (!linkRe.test(l)) continue;
    report.links.push(l);
    if (!opts.dryRun) await deleteLink(l);
  }
  return report;
}
