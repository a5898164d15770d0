// Routed mode (the Calico / host-gw model) across three emulated hosts: no
// encapsulation; container blocks are routed host to host over the underlay
// (br-int -> patch -> br-phy -> underlay), and a client on the underlay
// that routes a block to its host reaches containers by their own
// addresses, without NAT.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MultiHostLab } from '../helpers/multihost-lab';

const CLIENT_IP = '172.31.244.200';
let lab: MultiHostLab | undefined;
before(async () => { lab = await MultiHostLab.start({ id: 'rt', subnet: '172.31.244.0/24', hosts: 3, phy: true }); });
after(async () => { await lab?.stop(); });

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

  await t.test('route count grows with hosts, not endpoints', async () => {
    const before = (await hosts[0].dumpFlows()).length;
    await lab!.attach(1, 'd', 'rt');
    assert.equal((await hosts[0].dumpFlows()).length, before, 'a new endpoint in a known remote block adds nothing on other hosts');
  });
});
