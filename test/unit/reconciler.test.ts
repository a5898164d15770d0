// controller/reconciler.ts: a barrier that fails leaves what the switch
// holds unknown, so the next sync confirms again (sends a barrier even with
// nothing to send) before any flow counts as confirmed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Reconciler, flowKey } from '../../controller/reconciler';
import { containerFlows, FlowCache } from '../../apps/container-network';
import { objectId, categoryOf, objectIdOf, CATEGORY } from '../../controller/pipeline';
import { FakeTable } from '../helpers/fake-table';
import type { EndpointRec, NetworkRec } from '../../controller/resources';
import type { OfpMessage, Outgoing, FlowMod } from '../../southbound/codec';
import type { Connection } from '../../southbound/channel';

const net: NetworkRec = { id: 1, name: 'blue', cidr: '10.1.0.0/24', gateway: '10.1.0.1', mode: 'local', vni: 5000, blockSize: 26, vlan: null, mtu: 1500, createdAt: '' };
const ep = (id: string, ip: string, port: string): EndpointRec => ({
  id, containerId: id, ifName: 'eth0', host: 'h', network: 'blue', networkId: 1, portName: port, mac: `0a:01:0a:01:00:${ip.split('.')[3]!.padStart(2, '0')}`,
  ip, requestedIp: null, netns: null, state: 'pending', createdAt: '', readyAt: null,
});

/** A switch that applies flow-mods to a table; its barrier fails `failBarriers` times, then succeeds. */
function fakeConn(table: FakeTable) {
  const sent: OfpMessage[] = [];
  const state = { failBarriers: 0, barriers: 0 };
  const conn = {
    send(m: Outgoing) { sent.push(m as OfpMessage); if (m.type === 'flow_mod') table.apply({ ...m, xid: 0 } as FlowMod); return 1; },
    async barrier() {
      state.barriers++;
      if (state.failBarriers > 0) { state.failBarriers--; throw new Error('barrier timed out'); }
    },
    async multipart() {
      return [{ kind: 'flow', stats: table.flows.map((f) => ({ ...f, duration_sec: 0, duration_nsec: 0, idle_timeout: 0, hard_timeout: 0, flags: 0, packet_count: 0n, byte_count: 0n })) }];
    },
  } as unknown as Connection;
  return { conn, sent, state };
}

test('a failed barrier forces the next sync to confirm again', async () => {
  const table = new FakeTable();
  let endpoints = [ep('a', '10.1.0.2', 'pa')];
  const ports = new Map([['pa', 1], ['pb', 2]]);
  const source = { desiredFlows: () => containerFlows({ host: 'h', hosts: new Map(), networks: new Map([[1, net]]), endpoints, blocks: [], ofport: (n: string) => ports.get(n) }) };
  const { conn, sent, state } = fakeConn(table);
  const r = new Reconciler(() => conn, source, 1, pino({ level: 'silent' }));
  await r.fullSync('d');
  const keys = (fs: FlowMod[]) => new Set(fs.map(flowKey));
  const first = r.confirmedFlows('d');
  assert.equal(first.length, table.flows.length);

  // nothing changed and everything confirmed: no barrier at all
  let barriers = state.barriers;
  assert.deepEqual(await r.sync('d'), { added: 0, deleted: 0 });
  assert.equal(state.barriers, barriers, 'nothing to confirm');

  // a new endpoint; its barrier fails
  endpoints = [...endpoints, ep('b', '10.1.0.3', 'pb')];
  state.failBarriers = 1;
  await assert.rejects(r.sync('d'), /barrier timed out/);
  assert.deepEqual(r.confirmedFlows('d'), [], 'after a failed barrier nothing counts as confirmed');
  const wanted = source.desiredFlows();
  assert.equal(table.flows.length, wanted.length, 'the flows were sent all the same');

  // the next sync has nothing to send, yet it sends a barrier, and only then are the flows confirmed
  barriers = state.barriers;
  const mods = sent.filter((m) => m.type === 'flow_mod').length;
  assert.deepEqual(await r.sync('d'), { added: 0, deleted: 0 });
  assert.equal(state.barriers, barriers + 1, 'a barrier was sent to confirm again');
  assert.equal(sent.filter((m) => m.type === 'flow_mod').length, mods, 'no flow was resent');
  assert.deepEqual(keys(r.confirmedFlows('d')), keys(wanted), 'confirmed: every flow, the new endpoint\'s included');
  assert.ok(r.confirmedFlows('d').length > first.length);

  // and after that, quiet again
  barriers = state.barriers;
  await r.sync('d');
  assert.equal(state.barriers, barriers);
});

