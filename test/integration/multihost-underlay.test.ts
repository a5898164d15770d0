// Underlay mode (flat L2, the macvlan / ipvlan-L2 model) across three emulated
// hosts: endpoints are bridged onto the hosts' uplinks in VLAN 100 with
// addresses from the business subnet, and a machine on that subnet (not a
// container host) reaches them and is reached by them as if they were VMs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Underlay, EmuHost, Container, cleanupAll, emuAvailable } from '../helpers/emu-host';
import { TestRuntime, ConfList } from '../helpers/cni-runtime';
import { WeftProcess } from '../helpers/weft-process';
import { repoRoot } from '../helpers/paths';
import { waitFor } from '../helpers/wait';
import { sh } from '../helpers/ovs';

let skip = false;
let underlay: Underlay;
let weft: WeftProcess;
let vm: Container;
const hosts: EmuHost[] = [];
const rts: TestRuntime[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-ul-'));
const VM_IP = '10.70.0.200';
interface Result { ips: { address: string }[] }
const ipOf = (r: Result) => r.ips[0].address.split('/')[0];
const conf = (i: number): ConfList => ({
  cniVersion: '1.0.0', name: 'biz',
  plugins: [{ type: 'weft-cni', api: weft.api, host: `u${i + 1}`, ovsdb: hosts[i].ovsdb, bridge: 'br-int' }],
});

before(async () => {
  if (!(await emuAvailable())) { assert.ok(!process.env.CI, 'OVS must be available in CI'); skip = true; return; }
  underlay = await Underlay.create({ id: 'ul', subnet: '172.31.245.0/24' });
  weft = await WeftProcess.start({ host: underlay.ip });
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(path.join(repoRoot(), 'dist/northbound/cni/weft-cni.js'), path.join(bin, 'weft-cni'));
  for (let i = 0; i < 3; i++) {
    hosts.push(await EmuHost.create({ name: `u${i + 1}`, underlay, index: i + 1, controller: weft.ofTarget, prefix: 'wfu-', baseDir: path.join(tmp, 'emu'), tunnel: false }));
    rts.push(new TestRuntime([bin, '/usr/lib/cni'], hosts[i].netns));
  }
  // A machine on the business subnet, on an access port of VLAN 100. This kernel has neither
  // VLAN devices nor bridge VLAN filtering, so the access switch is a small OVS bridge (tag=100)
  // trunked into the underlay: the VM itself sends untagged frames, as a VM on an access port does.
  vm = await Container.create(null, 'vm', { prefix: 'wfu-' });
  await sh('ip', ['link', 'add', 'wfu-vm', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm.netns]);
  await sh('ip', ['link', 'add', 'wfu-tr', 'type', 'veth', 'peer', 'name', 'wfu-tr2']);
  await sh('ip', ['link', 'set', 'wfu-tr2', 'master', underlay.name, 'up']);
  for (const l of ['wfu-vm', 'wfu-tr', 'wfu-tr2']) { await sh('ip', ['link', 'set', l, 'up']); await sh('ethtool', ['-K', l, 'tx', 'off']); }
  await sh('ovs-vsctl', ['--may-exist', 'add-br', 'wtaccess', '--', 'set', 'bridge', 'wtaccess', 'datapath_type=netdev', 'fail_mode=standalone',
    '--', 'add-port', 'wtaccess', 'wfu-vm', 'tag=100', '--', 'add-port', 'wtaccess', 'wfu-tr']);
  await vm.exec(['ip', 'link', 'set', 'eth0', 'up']);
  await vm.exec(['ethtool', '-K', 'eth0', 'tx', 'off']);
  await vm.exec(['ip', 'addr', 'add', `${VM_IP}/24`, 'dev', 'eth0']);
});
after(async () => {
  await sh('ovs-vsctl', ['--if-exists', 'del-br', 'wtaccess']).catch(() => {});
  for (const l of ['wfu-vm', 'wfu-tr']) await sh('ip', ['link', 'del', l]).catch(() => {});
  await cleanupAll();
  await weft?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('underlay (flat L2, VLAN 100) network across three hosts and a machine on the business subnet', async (t) => {
  if (skip) { t.skip('no OVS'); return; }
  for (const [i, h] of hosts.entries()) assert.equal((await weft.call('POST', '/v1/hosts', { name: `u${i + 1}`, dpid: h.dpid, underlayIp: h.ip })).status, 201);
  await waitFor(async () => (await weft.call<{ connected: boolean }[]>('GET', '/v1/hosts?kind=registered')).body.filter((h) => h.connected).length === 3,
    { what: 'br-int connected', timeoutMs: 30000 });
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'biz', cidr: '10.70.0.0/24', gateway: '10.70.0.1', mode: 'underlay', vlan: 100 })).status, 201);
  const ct = await Promise.all(['a', 'b', 'c'].map((n, i) => Container.create(hosts[i], n, { prefix: 'wfu-c' })));
  const ips: string[] = [];
  for (let i = 0; i < 3; i++) ips.push(ipOf(await rts[i].add(conf(i), { containerId: `ul-${i}`, netns: ct[i].netnsPath, ifName: 'eth0' }) as unknown as Result));

  await t.test('containers on different hosts reach each other over the business L2 network', async () => {
    await ct[0].waitPing(ips[1], 10000);
    await ct[2].waitPing(ips[0], 10000);
    assert.equal((await ct[0].ping(ips[1], { count: 3 })).received, 3);
    assert.equal((await ct[2].ping(ips[1], { count: 3 })).received, 3);
  });

  await t.test('a machine on the business subnet reaches the containers, and they reach it', async () => {
    for (const ip of ips) await vm.waitPing(ip, 10000);
    assert.equal((await ct[1].ping(VM_IP, { count: 3 })).received, 3);
    const srv = await ct[0].serveTcp(9200);
    assert.equal(await vm.tcpConnect(ips[0], srv.port, 'hello from a VM on VLAN 100'), 'hello from a VM on VLAN 100');
    await srv.stop();
    const neigh = await vm.exec(['ip', 'neigh', 'show', ips[0]]);
    assert.match(neigh, /lladdr 0a:/, 'the VM sees the container\'s own MAC (no proxy)');
  });

  await t.test('nothing leaks outside VLAN 100: the same subnet on the untagged underlay does not see them', async () => {
    const other = await Container.create(null, 'other', { prefix: 'wfu-' });
    await sh('ip', ['link', 'add', 'wfu-ot', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', other.netns]);
    try {
      await sh('ip', ['link', 'set', 'wfu-ot', 'master', underlay.name, 'up']);
      await other.exec(['ip', 'link', 'set', 'eth0', 'up']);
      await other.exec(['ip', 'addr', 'add', '10.70.0.201/24', 'dev', 'eth0']);
      assert.equal((await other.ping(ips[0], { count: 2, timeoutS: 1 })).received, 0);
    } finally {
      await sh('ip', ['link', 'del', 'wfu-ot']).catch(() => {});
    }
  });
});
