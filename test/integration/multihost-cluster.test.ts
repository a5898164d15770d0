// Three controllers on a three-member etcd (loopback ports), two emulated
// hosts whose br-int connects to all three controllers. kill -9 the leader
// while a container on one host pings one on the other and attaches stream
// in through the API: no ping is lost, every attach completes (a client
// moves on to another controller when one fails, as a CNI retry would), no
// address is given out twice, and a follower takes over with a higher
// generation. Then one etcd member is lost (everything works), then the
// quorum (installed flows forward, writes get 503), then it comes back
// (writes work, a new container is reachable).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { MultiHostLab } from '../helpers/multihost-lab';
import { WeftProcess } from '../helpers/weft-process';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd';
import { waitFor } from '../helpers/wait';

const SUBNET = '172.31.234.0/24';
let etcd: EtcdCluster | undefined;
let lab: MultiHostLab | undefined;
const extra: WeftProcess[] = [];

before(async () => {
  if (!etcdAvailable()) return;
  etcd = await EtcdCluster.start(3);
  const args = ['--store', etcd.url, '--tunnel-probe-interval', '0'];
  lab = await MultiHostLab.start({ id: 'cl', subnet: SUBNET, hosts: 2, mtu: 1600, tunnel: true, weftArgs: args });
  if (!lab) return;
  for (let i = 0; i < 2; i++) extra.push(await WeftProcess.start({ host: lab.underlay.ip, args }));
});
after(async () => {
  for (const w of extra) await w.stop().catch(() => undefined);
  await lab?.stop();
  await etcd?.stop();
});

type Health = { status: string; cluster?: { role: string; generation: string } };
const health = async (w: WeftProcess): Promise<Health | undefined> => {
  try { return (await (await fetch(`${w.api}/v1/health`, { signal: AbortSignal.timeout(2000) })).json()) as Health; } catch { return undefined; }
};

