// A lab of emulated container hosts on one underlay, with the real Weft
// controller (a child process) and weft-cni run as a runtime would in each
// host's namespace. Shared by the multi-host integration tests. Each host's
// CNI configuration carries that host's own token (made when the host is
// registered, as a real deployment does), so the plugin runs host-scoped.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Underlay, EmuHost, Container, cleanupAll, emuAvailable } from './emu-host';
import { TestRuntime, ConfList, RuntimeConf } from './cni-runtime';
import { WeftProcess } from './weft-process';
import { repoRoot } from './paths';
import { waitFor } from './wait';
import { sh } from './ovs';

export interface LabOptions {
  /** Short id (2 letters): underlay and namespace names, host names `<id>1..N`. */
  id: string;
  subnet: string;
  hosts: number;
  mtu?: number;
  tunnel?: boolean;
  /** Connect each host's br-phy to Weft too (routed mode, published ports, SNAT). */
  phy?: boolean;
  /** More `weft controller` flags. */
  weftArgs?: string[];
}

export interface CniResult { ips: { address: string }[]; interfaces: { name: string; mac: string }[] }
export const ipOf = (r: CniResult) => r.ips[0].address.split('/')[0];

export class MultiHostLab {
  readonly hosts: EmuHost[] = [];
  readonly rts: TestRuntime[] = [];
  /** Host i's token file (0600), made by register(); a configuration's `tokenFile`. */
  readonly tokenFiles: string[] = [];
  private readonly links: string[] = [];
  private bridges: string[] = [];
  private constructor(readonly o: LabOptions, readonly tmp: string, readonly underlay: Underlay, readonly weft: WeftProcess) {}

