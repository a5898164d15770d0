// BGP graceful restart across a leader change: three controllers on etcd,
// each on its own underlay address (the lab gives the extra two secondary
// addresses on the underlay bridge) and opening BGP from it (--bgp-source),
// and bird2 with one neighbor per controller (graceful restart on), as
// README.md "BGP in a cluster" tells a router to be configured. Only the
// leader speaks BGP. kill -9 the leader while bird's table is polled: bird
// keeps the old leader's routes (stale), the new leader's session (another
// neighbor) comes up with the Restart State bit and announces the same
// routes with End-of-RIB, so no block ever leaves bird's table; when the old
// leader's restart time runs out bird drops its stale copies and the new
// leader's stay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { MultiHostLab } from '../helpers/multihost-lab';
import { WeftProcess } from '../helpers/weft-process';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd';
import { Bird, birdAvailable } from '../helpers/bird';
import { sh } from '../helpers/ovs';
import { waitFor } from '../helpers/wait';

const SUBNET = '172.31.235.0/24';
const EXTRA = ['172.31.235.11', '172.31.235.12'];
const ROUTER_IP = '172.31.235.201';
const ROUTER_AS = 65001;
const WEFT_AS = 64512;
const RESTART_TIME = 8;
let etcd: EtcdCluster | undefined;
let lab: MultiHostLab | undefined;
let bird: Bird | undefined;
const extra: WeftProcess[] = [];

const args = (source: string) => ['--store', etcd!.url, '--tunnel-probe-interval', '0', '--bgp-asn', String(WEFT_AS), '--bgp-peer', `${ROUTER_IP}:${ROUTER_AS}`,
  '--bgp-restart-time', String(RESTART_TIME), '--bgp-source', source];

before(async () => {
  if (!etcdAvailable() || !birdAvailable()) return;
  etcd = await EtcdCluster.start(1);
  lab = await MultiHostLab.start({ id: 'gr', subnet: SUBNET, hosts: 2, phy: true, weftArgs: args('172.31.235.1') });
  if (!lab) return;
  for (const ip of EXTRA) {
    await sh('ip', ['addr', 'add', `${ip}/24`, 'dev', lab.underlay.name]);
    extra.push(await WeftProcess.start({ host: ip, args: args(ip) }));
  }
});
after(async () => {
  await bird?.stop();
  for (const w of extra) await w.stop().catch(() => undefined);
  await lab?.stop();
  await etcd?.stop();
});

type Health = { cluster?: { role: string } };
const role = async (w: WeftProcess): Promise<string | undefined> => {
  try { return ((await (await fetch(`${w.api}/v1/health`, { signal: AbortSignal.timeout(2000) })).json()) as Health).cluster?.role; } catch { return undefined; }
};
interface BgpPeer { state: string; gracefulRestart: { negotiated: boolean; restartState: boolean; endOfRibSent: boolean } }

