// OVN 23.03 (Debian ovn-central / ovn-host) as a peer, per LAB.md "OVN as a
// peer": a central (NB and SB ovsdb-servers on unix sockets and on
// ptcp:6641 / ptcp:6642 at the underlay bridge's address, plus ovn-northd)
// in the root namespace, and an ovn-controller inside each emulated host's
// namespace, pointed at that host's own OVS. Every daemon is started here
// with its files in our own folders and stopped by pid.
import fs from 'node:fs';
import path from 'node:path';
import { killPid, pidAlive, pidCmdline, readPidfile, run, runIn, runStatus } from '../../test/helpers/emu/common';
import type { EmuHost, Underlay } from '../../test/helpers/emu-host';
import { waitFor } from '../../test/helpers/wait';

const NB_SCHEMA = '/usr/share/ovn/ovn-nb.ovsschema';
const SB_SCHEMA = '/usr/share/ovn/ovn-sb.ovsschema';
const POLICY = '/usr/sbin/policy-rc.d';
const OVN_PACKAGES = ['ovn-central', 'ovn-host'];

function installed(pkg: string): Promise<boolean> {
  return runStatus('dpkg-query', ['-W', '-f=${Status}', pkg]).then((r) => r.code === 0 && r.stdout.trim() === 'install ok installed');
}

/** Pids of processes whose executable is `exe` (basename of argv[0]). */
function pidsOf(exe: string): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const argv0 = pidCmdline(Number(e)).split(' ')[0] ?? '';
    if (path.basename(argv0) === exe || argv0 === `${exe}:`) out.push(Number(e));
  }
  return out;
}

/**
 * Installs ovn-central and ovn-host if missing (idempotent), with service
 * starts blocked (policy-rc.d exiting 101, created only if absent and
 * removed afterwards), so no system ovn-northd / ovn-controller starts
 * against the system OVS. Afterwards checks that none runs that was not
 * running before; one that appeared during the install is stopped by pid.
 */
export async function ensureOvn(log: (s: string) => void): Promise<void> {
  const missing: string[] = [];
  for (const p of OVN_PACKAGES) if (!(await installed(p))) missing.push(p);
  if (missing.length === 0) {
    log(`OVN: ${OVN_PACKAGES.join(', ')} installed`);
    return;
  }
  if (process.getuid?.() !== 0) throw new Error(`OVN packages missing (${missing.join(', ')}) and not root`);
  const before = new Set([...pidsOf('ovn-controller'), ...pidsOf('ovn-northd')]);
  let created = false;
  if (!fs.existsSync(POLICY)) {
    fs.writeFileSync(POLICY, '#!/bin/sh\n# temporary, created by weft bench/multihost.ts\nexit 101\n', { mode: 0o755 });
    created = true;
  }
  try {
    log(`OVN: installing ${missing.join(' ')} (service starts blocked)`);
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    const opts = ['-y', '-q', '--no-install-recommends', '-o', 'Dpkg::Options::=--force-confdef', '-o', 'Dpkg::Options::=--force-confold'];
    let r = await runStatus('apt-get', ['install', ...opts, ...missing], { env, timeoutMs: 600_000 });
    if (r.code !== 0) {
      log('OVN: apt-get install failed; apt-get update and retry');
      await runStatus('apt-get', ['update', '-q'], { env, timeoutMs: 600_000 });
      r = await runStatus('apt-get', ['install', ...opts, ...missing], { env, timeoutMs: 600_000 });
    }
    if (r.code !== 0) await runStatus('dpkg', ['--configure', '-a'], { env, timeoutMs: 600_000 });
  } finally {
    if (created) fs.rmSync(POLICY, { force: true });
  }
  for (const p of OVN_PACKAGES) if (!(await installed(p))) throw new Error(`${p} did not install`);
  for (const pid of [...pidsOf('ovn-controller'), ...pidsOf('ovn-northd')]) {
    if (!before.has(pid)) {
      log(`OVN: the install started pid ${pid} (${pidCmdline(pid)}): stopping it`);
      await killPid(pid);
    }
  }
}

async function daemonPid(pidfile: string, what: string): Promise<number> {
  const p = await waitFor(() => readPidfile(pidfile), { what: `${what} pidfile ${pidfile}`, timeoutMs: 10_000 });
  return p;
}

/** NB + SB ovsdb-servers and ovn-northd in the root namespace, files under `dir`. */
export class OvnCentral {
  readonly pids: { nb?: number; sb?: number; northd?: number } = {};
  readonly nbSock: string;
  readonly sbSock: string;

