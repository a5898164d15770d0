// `weft ipsec-agent`: the per-host side of encrypted networks
// (docs/pipeline.md, "Encrypted networks"). Run in the host's network
// namespace, as root. It reads the host's IPsec configuration from the
// controller (GET /v1/hosts/{name}/ipsec, with the host's own token) every
// poll interval and keeps the host in line with it:
//
//  - br-sec, an OVS bridge holding the host's secure VTEP on its LOCAL port,
//    and a veth (wsk in the kernel, wso on br-sec) between br-sec and the
//    host kernel; br-int's vxsec0 (VXLAN, local_ip = the VTEP); OVS's route
//    to the VTEP range through br-sec;
//  - the kernel: forwarding, a blackhole route for the VTEP range (no SA:
//    dropped, never sent in clear), an ip rule that hands decrypted packets
//    for the VTEP back to OVS (the kernel's `local` rule moved behind it);
//  - br-phy (when Weft does not program it): cleartext from the uplink into
//    the VTEP range dropped;
//  - its own charon (strongSwan with kernel-libipsec: ESP in userspace over
//    the TUN device ipsec0), in a private /run, with swanctl.conf written
//    from the configuration: an SA per peer host; peers that went away are
//    terminated; a new key generation rekeys the IKE and child SAs.
import fs from 'node:fs';
import path from 'node:path';
import { spawn, ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { Logger } from 'pino';
import { run } from '../cni/exec';
import { apiFor, apiUrls, ApiHttpError, WeftApi } from '../cni/api-client';
import { IpsecHostConf, parseHostConf, strongswanConf, swanctlConf, connName } from './swanctl';
import { LOG_LEVELS } from '../config';

export const DEFAULT_STATE_DIR = '/var/lib/weft/ipsec';
export const DEFAULT_OVS_RUNDIR = '/var/run/openvswitch';
export const SECURE_BRIDGE = 'br-sec';
export const SECURE_PORT = 'vxsec0';
/** The veth between br-sec (wso) and the host kernel (wsk). */
export const VETH_KERNEL = 'wsk';
export const VETH_OVS = 'wso';
/** Routing table and rule preference of "decrypted packets for our VTEP go back to OVS". */
export const VTEP_TABLE = 4790;
export const VTEP_RULE_PREF = 100;
/** The kernel's `local` rule moves here, behind VTEP_RULE_PREF. */
export const LOCAL_RULE_PREF = 1000;
const CHARON = '/usr/lib/ipsec/charon';
const SWANCTL_SUBDIRS = ['conf.d', 'x509', 'x509ca', 'x509aa', 'x509ac', 'x509crl', 'x509ocsp', 'private', 'rsa', 'ecdsa', 'bliss', 'pkcs8', 'pkcs12', 'pubkey'];

export interface IpsecAgentConfig {
  api: string;
  host: string;
  tokenFile?: string;
  apiCaFile?: string;
  stateDir: string;
  ovsRundir: string;
  uplink?: string;
  pollS: number;
  logLevel: string;
}

export class IpsecUsageError extends Error {}

export function parseIpsecAgentArgs(argv: string[]): IpsecAgentConfig {
  const { values: v } = parseArgs({
    args: argv, strict: true, allowPositionals: false,
    options: {
      api: { type: 'string' }, host: { type: 'string' }, 'token-file': { type: 'string' }, 'api-ca-file': { type: 'string' },
      'state-dir': { type: 'string' }, 'ovs-rundir': { type: 'string' }, uplink: { type: 'string' }, 'poll-interval': { type: 'string' }, 'log-level': { type: 'string' },
    },
  });
  if (!v.api) throw new IpsecUsageError('--api URL is required (the Weft API, e.g. http://10.0.0.1:8080)');
  let api: string;
  try { api = apiUrls(v.api).join(','); } catch (e) { throw new IpsecUsageError(`--api: ${(e as Error).message}`); }
  if (!v.host || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/.test(v.host)) throw new IpsecUsageError('--host NAME is required (this host\'s name in Weft)');
  const abs = (s: string, flag: string) => { if (!s.startsWith('/')) throw new IpsecUsageError(`${flag}: "${s}" must be an absolute path`); return s; };
  const stateDir = abs(v['state-dir'] ?? DEFAULT_STATE_DIR, '--state-dir');
  // the VICI socket lives there: AF_UNIX paths are at most 107 bytes
  if (Buffer.byteLength(path.join(stateDir, 'charon.vici')) > 107) throw new IpsecUsageError(`--state-dir: "${stateDir}" is too long for charon's socket`);
  const pollS = Number(v['poll-interval'] ?? '2');
  if (!/^\d+(\.\d+)?$/.test(v['poll-interval'] ?? '2') || pollS < 0.1 || pollS > 3600) throw new IpsecUsageError('--poll-interval: seconds, 0.1-3600');
  if (v.uplink !== undefined && !/^[A-Za-z0-9_.-]{1,15}$/.test(v.uplink)) throw new IpsecUsageError(`--uplink: "${v.uplink}" is not an interface name`);
  const level = v['log-level'] ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new IpsecUsageError(`--log-level: unknown level "${level}"`);
  return {
    api, host: v.host, stateDir, ovsRundir: abs(v['ovs-rundir'] ?? DEFAULT_OVS_RUNDIR, '--ovs-rundir'), pollS, logLevel: level,
    ...(v['token-file'] !== undefined ? { tokenFile: v['token-file'] } : {}), ...(v['api-ca-file'] !== undefined ? { apiCaFile: v['api-ca-file'] } : {}),
    ...(v.uplink !== undefined ? { uplink: v.uplink } : {}),
  };
}

/** What the agent last applied to the host. */
interface Applied { vtep: string; vtepCidr: string; swanctl: string; peers: Map<string, number> }

/** Connections of `swanctl --list-sas` output whose IKE SA is established with an installed child SA. */
export function installedConns(listSas: string): Set<string> {
  const out = new Set<string>();
  let ike: string | undefined;
  for (const line of listSas.split('\n')) {
    const m = /^(\S+): #\d+, (\w+), IKEv/.exec(line);
    if (m) { ike = m[2] === 'ESTABLISHED' ? m[1] : undefined; continue; }
    if (ike && /^\s+\S+: #\d+, reqid \d+, INSTALLED,/.test(line)) out.add(ike);
  }
  return out;
}

export class IpsecAgent {
  private readonly api: WeftApi;
  private charon?: ChildProcess;
  private applied?: Applied;
  private timer?: NodeJS.Timeout;
  private stopping = false;
  private busy?: Promise<void>;
  /** Polls done (tests and the bench wait on it). */
  polls = 0;

  constructor(readonly cfg: IpsecAgentConfig, private readonly log: Logger) {
    this.api = apiFor({ api: cfg.api, tokenFile: cfg.tokenFile, apiCaFile: cfg.apiCaFile }, 10_000);
  }

  private get swanDir(): string { return path.join(this.cfg.stateDir, 'swanctl'); }
  private get conf(): string { return path.join(this.cfg.stateDir, 'strongswan.conf'); }

  async start(): Promise<void> {
    fs.mkdirSync(this.cfg.stateDir, { recursive: true, mode: 0o700 });
    for (const d of SWANCTL_SUBDIRS) fs.mkdirSync(path.join(this.swanDir, d), { recursive: true, mode: 0o700 });
    fs.writeFileSync(this.conf, strongswanConf(this.cfg.stateDir), { mode: 0o600 });
    this.loop();
  }

  private loop(): void {
    if (this.stopping) return;
    this.busy = this.poll().finally(() => {
      this.polls++;
      if (!this.stopping) this.timer = setTimeout(() => this.loop(), this.cfg.pollS * 1000);
    });
  }

  /** One round: read the configuration, apply what changed. Errors are logged and retried next round. */
  async poll(): Promise<void> {
    let c: IpsecHostConf | null;
    try {
      c = parseHostConf(await this.api.ipsecConfig(this.cfg.host));
    } catch (e) {
      // the host was unregistered (its token goes with it): no peers any more
      if (e instanceof ApiHttpError && (e.status === 401 || e.status === 403 || e.status === 404)) {
        if (this.applied?.peers.size) this.log.warn({ status: e.status, err: e.message }, 'no IPsec configuration for this host (unregistered?): its SAs are removed');
        c = null;
      } else {
        this.log.warn({ err: (e as Error).message }, 'reading the IPsec configuration failed; retrying');
        return;
      }
    }
    try {
      if (c) await this.apply(c);
      else if (this.applied) await this.dropAllPeers();
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'applying the IPsec configuration failed; retrying');
    }
  }

  private async apply(c: IpsecHostConf): Promise<void> {
    if (!this.applied || this.applied.vtep !== c.vtep || this.applied.vtepCidr !== c.vtepCidr) {
      await this.plumb(c);
      this.applied = { vtep: c.vtep, vtepCidr: c.vtepCidr, swanctl: '', peers: new Map() };
      this.log.info({ vtep: c.vtep, vtepCidr: c.vtepCidr }, 'secure VTEP plumbed');
    } else if (await this.ensureOvsRoute(c.vtepCidr)) {
      // OVS's route was gone: ovs-vswitchd restarted, and br-sec's flows went with it
      await this.plumb(c);
      this.log.warn('ovs-vswitchd restarted: br-sec, its flows and the br-phy guard set up again');
    }
    await this.ensureCharon();
    const text = swanctlConf(c);
    const prev = this.applied.peers;
    if (text !== this.applied.swanctl) {
      fs.writeFileSync(path.join(this.swanDir, 'swanctl.conf'), text, { mode: 0o600 });
      await this.swanctl('--load-all', '--noprompt');
      this.applied.swanctl = text;
      const now = new Set(c.peers.map((p) => p.name));
      for (const gone of [...prev.keys()].filter((n) => !now.has(n))) {
        // unloading the connection may have closed them already
        await this.swanctl('--terminate', '--ike', connName(gone), '--force').catch((e) => this.log.debug({ peer: gone, err: (e as Error).message }, 'nothing to terminate'));
        this.log.info({ peer: gone }, 'peer host gone: its SAs terminated');
      }
      for (const p of c.peers) {
        const before = prev.get(p.name);
        if (before === undefined) this.log.info({ peer: p.name, underlayIp: p.underlayIp, vtep: p.vtep, initiator: p.initiator }, 'peer host added');
        else if (before !== p.generation && p.initiator) await this.rekey(p.name, p.generation);
      }
    }
    this.applied.peers = new Map(c.peers.map((p) => [p.name, p.generation]));
    await this.ensureUp(c);
  }

  /** Initiations under way, by peer. */
  private readonly initiating = new Set<string>();

  /**
   * This host starts the SAs of the pairs it initiates: a start that met a
   * peer without its configuration yet (its agent came later) is not retried
   * by charon, so each round starts what is not up. Not awaited: one slow
   * peer holds up no other.
   */
  private async ensureUp(c: IpsecHostConf): Promise<void> {
    const mine = c.peers.filter((p) => p.initiator && !this.initiating.has(p.name));
    if (!mine.length) return;
    const up = installedConns(await this.swanctl('--list-sas'));
    for (const p of mine) {
      const n = connName(p.name);
      if (up.has(n)) continue;
      this.initiating.add(p.name);
      this.swanctl('--initiate', '--child', n, '--timeout', '10')
        .then(() => this.log.info({ peer: p.name }, 'SA with peer established'))
        .catch((e) => this.log.debug({ peer: p.name, err: (e as Error).message }, 'SA not up yet; retrying'))
        .finally(() => this.initiating.delete(p.name));
    }
  }

  /** New IKE and child keys with the peer (fresh Diffie-Hellman), while the old SAs carry traffic: the new PSK authenticates from the next reauthentication on. */
  private async rekey(peer: string, generation: number): Promise<void> {
    const n = connName(peer);
    try {
      await this.swanctl('--rekey', '--ike', n);
      await this.swanctl('--rekey', '--child', n);
      this.log.info({ peer, generation }, 'SAs rekeyed');
    } catch (e) {
      this.log.warn({ peer, err: (e as Error).message }, 'rekey failed (the SA may not be up yet)');
    }
  }

  private async dropAllPeers(): Promise<void> {
    if (!this.applied || this.applied.peers.size === 0) return;
    const empty = swanctlConf({ host: this.cfg.host, underlayIp: '0.0.0.0', vtep: this.applied.vtep, vtepCidr: this.applied.vtepCidr, generation: 0, encryptedNetworks: [], peers: [] });
    fs.writeFileSync(path.join(this.swanDir, 'swanctl.conf'), empty, { mode: 0o600 });
    await this.swanctl('--load-all', '--noprompt').catch(() => undefined);
    for (const p of this.applied.peers.keys()) await this.swanctl('--terminate', '--ike', connName(p), '--force').catch(() => undefined);
    this.applied.peers = new Map();
    this.applied.swanctl = empty;
  }

  // ---- the host's plumbing -------------------------------------------------

  private vsctl(...args: string[]): Promise<string> {
    return run('ovs-vsctl', [`--db=unix:${path.join(this.cfg.ovsRundir, 'db.sock')}`, '--timeout=10', ...args]);
  }

  private ofctl(cmd: string, bridge: string, ...args: string[]): Promise<string> {
    return run('ovs-ofctl', ['-O', 'OpenFlow13', cmd, `unix:${path.join(this.cfg.ovsRundir, `${bridge}.mgmt`)}`, ...args]);
  }

  private appctl(...args: string[]): Promise<string> {
    let ctl = path.join(this.cfg.ovsRundir, 'ovs-vswitchd.ctl');
    if (!fs.existsSync(ctl)) {
      const pid = fs.readFileSync(path.join(this.cfg.ovsRundir, 'ovs-vswitchd.pid'), 'utf8').trim();
      ctl = path.join(this.cfg.ovsRundir, `ovs-vswitchd.${pid}.ctl`);
    }
    return run('ovs-appctl', ['-t', ctl, ...args]);
  }

  private ip(...args: string[]): Promise<string> { return run('ip', args); }

  /** Sets up br-sec, the veth, vxsec0, the kernel's routes and rules and the br-phy guard (idempotent). */
  private async plumb(c: IpsecHostConf): Promise<void> {
    const [, len] = c.vtepCidr.split('/');
    await this.vsctl('--may-exist', 'add-br', SECURE_BRIDGE, '--', 'set', 'bridge', SECURE_BRIDGE, 'datapath_type=netdev', 'fail_mode=secure',
      'other_config:disable-in-band=true');
    if (!(await this.ip('-o', 'link', 'show').then((o) => o.includes(` ${VETH_KERNEL}@`)))) {
      await this.ip('link', 'add', VETH_KERNEL, 'type', 'veth', 'peer', 'name', VETH_OVS);
    }
    for (const l of [VETH_KERNEL, VETH_OVS]) {
      await this.ip('link', 'set', l, 'up');
      // the userspace datapath forwards what the kernel sends as is: no partial checksums (LAB.md)
      await run('ethtool', ['-K', l, 'tx', 'off']).catch(() => undefined);
    }
    await this.vsctl('--may-exist', 'add-port', SECURE_BRIDGE, VETH_OVS);
    // VXLAN from OVS's tunnel push (routed to br-sec) goes to the kernel; decrypted VXLAN from the kernel to LOCAL, where OVS pops it
    await this.ofctl('del-flows', SECURE_BRIDGE);
    await this.ofctl('add-flow', SECURE_BRIDGE, `priority=10,in_port=LOCAL,actions=output:${VETH_OVS}`);
    await this.ofctl('add-flow', SECURE_BRIDGE, `priority=10,in_port=${VETH_OVS},actions=LOCAL`);
    // the VTEP with the range's prefix but no connected route: OVS's route needs a covering address, the kernel must not route the range to br-sec
    for (const a of (await this.ip('-o', '-4', 'addr', 'show', 'dev', SECURE_BRIDGE)).split('\n')) {
      const m = /inet (\S+)/.exec(a);
      if (m && m[1] !== `${c.vtep}/${len}`) await this.ip('addr', 'del', m[1]!, 'dev', SECURE_BRIDGE);
    }
    await this.ip('addr', 'replace', `${c.vtep}/${len}`, 'dev', SECURE_BRIDGE, 'noprefixroute');
    await this.ip('link', 'set', SECURE_BRIDGE, 'up');
    await run('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', `net.ipv4.conf.${VETH_KERNEL}.rp_filter=0`,
      // VXLAN from OVS arrives on wsk with our own VTEP as source; OVS's ARP for a peer VTEP is answered by the kernel (routed to ipsec0)
      `net.ipv4.conf.${VETH_KERNEL}.accept_local=1`, `net.ipv4.conf.${VETH_KERNEL}.proxy_arp=1`]);
    // decrypted packets for our VTEP go back to OVS (not the local stack): the `local` rule moves behind ours
    const rules = await this.ip('rule', 'show');
    if (!new RegExp(`^${LOCAL_RULE_PREF}:\\s+from all lookup local`, 'm').test(rules)) await this.ip('rule', 'add', 'pref', String(LOCAL_RULE_PREF), 'lookup', 'local');
    if (/^0:\s+from all lookup local/m.test(rules)) await this.ip('rule', 'del', 'pref', '0', 'lookup', 'local');
    for (const l of rules.split('\n').filter((x) => x.startsWith(`${VTEP_RULE_PREF}:`))) {
      if (!l.includes(`to ${c.vtep} `) && !l.includes(`to ${c.vtep}\t`)) await this.ip('rule', 'del', 'pref', String(VTEP_RULE_PREF)).catch(() => undefined);
    }
    if (!(await this.ip('rule', 'show')).split('\n').some((x) => x.startsWith(`${VTEP_RULE_PREF}:`))) {
      await this.ip('rule', 'add', 'pref', String(VTEP_RULE_PREF), 'iif', 'ipsec0', 'to', c.vtep, 'lookup', String(VTEP_TABLE));
    }
    await this.ip('route', 'replace', `${c.vtep}/32`, 'dev', VETH_KERNEL, 'table', String(VTEP_TABLE));
    const secMac = fs.readFileSync(`/sys/class/net/${SECURE_BRIDGE}/address`, 'utf8').trim();
    await this.ip('neigh', 'replace', c.vtep, 'lladdr', secMac, 'dev', VETH_KERNEL, 'nud', 'permanent');
    // without an SA (no route in charon's table 220) traffic to a peer VTEP is dropped, never sent in clear
    await this.ip('route', 'replace', 'blackhole', c.vtepCidr);
    // the secure tunnel port: encrypted networks' VXLAN between VTEPs
    await this.vsctl('--may-exist', 'add-port', 'br-int', SECURE_PORT, '--', 'set', 'interface', SECURE_PORT, 'type=vxlan',
      'options:remote_ip=flow', 'options:key=flow', `options:local_ip=${c.vtep}`);
    await this.ensureOvsRoute(c.vtepCidr);
    await this.guardBrPhy(c.vtepCidr);
  }

  /**
   * OVS routes tunnels by its own table (never charon's table 220): the VTEP
   * range through br-sec. Not in OVSDB, so an ovs-vswitchd restart loses it:
   * true when it had to be added.
   */
  private async ensureOvsRoute(cidr: string): Promise<boolean> {
    const show = await this.appctl('ovs/route/show');
    if (show.split('\n').some((l) => l.includes(cidr) && l.includes(SECURE_BRIDGE))) return false;
    await this.appctl('ovs/route/add', cidr, SECURE_BRIDGE);
    return true;
  }

  /** Cleartext from the uplink into the VTEP range never reaches br-phy's LOCAL (where OVS would tunnel-pop it). Weft's own br-phy pipeline has the same flow. */
  private async guardBrPhy(cidr: string): Promise<void> {
    const ctl = (await this.vsctl('get-controller', 'br-phy').catch(() => '')).trim();
    if (ctl) return;
    let uplink = this.cfg.uplink;
    if (!uplink) {
      for (const p of (await this.vsctl('list-ports', 'br-phy')).split('\n').map((x) => x.trim()).filter(Boolean)) {
        if ((await this.vsctl('get', 'interface', p, 'type')).trim().replace(/"/g, '') === '') { uplink = p; break; }
      }
    }
    if (!uplink) { this.log.warn('br-phy has no uplink port: no cleartext guard for the VTEP range'); return; }
    await this.ofctl('add-flow', 'br-phy', `priority=310,in_port=${uplink},ip,nw_dst=${cidr},actions=drop`);
  }

  // ---- charon ----------------------------------------------------------------

  private swanctl(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn('swanctl', args, { env: { ...process.env, STRONGSWAN_CONF: this.conf, SWANCTL_DIR: this.swanDir }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '', err = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { err += d; });
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (code) => {
        clearTimeout(t);
        if (code === 0) resolve(out);
        else reject(new Error(`swanctl ${args.join(' ')} failed (${code}): ${(err || out).trim().split('\n').slice(-3).join(' | ')}`));
      });
    });
  }

  /** Starts charon in a private /run (its pid file path is compiled in) unless it runs; waits until VICI answers. */
  private async ensureCharon(): Promise<void> {
    if (this.charon && this.charon.exitCode === null && this.charon.signalCode === null) return;
    const log = fs.openSync(path.join(this.cfg.stateDir, 'charon.stdout'), 'a');
    const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs weft-ipsec /run && exec ${CHARON}`],
      { env: { ...process.env, STRONGSWAN_CONF: this.conf }, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.charon = child;
    child.on('exit', (code, sig) => { if (!this.stopping) this.log.warn({ code, sig }, 'charon exited; restarted on the next round'); });
    const t0 = Date.now();
    for (;;) {
      try { await this.swanctl('--stats'); break; } catch (e) {
        if (child.exitCode !== null || Date.now() - t0 > 15_000) throw new Error(`charon did not start (see ${this.cfg.stateDir}/charon.log): ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    this.log.info({ pid: child.pid }, 'charon started');
    if (this.applied) this.applied.swanctl = ''; // a new charon has nothing loaded
  }

  /** charon's pid (its SIGTERM sends DELETEs to the peers and removes ipsec0 and its routes). */
  get charonPid(): number | undefined { return this.charon?.pid; }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    await this.busy?.catch(() => undefined);
    const c = this.charon;
    if (c && c.exitCode === null && c.signalCode === null) {
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
  }
}