test('graceful restart across a leader change: bird never loses a block', async (t) => {
  if (!etcd || !birdAvailable()) { t.skip('no etcd or bird2'); return; }
  if (!lab) { t.skip('no OVS'); return; }
  const wefts = [lab.weft, ...extra];
  const name = (w: WeftProcess) => `weft${wefts.indexOf(w) + 1}`;
  // every bridge dials all three controllers
  for (const h of lab.hosts) {
    for (const br of ['br-int', 'br-phy']) await h.vsctl('set-controller', br, ...wefts.map((w) => w.ofTarget));
    for (const uuid of (await h.vsctl('--bare', '--columns=_uuid', 'list', 'controller')).split(/\s+/).filter(Boolean)) await h.vsctl('set', 'controller', uuid, 'max_backoff=1000');
  }
  await lab.register();
  const leader = await waitFor(async () => { for (const w of wefts) if ((await role(w)) === 'leader') return w; return undefined; }, { what: 'a leader', timeoutMs: 15000 });
  const follower = wefts.find((w) => w !== leader)!;
  assert.equal((await follower.call('POST', '/v1/networks', { name: 'gr', cidr: '10.62.0.0/16', mode: 'routed' })).status, 201);
  const ep = [await lab.attach(0, 'a', 'gr', {}, { api: follower.api }), await lab.attach(1, 'b', 'gr', {}, { api: follower.api })];
  const blocks = (await follower.call<{ blocks: { cidr: string }[] }>('GET', '/v1/networks/gr')).body.blocks.map((b) => b.cidr);
  assert.equal(blocks.length, 2);

  const router = await lab.outsideMachine('bgprtr', ROUTER_IP);
  const b = Bird.start(router, ROUTER_IP, ROUTER_AS, wefts.map((w) => ({ name: name(w), ip: w.host, asn: WEFT_AS })), path.join(lab.tmp, 'bird'));
  bird = b;
  const peerOf = async (w: WeftProcess) => (await w.call<{ peers: BgpPeer[] }>('GET', '/v1/bgp')).body.peers[0];
  await waitFor(async () => (await peerOf(leader))?.gracefulRestart.endOfRibSent, { what: 'the leader\'s session, End-of-RIB sent', timeoutMs: 30000 });
  await waitFor(async () => { const r = await b.routes(name(leader)); return blocks.every((x) => r.has(x)); }, { what: 'bird learned the blocks from the leader', timeoutMs: 15000 });
  for (const w of wefts) if (w !== leader) assert.notEqual((await peerOf(w))?.state, 'established', `${name(w)}, a follower, speaks no BGP`);
  for (const e of ep) await router.waitPing(e.ip, 10000);

  // bird's whole table, sampled until stopped
  let on = true;
  const seen = { samples: 0, missing: [] as string[] };
  const polling = (async () => {
    while (on) {
      const r = await b.routes();
      seen.samples++;
      for (const x of blocks) if (!r.has(x)) seen.missing.push(`${x} at sample ${seen.samples}`);
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  let next: WeftProcess;
  try {
    await leader.kill();
    const alive = wefts.filter((w) => w !== leader);
    next = await waitFor(async () => { for (const w of alive) if ((await role(w)) === 'leader') return w; return undefined; }, { what: 'a new leader', timeoutMs: 15000 });
    await waitFor(() => b.count(name(leader), /graceful restart detected/i) === 1, { what: 'bird: the old leader\'s graceful restart', timeoutMs: 5000 });
    const s = await waitFor(async () => { const p = await peerOf(next); return p?.state === 'established' && p.gracefulRestart.endOfRibSent ? p : undefined; }, { what: 'the new leader\'s session, End-of-RIB sent', timeoutMs: 30000 });
    assert.deepEqual([s.gracefulRestart.negotiated, s.gracefulRestart.restartState], [true, true], 'a new leader opens as a restarted speaker');
    assert.match(await b.birdc('show', 'protocols', 'all', name(next)), /Neighbor capabilities[\s\S]*Restart recovery/, 'bird sees the Restart State bit');
    await waitFor(() => b.count(name(next), /Got END-OF-RIB/) >= 1, { what: 'bird got the new leader\'s End-of-RIB', timeoutMs: 10000 });
    await waitFor(async () => { const r = await b.routes(name(next)); return blocks.every((x) => r.has(x)); }, { what: 'bird has the blocks from the new leader', timeoutMs: 10000 });
    // the old leader's copies are stale until its restart time runs out, then gone; the new leader's stay
    await waitFor(async () => (await b.routes(name(leader))).size === 0, { what: 'the old leader\'s stale routes dropped after its restart time', timeoutMs: (RESTART_TIME + 10) * 1000 });
    const r = await b.routes();
    assert.ok(blocks.every((x) => r.has(x)), 'the blocks, from the new leader');
  } finally {
    on = false;
    await polling;
  }
  assert.ok(seen.samples > 20, `bird polled ${seen.samples} times`);
  assert.deepEqual(seen.missing, [], 'no block ever left bird\'s table');
  console.log(`# leader change: ${seen.samples} samples of bird's table through kill -9 of the leader and the old leader's restart time, none missing a block`);
  for (const e of ep) await router.waitPing(e.ip, 10000);
});