  constructor(readonly dir: string, readonly underlay: Underlay) {
    this.nbSock = path.join(dir, 'ovnnb_db.sock');
    this.sbSock = path.join(dir, 'ovnsb_db.sock');
  }

  /** What a host namespace uses to reach the databases. */
  get nbRemote(): string { return `tcp:${this.underlay.ip}:6641`; }
  get sbRemote(): string { return `tcp:${this.underlay.ip}:6642`; }
  get env(): Record<string, string> {
    return { OVN_RUNDIR: this.dir, OVN_LOGDIR: this.dir, OVN_DBDIR: this.dir, OVS_RUNDIR: this.dir, OVS_LOGDIR: this.dir, OVS_DBDIR: this.dir };
  }

  async start(): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true });
    for (const [db, schema, sock, port, key] of [
      ['ovnnb_db', NB_SCHEMA, this.nbSock, 6641, 'nb'],
      ['ovnsb_db', SB_SCHEMA, this.sbSock, 6642, 'sb'],
    ] as const) {
      const file = path.join(this.dir, `${db}.db`);
      await run('ovsdb-tool', ['create', file, schema]);
      await run('ovsdb-server', [
        file, `--remote=punix:${sock}`, `--remote=ptcp:${port}:${this.underlay.ip}`,
        `--pidfile=${path.join(this.dir, `${db}.pid`)}`, `--log-file=${path.join(this.dir, `${db}.log`)}`,
        `--unixctl=${path.join(this.dir, `${db}.ctl`)}`, '-vconsole:off', '-vsyslog:off', '-vfile:info', '--no-chdir', '--detach',
      ], { env: this.env, timeoutMs: 20_000 });
      this.pids[key] = await daemonPid(path.join(this.dir, `${db}.pid`), `${db} ovsdb-server`);
    }
    await run('ovn-northd', [
      `--ovnnb-db=unix:${this.nbSock}`, `--ovnsb-db=unix:${this.sbSock}`,
      `--pidfile=${path.join(this.dir, 'ovn-northd.pid')}`, `--log-file=${path.join(this.dir, 'ovn-northd.log')}`,
      `--unixctl=${path.join(this.dir, 'ovn-northd.ctl')}`, '-vconsole:off', '-vsyslog:off', '-vfile:info', '--no-chdir', '--detach',
    ], { env: this.env, timeoutMs: 20_000 });
    this.pids.northd = await daemonPid(path.join(this.dir, 'ovn-northd.pid'), 'ovn-northd');
    await this.nbctl('--no-wait', 'init');
  }

  nbctl(...args: string[]): Promise<string> {
    return run('ovn-nbctl', [`--db=unix:${this.nbSock}`, '--timeout=30', ...args], { timeoutMs: 40_000 });
  }

  sbctl(...args: string[]): Promise<string> {
    return run('ovn-sbctl', [`--db=unix:${this.sbSock}`, '--timeout=30', ...args], { timeoutMs: 40_000 });
  }

  /** Pids of the central daemons that run. */
  livePids(): number[] {
    return [this.pids.northd, this.pids.nb, this.pids.sb].filter((p): p is number => p !== undefined && pidAlive(p));
  }

  async stop(): Promise<void> {
    // northd first so it does not spin reconnecting.
    for (const p of [this.pids.northd, this.pids.sb, this.pids.nb]) {
      if (p !== undefined) await killPid(p, { mustMatch: this.dir });
    }
  }
}

/**
 * Makes an emulated host an OVN chassis: removes the br-int EmuHost made
 * (ovn-controller creates its own, with ovn-bridge-datapath-type=netdev),
 * sets the Open_vSwitch external_ids, and starts ovn-controller inside the
 * host's namespace with OVS_RUNDIR / OVN_RUNDIR = the host's folder.
 */
export class OvnChassis {
  pid: number | null = null;

  constructor(readonly host: EmuHost, readonly central: OvnCentral) {}

  get pidfile(): string { return path.join(this.host.dir, 'ovn-controller.pid'); }

