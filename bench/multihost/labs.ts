// The two sides of bench/multihost.ts. Each Lab builds a fresh underlay and
// N emulated hosts (test/helpers/emu-host), runs its control plane, and
// attaches a container the way that system's runtime integration would:
//
//   WeftLab: weft-cni ADD (CNI runtime helper, plugin run in the host netns),
//            against a Weft controller child process; overlay (VXLAN) or
//            routed network. ADD returns once Weft reports the endpoint ready
//            (its flows confirmed by barriers on every host). The plugin is
//            the native front end handing the call to the host's CNI agent
//            (`weft cni-agent`, one per host, in its netns), or the Node
//            plugin run as a process per call (systems *-node).
//   OvnLab:  ovn-attach.sh (bash; system `ovn`) or ovn-attach.js (Node;
//            system `ovn-node`) run in the host netns: NB lsp-add +
//            lsp-set-addresses, the host-side commands weft-cni runs,
//            ovs-vsctl add-port with iface-id, then wait for ovn-installed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Underlay, EmuHost, Container } from '../../test/helpers/emu-host';
import { TestRuntime, ConfList } from '../../test/helpers/cni-runtime';
import { WeftProcess } from '../../test/helpers/weft-process';
import { repoRoot } from '../../test/helpers/paths';
import { waitFor } from '../../test/helpers/wait';
import { AgentProcess, nativePluginDir } from '../../test/helpers/cni-agent';
import { pidRssKb, intToIp, ipToInt } from '../../test/helpers/emu/common';
import { cpuSeconds, sleep } from './common';
import { OVN_ATTACH_SH, OvnCentral, OvnChassis } from './ovn';
import type { AttachArgs } from './ovn-attach';

export const NETWORK = 'bench';
export const CIDR = '10.90.0.0/16';
export const GATEWAY = '10.90.0.1';
const UNDERLAY_MTU = 1600; // room for VXLAN / Geneve around 1500-byte container frames
const CONTAINER_MTU = 1500;

export interface AttachResult {
  ip: string;
  /** When the attach call returned (epoch ms). */
  tReturned: number;
  /**
   * When each step of the call ended (epoch ms), in order: start (the
   * plugin process runs), register (Weft API POST / NB lsp-add), plumb (veth
   * and container configured, host end up), add-port (ovs-vsctl add-port
   * returned), wait (ready / ovn-installed, after a link check).
   */
  marks?: [string, number][];
  /** CPU ms of the plugin process itself and of the commands it ran (when traced). */
  cpu?: { self: number; children: number };
}

export interface Lab {
  readonly label: string;
  readonly hosts: EmuHost[];
  /** Prefix of container namespaces (<= 5 chars so names fit 15). */
  readonly containerPrefix: string;
  /** Attaches container `c` (on hosts[hostIdx]) as cluster endpoint number `n` (1-based). t0 is taken by the caller just before. */
  attach(n: number, hostIdx: number, c: Container): Promise<AttachResult>;
  /** Waits until the control plane has caught up everywhere (before counting flows). */
  settle(): Promise<void>;
  /** Control-plane processes (for CPU and RSS): name -> pids. */
  controlPids(): Record<string, number[]>;
  /** What the attach call includes, for the printout. */
  describe(): string;
  /** State worth reading when endpoint `n` (address `ip`, on hosts[hostIdx]) got no ping reply. */
  diagnose(n: number, ip: string, hostIdx: number, pingerIdx: number): Promise<string>;
  destroy(): Promise<void>;
}

/** OpenFlow flows on a host's br-int (ovs-ofctl -O OpenFlow13 --no-stats dump-flows, one line each). */
export async function brIntFlows(h: EmuHost): Promise<number> {
  return (await h.dumpFlows('br-int')).length;
}

/** Waits until br-int's flow count is the same on two reads `gapMs` apart. */
export async function stableFlows(h: EmuHost, gapMs = 300, timeoutMs = 30_000): Promise<number> {
  let last = -1;
  return waitFor(async () => {
    const n = await brIntFlows(h);
    const same = n === last;
    last = n;
    if (!same) await sleep(gapMs);
    return same ? n : 0;
  }, { what: `stable flow count on ${h.name}`, timeoutMs, intervalMs: gapMs });
}

