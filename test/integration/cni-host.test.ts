// Container networking end to end on an emulated host: a network namespace
// with its own ovsdb-server and ovs-vswitchd, br-int connected to the real
// controller (a child process), containers attached by weft-cni exactly as
// a runtime calls it (env vars + stdin, run in the host's namespace).
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
let host: EmuHost;
let weft: WeftProcess;
let rt: TestRuntime;
/** h1's host token (made when h1 is registered): the plugin runs host-scoped, as on a real host. */
let tokenFile: string;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-cnihost-'));

const conf = (network: string): ConfList => ({
  cniVersion: '1.0.0', name: network,
  plugins: [{ type: 'weft-cni', api: weft.api, host: 'h1', ovsdb: host.ovsdb, bridge: 'br-int', tokenFile }],
});
interface Result { ips: { address: string }[]; interfaces: { name: string; mac: string; mtu?: number }[] }
interface Ep { id: string; portName: string; ip: string; mac: string; state: string; ofport: number | null; ofportRequest: number | null; mtu: number }
const ipOf = (r: Result) => r.ips[0].address.split('/')[0];

before(async () => {
  if (!(await emuAvailable())) { assert.ok(!process.env.CI, 'OVS must be available in CI'); skip = true; return; }
  underlay = await Underlay.create({ id: 'ch', subnet: '172.31.241.0/24' });
  weft = await WeftProcess.start({ host: underlay.ip });
  host = await EmuHost.create({ name: 'ch1', underlay, index: 1, controller: weft.ofTarget, tunnel: false, patch: false, prefix: 'wfh-', baseDir: path.join(tmp, 'emu') });
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(path.join(repoRoot(), 'dist/northbound/cni/weft-cni.js'), path.join(bin, 'weft-cni'));
  rt = new TestRuntime([bin, '/usr/lib/cni'], host.netns);
});
after(async () => {
  await cleanupAll();
  await weft?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('three containers on two networks via weft-cni; routing, spoofing, DEL, another port number than asked, a network MTU; 100 concurrent ADDs', async (t) => {
  if (skip) { t.skip('no OVS'); return; }
  assert.equal((await weft.call('POST', '/v1/hosts', { name: 'h1', dpid: host.dpid, underlayIp: host.ip })).status, 201);
  tokenFile = (await weft.hostTokenFile('h1'))!;
  await waitFor(() => weft.call<{ connected: boolean }>('GET', '/v1/hosts/h1').then((r) => r.body.connected), { what: 'br-int connected', timeoutMs: 20000 });
  await weft.call('POST', '/v1/networks', { name: 'blue', cidr: '10.21.0.0/24' });
  await weft.call('POST', '/v1/networks', { name: 'red', cidr: '10.22.0.0/24' });
  const c = await Promise.all(['a', 'b', 'c'].map((n) => Container.create(host, n, { prefix: 'wfh-c' })));
  const results: Result[] = [];
  // the third one is plumbed with iproute2 and ethtool, as when weft-plumb is not built
  const rtIp = new TestRuntime(rt.cniPath, host.netns, { WEFT_CNI_PLUMB: 'ip' });
  for (const [i, net] of ['blue', 'blue', 'red'].entries()) {
    results.push(await (i === 2 ? rtIp : rt).add(conf(net), { containerId: `ctr-${i}`, netns: c[i].netnsPath, ifName: 'eth0' }) as unknown as Result);
  }
  const [ipA, ipB, ipC] = results.map(ipOf);

  await t.test('same network: ping and TCP', async () => {
    assert.equal((await c[0].ping(ipB, { count: 3 })).received, 3);
    const srv = await c[1].serveTcp(8000);
    assert.equal(await c[0].tcpConnect(ipB, srv.port, 'ping-pong over weft'), 'ping-pong over weft');
    await srv.stop();
  });

  await t.test('the other network through the gateway', async () => {
    assert.equal((await c[0].ping(ipC, { count: 3 })).received, 3);
    const srv = await c[2].serveTcp(8001);
    assert.equal(await c[0].tcpConnect(ipC, srv.port, 'routed'), 'routed');
    await srv.stop();
  });

  await t.test('a forged source IP or MAC gets nothing through', async () => {
    await c[0].exec(['ip', 'addr', 'add', '10.21.0.250/24', 'dev', 'eth0']);
    assert.equal((await c[0].ping(ipB, { count: 2, timeoutS: 1, source: '10.21.0.250' })).received, 0);
    await c[0].exec(['ip', 'addr', 'del', '10.21.0.250/24', 'dev', 'eth0']);
    const mac = results[0].interfaces.find((x) => x.name === 'eth0')!.mac;
    await c[0].exec(['ip', 'link', 'set', 'eth0', 'address', '02:de:ad:be:ef:01']);
    await c[0].exec(['ip', 'neigh', 'flush', 'all']);
    assert.equal((await c[0].ping(ipB, { count: 2, timeoutS: 1 })).received, 0);
    await c[0].exec(['ip', 'link', 'set', 'eth0', 'address', mac]);
    await c[0].exec(['ip', 'neigh', 'flush', 'all']);
    assert.equal((await c[0].ping(ipB, { count: 2 })).received, 2);
  });

  await t.test('DEL removes the port and its flows', async () => {
    const portName = results[1].interfaces[0].name;
    const before = await host.dumpFlows();
    assert.ok(before.some((f) => f.includes(ipB)));
    await rt.del(conf('blue'), { containerId: 'ctr-1', netns: c[1].netnsPath, ifName: 'eth0' });
    assert.ok(!(await host.vsctl('list-ports', 'br-int')).split('\n').includes(portName), 'OVS port gone');
    await waitFor(async () => !(await host.dumpFlows()).some((f) => f.includes(ipB)), { what: 'flows of B removed' });
    assert.equal((await c[0].ping(ipB, { count: 2, timeoutS: 1 })).received, 0);
    await rt.del(conf('blue'), { containerId: 'ctr-1', netns: c[1].netnsPath, ifName: 'eth0' });
    assert.equal((await weft.call<unknown[]>('GET', '/v1/endpoints?containerId=ctr-1')).body.length, 0);
  });

  await t.test('OVS gives the port another number than its ofportRequest: the flows follow the real one; ready, ping and TCP', async () => {
    const ct = await Container.create(host, 'r', { prefix: 'wfh-c' });
    const rtc = { containerId: 'ctr-resync', netns: ct.netnsPath, ifName: 'eth0' };
    // Weft picks the endpoint and its port number at POST; the plugin's ADD for the same attachment gets it back (200).
    const pre = await weft.call<Ep>('POST', '/v1/endpoints', { containerId: rtc.containerId, ifName: 'eth0', host: 'h1', network: 'blue', netns: ct.netnsPath });
    assert.equal(pre.status, 201, JSON.stringify(pre.body));
    const asked = pre.body.ofportRequest!;
    assert.ok(asked >= 10000, String(asked));
    // Something else takes that number on br-int first.
    const squatter = 'wfhsquat';
    await host.vsctl('add-port', 'br-int', squatter, '--', 'set', 'interface', squatter, 'type=internal', `ofport_request=${asked}`);
    try {
      assert.equal(await host.ofport(squatter), asked);
      const res = await rt.add(conf('blue'), rtc) as unknown as Result;
      assert.equal(res.interfaces[0].name, pre.body.portName);
      const real = await host.ofport(pre.body.portName);
      assert.notEqual(real, asked, 'OVS gave the port another number');
      const ep = (await weft.call<Ep>('GET', `/v1/endpoints/${pre.body.id}`)).body;
      assert.deepEqual([ep.state, ep.ofport, ep.ofportRequest], ['ready', real, asked]);
      // ready means its flows are for the real number already
      const flows = await host.dumpFlows();
      const mine = flows.filter((f) => f.includes(ep.mac));
      assert.ok(mine.some((f) => f.includes(`in_port=${real},`)), `spoof guard on port ${real}:\n${mine.join('\n')}`);
      assert.ok(mine.some((f) => f.includes(`output:${real}`)), `delivery to port ${real}:\n${mine.join('\n')}`);
      assert.ok(!flows.some((f) => f.includes(`in_port=${asked},`) || new RegExp(`output:${asked}\\b`).test(f)), `no flow for port ${asked}:\n${flows.join('\n')}`);
      assert.equal((await c[0].ping(ep.ip, { count: 3 })).received, 3);
      const srv = await ct.serveTcp(8002);
      assert.equal(await c[0].tcpConnect(ep.ip, srv.port, 'on the real port'), 'on the real port');
      await srv.stop();
      await rt.del(conf('blue'), rtc);
      await waitFor(async () => !(await host.dumpFlows()).some((f) => f.includes(ep.mac)), { what: 'flows of the re-synced endpoint removed' });
    } finally {
      await host.vsctl('--if-exists', 'del-port', 'br-int', squatter);
    }
  });

  await t.test('a network\'s mtu reaches the container\'s interface through the plugin', async () => {
    assert.equal((await weft.call('POST', '/v1/networks', { name: 'small', cidr: '10.23.0.0/24', mtu: 1360 })).status, 201);
    const ct = await Container.create(host, 'mtu', { prefix: 'wfh-c' });
    const rtc = { containerId: 'ctr-mtu', netns: ct.netnsPath, ifName: 'eth0' };
    const res = await rt.add(conf('small'), rtc) as unknown as Result; // the configuration names no mtu
    const ep = (await weft.call<Ep[]>('GET', '/v1/endpoints?containerId=ctr-mtu')).body[0]!;
    assert.equal(ep.mtu, 1360);
    const [inside] = JSON.parse(await ct.exec(['ip', '-j', 'link', 'show', 'dev', 'eth0'])) as Array<{ mtu: number }>;
    assert.equal(inside?.mtu, 1360, 'eth0 in the container\'s namespace');
    const [hostEnd] = JSON.parse(await host.exec(['ip', '-j', 'link', 'show', 'dev', res.interfaces[0].name])) as Array<{ mtu: number }>;
    assert.equal(hostEnd?.mtu, 1360, 'the host end of the veth');
    // a full-size packet with DF set gets through (routed to blue), one byte more cannot leave eth0
    assert.match(await ct.exec(['ping', '-n', '-c', '2', '-W', '2', '-i', '0.2', '-M', 'do', '-s', String(1360 - 28), ipA]), /2 received/);
    await assert.rejects(ct.exec(['ping', '-n', '-c', '1', '-W', '1', '-M', 'do', '-s', String(1360 - 27), ipA]), /message too long|mtu/i);
    await rt.del(conf('small'), rtc);
  });

  await t.test('100 concurrent ADDs: 100 distinct addresses, all ready, all reachable', async () => {
    await weft.call('POST', '/v1/networks', { name: 'many', cidr: '10.30.0.0/22' });
    const cs = await Promise.all(Array.from({ length: 100 }, (_, i) => Container.create(host, `m${i}`, { prefix: 'wfh-m' })));
    const rs = await Promise.all(cs.map((ct, i) => rt.add(conf('many'), { containerId: `many-${i}`, netns: ct.netnsPath, ifName: 'eth0' }) as unknown as Promise<Result>));
    const ips = rs.map(ipOf);
    assert.equal(new Set(ips).size, 100);
    const eps = (await weft.call<{ state: string }[]>('GET', '/v1/endpoints?network=many')).body;
    assert.equal(eps.length, 100);
    assert.ok(eps.every((e) => e.state === 'ready'));
    for (let i = 0; i < 100; i += 10) {
      const batch = await Promise.all(ips.slice(i, i + 10).map((ip) => cs[0].ping(ip, { count: 1, timeoutS: 2 })));
      assert.ok(batch.every((b) => b.received === 1), `batch ${i}: ${JSON.stringify(batch)}`);
    }
  });
});
