// BGP graceful restart (RFC 4724) against bird2 (`graceful restart on`):
// two emulated hosts with a routed network, bird2 in a router namespace on
// the underlay learning the host blocks from Weft's speaker. Weft is killed
// with kill -9 while `birdc show route` is polled: bird keeps the routes
// (stale) the whole time, the router still reaches the containers through
// them (OVS keeps the flows: the Forwarding State bit), Weft comes back with
// the Restart State bit, announces the table again and ends it with
// End-of-RIB, which bird logs. Control: a Weft without graceful restart
// (--bgp-restart-time 0) killed the same way: bird drops the routes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { MultiHostLab } from '../helpers/multihost-lab';
import { Bird, birdAvailable } from '../helpers/bird';
import { waitFor } from '../helpers/wait';

const SUBNET = '172.31.235.0/24';
const ROUTER_IP = '172.31.235.201';
const ROUTER_AS = 65001;
const WEFT_AS = 64512;
const RESTART_TIME = 60;
const BGP_ARGS = ['--bgp-asn', String(WEFT_AS), '--bgp-peer', `${ROUTER_IP}:${ROUTER_AS}`, '--bgp-restart-time', String(RESTART_TIME)];
let lab: MultiHostLab | undefined;
let bird: Bird | undefined;
before(async () => {
  if (!birdAvailable()) return;
  lab = await MultiHostLab.start({ id: 'gr', subnet: SUBNET, hosts: 2, phy: true, weftArgs: BGP_ARGS });
});
after(async () => {
  await bird?.stop();
  await lab?.stop();
});

interface BgpPeer { state: string; advertised: number; gracefulRestart: { negotiated: boolean; restartTime: number | null; restartState: boolean; peerRestartTime: number | null; endOfRibSent: boolean } }

