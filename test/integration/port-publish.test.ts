// NAT in OVS conntrack on a host's br-phy. Port publishing (the docker -p
// model): a container's TCP and UDP ports published on its host's address
// through the CNI portMappings capability, reached at hostIP:hostPort from a
// machine outside the hosts; the published port goes away with the
// endpoint. Egress SNAT: the container reaches that outside machine
// masqueraded behind its host's address.
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
import { spawn } from 'node:child_process';

let skip = false;
let underlay: Underlay;
let weft: WeftProcess;
let host: EmuHost;
let rt: TestRuntime;
let client: Container;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-pp-'));
const CLIENT_IP = '172.31.246.200';

const list = (): ConfList => ({
  cniVersion: '1.0.0', name: 'pub',
  plugins: [{ type: 'weft-cni', api: weft.api, host: 'p1', ovsdb: host.ovsdb, bridge: 'br-int', capabilities: { portMappings: true } }],
});

/** A UDP echo server inside a namespace (node), and a one-shot client. */
async function udpEcho(ns: Container, port: number): Promise<{ stop(): Promise<void> }> {
  const p = spawn('ip', ['netns', 'exec', ns.netns, process.execPath, '-e',
    `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(${port},()=>console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((r) => p.stdout!.once('data', r));
  return { stop: async () => { const gone = new Promise((r) => p.once('exit', r)); p.kill(); await gone; } };
}
async function udpAsk(ns: Container, ip: string, port: number, text: string): Promise<string> {
  return ns.exec([process.execPath, '-e', `const s=require('dgram').createSocket('udp4');s.on('message',m=>{process.stdout.write(m);process.exit(0)});` +
    `const go=()=>s.send(${JSON.stringify(text)},${port},'${ip}');go();setInterval(go,300);setTimeout(()=>process.exit(2),4000)`]);
}

before(async () => {
  if (!(await emuAvailable())) { assert.ok(!process.env.CI, 'OVS must be available in CI'); skip = true; return; }
  underlay = await Underlay.create({ id: 'pp', subnet: '172.31.246.0/24' });
  weft = await WeftProcess.start({ host: underlay.ip });
  const bin = path.join(tmp, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(path.join(repoRoot(), 'dist/northbound/cni/weft-cni.js'), path.join(bin, 'weft-cni'));
  host = await EmuHost.create({ name: 'p1', underlay, index: 1, controller: weft.ofTarget, prefix: 'wfp-', baseDir: path.join(tmp, 'emu'), tunnel: false });
  await host.vsctl('set', 'bridge', 'br-phy', 'other-config:datapath-id=00000000000b0900', 'protocols=OpenFlow13');
  await host.vsctl('remove', 'bridge', 'br-phy', 'other-config', 'disable-in-band');
  await host.vsctl('set-controller', 'br-phy', weft.ofTarget);
  rt = new TestRuntime([bin, '/usr/lib/cni'], host.netns);
  client = await Container.create(null, 'client', { prefix: 'wfp-' });
  await sh('ip', ['link', 'add', 'wfp-cl', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', client.netns]);
  await sh('ip', ['link', 'set', 'wfp-cl', 'master', underlay.name, 'up']);
  await sh('ethtool', ['-K', 'wfp-cl', 'tx', 'off']);
  await client.exec(['ip', 'addr', 'add', `${CLIENT_IP}/24`, 'dev', 'eth0']);
  await client.exec(['ip', 'link', 'set', 'eth0', 'up']);
  await client.exec(['ethtool', '-K', 'eth0', 'tx', 'off']);
});
after(async () => {
  await sh('ip', ['link', 'del', 'wfp-cl']).catch(() => {});
  await cleanupAll();
  await weft?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('published TCP and UDP ports reach a container at hostIP:hostPort', async (t) => {
  if (skip) { t.skip('no OVS'); return; }
  assert.equal((await weft.call('POST', '/v1/hosts', { name: 'p1', dpid: host.dpid, underlayIp: host.ip, phyDpid: '00000000000b0900' })).status, 201);
  await waitFor(async () => (await weft.call<{ dpid: string }[]>('GET', '/v1/switches')).body.length === 2, { what: 'br-int and br-phy connected', timeoutMs: 30000 });
  await weft.call('POST', '/v1/networks', { name: 'pub', cidr: '10.80.0.0/24' });
  const ct = await Container.create(host, 'web', { prefix: 'wfp-c' });
  const res = await rt.add(list(), {
    containerId: 'web-1', netns: ct.netnsPath, ifName: 'eth0',
    capabilityArgs: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }, { hostPort: 5353, containerPort: 53, protocol: 'udp' }] },
  });
  assert.ok(res);
  const ep = (await weft.call<{ portMappings: { hostPort: number }[] }[]>('GET', '/v1/endpoints?containerId=web-1')).body[0];
  assert.deepEqual(ep.portMappings.map((m) => m.hostPort).sort(), [5353, 8080]);

  await t.test('TCP: client -> host:8080 -> container:80', async () => {
    const srv = await ct.serveTcp(80);
    const got = await waitFor(() => client.tcpConnect(host.ip, 8080, 'published!', 2000).catch(() => ''), { what: 'published TCP port answers', timeoutMs: 15000 });
    assert.equal(got, 'published!');
    assert.equal(await client.tcpConnect(host.ip, 8080, 'x'.repeat(20000)), 'x'.repeat(20000));
    await srv.stop();
  });

  await t.test('UDP: client -> host:5353 -> container:53', async () => {
    const srv = await udpEcho(ct, 53);
    assert.equal(await udpAsk(client, host.ip, 5353, 'dns-ish'), 'dns-ish');
    await srv.stop();
  });

  await t.test('egress SNAT: the container reaches an outside address, seen as its host', async () => {
    const srv = spawn('ip', ['netns', 'exec', client.netns, process.execPath, '-e',
      `require('net').createServer(s=>{s.end(s.remoteAddress)}).listen(7777,()=>console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((r) => srv.stdout!.once('data', r));
      const seen = await waitFor(() => ct.tcpConnect(CLIENT_IP, 7777, 'who am i', 2000).catch(() => ''), { what: 'outside TCP through SNAT', timeoutMs: 15000 });
      assert.equal(seen.replace('::ffff:', ''), host.ip, 'the outside machine sees the host address, not the container\'s');
      assert.equal((await ct.ping(CLIENT_IP, { count: 3 })).received, 3);
    } finally {
      srv.kill();
    }
  });

  await t.test('an unpublished port is not reachable, and DEL unpublishes', async () => {
    const srv = await ct.serveTcp(81);
    assert.notEqual(await client.tcpConnect(host.ip, 81, 'nope', 1500).catch(() => 'refused'), 'nope');
    await srv.stop();
    await rt.del(list(), { containerId: 'web-1', netns: ct.netnsPath, ifName: 'eth0' });
    const flows = await host.ofctlOn('br-phy', 'dump-flows');
    assert.ok(!/tp_dst=8080/.test(flows), 'DNAT flow gone');
  });
});