  /** The lab, or undefined when OVS is missing outside CI (in CI that is a failure). */
  static async start(o: LabOptions): Promise<MultiHostLab | undefined> {
    if (!(await emuAvailable())) {
      assert.ok(!process.env.CI, 'Open vSwitch must be available in CI');
      return undefined;
    }
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `weft-${o.id}-`));
    const underlay = await Underlay.create({ id: o.id, subnet: o.subnet, mtu: o.mtu });
    const lab = new MultiHostLab(o, tmp, underlay, await WeftProcess.start({ host: underlay.ip, args: o.weftArgs }));
    const bin = path.join(tmp, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(path.join(repoRoot(), 'dist/northbound/cni/weft-cni.js'), path.join(bin, 'weft-cni'));
    for (let i = 0; i < o.hosts; i++) {
      const h = await EmuHost.create({
        name: lab.hostName(i), underlay, index: i + 1, controller: lab.weft.ofTarget, prefix: `wf${o.id[0]}-`,
        baseDir: path.join(tmp, 'emu'), tunnel: o.tunnel ?? false,
      });
      if (o.phy) {
        // br-phy is programmed by Weft too. The controller is reached through br-phy itself, so it keeps
        // in-band control (its hidden flows let that traffic pass); the host forwards what leaves through it.
        await h.vsctl('set', 'bridge', 'br-phy', `other-config:datapath-id=${lab.phyDpid(h)}`, 'protocols=OpenFlow13');
        await h.vsctl('remove', 'bridge', 'br-phy', 'other-config', 'disable-in-band');
        await h.vsctl('set-controller', 'br-phy', lab.weft.ofTarget);
        for (const k of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.br-phy.rp_filter=0']) await h.exec(['sysctl', '-qw', k]);
      }
      lab.hosts.push(h);
      lab.rts.push(new TestRuntime([bin, '/usr/lib/cni'], h.netns));
    }
    return lab;
  }

  hostName(i: number): string { return `${this.o.id}${i + 1}`; }
  phyDpid(h: EmuHost): string { return `${h.dpid.slice(0, 12)}0b${h.dpid.slice(14)}`; }

  /**
   * Register every host with Weft (with `extra` keys in each body), make each
   * its host token (written 0600, `tokenFiles[i]`), and wait until their
   * bridges are connected.
   */
  async register(extra: Record<string, unknown> = {}): Promise<void> {
    for (const [i, h] of this.hosts.entries()) {
      const r = await this.weft.call('POST', '/v1/hosts', { name: this.hostName(i), dpid: h.dpid, underlayIp: h.ip, ...(this.o.phy ? { phyDpid: this.phyDpid(h) } : {}), ...extra });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const file = await this.weft.hostTokenFile(this.hostName(i));
      assert.ok(file, 'the lab runs with tokens');
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      this.tokenFiles[i] = file;
    }
    const want = this.hosts.length * (this.o.phy ? 2 : 1);
    await waitFor(async () => (await this.weft.call<unknown[]>('GET', '/v1/switches')).body.length === want, { what: `${want} bridges connected`, timeoutMs: 30000 });
  }

  conf(i: number, network: string, extra: Record<string, unknown> = {}): ConfList {
    return {
      cniVersion: '1.0.0', name: network,
      plugins: [{
        type: 'weft-cni', api: this.weft.api, host: this.hostName(i), ovsdb: this.hosts[i].ovsdb, bridge: 'br-int',
        ...(this.tokenFiles[i] ? { tokenFile: this.tokenFiles[i] } : {}), ...extra,
      }],
    };
  }

  /** A container on host i attached to a network through weft-cni. */
  async attach(i: number, name: string, network: string, rt: Partial<RuntimeConf> = {}, extra: Record<string, unknown> = {}): Promise<{ ct: Container; res: CniResult; ip: string }> {
    const ct = await Container.create(this.hosts[i], name, { prefix: `wf${this.o.id[0]}-c` });
    const res = await this.rts[i].add(this.conf(i, network, extra), { containerId: `${this.o.id}-${name}`, netns: ct.netnsPath, ifName: 'eth0', ...rt }) as unknown as CniResult;
    return { ct, res, ip: ipOf(res) };
  }

  async detach(i: number, name: string, network: string, ct: Container, extra: Record<string, unknown> = {}): Promise<void> {
    await this.rts[i].del(this.conf(i, network, extra), { containerId: `${this.o.id}-${name}`, netns: ct.netnsPath, ifName: 'eth0' });
  }

  /**
   * A machine on the underlay that is not a container host. With `vlan`, it
   * sits on an access port of that VLAN: this kernel has neither VLAN
   * devices nor bridge VLAN filtering, so the access switch is a small OVS
   * bridge (tag=vlan) trunked into the underlay.
   */
  async outsideMachine(name: string, ip: string, vlan?: number): Promise<Container> {
    const m = await Container.create(null, name, { prefix: `wf${this.o.id[0]}-` });
    const port = `wf${this.o.id}-${name}`.slice(0, 15);
    await sh('ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', m.netns]);
    this.links.push(port);
    if (vlan === undefined) {
      await sh('ip', ['link', 'set', port, 'master', this.underlay.name]);
    } else {
      const trunk = `wt${this.o.id}${name}`.slice(0, 13);
      await sh('ip', ['link', 'add', `${trunk}a`, 'type', 'veth', 'peer', 'name', `${trunk}b`]);
      this.links.push(`${trunk}a`);
      await sh('ip', ['link', 'set', `${trunk}b`, 'master', this.underlay.name, 'up']);
      await sh('ethtool', ['-K', `${trunk}b`, 'tx', 'off']);
      await sh('ip', ['link', 'set', `${trunk}a`, 'up']);
      await sh('ethtool', ['-K', `${trunk}a`, 'tx', 'off']);
      const br = `wt${this.o.id}${name}`.slice(0, 15);
      await sh('ovs-vsctl', ['--may-exist', 'add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev', 'fail_mode=standalone',
        '--', 'add-port', br, port, `tag=${vlan}`, '--', 'add-port', br, `${trunk}a`]);
      this.bridges.push(br);
    }
    await sh('ip', ['link', 'set', port, 'up']);
    await sh('ethtool', ['-K', port, 'tx', 'off']);
    await m.exec(['ip', 'link', 'set', 'eth0', 'up']);
    await m.exec(['ethtool', '-K', 'eth0', 'tx', 'off']);
    await m.exec(['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
    return m;
  }

  async stop(): Promise<void> {
    for (const b of this.bridges) await sh('ovs-vsctl', ['--if-exists', 'del-br', b]).catch(() => {});
    for (const l of this.links) await sh('ip', ['link', 'del', l]).catch(() => {});
    await cleanupAll();
    await this.weft.stop();
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}
