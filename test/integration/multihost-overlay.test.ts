// Overlay mode across three emulated hosts (each a namespace with its own
// OVS, br-phy on a shared underlay, br-int with a VXLAN port), containers
// attached through weft-cni: cross-host ping and TCP, two networks with the
// same CIDR kept apart, detach and host removal cleaning up every host.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MultiHostLab } from '../helpers/multihost-lab';
import { waitFor, waitStable } from '../helpers/wait';

let lab: MultiHostLab | undefined;
before(async () => { lab = await MultiHostLab.start({ id: 'mh', subnet: '172.31.243.0/24', hosts: 3, mtu: 1600, tunnel: true }); });
after(async () => { await lab?.stop(); });

test('overlay networks across three hosts', async (t) => {
  if (!lab) { t.skip('no OVS'); return; }
  const { hosts, weft } = lab;
  await lab.register();
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'ov1', cidr: '10.40.0.0/16', mode: 'overlay' })).status, 201);
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'ov2', cidr: '10.40.0.0/16', mode: 'overlay' })).status, 201);
  const a = await lab.attach(0, 'a', 'ov1');
  const b = await lab.attach(1, 'b', 'ov1');
  const c = await lab.attach(2, 'c', 'ov1');
  // d: the other network, same CIDR, and the very address b has
  const d = await lab.attach(2, 'd', 'ov2', { args: [['IgnoreUnknown', '1'], ['IP', b.ip]] });
  assert.equal(d.ip, b.ip);

  await t.test('per-host blocks: each host got its own block', async () => {
    const blocks = (await weft.call<{ blocks: { cidr: string; host: string }[] }>('GET', '/v1/networks/ov1')).body.blocks;
    assert.deepEqual(blocks.map((x) => x.host).sort(), ['mh1', 'mh2', 'mh3']);
  });

  await t.test('cross-host ping and TCP through VXLAN', async () => {
    await a.ct.waitPing(b.ip, 10000); // the first packet to a new remote host may be lost (LAB.md)
    await a.ct.waitPing(c.ip, 10000);
    await b.ct.waitPing(c.ip, 10000);
    assert.equal((await a.ct.ping(b.ip, { count: 3 })).received, 3);
    assert.equal((await b.ct.ping(c.ip, { count: 3 })).received, 3);
    const srv = await c.ct.serveTcp(9000);
    const payload = 'x'.repeat(100_000);
    assert.equal(await a.ct.tcpConnect(c.ip, srv.port, payload), payload);
    await srv.stop();
  });

  await t.test('same CIDR, other network: isolated', async () => {
    assert.equal((await d.ct.ping(a.ip, { count: 2, timeoutS: 1 })).received, 0, 'ov2 cannot reach ov1');
    // the control: from the same host (mh3) to the same container, ov1's c gets through
    assert.equal((await c.ct.ping(a.ip, { count: 2 })).received, 2, 'ov1 on mh3 reaches a');
    const srv = await d.ct.serveTcp(9001);
    const got = await a.ct.tcpConnect(b.ip, srv.port, 'to b, not d', 2000).catch((e: Error) => e.message);
    assert.notEqual(got, 'to b, not d', 'a connection to b\'s address never reaches d');
    // the control: with b serving the same port too, the same connection reaches b (and not d)
    const srvB = await b.ct.serveTcp(9001, { banner: 'b:' });
    assert.equal(await a.ct.tcpConnect(b.ip, srvB.port, 'to b, not d'), 'b:to b, not d');
    await srvB.stop();
    await srv.stop();
  });

  await t.test('trace: the path computed on the controller\'s flows agrees with what the packets did', async () => {
    type Hop = { host?: string; table?: string; kind?: string; vni?: number; from?: string; to?: string; flow?: string | null; owner?: string | null };
    type Answer = { computed: { arp: { target: string; mac: string | null }; hops: Hop[]; verdict: { result: string; endpoint?: string; host: string; table?: string; reason?: string } } };
    const id = async (name: string) => (await weft.call<{ id: string }[]>('GET', `/v1/endpoints?containerId=${lab!.o.id}-${name}`)).body[0]!.id;
    const net = (await weft.call<{ vni: number }>('GET', '/v1/networks/ov1')).body;
    const hostIp = (i: number) => hosts[i]!.ip;
    // a -> c, TCP as above: delivered to c on mh3, through the tunnel with ov1's VNI from mh1 to mh3
    const ac = await weft.call<Answer>('POST', '/v1/traces', { from: { endpoint: await id('a') }, to: { endpoint: await id('c') }, proto: 'tcp', dstPort: 9000 });
    assert.equal(ac.status, 200, JSON.stringify(ac.body));
    const v = ac.body.computed.verdict;
    assert.deepEqual([v.result, v.endpoint, v.host], ['delivered', await id('c'), 'mh3']);
    const tunnel = ac.body.computed.hops.filter((h) => h.kind === 'tunnel');
    assert.deepEqual(tunnel, [{ kind: 'tunnel', vni: net.vni, from: hostIp(0), to: hostIp(2) }]);
    const tables = ac.body.computed.hops.filter((h) => h.table).map((h) => `${h.host}/${h.table}`);
    assert.ok(tables.includes('mh1/spoofGuard') && tables.includes('mh3/l2Forwarding'), tables.join(' '));
    assert.ok(ac.body.computed.hops.every((h) => !h.table || (h.flow && h.owner)), 'every table lookup names the flow that matched and its owner');
    // d (ov2, same CIDR) -> a's address: no ov2 endpoint has it, dropped at l2Forwarding on mh3, as the ping showed
    const da = await weft.call<Answer>('POST', '/v1/traces', { from: { endpoint: await id('d') }, to: { ip: a.ip }, proto: 'icmp' });
    assert.equal(da.status, 200);
    assert.deepEqual([da.body.computed.verdict.result, da.body.computed.verdict.host, da.body.computed.verdict.table], ['dropped', 'mh3', 'l2Forwarding']);
    assert.match(da.body.computed.verdict.reason!, /no route/);
    // bad input names its field; an unknown endpoint is a 404
    const bad = await weft.call<{ field?: string }>('POST', '/v1/traces', { from: { endpoint: await id('a') }, to: { ip: '10.40.0.010' }, proto: 'icmp' });
    assert.deepEqual([bad.status, bad.body.field], [400, 'to.ip']);
    assert.equal((await weft.call('POST', '/v1/traces', { from: { endpoint: 'nosuch' }, to: { ip: a.ip }, proto: 'icmp' })).status, 404);
  });

  await t.test('flows grow with hosts, not remote endpoints', async () => {
    // counted in the settled state: nothing of the earlier attaches still on its way to mh1
    const f1 = (await waitStable(() => hosts[0].dumpFlows(), { what: 'mh1 flows before the attach' })).length;
    const e = await lab!.attach(1, 'e', 'ov1'); // more endpoints on mh2 in the same block add no flow on mh1
    const eMac = e.res.interfaces.find((x) => x.name === 'eth0')!.mac;
    assert.ok((await hosts[1].dumpFlows()).some((f) => f.includes(eMac)), 'e\'s own flows are on mh2');
    await a.ct.waitPing(e.ip, 10000); // mh1 already reaches e
    const f2 = await waitStable(() => hosts[0].dumpFlows(), { what: 'mh1 flows after the attach on mh2' });
    assert.equal(f2.length, f1);
    await lab!.detach(1, 'e', 'ov1', e.ct);
  });

  await t.test('detach removes the endpoint\'s flows on every host', async () => {
    await lab!.detach(1, 'b', 'ov1', b.ct);
    const blockB = (await weft.call<{ blocks: { cidr: string; host: string }[] }>('GET', '/v1/networks/ov1')).body.blocks.find((x) => x.host === 'mh2');
    assert.equal(blockB, undefined, 'mh2\'s empty block was released');
    for (const h of hosts) {
      await waitFor(async () => !(await h.dumpFlows()).some((f) => f.includes('10.40.0.64/26') || f.includes(b.res.interfaces[0].mac)), { what: `flows for b gone on ${h.name}` });
    }
    assert.equal((await a.ct.ping(b.ip, { count: 2, timeoutS: 1 })).received, 0);
    assert.equal((await a.ct.ping(c.ip, { count: 2 })).received, 2, 'the control: a still reaches c across hosts');
  });

  await t.test('deleting a host removes its tunnels elsewhere', async () => {
    await lab!.detach(2, 'c', 'ov1', c.ct);
    await lab!.detach(2, 'd', 'ov2', d.ct);
    assert.equal((await weft.call('DELETE', '/v1/hosts/mh3')).status, 204);
    for (const h of hosts.slice(0, 2)) {
      await waitFor(async () => !(await h.dumpFlows()).some((f) => f.includes(hosts[2].ip)), { what: `no tunnel to mh3 on ${h.name}` });
    }
  });
});