function hostName(i: number): string {
  return `h${i + 1}`;
}

// ---------------------------------------------------------------------------

export interface LabOptions {
  hosts: number;
  /** Folder for this lab's files (host folders, central, bin). */
  dir: string;
  /** The underlay's lab id and subnet (default: the multihost bench's own) */
  underlay?: { id: string; subnet: string };
  /** Prefix of the hosts' namespaces (default: the multihost bench's own) */
  hostPrefix?: string;
}

/**
 * Preloaded into weft-cni (node --require) when tracing: records when Node
 * started, each command (execFile) and each API call (fetch), and writes
 * them to <dir>/<CNI_CONTAINERID>.json at exit.
 */
function tracerSource(dir: string): string {
  return `'use strict';
const { performance } = require('perf_hooks');
const fs = require('fs');
const cp = require('child_process');
const now = () => performance.timeOrigin + performance.now();
const ev = [['preload', now()]];
const execFile = cp.execFile;
cp.execFile = function (file, args, opts, cb) {
  if (typeof cb !== 'function' || !Array.isArray(args)) return execFile.apply(this, arguments);
  const a = file === 'nsenter' ? args.slice(args.indexOf('--') + 1) : [file, ...args];
  const l = a[0] === 'ovs-vsctl' ? 'ovs-vsctl' : a[0] === 'ip' ? 'ip ' + a.filter((x) => !x.startsWith('-')).slice(1, 3).join(' ') : a[0];
  return execFile.call(this, file, args, opts, function () { ev.push([(file === 'nsenter' ? 'ctr:' : '') + l, now()]); return cb.apply(this, arguments); });
};
const f0 = globalThis.fetch;
globalThis.fetch = async function (url, init) {
  const u = new URL(String(url));
  try { return await f0(url, init); } finally { ev.push(['API ' + ((init && init.method) || 'GET') + (u.searchParams.get('wait') ? ' wait' : ''), now()]); }
};
process.on('exit', () => {
  ev.push(['exit', now()]);
  try {
    // utime, stime, cutime, cstime (10 ms ticks): this process, and the commands it ran and reaped
    const st = fs.readFileSync('/proc/self/stat', 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number);
    fs.writeFileSync(${JSON.stringify(dir)} + '/' + process.env.CNI_CONTAINERID + '.json', JSON.stringify({ origin: performance.timeOrigin, ev, cpu: f }));
  } catch {}
});
`;
}

export class WeftLab implements Lab {
  readonly hosts: EmuHost[] = [];
  readonly containerPrefix = 'wfwc-';
  private readonly rts: TestRuntime[] = [];
  weft?: WeftProcess;
  private underlay?: Underlay;
  private traceDir = '';
  private readonly agents: AgentProcess[] = [];
  /** Host i's own host token file (0600), its CNI configuration's tokenFile. */
  private readonly tokenFiles: (string | undefined)[] = [];

  constructor(readonly mode: 'overlay' | 'routed', private readonly opts: LabOptions & { trace?: boolean; plugin: 'agent' | 'node' }) {}

  get label(): string { return `weft-${this.mode}${this.opts.plugin === 'node' ? '-node' : ''}`; }

  describe(): string {
    const how = this.opts.plugin === 'agent'
      ? 'native weft-cni spawned in the host netns, handing the call to the host\'s CNI agent over its socket; the agent runs'
      : 'Node weft-cni spawned in the host netns: Node start,';
    return `${this.label}: attach = ${how} POST /v1/endpoints, veth (ip -batch), then side by side: container config | ` +
      'ovs-vsctl add-port + wait until Weft reports the endpoint ready = flows confirmed by barrier on every host';
  }

