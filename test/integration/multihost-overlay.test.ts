// Overlay mode across three emulated hosts (each a namespace with its own
// OVS, br-phy on a shared underlay, br-int with a VXLAN port), containers
// attached through weft-cni: cross-host ping and TCP, two networks with the
// same CIDR kept apart, detach and host removal cleaning up every host.
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

let skip = false;
let underlay: Underlay;
let weft: WeftProcess;
const hosts: EmuHost[] = [];
const rts: TestRuntime[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-mh-'));
interface Result { ips: { address: string }[]; interfaces: { name: string; mac: string }[] }
const ipOf = (r: Result) => r.ips[0].address.split('/')[0];

const conf = (i: number, network: string): ConfList => ({
  cniVersion: '1.0.0', name: network,
  plugins: [{ type: 'weft-cni', api: weft.api, host: `m${i + 1}`, ovsdb: hosts[i].ovsdb, bridge: 'br-int' }],
});

before(async () => {
  if (!(await emuAvailable())) { assert.ok(!process.env.CI, 'OVS must be available in CI'); skip = true; return; }
  underlay = await Underlay.create({ id: 'mh', subnet: '172.31.243.0/24', mtu: 1600 });
  weft = await WeftProcess.start({ host: underlay.ip });
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(path.join(repoRoot(), 'dist/northbound/cni/weft-cni.js'), path.join(bin, 'weft-cni'));
  for (let i = 0; i < 3; i++) {
    const h = await EmuHost.create({ name: `m${i + 1}`, underlay, index: i + 1, controller: weft.ofTarget, prefix: 'wfm-', baseDir: path.join(tmp, 'emu'), patch: false });
    hosts.push(h);
    rts.push(new TestRuntime([bin, '/usr/lib/cni'], h.netns));
  }
});
after(async () => {
  await cleanupAll();
  await weft?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('overlay networks across three hosts', async (t) => {
  if (skip) { t.skip('no OVS'); return; }
  for (const [i, h] of hosts.entries()) {
    assert.equal((await weft.call('POST', '/v1/hosts', { name: `m${i + 1}`, dpid: h.dpid, underlayIp: h.ip })).status, 201);
  }
  await waitFor(async () => (await weft.call<{ connected: boolean }[]>('GET', '/v1/hosts?kind=registered')).body.filter((h) => h.connected).length === 3,
    { what: 'three br-int connected', timeoutMs: 30000 });
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'ov1', cidr: '10.40.0.0/16', mode: 'overlay' })).status, 201);
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'ov2', cidr: '10.40.0.0/16', mode: 'overlay' })).status, 201);
  const ct = await Promise.all(['a', 'b', 'c', 'd'].map((n, i) => Container.create(hosts[[0, 1, 2, 2][i]], n, { prefix: 'wfm-c' })));
  const add = (i: number, host: number, network: string, extra: Partial<{ args: [string, string][] }> = {}) =>
    rts[host].add(conf(host, network), { containerId: `mh-${i}`, netns: ct[i].netnsPath, ifName: 'eth0', ...extra }) as unknown as Promise<Result>;
  const ra = await add(0, 0, 'ov1');
  const rb = await add(1, 1, 'ov1');
  const rc = await add(2, 2, 'ov1');
  const [ipA, ipB, ipC] = [ra, rb, rc].map(ipOf);
  // d: the other network, same CIDR, and the very address b has
  const rd = await add(3, 2, 'ov2', { args: [['IgnoreUnknown', '1'], ['IP', ipB]] });
  assert.equal(ipOf(rd), ipB);

  await t.test('per-host blocks: each host got its own block', async () => {
    const blocks = (await weft.call<{ blocks: { cidr: string; host: string }[] }>('GET', '/v1/networks/ov1')).body.blocks;
    assert.deepEqual(blocks.map((b) => b.host).sort(), ['m1', 'm2', 'm3']);
  });

  await t.test('cross-host ping and TCP through VXLAN', async () => {
    await ct[0].waitPing(ipB, 10000); // the first packet to a new remote host may be lost (LAB.md)
    await ct[0].waitPing(ipC, 10000);
    await ct[1].waitPing(ipC, 10000);
    assert.equal((await ct[0].ping(ipB, { count: 3 })).received, 3);
    assert.equal((await ct[1].ping(ipC, { count: 3 })).received, 3);
    const srv = await ct[2].serveTcp(9000);
    const payload = 'x'.repeat(100_000);
    assert.equal(await ct[0].tcpConnect(ipC, srv.port, payload), payload);
    await srv.stop();
  });

  await t.test('same CIDR, other network: isolated', async () => {
    assert.equal((await ct[3].ping(ipA, { count: 2, timeoutS: 1 })).received, 0, 'ov2 cannot reach ov1');
    const srv = await ct[3].serveTcp(9001);
    const got = await ct[0].tcpConnect(ipB, srv.port, 'to b, not d', 2000).catch((e: Error) => e.message);
    assert.notEqual(got, 'to b, not d', 'a connection to b\'s address never reaches d');
    await srv.stop();
  });

  await t.test('flows grow with hosts, not remote endpoints', async () => {
    const f1 = (await hosts[0].dumpFlows()).length;
    // more endpoints on m2 in the same block add no flow on m1
    const extra = await Container.create(hosts[1], 'e', { prefix: 'wfm-c' });
    await rts[1].add(conf(1, 'ov1'), { containerId: 'mh-e', netns: extra.netnsPath, ifName: 'eth0' });
    assert.equal((await hosts[0].dumpFlows()).length, f1);
    await rts[1].del(conf(1, 'ov1'), { containerId: 'mh-e', netns: extra.netnsPath, ifName: 'eth0' });
  });

  await t.test('detach removes the endpoint\'s flows on every host', async () => {
    await rts[1].del(conf(1, 'ov1'), { containerId: 'mh-1', netns: ct[1].netnsPath, ifName: 'eth0' });
    const blockB = (await weft.call<{ blocks: { cidr: string; host: string }[] }>('GET', '/v1/networks/ov1')).body.blocks.find((b) => b.host === 'm2');
    assert.equal(blockB, undefined, 'm2\'s empty block was released');
    for (const h of hosts) {
      await waitFor(async () => !(await h.dumpFlows()).some((f) => f.includes('10.40.0.64/26') || f.includes(rb.interfaces[0].mac)), { what: `flows for b gone on ${h.name}` });
    }
    assert.equal((await ct[0].ping(ipB, { count: 2, timeoutS: 1 })).received, 0);
  });

  await t.test('deleting a host removes its tunnels elsewhere', async () => {
    await rts[2].del(conf(2, 'ov1'), { containerId: 'mh-2', netns: ct[2].netnsPath, ifName: 'eth0' });
    await rts[2].del(conf(2, 'ov2'), { containerId: 'mh-3', netns: ct[3].netnsPath, ifName: 'eth0' });
    assert.equal((await weft.call('DELETE', '/v1/hosts/m3')).status, 204);
    for (const h of hosts.slice(0, 2)) {
      await waitFor(async () => !(await h.dumpFlows()).some((f) => f.includes(hosts[2].ip)), { what: `no tunnel to m3 on ${h.name}` });
    }
  });
});
