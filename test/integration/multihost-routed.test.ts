// Routed mode (the Calico / host-gw model) across three emulated hosts: no
// encapsulation; container blocks are routed host to host over the underlay
// (br-int -> patch -> br-phy -> underlay), and a client on the underlay
// that routes a block to its host reaches containers by their own
// addresses, without NAT; a router running bird2 learns the blocks from
// Weft's BGP speaker and reaches containers with no static route.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { MultiHostLab } from '../helpers/multihost-lab';
import { waitFor, waitStable } from '../helpers/wait';

const CLIENT_IP = '172.31.244.200';
const ROUTER_IP = '172.31.244.201';
const ROUTER_AS = 65001;
const WEFT_AS = 64512;
let lab: MultiHostLab | undefined;
let bird: ChildProcess | undefined;
before(async () => {
  lab = await MultiHostLab.start({ id: 'rt', subnet: '172.31.244.0/24', hosts: 3, phy: true, weftArgs: ['--bgp-asn', String(WEFT_AS), '--bgp-peer', `${ROUTER_IP}:${ROUTER_AS}`] });
});
after(async () => {
  if (bird && bird.exitCode === null) { const gone = new Promise((r) => bird!.once('exit', r)); bird.kill(); await gone; }
  await lab?.stop();
});

test('routed networks across three hosts and from the underlay', async (t) => {
  if (!lab) { t.skip('no OVS'); return; }
  const { hosts, weft } = lab;
  await lab.register();
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'rt', cidr: '10.60.0.0/16', mode: 'routed' })).status, 201);
  const ep = [await lab.attach(0, 'a', 'rt'), await lab.attach(1, 'b', 'rt'), await lab.attach(2, 'c', 'rt')];
  const client = await lab.outsideMachine('client', CLIENT_IP);

  await t.test('container to container across hosts, no encapsulation', async () => {
    await ep[0].ct.waitPing(ep[1].ip, 10000);
    await ep[0].ct.waitPing(ep[2].ip, 10000);
    assert.equal((await ep[0].ct.ping(ep[1].ip, { count: 3 })).received, 3);
    assert.equal((await ep[2].ct.ping(ep[1].ip, { count: 3 })).received, 3);
    const srv = await ep[1].ct.serveTcp(9100);
    const payload = 'y'.repeat(50_000);
    assert.equal(await ep[0].ct.tcpConnect(ep[1].ip, srv.port, payload), payload);
    await srv.stop();
    for (const h of hosts) assert.ok(!(await h.dumpFlows()).some((f) => /tun_/.test(f)), `no tunnel use on ${h.name}`);
  });

  await t.test('an outside client on the underlay reaches containers by their own addresses', async () => {
    const blocks = (await weft.call<{ blocks: { cidr: string; host: string }[] }>('GET', '/v1/networks/rt')).body.blocks;
    assert.equal(blocks.length, 3, 'one block per host');
    for (const b of blocks) await client.exec(['ip', 'route', 'add', b.cidr, 'via', hosts.find((x) => x.name === b.host)!.ip]);
    for (const e of ep) await client.waitPing(e.ip, 10000);
    const srv = await ep[2].ct.serveTcp(9101);
    assert.equal(await client.tcpConnect(ep[2].ip, srv.port, 'from the business network'), 'from the business network');
    await srv.stop();
    // and the container reaches the client (its source address unchanged: the client routes replies by it)
    assert.equal((await ep[0].ct.ping(CLIENT_IP, { count: 2 })).received, 2);
  });

  await t.test('BGP: a bird2 router learns the blocks from Weft and reaches containers with no static route', async () => {
    if (!fs.existsSync('/usr/sbin/bird')) { assert.ok(!process.env.CI, 'bird2 must be installed in CI'); t.skip('no bird2'); return; }
    const router = await lab!.outsideMachine('bgprtr', ROUTER_IP);
    const dir = path.join(lab!.tmp, 'bird');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'bird.conf'), [
      `log "${dir}/bird.log" all;`,
      `router id ${ROUTER_IP};`,
      'protocol device { scan time 10; }',
      'protocol kernel { ipv4 { import none; export all; }; }',
      `protocol bgp weft { local ${ROUTER_IP} as ${ROUTER_AS}; neighbor ${lab!.underlay.ip} as ${WEFT_AS}; passive on; hold time 30;`,
      '  ipv4 { import all; export none; }; }',
    ].join('\n') + '\n');
    bird = spawn('ip', ['netns', 'exec', router.netns, 'bird', '-f', '-c', path.join(dir, 'bird.conf'), '-s', path.join(dir, 'bird.ctl'), '-P', path.join(dir, 'bird.pid')],
      { stdio: 'ignore' });
    const blocks = (await weft.call<{ blocks: { cidr: string; host: string }[] }>('GET', '/v1/networks/rt')).body.blocks;
    const hostIp = (name: string) => hosts.find((x) => x.name === name)!.ip;
    await waitFor(async () => {
      const s = (await weft.call<{ peers: { state: string; advertised: number }[] }>('GET', '/v1/bgp')).body.peers[0];
      return s?.state === 'established' && s.advertised === blocks.length;
    }, { what: 'BGP session with bird established, blocks announced', timeoutMs: 30000 });
    const routes = async () => router.exec(['ip', 'route', 'show', 'proto', 'bird']);
    await waitFor(async () => {
      const r = await routes();
      return blocks.every((b) => r.includes(`${b.cidr} via ${hostIp(b.host)} `));
    }, { what: 'bird installed a route per block via its host', timeoutMs: 15000 });
    for (const e of ep) await router.waitPing(e.ip, 10000);
    // a new block (an address outside the three) is announced, and withdrawn when it is released
    const far = await lab!.attach(0, 'far', 'rt', { args: [['IgnoreUnknown', '1'], ['IP', '10.60.200.10']] });
    await waitFor(async () => (await routes()).includes(`10.60.200.0/26 via ${hosts[0].ip} `), { what: 'the new block learned', timeoutMs: 15000 });
    await router.waitPing(far.ip, 10000);
    await lab!.detach(0, 'far', 'rt', far.ct);
    await waitFor(async () => !(await routes()).includes('10.60.200.0/26'), { what: 'the released block withdrawn', timeoutMs: 15000 });
  });

  await t.test('route count grows with hosts, not endpoints', async () => {
    // counted in the settled state: nothing of the earlier changes still on its way to rt1
    const before = (await waitStable(() => hosts[0].dumpFlows(), { what: 'rt1 flows before the attach' })).length;
    const d = await lab!.attach(1, 'd', 'rt');
    assert.ok((await hosts[1].dumpFlows()).some((f) => f.includes(d.res.interfaces.find((x) => x.name === 'eth0')!.mac)), 'd\'s own flows are on rt2');
    await ep[0].ct.waitPing(d.ip, 10000); // rt1 already routes to d
    const after = await waitStable(() => hosts[0].dumpFlows(), { what: 'rt1 flows after the attach on rt2' });
    assert.equal(after.length, before, 'a new endpoint in a known remote block adds nothing on other hosts');
  });
});