test('which endpoints have confirmed flows (readiness asks per endpoint) follows every sync: full, diff, a failed barrier, a detach', async () => {
  const table = new FakeTable();
  const all = ['a', 'b', 'c', 'd'].map((x, i) => ep(x, `10.1.0.${i + 2}`, `p${x}`));
  let endpoints = [all[0]!];
  const ports = new Map(all.map((e, i) => [e.portName, i + 1]));
  const cache = new FlowCache();
  const hosts = new Map(), networks = new Map([[1, net]]), blocks: never[] = [];
  const state = () => ({ host: 'h', hosts, networks, endpoints, blocks, ofport: (n: string) => ports.get(n), cache });
  // with a flow cache: diff syncs go by delta (touched keys), as in the product
  const source = { desiredFlows: () => containerFlows(state()), takeDelta: () => cache.take() };
  const { conn, state: sw } = fakeConn(table);
  const r = new Reconciler(() => conn, source, 1, pino({ level: 'silent' }));
  const check = (what: string) => {
    for (const e of all) {
      const id = objectId(e.id);
      const has = r.confirmedFlows('d').some((f) => categoryOf(f.cookie) === CATEGORY.endpoint && objectIdOf(f.cookie) === id);
      assert.equal(r.confirmsEndpoint('d', id), has, `${what}: endpoint ${e.id}`);
    }
  };
  await r.fullSync('d');
  check('after the full sync');
  assert.ok(r.confirmsEndpoint('d', objectId('a')));
  endpoints = all.slice(0, 3);
  await r.sync('d');
  check('two attached');
  assert.ok(r.confirmsEndpoint('d', objectId('c')));
  endpoints = [all[0]!, all[2]!, all[3]!];
  sw.failBarriers = 1;
  await assert.rejects(r.sync('d'));
  check('a failed barrier');
  assert.ok(!r.confirmsEndpoint('d', objectId('a')), 'nothing confirmed after a failed barrier');
  await r.sync('d');
  check('confirmed again');
  assert.ok(!r.confirmsEndpoint('d', objectId('b')), 'b detached');
  assert.ok(r.confirmsEndpoint('d', objectId('d')));
  endpoints = [all[3]!];
  await r.sync('d');
  check('two detached');
  assert.ok(r.diffKinds.delta > 0, 'some syncs applied a delta');
  r.forget('d');
  check('forgotten');
});

test('a barrier that fails again keeps the flows unconfirmed until one succeeds', async () => {
  const table = new FakeTable();
  let endpoints: EndpointRec[] = [];
  const ports = new Map([['pa', 1]]);
  const source = { desiredFlows: () => containerFlows({ host: 'h', hosts: new Map(), networks: new Map([[1, net]]), endpoints, blocks: [], ofport: (n: string) => ports.get(n) }) };
  const { conn, state } = fakeConn(table);
  const r = new Reconciler(() => conn, source, 1, pino({ level: 'silent' }));
  await r.fullSync('d');
  endpoints = [ep('a', '10.1.0.2', 'pa')];
  state.failBarriers = 2;
  await assert.rejects(r.sync('d'));
  await assert.rejects(r.sync('d'), 'the confirming barrier fails too');
  assert.deepEqual(r.confirmedFlows('d'), []);
  await r.sync('d');
  assert.ok(r.confirmedFlows('d').some((f) => f.match.some((m) => m.field === 'in_port' && m.value === 1)), 'the endpoint\'s flows are confirmed at last');
});