test('three controllers on etcd: leader crash, etcd member loss, quorum loss', async (t) => {
  if (!etcd) { t.skip('no /usr/bin/etcd'); return; }
  if (!lab) { t.skip('no OVS'); return; }
  const wefts = [lab.weft, ...extra];
  const alive = new Set(wefts);
  // every bridge dials all three controllers
  for (const h of lab.hosts) {
    await h.vsctl('set-controller', 'br-int', ...wefts.map((w) => w.ofTarget));
    for (const uuid of (await h.vsctl('--bare', '--columns=_uuid', 'list', 'controller')).split(/\s+/).filter(Boolean)) await h.vsctl('set', 'controller', uuid, 'max_backoff=1000');
  }
  await lab.register();
  for (const w of wefts) await waitFor(async () => (await w.call<unknown[]>('GET', '/v1/switches')).body.length === 2, { what: `both bridges on ${w.api}` });
  const leaderOf = async () => {
    for (const w of alive) { const h = await health(w); if (h?.cluster?.role === 'leader') return { w, generation: BigInt(h.cluster.generation) }; }
    return undefined;
  };
  const first = await waitFor(leaderOf, { what: 'a leader' });
  // the network is made through a follower: any controller takes writes
  const follower = wefts.find((w) => w !== first.w)!;
  assert.equal((await follower.call('POST', '/v1/networks', { name: 'cn', cidr: '10.61.0.0/16', mode: 'overlay', blockSize: 28 })).status, 201);
  const a = await lab.attach(0, 'a', 'cn', {}, { api: follower.api });
  const b = await lab.attach(1, 'b', 'cn', {}, { api: follower.api });
  await a.ct.waitPing(b.ip, 15000);

  /** An attach through the API that moves on to another controller when one fails or answers 503 (retries are idempotent). */
  const attach = async (id: string, host: string): Promise<string> => {
    let last = '';
    for (let i = 0, deadline = Date.now() + 30000; Date.now() < deadline; i++) {
      const w = [...alive][i % alive.size]!;
      try {
        const r = await w.call<{ ip: string }>('POST', '/v1/endpoints', { containerId: id, ifName: 'eth0', host, network: 'cn' });
        if (r.status === 201 || r.status === 200) return r.body.ip;
        last = `${r.status} ${JSON.stringify(r.body)}`;
        if (r.status !== 503) throw new Error(`attach ${id}: ${last}`);
      } catch (e) {
        if ((e as Error).message.startsWith('attach')) throw e;
        last = (e as Error).message;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`attach ${id} never completed: ${last}`);
  };

  await t.test('kill -9 the leader while pinging and attaching: no ping lost, every attach completes, no address twice', async () => {
    const flowsBefore = (await lab!.hosts[0]!.dumpFlows()).length;
    const ping = a.ct.ping(b.ip, { count: 120, intervalS: 0.05, timeoutS: 1 });
    const attaches: Promise<string>[] = [];
    let elected: Promise<{ w: WeftProcess; generation: bigint; ms: number }> | undefined;
    for (let i = 0; i < 30; i++) {
      attaches.push(attach(`cl-s${i}`, lab!.hostName(i % 2)));
      if (i === 10) {
        alive.delete(first.w);
        await first.w.kill();
        const t0 = Date.now();
        elected = waitFor(leaderOf, { what: 'a new leader', timeoutMs: 10000, intervalMs: 20 }).then((l) => ({ ...l, ms: Date.now() - t0 }));
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const next = await elected!;
    console.log(`# failover: a new leader ${next.ms} ms after kill -9 (as its /v1/health reports; lease TTL 1 s), generation ${first.generation} -> ${next.generation}`);
    assert.ok(next.generation > first.generation, 'the new leader has a higher generation');
    const ips = await Promise.all(attaches);
    const p = await ping;
    assert.equal(p.received, p.sent, `pings lost across the leader crash: ${p.sent - p.received} of ${p.sent}`);
    const all = [a.ip, b.ip, ...ips];
    assert.equal(new Set(all).size, all.length, 'an address was given out twice');
    const w = [...alive][0]!;
    const eps = (await w.call<{ containerId: string; ip: string }[]>('GET', '/v1/endpoints')).body;
    assert.equal(eps.length, 32);
    assert.equal(new Set(eps.map((e) => e.ip)).size, 32);
    // the new leader's full sync kept the correct flows (and dropped none of a's)
    await waitFor(async () => (await lab!.hosts[0]!.dumpFlows()).length >= flowsBefore, { what: 'flows on cl1 after the re-sync' });
    // a container attached through the new cluster is reachable: a real CNI ADD whose "api" lists every
    // controller, the dead one first (the plugin moves on to the next that answers)
    const c = await lab!.attach(1, 'c', 'cn', {}, { api: [first.w.api, ...[...alive].map((w) => w.api)].join(',') });
    await a.ct.waitPing(c.ip, 15000);
  });

  await t.test('one etcd member lost: attaches and traffic go on', async () => {
    await etcd!.kill(0);
    const ip = await attach('cl-m1', lab!.hostName(0));
    assert.ok(ip);
    assert.equal((await a.ct.ping(b.ip, { count: 10, intervalS: 0.05 })).received, 10);
  });

  await t.test('quorum lost: installed flows forward, writes get 503; quorum back: writes work, new containers are reachable', async () => {
    await etcd!.kill(1);
    const w = [...alive][0]!;
    await waitFor(async () => (await health(w))?.status === 'degraded', { what: 'the store degraded' });
    const ping = a.ct.ping(b.ip, { count: 40, intervalS: 0.05 });
    for (const x of alive) {
      const r = await x.call<{ error: string }>('POST', '/v1/endpoints', { containerId: 'cl-nq', ifName: 'eth0', host: lab!.hostName(0), network: 'cn' });
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.error, 'store_unavailable');
    }
    assert.equal((await w.call<unknown[]>('GET', '/v1/endpoints')).body.length, 34, 'reads go on from the replica');
    const p = await ping;
    assert.equal(p.received, p.sent, 'installed flows stopped forwarding without a quorum');
    await etcd!.restart(0);
    await etcd!.restart(1);
    await waitFor(async () => (await health(w))?.status === 'ok', { what: 'the store back', timeoutMs: 15000 });
    await waitFor(leaderOf, { what: 'a leader after the quorum came back', timeoutMs: 10000 });
    const d = await lab!.attach(0, 'd', 'cn', {}, { api: w.api });
    await b.ct.waitPing(d.ip, 15000);
    assert.equal((await a.ct.ping(b.ip, { count: 10, intervalS: 0.05 })).received, 10);
  });
});