test('graceful restart: bird keeps Weft\'s routes through a kill -9 and its return; without it they go', async (t) => {
  if (!birdAvailable()) { assert.ok(!process.env.CI, 'bird2 must be installed in CI'); t.skip('no bird2'); return; }
  if (!lab) { t.skip('no OVS'); return; }
  const { hosts, weft } = lab;
  await lab.register();
  assert.equal((await weft.call('POST', '/v1/networks', { name: 'gr', cidr: '10.62.0.0/16', mode: 'routed' })).status, 201);
  const ep = [await lab.attach(0, 'a', 'gr'), await lab.attach(1, 'b', 'gr')];
  const blocks = (await weft.call<{ blocks: { cidr: string; host: string }[] }>('GET', '/v1/networks/gr')).body.blocks;
  assert.equal(blocks.length, 2);

  const router = await lab.outsideMachine('bgprtr', ROUTER_IP);
  const b = Bird.start(router, ROUTER_IP, ROUTER_AS, [{ name: 'weft', ip: lab.underlay.ip, asn: WEFT_AS }], path.join(lab.tmp, 'bird'));
  bird = b;
  const birdc = (...cmd: string[]) => b.birdc(...cmd);
  /** The prefixes bird has from Weft. */
  const birdRoutes = () => b.routes('weft');
  const all = (r: Set<string>) => blocks.every((x) => r.has(x.cidr));
  const peer = async () => (await weft.call<{ peers: BgpPeer[] }>('GET', '/v1/bgp')).body.peers[0];
  const endOfRibs = () => b.count('weft', /Got END-OF-RIB/);

  // ---- the first session: graceful restart negotiated, End-of-RIB after the table
  await waitFor(async () => { const p = await peer(); return p?.state === 'established' && p.gracefulRestart.endOfRibSent; }, { what: 'session with bird, End-of-RIB sent', timeoutMs: 30000 });
  const first = (await peer())!;
  assert.deepEqual(first.gracefulRestart, { negotiated: true, restartTime: RESTART_TIME, restartState: false, peerRestartTime: first.gracefulRestart.peerRestartTime, endOfRibSent: true },
    'a first start (fresh database): no Restart State bit');
  assert.ok((first.gracefulRestart.peerRestartTime ?? 0) > 0, 'bird advertises its own restart time');
  await waitFor(async () => all(await birdRoutes()), { what: 'bird learned both blocks', timeoutMs: 15000 });
  await waitFor(() => endOfRibs() >= 1, { what: 'bird got End-of-RIB', timeoutMs: 10000 });
  const proto = await birdc('show', 'protocols', 'all', 'weft');
  assert.match(proto, /Neighbor capabilities[\s\S]*Graceful restart[\s\S]*Restart time: 60[\s\S]*AF preserved: ipv4/, proto);
  assert.doesNotMatch(proto, /Restart recovery/, 'bird sees no Restart State bit on a first start');
  for (const e of ep) await router.waitPing(e.ip, 10000);

  /** Samples bird's table until stopped: how often the blocks were all there, and what was missing when not. */
  const poll = () => {
    let on = true;
    const seen = { samples: 0, missing: [] as string[] };
    const done = (async () => {
      while (on) {
        const r = await birdRoutes();
        seen.samples++;
        for (const x of blocks) if (!r.has(x.cidr)) seen.missing.push(`${x.cidr} at sample ${seen.samples}`);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    return { seen, stop: async () => { on = false; await done; } };
  };

  await t.test('kill -9: the routes stay (stale) and forward; Weft comes back restarted and re-announces with End-of-RIB', async () => {
    const p = poll();
    try {
      const eorBefore = endOfRibs();
      await weft.kill();
      await waitFor(async () => !/Established/.test(await birdc('show', 'protocols', 'weft')), { what: 'bird saw the session go', timeoutMs: 10000 });
      await waitFor(() => b.count('weft', /graceful restart detected/i) === 1, { what: 'bird: neighbor graceful restart', timeoutMs: 5000 });
      assert.ok(all(await birdRoutes()), 'bird still has both blocks with Weft down');
      // forwarding goes on without a controller: the stale routes lead to the hosts, whose flows stayed
      for (const e of ep) assert.ok((await router.ping(e.ip, { count: 2 })).received > 0, `${e.ip} reachable while Weft is down`);
      await weft.spawn();
      await waitFor(async () => { const s = await peer(); return s?.state === 'established' && s.gracefulRestart.endOfRibSent && s; }, { what: 'session again, End-of-RIB sent', timeoutMs: 30000 });
      const again = (await peer())!;
      assert.equal(again.gracefulRestart.restartState, true, 'the Restart State bit: this controller had a session before its restart');
      assert.equal(again.advertised, blocks.length);
      assert.match(await birdc('show', 'protocols', 'all', 'weft'), /Neighbor capabilities[\s\S]*Restart time: 60\s+Restart recovery/, 'bird sees the Restart State bit');
      await waitFor(() => endOfRibs() > eorBefore, { what: 'bird got the new End-of-RIB', timeoutMs: 10000 });
      await waitFor(() => b.count('weft', /graceful restart done/i) === 1, { what: 'bird: graceful restart done', timeoutMs: 10000 });
      assert.ok(all(await birdRoutes()), 'both blocks after the restart (announced again, not stale)');
    } finally {
      await p.stop();
    }
    assert.ok(p.seen.samples > 10, `bird polled ${p.seen.samples} times`);
    assert.deepEqual(p.seen.missing, [], 'the routes never left bird\'s table');
    console.log(`# graceful restart: ${p.seen.samples} samples of bird's table through kill -9 and restart, none missing a block`);
    for (const e of ep) await router.waitPing(e.ip, 10000);
  });

  await t.test('control: without graceful restart (--bgp-restart-time 0) a kill -9 makes bird drop the routes', async () => {
    // a session without the capability: a restart with --bgp-restart-time 0
    await weft.kill();
    await weft.spawn(BGP_ARGS.slice(0, -2).concat(['--bgp-restart-time', '0']));
    await waitFor(async () => { const s = await peer(); return s?.state === 'established' && s.gracefulRestart.endOfRibSent && s.gracefulRestart.restartTime === null; },
      { what: 'session without graceful restart', timeoutMs: 30000 });
    await waitFor(async () => all(await birdRoutes()), { what: 'bird has both blocks', timeoutMs: 15000 });
    await weft.kill();
    await waitFor(async () => (await birdRoutes()).size === 0, { what: 'bird dropped Weft\'s routes', timeoutMs: 10000 });
    assert.ok(!/Established/.test(await birdc('show', 'protocols', 'weft')));
  });
});