test('groups are desired state: added before the flows that use them, modified in place, deleted after; a full sync starts from none', async () => {
  const table = new FakeTable();
  const bucket = (port: number) => ({ weight: 1, watch_port: 0xffffffff, watch_group: 0xffffffff, actions: [{ type: 'output' as const, port }] });
  let groups = [{ group_id: 1, group_type: 1, buckets: [bucket(1), bucket(2)] }];
  const useGroup = (id: number) => ({ ...containerFlows({ host: 'h', hosts: new Map(), networks: new Map([[1, net]]), endpoints: [ep('a', '10.1.0.2', 'pa')], blocks: [], ofport: () => 1 })[0]!, priority: 7000 + id, instructions: [{ type: 'apply_actions' as const, actions: [{ type: 'group' as const, group_id: id }] }] });
  let flows = [useGroup(1)];
  const source = { desiredFlows: () => flows, desiredGroups: () => groups };
  const { conn, sent } = fakeConn(table);
  const r = new Reconciler(() => conn, source, 1, pino({ level: 'silent' }));
  const kinds = () => sent.splice(0).map((m) => (m.type === 'group_mod' ? `group ${['add', 'modify', 'delete'][m.command]} ${m.group_id}` : m.type === 'flow_mod' ? `flow ${m.command}` : m.type));
  await r.fullSync('d');
  // (then the deletes of other rounds' flows: one per round bit)
  assert.deepEqual(kinds().filter((k) => k !== 'barrier'), [`group delete ${0xfffffffc}`, 'group add 1', 'flow 0', ...Array(16).fill('flow 3')]);
  // unchanged: nothing sent
  await r.sync('d');
  assert.deepEqual(kinds(), []);
  // a bucket less: modified in place, the flow untouched
  groups = [{ group_id: 1, group_type: 1, buckets: [bucket(2)] }];
  await r.sync('d');
  assert.deepEqual(kinds(), ['group modify 1']);
  // a second group and its flow, the first one gone: add 2, flows, then delete 1 after its flow
  groups = [{ group_id: 2, group_type: 1, buckets: [bucket(3)] }];
  flows = [useGroup(2)];
  await r.sync('d');
  assert.deepEqual(kinds(), ['group add 2', 'flow 4', 'flow 0', 'group delete 1'], 'flow 4: DELETE_STRICT of the old flow, then the new one added');
});

test('with the source\'s deltas a sync sends only the changed flows, and ends where a comparison of every flow would', async () => {
  const { FlowCache } = await import('../../apps/container/context');
  const table = new FakeTable();
  const cache = new FlowCache();
  let endpoints = [ep('a', '10.1.0.2', 'pa'), ep('b', '10.1.0.3', 'pb')];
  const ports = new Map([['pa', 1], ['pb', 2], ['pc', 3]]);
  const hosts = new Map(), networks = new Map([[1, net]]), blocks: never[] = [];
  const state = () => ({ host: 'h', hosts, networks, endpoints, localEndpoints: endpoints, blocks, ofport: (n: string) => ports.get(n) });
  const source = {
    desiredFlows: () => containerFlows({ ...state(), cache }),
    takeDelta: () => cache.take(),
  };
  const { conn, sent } = fakeConn(table);
  const r = new Reconciler(() => conn, source, 1, pino({ level: 'silent' }));
  await r.fullSync('d');
  const scratch = () => new Set(containerFlows(state()).map(flowKey));
  const onSwitch = () => new Set(table.flows.map((f) => flowKey(f as unknown as FlowMod)));
  const mods = () => sent.filter((m) => m.type === 'flow_mod').length;

  // a third endpoint: its flows only
  let n0 = mods();
  const d0 = { ...r.diffKinds };
  endpoints = [...endpoints, ep('c', '10.1.0.4', 'pc')];
  const st1 = await r.sync('d');
  assert.equal(r.diffKinds.delta, d0.delta + 1, 'the sync applied a delta');
  assert.ok(st1.added > 0 && st1.added <= 4 && st1.deleted === 0, JSON.stringify(st1));
  assert.equal(mods() - n0, st1.added);
  assert.deepEqual(onSwitch(), scratch());
  assert.deepEqual(new Set(r.confirmedFlows('d').map(flowKey)), scratch());

  // one endpoint goes (two computations before the sync: the deltas merge), another's port moves
  endpoints = endpoints.filter((e) => e.id !== 'a');
  source.desiredFlows(); // a reader's computation between syncs (a scrape, a trace)
  ports.set('pb', 7);
  n0 = mods();
  const st2 = await r.sync('d');
  assert.equal(r.diffKinds.delta, d0.delta + 2);
  assert.ok(st2.deleted > 0 && st2.added > 0, JSON.stringify(st2));
  assert.deepEqual(onSwitch(), scratch(), 'a deleted, b moved: the switch holds exactly the desired flows');
  assert.deepEqual(new Set(r.confirmedFlows('d').map(flowKey)), scratch());
  // the bodies match too: a full comparison now sends nothing
  const full = new Reconciler(() => conn, { desiredFlows: () => containerFlows(state()) }, 1, pino({ level: 'silent' }));
  (full as unknown as { installed: Map<string, Map<string, FlowMod>> }).installed.set('d', new Map(r.confirmedFlows('d').map((f) => [flowKey(f), f])));
  n0 = mods();
  const st3 = await full.sync('d');
  assert.equal(mods() - n0, 0, `a full comparison finds nothing to send (${JSON.stringify(st3)})`);
});
