// Several controllers on one etcd (a real one, on loopback): one leader
// elected by a lease, its generation the etcd revision of its election;
// the leader asks a switch for the master role, the others for slave with
// the leader's generation, and only the leader sends flows. When the
// leader crashes (its lease runs out) another takes over with a higher
// generation and re-syncs. The switch is a fake that answers role requests
// as OVS does (stale generations refused).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startController } from '../helpers/controller';
import { FakeSwitch, FakeRoleState, fakePort } from '../helpers/fake-switch';
import { EtcdCluster, etcdAvailable } from '../helpers/etcd';
import { waitFor } from '../helpers/wait';
import { EtcdStore } from '../../controller/store-etcd';
import { OFPCR_ROLE_MASTER, OFPCR_ROLE_SLAVE } from '../../controller/cluster';

const skip = etcdAvailable() ? false : 'no /usr/bin/etcd (apt-get install etcd-server)';
let etcd: EtcdCluster;
before(async () => { if (!skip) etcd = await EtcdCluster.start(1); });
after(async () => { await etcd?.stop(); });

const DPID = 0x00000000000000c1n;
type Ctl = Awaited<ReturnType<typeof startController>>;
const start = (prefix: string) => startController({ etcd: { endpoints: etcd.endpoints, prefix }, apps: 'none', tunnelProbeInterval: 0, db: ':memory:' });
type RoleMsg = { role: number; generation_id: bigint };
const R = (m: unknown) => m as RoleMsg;
const roleReqs = (s: FakeSwitch) => s.received.filter((m) => m.type === 'role_request').map(R);
const flowMods = (s: FakeSwitch) => s.received.filter((m) => m.type === 'flow_mod').length;

test('one leader by lease; master and slave role requests with its generation; only the leader programs; a crash hands over to a higher generation', { skip }, async () => {
  const ctls: Ctl[] = [];
  const sws: FakeSwitch[] = [];
  try {
    const a = await start('/c1/');
    ctls.push(a);
    await waitFor(() => a.cluster!.status().role === 'leader', { what: 'a elected' });
    const b = await start('/c1/');
    ctls.push(b);
    await waitFor(() => b.cluster!.status().role === 'follower', { what: 'b follower' });
    const gA = BigInt(a.cluster!.status().generation);
    assert.ok(gA > 0n);
    assert.equal(b.cluster!.status().generation, gA.toString(), "a follower knows the leader's generation");
    assert.notEqual(a.round, b.round, 'two controllers share a flow round');

    // the bridge, connected to both (as OVS with two controller targets)
    const roles: FakeRoleState = { refused: 0 };
    const base = { dpid: DPID, ports: [fakePort(1, 'tun0')], answerFlowStats: true, roles };
    const sA = await FakeSwitch.connect({ ...base, port: a.ofPort });
    const sB = await FakeSwitch.connect({ ...base, port: b.ofPort });
    sws.push(sA, sB);
    await sA.waitFor('role_request', (m) => R(m).role === OFPCR_ROLE_MASTER && R(m).generation_id === gA);
    await sB.waitFor('role_request', (m) => R(m).role === OFPCR_ROLE_SLAVE && R(m).generation_id === gA);
    assert.equal(roles.master, sA);

    // a host registered through the follower: the leader programs its bridge, the follower sends nothing
    const r = await b.api!.inject({ method: 'POST', url: '/v1/hosts', headers: { authorization: `Bearer ${b.adminToken}` }, payload: { name: 'h1', dpid: DPID.toString(16).padStart(16, '0'), underlayIp: '172.31.234.31' } });
    assert.equal(r.statusCode, 201, r.body);
    await waitFor(() => flowMods(sA) > 0, { what: 'the leader programs the bridge' });
    assert.equal(flowMods(sB), 0, 'a follower sent flows');
    const health = (await b.api!.inject({ method: 'GET', url: '/v1/health' })).json() as { cluster: { role: string; generation: string } };
    assert.deepEqual(health.cluster, { role: 'follower', generation: gA.toString() });

    // the leader crashes: its lease runs out, b is elected with a higher generation, takes the master role and re-syncs
    const t0 = Date.now();
    sA.close();
    await (a.store as EtcdStore).link.abandon();
    await a.cleanup().catch(() => undefined);
    ctls.shift();
    await waitFor(() => b.cluster!.status().role === 'leader', { what: 'b elected', timeoutMs: 5000 });
    const gB = BigInt(b.cluster!.status().generation);
    await sB.waitFor('role_request', (m) => R(m).role === OFPCR_ROLE_MASTER && R(m).generation_id === gB);
    await waitFor(() => flowMods(sB) > 0, { what: 'the new leader re-syncs the bridge' });
    console.log(`# takeover: ${Date.now() - t0} ms from the crash to the new leader's first flow (lease TTL 1 s)`);
    assert.ok(gB > gA, `generation ${gB} after ${gA}`);
    assert.equal(roles.master, sB);
    assert.equal(roles.refused, 0);
    assert.equal(roles.generation, gB);
    const rs = roleReqs(sB).map((m) => m.role);
    assert.equal(rs.at(-1), OFPCR_ROLE_MASTER);
    assert.ok(rs.slice(0, -1).every((x) => x === OFPCR_ROLE_SLAVE), `roles asked: ${rs.join(',')}`);
  } finally {
    for (const s of sws) s.close();
    for (const c of ctls) await c.cleanup().catch(() => undefined);
  }
});