  async setup(): Promise<this> {
    const { dir } = this.opts;
    fs.mkdirSync(dir, { recursive: true });
    this.underlay = await Underlay.create({ id: this.mode === 'overlay' ? 'mwo' : 'mwr', subnet: '172.31.230.0/24', ...this.opts.underlay, mtu: UNDERLAY_MTU });
    this.weft = await WeftProcess.start({ host: this.underlay.ip });
    const plugin = path.join(repoRoot(), 'dist/northbound/cni/weft-cni.js');
    if (!fs.existsSync(plugin)) throw new Error(`${plugin} missing: build first (npx tsc -p tsconfig.json)`);
    let bin = path.join(dir, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    if (this.opts.plugin === 'agent') {
      bin = nativePluginDir(path.join(dir, 'native'));
    } else if (this.opts.trace) {
      this.traceDir = path.join(dir, 'trace');
      fs.mkdirSync(this.traceDir);
      const tracer = path.join(dir, 'tracer.js');
      fs.writeFileSync(tracer, tracerSource(this.traceDir));
      fs.writeFileSync(path.join(bin, 'weft-cni'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} --require ${JSON.stringify(tracer)} ${JSON.stringify(plugin)}\n`, { mode: 0o755 });
    } else {
      fs.symlinkSync(plugin, path.join(bin, 'weft-cni'));
    }
    const routed = this.mode === 'routed';
    for (let i = 0; i < this.opts.hosts; i++) {
      const h = await EmuHost.create({
        name: hostName(i), underlay: this.underlay, index: i + 1, controller: this.weft.ofTarget, prefix: this.opts.hostPrefix ?? 'wfw-',
        baseDir: path.join(dir, 'emu'), tunnel: !routed, patch: routed,
      });
      if (routed) {
        // as in test/integration/multihost-routed.test.ts: Weft programs br-phy too, which keeps in-band control
        await h.vsctl('set', 'bridge', 'br-phy', `other-config:datapath-id=${this.phyDpid(i)}`, 'protocols=OpenFlow13');
        await h.vsctl('remove', 'bridge', 'br-phy', 'other-config', 'disable-in-band');
        await h.vsctl('set-controller', 'br-phy', this.weft.ofTarget);
        for (const k of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.br-phy.rp_filter=0']) await h.exec(['sysctl', '-qw', k]);
      }
      this.hosts.push(h);
      this.rts.push(new TestRuntime([bin], h.netns));
      if (this.opts.plugin === 'agent') this.agents.push(await AgentProcess.start(this.agentSocket(i), h.netns));
    }
    for (const [i, h] of this.hosts.entries()) {
      const r = await this.weft.call('POST', '/v1/hosts', { name: hostName(i), dpid: h.dpid, underlayIp: h.ip, ...(routed ? { phyDpid: this.phyDpid(i) } : {}) });
      if (r.status !== 201) throw new Error(`registering ${hostName(i)}: ${r.status} ${JSON.stringify(r.body)}`);
      this.tokenFiles[i] = await this.weft.hostTokenFile(hostName(i));
    }
    const n = this.hosts.length;
    await waitFor(async () => (await this.weft!.call<{ connected: boolean }[]>('GET', '/v1/hosts?kind=registered')).body.filter((h) => h.connected).length === n,
      { what: `${n} br-int connected`, timeoutMs: 60_000 });
    if (routed) {
      await waitFor(async () => (await this.weft!.call<{ dpid: string }[]>('GET', '/v1/switches')).body.filter((s) => s.dpid.startsWith('00000000000b')).length === n,
        { what: `${n} br-phy connected`, timeoutMs: 60_000 });
    }
    const net = await this.weft.call('POST', '/v1/networks', { name: NETWORK, cidr: CIDR, gateway: GATEWAY, mode: this.mode, mtu: CONTAINER_MTU });
    if (net.status !== 201) throw new Error(`creating the network: ${net.status} ${JSON.stringify(net.body)}`);
    return this;
  }

  private phyDpid(i: number): string {
    return `00000000000b${(i + 1).toString(16).padStart(2, '0')}00`;
  }

  private agentSocket(i: number): string {
    return path.join(this.opts.dir, 'agents', `${hostName(i)}.sock`);
  }

  private conf(i: number): ConfList {
    return {
      cniVersion: '1.0.0', name: NETWORK,
      plugins: [{
        type: 'weft-cni', api: this.weft!.api, host: hostName(i), network: NETWORK, ovsdb: this.hosts[i]!.ovsdb, bridge: 'br-int',
        ...(this.tokenFiles[i] ? { tokenFile: this.tokenFiles[i] } : {}),
        ...(this.opts.plugin === 'agent' ? { agentSocket: this.agentSocket(i) } : {}),
      }],
    };
  }

  /** The agent's marks for one call (it logs them just before it answers). */
  private async agentMarks(hostIdx: number, containerId: string): Promise<[string, number][] | undefined> {
    const a = this.agents[hostIdx]!;
    const find = () => a.records.find((r) => r.msg === 'CNI call' && r.containerId === containerId && r.command === 'ADD');
    for (let i = 0; i < 50 && !find(); i++) await sleep(2);
    const m = find()?.marks as [string, number][] | undefined;
    if (!m) return undefined;
    // start (request read), register, plumb, add-port, wait (ready and container configured); "container" ran beside them
    const steps = ['start', 'register', 'plumb', 'add-port', 'wait'].map((k) => m.find((x) => x[0] === k)).filter((x): x is [string, number] => !!x);
    return steps.length === 5 ? steps : undefined;
  }

  async attach(n: number, hostIdx: number, c: Container): Promise<AttachResult> {
    const r = await this.rts[hostIdx]!.add(this.conf(hostIdx), { containerId: `mh-${n}`, netns: c.netnsPath, ifName: 'eth0' });
    const tReturned = performance.timeOrigin + performance.now();
    const ip = (r as unknown as { ips: { address: string }[] }).ips[0]!.address.split('/')[0]!;
    let marks: [string, number][] | undefined;
    let cpu: AttachResult['cpu'];
    if (this.opts.plugin === 'agent') {
      if (this.opts.trace) marks = await this.agentMarks(hostIdx, `mh-${n}`);
    } else if (this.traceDir) {
      try {
        const t = JSON.parse(fs.readFileSync(path.join(this.traceDir, `mh-${n}.json`), 'utf8')) as { origin: number; ev: [string, number][]; cpu: number[] };
        cpu = { self: (t.cpu[0]! + t.cpu[1]!) * 10, children: (t.cpu[2]! + t.cpu[3]!) * 10 };
        const at = (k: string) => t.ev.find((e) => e[0] === k)?.[1];
        const iPort = t.ev.findIndex((e) => e[0] === 'ovs-vsctl');
        const waits = t.ev.filter((e) => e[0] === 'API GET wait');
        marks = [
          ['start', at('preload')!], ['register', at('API POST')!], ['plumb', t.ev[iPort - 1]![1]], ['add-port', t.ev[iPort]![1]],
          ['wait', waits[waits.length - 1]![1]],
        ];
        if (marks.some(([, v]) => !Number.isFinite(v))) marks = undefined;
      } catch {
        marks = undefined;
      }
    }
    return { ip, tReturned, marks, cpu };
  }

  async settle(): Promise<void> {
    // ADD already waited for readiness on every host; let stragglers (e.g. a late resync) finish.
    await waitFor(async () => (await this.weft!.call<{ state: string }[]>('GET', `/v1/endpoints?network=${NETWORK}`)).body.every((e) => e.state === 'ready'),
      { what: 'all endpoints ready', timeoutMs: 30_000 });
  }

  async diagnose(n: number, ip: string, hostIdx: number, pingerIdx: number): Promise<string> {
    const out: string[] = [];
    const eps = (await this.weft!.call<Record<string, unknown>[]>('GET', `/v1/endpoints?containerId=mh-${n}`)).body;
    out.push(`endpoint: ${JSON.stringify(eps)}`);
    const mac = String(eps[0]?.mac ?? '---');
    out.push(`hosts: ${JSON.stringify((await this.weft!.call('GET', '/v1/hosts?kind=registered')).body)}`);
    out.push(`network: ${JSON.stringify((await this.weft!.call('GET', `/v1/networks/${NETWORK}`)).body)}`);
    for (const i of [hostIdx, pingerIdx]) {
      const h = this.hosts[i]!;
      const f = await h.ofctl('dump-flows').catch((e: Error) => e.message);
      out.push(`--- ${h.name} br-int (ovs-ofctl dump-flows, ${f.split('\n').length} lines):\n${f}`);
      out.push(`--- ${h.name} ports: ${await h.ofctl('dump-ports-desc').catch((e: Error) => e.message)}`);
      if (this.mode === 'routed') out.push(`--- ${h.name} br-phy:\n${await h.ofctlOn('br-phy', 'dump-flows').catch((e: Error) => e.message)}`);
      out.push(`--- ${h.name} tnl/neigh/show: ${await h.appctl('tnl/neigh/show').catch((e: Error) => e.message)}`);
    }
    out.push(`(looked for ip ${ip}, mac ${mac})`);
    return out.join('\n');
  }

  controlPids(): Record<string, number[]> {
    const p = this.weft?.proc?.pid;
    const agents = this.agents.map((a) => a.pid).filter((x): x is number => x !== undefined);
    return { weft: p ? [p] : [], ...(agents.length ? { 'cni agents': agents } : {}) };
  }

  /**
   * Fixed costs inside every attach call, measured in host h1's netns
   * (spawn to exit, `runs` times each): what a Node plugin pays that a
   * shell one does not.
   */
  async baselines(runs: number): Promise<Record<string, number[]>> {
    const ns = this.hosts[0]!.netns;
    const env = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
    const timed = (args: string[]): Promise<{ ms: number; out: string }> => new Promise((resolve, reject) => {
      const t0 = performance.now();
      const c = spawn('ip', ['netns', 'exec', ns, ...args], { env, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.on('error', reject);
      c.on('close', (code) => (code === 0 ? resolve({ ms: performance.now() - t0, out }) : reject(new Error(`${args.join(' ')} exited ${code}`))));
    });
    const u = `${this.weft!.api}/v1/health`;
    const fetchScript = `const {performance:p}=require('perf_hooks');const u=${JSON.stringify(u)};const a=p.now();` +
      'fetch(u).then(r=>r.text()).then(()=>{const b=p.now();fetch(u).then(r=>r.text()).then(()=>{console.log(JSON.stringify([b-a,p.now()-b]));process.exit(0);});});';
    const httpScript = `const {performance:p}=require('perf_hooks');const a=p.now();require('http').get(${JSON.stringify(u)},(r)=>{r.resume();r.on('end',()=>{console.log(JSON.stringify([p.now()-a]));process.exit(0);});});`;
    const out: Record<string, number[]> = {
      'bash -c : (spawn to exit)': [], 'node -e 0 (spawn to exit)': [], 'node: 1st fetch() of /v1/health': [], 'node: 2nd fetch()': [],
      'node: 1st http.get() of /v1/health': [],
    };
    for (let i = 0; i < runs; i++) {
      out['bash -c : (spawn to exit)']!.push((await timed(['bash', '-c', ':'])).ms);
      out['node -e 0 (spawn to exit)']!.push((await timed([process.execPath, '-e', '0'])).ms);
      const f = JSON.parse((await timed([process.execPath, '-e', fetchScript])).out) as number[];
      out['node: 1st fetch() of /v1/health']!.push(f[0]!);
      out['node: 2nd fetch()']!.push(f[1]!);
      out['node: 1st http.get() of /v1/health']!.push((JSON.parse((await timed([process.execPath, '-e', httpScript])).out) as number[])[0]!);
    }
    return out;
  }

  /** Flows Weft itself believes it installed on a host (controller flow-stats), as a cross-check. */
  async controllerFlows(h: EmuHost): Promise<number> {
    return (await this.weft!.call<unknown[]>('GET', `/v1/switches/${h.dpid}/flows`)).body.length;
  }

  async destroy(): Promise<void> {
    for (const a of this.agents) await a.stop();
    for (const h of [...this.hosts].reverse()) await h.destroy();
    await this.underlay?.destroy();
    await this.weft?.stop();
  }

  weftCpuRss(): { cpu: number; rssKb: number } {
    const p = this.weft?.proc?.pid;
    return { cpu: cpuSeconds(p), rssKb: p ? pidRssKb(p) : 0 };
  }
}

// ---------------------------------------------------------------------------

export class OvnLab implements Lab {
  readonly hosts: EmuHost[] = [];
  readonly containerPrefix = 'wfoc-';
  private underlay?: Underlay;
  central?: OvnCentral;
  private chassis: OvnChassis[] = [];
  private readonly script = path.join(repoRoot(), 'dist/bench/multihost/ovn-attach.js');
  private shScript = '';

  constructor(private readonly opts: LabOptions & { waitInstalled: boolean; attach: 'sh' | 'node' }) {}

  get label(): string { return this.opts.attach === 'sh' ? 'ovn' : 'ovn-node'; }

  describe(): string {
    const how = this.opts.attach === 'sh'
      ? 'ovn-attach.sh spawned in the host netns (bash, no Node start; the host-side commands weft-cni runs'
      : 'ovn-attach.js spawned in the host netns (Node start; the same commands as ovn-attach.sh, through execFile like weft-cni';
    return `${this.label}: attach = ${how}): ovn-nbctl lsp-add + lsp-set-addresses over TCP to the NB, veth + container config, ` +
      'ovs-vsctl add-port with iface-id' +
      (this.opts.waitInstalled ? ', wait until ovn-controller sets ovn-installed on the interface' : ', no wait');
  }

  async setup(): Promise<this> {
    const { dir } = this.opts;
    fs.mkdirSync(dir, { recursive: true });
    if (this.opts.attach === 'node' && !fs.existsSync(this.script)) throw new Error(`${this.script} missing: build first (npx tsc -p tsconfig.json)`);
    this.shScript = path.join(dir, 'ovn-attach.sh');
    fs.writeFileSync(this.shScript, OVN_ATTACH_SH, { mode: 0o755 });
    this.underlay = await Underlay.create({ id: 'mov', subnet: '172.31.231.0/24', ...this.opts.underlay, mtu: UNDERLAY_MTU });
    this.central = new OvnCentral(path.join(dir, 'emu', 'central'), this.underlay);
    await this.central.start();
    for (let i = 0; i < this.opts.hosts; i++) {
      const h = await EmuHost.create({
        name: hostName(i), underlay: this.underlay, index: i + 1, prefix: this.opts.hostPrefix ?? 'wfo-', baseDir: path.join(dir, 'emu'), tunnel: false, patch: false,
      });
      this.hosts.push(h);
      const ch = new OvnChassis(h, this.central);
      this.chassis.push(ch);
      await ch.start();
    }
    for (const ch of this.chassis) await ch.waitReady(60_000);
    await this.central.nbctl('ls-add', NETWORK);
    await this.central.nbctl('--wait=hv', 'sync');
    return this;
  }

  /** Address of cluster endpoint `n` (1-based): 10.90.0.10 + n - 1 (static, chosen by the "CMS"). */
  static ipOf(n: number): string {
    return intToIp(ipToInt('10.90.0.10') + n - 1);
  }

  static macOf(ip: string): string {
    const n = ipToInt(ip);
    return ['0a', '58', ...[24, 16, 8, 0].map((s) => (Math.floor(n / 2 ** s) % 256).toString(16).padStart(2, '0'))].join(':');
  }

  attach(n: number, hostIdx: number, c: Container): Promise<AttachResult> {
    const h = this.hosts[hostIdx]!;
    const ip = OvnLab.ipOf(n);
    const args: AttachArgs = {
      nb: this.central!.nbRemote, ls: NETWORK, port: `ep${n}`, mac: OvnLab.macOf(ip), ip, prefixLength: 16, gateway: GATEWAY,
      netns: c.netnsPath, ifName: 'eth0', hostIf: `ovnp${n}`, mtu: CONTAINER_MTU, ovsdb: h.ovsdb, bridge: 'br-int', waitInstalled: this.opts.waitInstalled,
    };
    return new Promise((resolve, reject) => {
      // The same environment as the runtime helper gives weft-cni: PATH only.
      const argv = this.opts.attach === 'sh'
        ? [this.shScript, args.nb, args.ls, args.port, args.mac, args.ip, String(args.prefixLength), args.gateway ?? '', args.netns, args.ifName,
          args.hostIf, String(args.mtu), args.ovsdb, args.bridge, args.waitInstalled ? '1' : '0']
        : [process.execPath, this.script, JSON.stringify(args)];
      const child = spawn('ip', ['netns', 'exec', h.netns, ...argv], {
        env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => {
        const tReturned = performance.timeOrigin + performance.now();
        let res: { ok: boolean; error?: string; marks?: string | [string, number][]; cpu?: { self: number; children: number } } | undefined;
        try {
          res = JSON.parse(out.trim().split('\n').pop() ?? '') as typeof res;
        } catch {
          res = undefined;
        }
        if (code !== 0 || !res?.ok) reject(new Error(`ovn-attach ep${n} on ${h.name} failed (${code}): ${res?.error ?? (out + err).trim()}`));
        else {
          // bash: "start=<epoch s.us> register=... "; node: [[step, epoch ms], ...]
          const marks = typeof res.marks === 'string'
            ? res.marks.trim().split(/\s+/).map((x) => x.split('=')).map(([k, v]) => [k!, Number(v) * 1000] as [string, number])
            : res.marks;
          // bash: the last two lines before the answer are `times`: "0m0.004s 0m0.000s" (the shell), then its commands
          let cpu = res.cpu;
          const tl = out.trim().split('\n').slice(-3, -1).map((l) => [...l.matchAll(/(\d+)m([\d.]+)s/g)].reduce((a, m) => a + Number(m[1]) * 60_000 + Number(m[2]) * 1000, 0));
          if (!cpu && tl.length >= 2) cpu = { self: tl[0]!, children: tl[1]! };
          resolve({ ip, tReturned, marks, cpu });
        }
      });
    });
  }

  async settle(): Promise<void> {
    // every chassis has processed the NB's current configuration
    await this.central!.nbctl('--wait=hv', 'sync');
  }

  async diagnose(n: number, ip: string, hostIdx: number, pingerIdx: number): Promise<string> {
    const out: string[] = [];
    out.push(`NB: ${await this.central!.nbctl('show').catch((e: Error) => e.message)}`);
    out.push(`SB port binding: ${await this.central!.sbctl('find', 'Port_Binding', `logical_port=ep${n}`).catch((e: Error) => e.message)}`);
    for (const i of [hostIdx, pingerIdx]) {
      const h = this.hosts[i]!;
      out.push(`--- ${h.name} br-int flows: ${(await brIntFlows(h).catch(() => -1))}`);
      out.push(`--- ${h.name} interface: ${await h.vsctl('--columns=name,ofport,external_ids', 'list', 'interface').catch((e: Error) => e.message)}`);
      out.push(`--- ${h.name} tnl/neigh/show: ${await h.appctl('tnl/neigh/show').catch((e: Error) => e.message)}`);
    }
    return out.join('\n');
  }

  controlPids(): Record<string, number[]> {
    const c = this.central?.pids ?? {};
    return {
      'ovn-northd': c.northd ? [c.northd] : [],
      'NB+SB ovsdb-server': [c.nb, c.sb].filter((p): p is number => p !== undefined),
      'ovn-controller (all hosts)': this.chassis.map((ch) => ch.pid).filter((p): p is number => p !== null),
    };
  }

  async destroy(): Promise<void> {
    for (const ch of this.chassis) await ch.stop().catch(() => undefined);
    for (const h of [...this.hosts].reverse()) await h.destroy();
    await this.central?.stop();
    await this.underlay?.destroy();
  }
}
