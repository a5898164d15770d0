// Live traces through br-phy on two emulated hosts (real OVS, br-phy
// programmed by Weft): a routed network's packet crosses tp1's br-phy, the
// underlay and tp2's br-phy into tp2's br-int and is observed on all four
// bridges as computed; a packet routed to an address outside the hosts goes
// to tp1's own IP stack, which is where the live trace stops it (caught when
// the host routes it back into br-phy); a masqueraded packet of a local
// network goes to the controller while its next hop is unresolved and out
// of the uplink once it is. Every answer agrees with the computed one after
// one injection, and no observation flow is left on either bridge.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MultiHostLab } from '../helpers/multihost-lab';
import { waitFor } from '../helpers/wait';

const CLIENT_IP = '172.31.239.200';
let lab: MultiHostLab | undefined;
before(async () => { lab = await MultiHostLab.start({ id: 'tp', subnet: '172.31.239.0/24', hosts: 2, phy: true, weftArgs: ['--tunnel-probe-interval', '0'] }); });
after(async () => { await lab?.stop(); });

interface Obs { host: string; bridge: string; table: string; event: string; port?: string }
interface Answer {
  computed: { verdict: { result: string; host: string; how?: string; endpoint?: string } };
  live: { injections: number; observed: Obs[]; verdict: { result: string; host: string; bridge?: string; how?: string; endpoint?: string } };
  agree: boolean;
  difference?: unknown;
}

const TRACE_COOKIE = 'cookie=0x40000000000/0xff0000000000';

test('live traces through br-phy', async (t) => {
  if (!lab) { t.skip('no OVS'); return; }
  const { hosts, weft } = lab;
  await lab.register();
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'rt', cidr: '10.61.0.0/16', mode: 'routed' })).status, 201);
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'loc', cidr: '10.62.0.0/24' })).status, 201);
  const a = await lab.attach(0, 'a', 'rt');
  const c = await lab.attach(1, 'c', 'rt');
  const l = await lab.attach(0, 'l', 'loc');
  const client = await lab.outsideMachine('client', CLIENT_IP);
  await a.ct.waitPing(c.ip, 10000);
  const id = async (name: string) => (await weft.call<{ id: string }[]>('GET', `/v1/endpoints?containerId=tp-${name}`)).body[0]!.id;
  const trace = async (from: string, to: object, proto = 'tcp') => {
    const r = await weft.call<Answer>('POST', '/v1/traces', { from: { endpoint: await id(from) }, to, proto, ...(proto === 'icmp' ? {} : { dstPort: 80 }), live: true });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const path = (r: Answer) => r.live.observed.map((o) => `${o.host}/${o.bridge}/${o.table}:${o.event}`);
  const noTraceFlows = async () => {
    for (const h of hosts) for (const br of ['br-int', 'br-phy']) {
      assert.deepEqual((await h.ofctlOn(br, '--no-stats', 'dump-flows', TRACE_COOKIE)).split('\n').filter((x) => x.includes('cookie=')), [], `no observation flow left on ${h.name} ${br}`);
    }
  };

  await t.test('routed, host to host: observed on both br-phys and delivered on tp2, as computed', async () => {
    const r = await trace('a', { endpoint: await id('c') });
    assert.deepEqual([r.live.verdict.result, r.live.verdict.host, r.live.verdict.endpoint], ['delivered', 'tp2', await id('c')]);
    const p = path(r);
    for (const hop of ['tp1/br-phy/phyIngress:forwarded', 'tp1/br-phy/phyNat:left', 'tp2/br-phy/phyIngress:forwarded', 'tp2/br-int/l2Forwarding:delivered']) assert.ok(p.includes(hop), `${hop} in ${p.join(' ')}`);
    assert.ok(p.indexOf('tp1/br-phy/phyNat:left') < p.indexOf('tp2/br-phy/phyIngress:forwarded'), 'in path order');
    assert.equal(r.agree, true, JSON.stringify(r.difference));
    assert.equal(r.live.injections, 1);
    await noTraceFlows();
  });

  await t.test('routed to an outside address: left to tp1\'s own IP stack, and stopped there', async () => {
    const r = await trace('a', { ip: CLIENT_IP });
    assert.deepEqual([r.computed.verdict.result, r.computed.verdict.how], ['left', 'to the host\'s own IP stack']);
    assert.deepEqual([r.live.verdict.result, r.live.verdict.host, r.live.verdict.how], ['left', 'tp1', 'to the host\'s own IP stack']);
    assert.equal(path(r).at(-1), 'tp1/br-phy/phyNat:left');
    assert.equal(r.live.observed.at(-1)!.port, 'LOCAL');
    assert.equal(r.agree, true, JSON.stringify(r.difference));
    assert.equal(r.live.injections, 1);
    await noTraceFlows();
  });

  await t.test('masqueraded (local network): to the controller while the next hop is unknown, then out of the uplink', async () => {
    const r = await trace('l', { ip: CLIENT_IP }, 'udp');
    if (r.computed.verdict.how === `to the controller from br-phy`) {
      assert.deepEqual([r.live.verdict.result, r.live.verdict.how], ['left', 'to the controller from br-phy']);
      assert.equal(r.agree, true, JSON.stringify(r.difference));
    }
    // the controller resolves the next hop (the trace's own packet-in asked for it, as real traffic would)
    await l.ct.waitPing(CLIENT_IP, 10000);
    const again = await trace('l', { ip: CLIENT_IP }, 'udp');
    assert.equal(again.live.verdict.result, 'left');
    assert.match(again.live.verdict.how!, /^out of eth0$/);
    assert.equal(again.agree, true, JSON.stringify(again.difference));
    assert.equal(again.live.injections, 1, 'the exit by the uplink ends the trace: nothing else saw it');
    await noTraceFlows();
  });

  await t.test('real traffic still flows', async () => {
    assert.equal((await a.ct.ping(c.ip, { count: 3 })).received, 3);
    await waitFor(async () => (await l.ct.ping(CLIENT_IP, { count: 1 })).received === 1, { what: 'l reaches the client', timeoutMs: 5000 });
  });
  void client;
});
