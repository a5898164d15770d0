// Routed mode (the Calico / host-gw model) across three emulated hosts: no
// encapsulation; container blocks are routed host to host over the underlay
// (br-int -> patch -> br-phy -> underlay), and a client on the underlay
// that routes a block to its host reaches containers by their own
// addresses, without NAT.
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
let client: Container;
const hosts: EmuHost[] = [];
const rts: TestRuntime[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-rt-'));
const CLIENT_IP = '172.31.244.200';
interface Result { ips: { address: string }[] }
const ipOf = (r: Result) => r.ips[0].address.split('/')[0];
const conf = (i: number): ConfList => ({
  cniVersion: '1.0.0', name: 'rt',
  plugins: [{ type: 'weft-cni', api: weft.api, host: `r${i + 1}`, ovsdb: hosts[i].ovsdb, bridge: 'br-int' }],
});

before(async () => {
  if (!(await emuAvailable())) { assert.ok(!process.env.CI, 'OVS must be available in CI'); skip = true; return; }
  underlay = await Underlay.create({ id: 'rt', subnet: '172.31.244.0/24' });
  weft = await WeftProcess.start({ host: underlay.ip });
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(path.join(repoRoot(), 'dist/northbound/cni/weft-cni.js'), path.join(bin, 'weft-cni'));
  for (let i = 0; i < 3; i++) {
    const h = await EmuHost.create({ name: `r${i + 1}`, underlay, index: i + 1, controller: weft.ofTarget, prefix: 'wfr-', baseDir: path.join(tmp, 'emu'), tunnel: false });
    // routed mode: br-phy is programmed by Weft too; the host's own stack forwards container traffic leaving for the underlay.
    // The controller is reached through br-phy itself, so br-phy keeps in-band control (its hidden flows let that traffic pass).
    await h.vsctl('set', 'bridge', 'br-phy', `other-config:datapath-id=00000000000b0${i + 1}00`, 'protocols=OpenFlow13');
    await h.vsctl('remove', 'bridge', 'br-phy', 'other-config', 'disable-in-band');
    await h.vsctl('set-controller', 'br-phy', weft.ofTarget);
    for (const k of ['net.ipv4.ip_forward=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.br-phy.rp_filter=0']) await h.exec(['sysctl', '-qw', k]);
    hosts.push(h);
    rts.push(new TestRuntime([bin, '/usr/lib/cni'], h.netns));
  }
  // a machine on the underlay (business network) that is not a container host
  client = await Container.create(null, 'client', { prefix: 'wfr-' });
  await sh('ip', ['link', 'add', 'wfr-cl', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client.netns]);
  await sh('ip', ['link', 'set', 'wfr-cl', 'master', underlay.name, 'up']);
  await sh('ethtool', ['-K', 'wfr-cl', 'tx', 'off']);
  await client.exec(['ip', 'addr', 'add', `${CLIENT_IP}/24`, 'dev', 'eth0']);
  await client.exec(['ip', 'link', 'set', 'eth0', 'up']);
  await client.exec(['ethtool', '-K', 'eth0', 'tx', 'off']);
});
after(async () => {
  await sh('ip', ['link', 'del', 'wfr-cl']).catch(() => {});
  await cleanupAll();
  await weft?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('routed networks across three hosts and from the underlay', async (t) => {
  if (skip) { t.skip('no OVS'); return; }
  for (const [i, h] of hosts.entries()) {
    const r = await weft.call('POST', '/v1/hosts', { name: `r${i + 1}`, dpid: h.dpid, underlayIp: h.ip, phyDpid: `00000000000b0${i + 1}00` });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  await waitFor(async () => (await weft.call<{ connected: boolean }[]>('GET', '/v1/hosts?kind=registered')).body.filter((h) => h.connected).length === 3,
    { what: 'three br-int connected', timeoutMs: 30000 });
  await waitFor(async () => (await weft.call<{ dpid: string }[]>('GET', '/v1/switches')).body.filter((s) => s.dpid.startsWith('00000000000b0')).length === 3,
    { what: 'three br-phy connected', timeoutMs: 30000 });
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'rt', cidr: '10.60.0.0/16', mode: 'routed' })).status, 201);
  const ct = await Promise.all(['a', 'b', 'c'].map((n, i) => Container.create(hosts[i], n, { prefix: 'wfr-c' })));
  const rs: Result[] = [];
  for (let i = 0; i < 3; i++) rs.push(await rts[i].add(conf(i), { containerId: `rt-${i}`, netns: ct[i].netnsPath, ifName: 'eth0' }) as unknown as Result);
  const ips = rs.map(ipOf);

  await t.test('container to container across hosts, no encapsulation', async () => {
    await ct[0].waitPing(ips[1], 10000);
    await ct[0].waitPing(ips[2], 10000);
    assert.equal((await ct[0].ping(ips[1], { count: 3 })).received, 3);
    assert.equal((await ct[2].ping(ips[1], { count: 3 })).received, 3);
    const srv = await ct[1].serveTcp(9100);
    const payload = 'y'.repeat(50_000);
    assert.equal(await ct[0].tcpConnect(ips[1], srv.port, payload), payload);
    await srv.stop();
    for (const h of hosts) assert.ok(!(await h.dumpFlows()).some((f) => /tun_/.test(f)), `no tunnel use on ${h.name}`);
  });

  await t.test('an outside client on the underlay reaches containers by their own addresses', async () => {
    const blocks = (await weft.call<{ blocks: { cidr: string; host: string }[] }>('GET', '/v1/networks/rt')).body.blocks;
    assert.equal(blocks.length, 3, 'one block per host');
    for (const b of blocks) {
      const h = hosts.find((x) => x.name === b.host)!;
      await client.exec(['ip', 'route', 'add', b.cidr, 'via', h.ip]);
    }
    for (const ip of ips) await client.waitPing(ip, 10000);
    const srv = await ct[2].serveTcp(9101);
    assert.equal(await client.tcpConnect(ips[2], srv.port, 'from the business network'), 'from the business network');
    await srv.stop();
    // and the container reaches the client (its source address unchanged: the client routes replies by it)
    assert.equal((await ct[0].ping(CLIENT_IP, { count: 2 })).received, 2);
  });

  await t.test('route count grows with hosts, not endpoints', async () => {
    const before = (await hosts[0].dumpFlows()).length;
    const extra = await Container.create(hosts[1], 'd', { prefix: 'wfr-c' });
    await rts[1].add(conf(1), { containerId: 'rt-extra', netns: extra.netnsPath, ifName: 'eth0' });
    assert.equal((await hosts[0].dumpFlows()).length, before, 'a new endpoint in a known remote block adds nothing on other hosts');
  });
});
