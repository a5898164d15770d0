/**
 * An emulated container host: a network namespace running its own
 * ovsdb-server + ovs-vswitchd (userspace datapath), with
 *
 *   br-phy  (netdev, standalone = plain L2 switch until someone programs it)
 *           holds the uplink veth `eth0` (peer in the root namespace, in the
 *           underlay bridge) and the host's underlay IP on its internal port;
 *   br-int  (netdev, fail_mode=secure, in-band off, OpenFlow13, fixed dpid)
 *           holds `vxlan0` (remote_ip=flow key=flow local_ip=<host ip>) and
 *           the patch port `patch-phy` <-> `patch-int` on br-phy.
 *
 * All OVS files (db, sockets, pidfiles, logs) live in `<baseDir>/<name>`.
 * Unix sockets are not network-namespaced, so ovs-vsctl / ovs-ofctl /
 * ovs-appctl run from the root namespace against those paths.
 */
import { mkdir, rm, rmdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { sh } from '../ovs';
import { waitFor } from '../wait';
import {
  checkIfname,
  DEFAULT_BASE_DIR,
  DEFAULT_HOST_PREFIX,
  deleteLink,
  deleteNetns,
  Destroyable,
  killPid,
  macFromIp,
  netnsExists,
  pidAlive,
  pidCmdline,
  pidRssKb,
  readPidfile,
  register,
  run,
  runIn,
  runStatus,
  unregister,
} from './common';
import { NetnsNode } from './netns-node';
import { Underlay } from './underlay';

export const VSWITCH_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

export const BR_INT = 'br-int';
export const BR_PHY = 'br-phy';
/** The host's end of the underlay veth, inside the host namespace, a port of br-phy. */
export const UPLINK = 'eth0';
export const TUNNEL_PORT = 'vxlan0';
/** Patch port on br-int (leads to br-phy) and its peer on br-phy. */
export const BR_INT_PATCH_PORT = 'patch-phy';
export const BR_PHY_PATCH_PORT = 'patch-int';

const VSCTL_TIMEOUT_S = 10;

export interface EmuHostOptions {
  /** Short host name, e.g. 'h1': netns `<prefix><name>`, folder `<baseDir>/<name>`. */
  name: string;
  underlay: Underlay;
  /** 1-based; the host's underlay IP is network + index + 1. */
  index: number;
  /** OpenFlow target for br-int, e.g. 'tcp:172.31.250.1:6653'. */
  controller?: string;
  /** OVSDB manager target, e.g. 'tcp:172.31.250.1:6640' (ovsdb-server dials out). */
  manager?: string;
  /** Controller reconnect max backoff (default 1000 ms; OVS's own default is 8000). */
  maxBackoffMs?: number;
  /** Netns prefix (default 'wf-'); the root-side veth has the netns's name too. */
  prefix?: string;
  /** Default /tmp/weft-emu. */
  baseDir?: string;
  /** Create br-int's vxlan0 tunnel port (default true). */
  tunnel?: boolean;
  /** Join br-int and br-phy with a patch port pair (default true). */
  patch?: boolean;
  /** br-int datapath id, 16 hex digits; default from the index (index 1 -> 0000000000000a01). */
  dpid?: string;
  /** Keep IPv6 on the host's interfaces (default false: quieter underlay, no RS/MLD noise). */
  ipv6?: boolean;
}

/** Plain-data description of a host (what hostlab prints and stores). */
export interface EmuHostInfo {
  name: string;
  index: number;
  netns: string;
  netnsPath: string;
  /** Underlay IP (on br-phy) and its prefix. */
  ip: string;
  cidr: string;
  /** br-int datapath id, 16 hex digits. */
  dpid: string;
  /** Path of the host's ovsdb-server socket; the CNI `ovsdb` key wants `unix:<path>` (see `ovsdb`). */
  dbSocket: string;
  ovsdb: string;
  /** br-int's OpenFlow management socket (ovs-ofctl target). */
  brIntMgmt: string;
  /** ovs-appctl target of this host's ovs-vswitchd. */
  vswitchdCtl: string;
  dir: string;
  /** Root-namespace end of the uplink veth (in the underlay bridge). */
  rootLink: string;
  underlay: string;
  underlayIp: string;
  controller: string | null;
  manager: string | null;
  pids: { ovsdbServer: number | null; ovsVswitchd: number | null };
}

/** Default br-int datapath id for host `index`: 0000000000000a01 for 1. */
export function defaultDpid(index: number): string {
  const tail = index < 0x100 ? `a${index.toString(16).padStart(2, '0')}` : `a${index.toString(16).padStart(6, '0')}`;
  return tail.padStart(16, '0');
}

/**
 * Removes what a host may have left, given only names: kills the
 * ovs-vswitchd and ovsdb-server named by the pidfiles in `dir` (only if
 * their command line mentions `dir`), then any process still in `netns`,
 * deletes the netns, the root-side veth and the folder. Safe on partial or
 * already-removed hosts.
 */
export async function destroyHostArtifacts(a: { netns: string; rootLink: string; dir: string; pids?: number[] }): Promise<void> {
  const pids = [...(a.pids ?? [])];
  for (const f of ['ovs-vswitchd.pid', 'ovsdb-server.pid']) {
    const p = await readPidfile(path.join(a.dir, f));
    if (p !== null) pids.push(p);
  }
  // vswitchd before ovsdb-server, so it does not spin reconnecting.
  const mine = `${a.dir}/`; // h1's daemons name /tmp/weft-emu/h1/..., not h10's
  for (const pid of pids) await killPid(pid, { mustMatch: mine });
  for (const pid of pids) {
    if (pidAlive(pid) && pidCmdline(pid).includes(mine)) {
      throw new Error(`pid ${pid} (${a.dir}) still alive`);
    }
  }
  await deleteNetns(a.netns);
  await deleteLink(a.rootLink);
  await rm(a.dir, { recursive: true, force: true });
  await rmdir(path.dirname(a.dir)).catch(() => undefined); // the base dir, once empty
}

export class EmuHost extends NetnsNode implements Destroyable {
  readonly destroyOrder = 1;
  readonly name: string;
  readonly index: number;
  readonly underlay: Underlay;
  /** Underlay IP, on br-phy. */
  readonly ip: string;
  readonly cidr: string;
  /** br-int datapath id (16 hex digits). */
  readonly dpid: string;
  /** Per-host folder: db, sockets, pidfiles, logs. */
  readonly dir: string;
  /** ovsdb-server's unix socket path. */
  readonly dbSocket: string;
  /** Root-namespace end of the uplink veth. */
  readonly rootLink: string;
  readonly brInt = BR_INT;
  readonly brPhy = BR_PHY;
  readonly uplink = UPLINK;
  /** Null when created with tunnel: false. */
  readonly tunnelPort: string | null;
  /** Null when created with patch: false. */
  readonly patchPorts: { brInt: string; brPhy: string } | null;
  /** Wall time create() took (ms). */
  startupMs = 0;
  private ovsdbPid: number | null = null;
  private vswitchdPid: number | null = null;
  private controllerTarget: string | null = null;
  private managerTarget: string | null = null;
  /** Containers created with this host; destroyed with it. */
  readonly containers = new Set<{ destroy(): Promise<void> }>();
  private destroyed = false;

  private constructor(private readonly opts: EmuHostOptions) {
    const prefix = opts.prefix ?? DEFAULT_HOST_PREFIX;
    super(`${prefix}${opts.name}`);
    if (!/^[a-z0-9][a-z0-9-]*$/.test(opts.name)) throw new Error(`host name ${JSON.stringify(opts.name)}: use [a-z0-9-]`);
    checkIfname(this.netns, 'host netns / root veth name');
    this.name = opts.name;
    this.index = opts.index;
    this.underlay = opts.underlay;
    this.ip = opts.underlay.hostIp(opts.index);
    this.cidr = `${this.ip}/${opts.underlay.subnet.prefixLen}`;
    this.dpid = (opts.dpid ?? defaultDpid(opts.index)).toLowerCase();
    if (!/^[0-9a-f]{16}$/.test(this.dpid)) throw new Error(`dpid ${this.dpid}: want 16 hex digits`);
    this.dir = path.join(opts.baseDir ?? DEFAULT_BASE_DIR, opts.name);
    this.dbSocket = path.join(this.dir, 'db.sock');
    if (this.dbSocket.length > 100) throw new Error(`socket path ${this.dbSocket} too long for AF_UNIX`);
    this.rootLink = this.netns;
    this.tunnelPort = opts.tunnel === false ? null : TUNNEL_PORT;
    this.patchPorts = opts.patch === false ? null : { brInt: BR_INT_PATCH_PORT, brPhy: BR_PHY_PATCH_PORT };
  }

  get label(): string {
    return `host ${this.name} (${this.netns}, ${this.ip})`;
  }

  /** `unix:<dbSocket>`: the CNI plugin's / ovs-vsctl's `ovsdb` target. */
  get ovsdb(): string {
    return `unix:${this.dbSocket}`;
  }

  /** ovs-ofctl target of br-int. */
  get brIntMgmt(): string {
    return path.join(this.dir, `${BR_INT}.mgmt`);
  }

  /** ovs-appctl target of this host's ovs-vswitchd. */
  get vswitchdCtl(): string {
    return path.join(this.dir, 'ovs-vswitchd.ctl');
  }

  get ovsdbServerCtl(): string {
    return path.join(this.dir, 'ovsdb-server.ctl');
  }

  get pids(): { ovsdbServer: number | null; ovsVswitchd: number | null } {
    return { ovsdbServer: this.ovsdbPid, ovsVswitchd: this.vswitchdPid };
  }

  /** Environment of this host's OVS daemons. */
  get ovsEnv(): Record<string, string> {
    return { OVS_RUNDIR: this.dir, OVS_LOGDIR: this.dir, OVS_DBDIR: this.dir, OVS_SYSCONFDIR: this.dir };
  }

  /**
   * Builds the host (see the file comment). On any failure everything made
   * so far is removed and the error rethrown. A leftover with the same
   * netns / folder is removed first.
   */
  static async create(opts: EmuHostOptions): Promise<EmuHost> {
    const h = new EmuHost(opts);
    const t0 = performance.now();
    register(h);
    try {
      await h.build();
    } catch (e) {
      await h.destroy().catch(() => undefined);
      throw e;
    }
    h.startupMs = Math.round(performance.now() - t0);
    return h;
  }

  private async build(): Promise<void> {
    if (!(await this.underlay.exists())) throw new Error(`underlay ${this.underlay.name} does not exist: create() it first`);
    if (netnsExists(this.netns) || existsSync(this.dir)) {
      await destroyHostArtifacts({ netns: this.netns, rootLink: this.rootLink, dir: this.dir });
    } else {
      await deleteLink(this.rootLink);
    }
    await mkdir(this.dir, { recursive: true });

    // Namespace and uplink.
    await sh('ip', ['netns', 'add', this.netns]);
    await sh('ip', ['-n', this.netns, 'link', 'set', 'lo', 'up']);
    if (this.opts.ipv6 !== true) {
      await this.exec(['sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']);
    }
    const mtu = String(this.underlay.mtu);
    await sh('ip', ['link', 'add', this.rootLink, 'mtu', mtu, 'type', 'veth', 'peer', 'name', UPLINK, 'mtu', mtu, 'netns', this.netns]);
    if (this.opts.ipv6 !== true) await runStatus('sysctl', ['-qw', `net.ipv6.conf.${this.rootLink}.disable_ipv6=1`]);
    await sh('ip', ['link', 'set', this.rootLink, 'master', this.underlay.name, 'up']);
    await run('ethtool', ['-K', this.rootLink, 'tx', 'off']);
    await sh('ip', ['-n', this.netns, 'link', 'set', UPLINK, 'up']);
    await this.exec(['ethtool', '-K', UPLINK, 'tx', 'off']);
    await this.detachUplinkFromKernel();

    // ovsdb-server with its own database.
    const db = path.join(this.dir, 'conf.db');
    await sh('ovsdb-tool', ['create', db, VSWITCH_SCHEMA]);
    await runIn(
      this.netns,
      [
        'ovsdb-server', db,
        `--remote=punix:${this.dbSocket}`,
        '--remote=db:Open_vSwitch,Open_vSwitch,manager_options',
        `--pidfile=${path.join(this.dir, 'ovsdb-server.pid')}`,
        `--log-file=${path.join(this.dir, 'ovsdb-server.log')}`,
        `--unixctl=${this.ovsdbServerCtl}`,
        '-vconsole:off', '-vsyslog:off', '-vfile:info',
        '--no-chdir', '--detach',
      ],
      { env: this.ovsEnv, timeoutMs: 20_000 },
    );
    this.ovsdbPid = await readPidfile(path.join(this.dir, 'ovsdb-server.pid'));
    if (this.ovsdbPid === null) throw new Error(`ovsdb-server of ${this.name} wrote no pidfile (see ${this.dir}/ovsdb-server.log)`);
    await this.vsctl(
      '--no-wait', 'init', '--',
      'set', 'Open_vSwitch', '.', `external_ids:system-id=${this.name}`, `external_ids:hostname=${this.name}`,
    );

    // ovs-vswitchd; --detach returns once it has applied the database once.
    await runIn(
      this.netns,
      [
        'ovs-vswitchd', this.ovsdb,
        `--pidfile=${path.join(this.dir, 'ovs-vswitchd.pid')}`,
        `--log-file=${path.join(this.dir, 'ovs-vswitchd.log')}`,
        `--unixctl=${this.vswitchdCtl}`,
        '-vconsole:off', '-vsyslog:off', '-vfile:info',
        '--no-chdir', '--detach',
      ],
      { env: this.ovsEnv, timeoutMs: 30_000 },
    );
    this.vswitchdPid = await readPidfile(path.join(this.dir, 'ovs-vswitchd.pid'));
    if (this.vswitchdPid === null) throw new Error(`ovs-vswitchd of ${this.name} wrote no pidfile (see ${this.dir}/ovs-vswitchd.log)`);

    // Bridges, in one transaction (ovs-vsctl waits until ovs-vswitchd applied it).
    const args = [
      'add-br', BR_PHY, '--', 'set', 'bridge', BR_PHY,
      'datapath_type=netdev', 'fail_mode=standalone',
      `other_config:hwaddr=${macFromIp(this.ip)}`, 'other_config:disable-in-band=true',
      '--', 'add-port', BR_PHY, UPLINK,
      '--', 'set', 'interface', BR_PHY, `mtu_request=${this.underlay.mtu}`,
      '--', 'add-br', BR_INT, '--', 'set', 'bridge', BR_INT,
      'datapath_type=netdev', 'fail_mode=secure', 'protocols=OpenFlow13',
      'other_config:disable-in-band=true', `other_config:datapath-id=${this.dpid}`,
    ];
    if (this.patchPorts) {
      const { brInt, brPhy } = this.patchPorts;
      args.push(
        '--', 'add-port', BR_INT, brInt, '--', 'set', 'interface', brInt, 'type=patch', `options:peer=${brPhy}`,
        '--', 'add-port', BR_PHY, brPhy, '--', 'set', 'interface', brPhy, 'type=patch', `options:peer=${brInt}`,
      );
    }
    if (this.tunnelPort) {
      args.push(
        '--', 'add-port', BR_INT, this.tunnelPort, '--', 'set', 'interface', this.tunnelPort, 'type=vxlan',
        'options:remote_ip=flow', 'options:key=flow', `options:local_ip=${this.ip}`,
      );
    }
    await this.vsctl(...args);

    // The host's underlay address lives on br-phy's internal port (userspace VXLAN needs it there).
    await sh('ip', ['-n', this.netns, 'addr', 'add', this.cidr, 'dev', BR_PHY]);
    await sh('ip', ['-n', this.netns, 'link', 'set', BR_PHY, 'up']);

    if (this.opts.controller !== undefined) await this.setController(this.opts.controller, this.opts.maxBackoffMs ?? 1000);
    if (this.opts.manager !== undefined) await this.setManager(this.opts.manager);

    await waitFor(
      async () => (await this.vsctl('get', 'bridge', BR_INT, 'datapath_id')).trim().replace(/"/g, '') === this.dpid,
      { what: `datapath_id ${this.dpid} on ${this.name}`, timeoutMs: 5000 },
    );
  }

  /**
   * Keeps the host's own IP stack off the uplink, as on a real host. With
   * OVS's kernel datapath, a port's frames are taken by OVS before the stack
   * sees them; the userspace datapath reads `eth0` through a packet socket
   * and the stack gets every frame too. Left so, the host's kernel answers
   * ARP for its underlay address on `eth0` with `eth0`'s MAC (arp_ignore=0
   * answers for any local address on any interface): usually first, ahead
   * of br-phy's own answer, so an underlay machine's cache held the uplink's
   * MAC for the host unless the host happened to ARP for that machine right
   * after (the intermittent multihost-shared-mac failure). And, with
   * ip_forward on, it forwarded a second copy of every frame sent to the
   * uplink's MAC (shared-MAC underlay endpoints got each packet twice).
   * `arp off`: the stack ignores ARP received on eth0; strict rp_filter:
   * it drops IPv4 received on eth0 (no route leads out of it).
   */
  private async detachUplinkFromKernel(): Promise<void> {
    await sh('ip', ['-n', this.netns, 'link', 'set', UPLINK, 'arp', 'off']);
    await this.exec(['sysctl', '-qw', `net.ipv4.conf.${UPLINK}.rp_filter=1`]);
  }

  /** ovs-vsctl against this host's database (with a timeout). */
  vsctl(...args: string[]): Promise<string> {
    return sh('ovs-vsctl', [`--db=${this.ovsdb}`, `--timeout=${VSCTL_TIMEOUT_S}`, ...args]);
  }

  /**
   * `ovs-ofctl -O OpenFlow13 <args>` against br-int: the switch target
   * (br-int's mgmt socket) is inserted after the first non-option argument,
   * so `ofctl('add-flow', 'priority=0,actions=drop')` and
   * `ofctl('--no-stats', 'dump-flows')` work.
   */
  ofctl(...args: string[]): Promise<string> {
    return this.ofctlOn(BR_INT, ...args);
  }

  /** ofctl() against another bridge of this host (e.g. 'br-phy'). */
  ofctlOn(bridge: string, ...args: string[]): Promise<string> {
    const i = args.findIndex((a) => !a.startsWith('-'));
    if (i < 0) throw new Error('ofctl: no command given');
    const target = `unix:${path.join(this.dir, `${bridge}.mgmt`)}`;
    return sh('ovs-ofctl', ['-O', 'OpenFlow13', ...args.slice(0, i + 1), target, ...args.slice(i + 1)]);
  }

  /** `ovs-appctl` against this host's ovs-vswitchd. */
  appctl(...args: string[]): Promise<string> {
    return sh('ovs-appctl', ['-t', this.vswitchdCtl, `--timeout=${VSCTL_TIMEOUT_S}`, ...args]);
  }

  /** Flows of `bridge` (default br-int), one trimmed line each, without statistics. */
  async dumpFlows(bridge: string = BR_INT): Promise<string[]> {
    const out = await this.ofctlOn(bridge, '--no-stats', 'dump-flows');
    return out
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !/^(OFPST|NXST)_FLOW reply/.test(l));
  }

  /** OpenFlow port number of `port` (waits until OVS assigned one). */
  async ofport(port: string): Promise<number> {
    return waitFor(
      async () => {
        const n = Number((await this.vsctl('get', 'interface', port, 'ofport')).trim());
        return Number.isInteger(n) && n > 0 ? n : 0;
      },
      { what: `ofport of ${port} on ${this.name}`, timeoutMs: 5000 },
    );
  }

  /** Points br-int at `target`, or removes its controller(s) if null. */
  async setController(target: string | null, maxBackoffMs = 1000): Promise<void> {
    if (target === null) {
      await this.vsctl('del-controller', BR_INT);
    } else {
      await this.vsctl('set-controller', BR_INT, target, '--', 'set', 'controller', BR_INT, `max_backoff=${maxBackoffMs}`);
    }
    this.controllerTarget = target;
  }

  /**
   * Makes br-int dial its controller now instead of after its reconnect
   * backoff (1, 2, 4, 8 s on OVS 3.1, whatever max_backoff says): removes
   * and re-adds the controller record.
   */
  async kickController(): Promise<void> {
    if (this.controllerTarget === null) throw new Error(`${this.name}: no controller set`);
    const target = this.controllerTarget;
    const backoff = (await this.vsctl('get', 'controller', BR_INT, 'max_backoff')).trim();
    await this.vsctl('del-controller', BR_INT);
    await this.setController(target, /^\d+$/.test(backoff) ? Number(backoff) : undefined);
  }

  /** Sets (or with null removes) the OVSDB manager: ovsdb-server dials out to it. */
  async setManager(target: string | null): Promise<void> {
    if (target === null) await this.vsctl('del-manager');
    else await this.vsctl('set-manager', target);
    this.managerTarget = target;
  }

  /** True if a controller of br-int reports is_connected=true. */
  async isConnected(): Promise<boolean> {
    const out = await this.vsctl('--columns=is_connected', '--bare', 'list', 'controller');
    return out.split('\n').some((l) => l.trim() === 'true');
  }

  /** Resident memory of this host's daemons in KiB. */
  rss(): { ovsdbServerKb: number; ovsVswitchdKb: number; totalKb: number } {
    const a = this.ovsdbPid === null ? 0 : pidRssKb(this.ovsdbPid);
    const b = this.vswitchdPid === null ? 0 : pidRssKb(this.vswitchdPid);
    return { ovsdbServerKb: a, ovsVswitchdKb: b, totalKb: a + b };
  }

  /** True if both daemons run. */
  alive(): boolean {
    return this.ovsdbPid !== null && this.vswitchdPid !== null && pidAlive(this.ovsdbPid) && pidAlive(this.vswitchdPid);
  }

  info(): EmuHostInfo {
    return {
      name: this.name,
      index: this.index,
      netns: this.netns,
      netnsPath: this.netnsPath,
      ip: this.ip,
      cidr: this.cidr,
      dpid: this.dpid,
      dbSocket: this.dbSocket,
      ovsdb: this.ovsdb,
      brIntMgmt: this.brIntMgmt,
      vswitchdCtl: this.vswitchdCtl,
      dir: this.dir,
      rootLink: this.rootLink,
      underlay: this.underlay.name,
      underlayIp: this.underlay.ip,
      controller: this.controllerTarget,
      manager: this.managerTarget,
      pids: this.pids,
    };
  }

  /**
   * Stops this host's containers and TCP servers, kills ovs-vswitchd and
   * ovsdb-server (SIGTERM, then SIGKILL; waits until they are dead), deletes
   * the netns, the root-side veth and the folder. Idempotent; safe after a
   * partial create().
   */
  async destroy(): Promise<void> {
    for (const c of [...this.containers]) await c.destroy();
    this.containers.clear();
    await this.stopServers();
    const pids = [this.vswitchdPid, this.ovsdbPid].filter((p): p is number => p !== null);
    await destroyHostArtifacts({ netns: this.netns, rootLink: this.rootLink, dir: this.dir, pids });
    this.destroyed = true;
    unregister(this);
  }

  get isDestroyed(): boolean {
    return this.destroyed;
  }
}