  async start(): Promise<void> {
    const h = this.host;
    await h.vsctl('--if-exists', 'del-br', 'br-int');
    await h.vsctl('set', 'Open_vSwitch', '.',
      `external_ids:system-id=${h.name}`,
      `external_ids:ovn-remote=${this.central.sbRemote}`,
      'external_ids:ovn-encap-type=geneve',
      `external_ids:ovn-encap-ip=${h.ip}`,
      'external_ids:ovn-bridge-datapath-type=netdev');
    const env = { OVS_RUNDIR: h.dir, OVS_LOGDIR: h.dir, OVS_DBDIR: h.dir, OVN_RUNDIR: h.dir, OVN_LOGDIR: h.dir, OVN_DBDIR: h.dir };
    await runIn(h.netns, [
      'ovn-controller', `unix:${h.dbSocket}`,
      `--pidfile=${this.pidfile}`, `--log-file=${path.join(h.dir, 'ovn-controller.log')}`,
      '-vconsole:off', '-vsyslog:off', '-vfile:info', '--no-chdir', '--detach',
    ], { env, timeoutMs: 20_000 });
    this.pid = await daemonPid(this.pidfile, `ovn-controller of ${h.name}`);
  }

  /** br-int exists and ovn-controller has it (the chassis is registered in the SB). */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const h = this.host;
    await waitFor(async () => (await h.vsctl('--if-exists', 'get', 'bridge', 'br-int', 'datapath_type')).trim() === 'netdev', {
      what: `br-int made by ovn-controller on ${h.name}`, timeoutMs,
    });
    await waitFor(async () => (await this.central.sbctl('--bare', '--columns=name', 'find', 'Chassis', `name=${h.name}`)).trim() === h.name, {
      what: `chassis ${h.name} in the SB`, timeoutMs,
    });
  }

  async stop(): Promise<void> {
    const p = this.pid ?? (await readPidfile(this.pidfile));
    if (p !== null) await killPid(p, { mustMatch: 'ovn-controller' });
    this.pid = null;
  }
}

/**
 * The OVN attach call as a bash script (system `ovn`: a lean plugin, no
 * Node start). The host-side commands are those weft-cni's ADD runs (veth
 * born in the container's netns, container end renamed / MAC / MTU /
 * address / up / default route / TX offload off, host end up, add-port, a
 * link check), with the NB registration in place of the Weft API calls; the
 * list is written out here (and in ovn-attach.ts) rather than taken from
 * weft-cni, so that weft-cni can change without changing the OVN side.
 * Prints bash's `times` (CPU of the shell and of its commands), then the
 * answer. Arguments: NB LS PORT MAC IP PREFIXLEN GATEWAY NETNS IFNAME HOSTIF
 * MTU OVSDB BRIDGE WAIT(0|1).
 */
export const OVN_ATTACH_SH = `#!/bin/bash
# marks: bash's EPOCHREALTIME (no process spawned), printed in the answer
set -e
nb=$1 ls=$2 port=$3 mac=$4 ip=$5 plen=$6 gw=$7 netns=$8 ifname=$9
shift 9
hostif=$1 mtu=$2 ovsdb=$3 bridge=$4 wait=$5
marks="start=$EPOCHREALTIME"
ovn-nbctl --db="$nb" --timeout=10 lsp-add "$ls" "$port" -- lsp-set-addresses "$port" "$mac $ip"
marks="$marks register=$EPOCHREALTIME"
if ip -j link show dev "$hostif" >/dev/null 2>&1; then echo "host interface $hostif already exists" >&2; exit 1; fi
tmp="ovn$$"
ip link add name "$hostif" mtu "$mtu" type veth peer name "$tmp" mtu "$mtu" netns "$netns"
nsenter --net="$netns" -- ip link set dev "$tmp" name "$ifname" address "$mac" mtu "$mtu"
nsenter --net="$netns" -- ip addr add "$ip/$plen" dev "$ifname"
nsenter --net="$netns" -- ip link set dev "$ifname" up
nsenter --net="$netns" -- ip route add default via "$gw" dev "$ifname"
nsenter --net="$netns" -- ethtool -K "$ifname" tx off
ip link set dev "$hostif" up
marks="$marks plumb=$EPOCHREALTIME"
ovs-vsctl --db="$ovsdb" --timeout=30 --may-exist add-port "$bridge" "$hostif" -- set interface "$hostif" external_ids:iface-id="$port"
marks="$marks add-port=$EPOCHREALTIME"
ip -j link show dev "$hostif" >/dev/null
if [ "$wait" = 1 ]; then ovs-vsctl --db="$ovsdb" --timeout=30 wait-until Interface "$hostif" 'external_ids:ovn-installed="true"'; fi
marks="$marks wait=$EPOCHREALTIME"
times
echo "{\\"ok\\":true,\\"marks\\":\\"$marks\\"}"
`;
