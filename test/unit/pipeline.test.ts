// The pipeline declaration: the builder enforces it, docs match it, and the
// reconciler installs a new round then removes older ones (fake switch).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { PIPELINE, flow, phyFlow, PipelineError, cookie, roundOf, missFlows, BR_INT, BR_PHY, BR_PHY_TABLES, Pipeline, TableDecl } from '../../controller/pipeline';
import { Reconciler } from '../../controller/reconciler';
import { containerFlows } from '../../apps/container-network';
import { repoRoot } from '../helpers/paths';
import { FakeTable } from '../helpers/fake-table';
import type { EndpointRec, NetworkRec } from '../../controller/resources';
import { OfpMessage, Outgoing, FlowMod, flowMod } from '../../southbound/codec';
import type { Connection } from '../../southbound/channel';

test('the builder refuses fields and gotos a table does not declare', () => {
  assert.throws(() => flow('classifier', { category: 'pipeline', id: 0 }).match('ipv4_src', '1.2.3.4'), PipelineError);
  assert.throws(() => flow('l2Forwarding', { category: 'pipeline', id: 0 }).goto('classifier'), /may not go to/);
  assert.equal(missFlows().length, PIPELINE.length);
  assert.equal(roundOf(cookie(7, 'endpoint', 0xdeadbeef)), 7);
});

/** How docs/pipeline.md writes a table's miss behaviour. */
const missText = (m: TableDecl['miss']) => (typeof m === 'string' ? m : `goto ${m.goto}`);

test('docs/pipeline.md lists every table of both bridges with its id, matches, sets, next tables, miss and bands', () => {
  const doc = fs.readFileSync(path.join(repoRoot(), 'docs/pipeline.md'), 'utf8').split('\n');
  for (const p of [BR_INT, BR_PHY] as Pipeline<string>[]) {
    for (const t of p.tables) {
      const row = doc.find((l) => l.startsWith(`| ${p.tableId[t.name]} | ${t.name} |`));
      assert.ok(row, `${p.bridge}: row for ${t.name}`);
      const cells = row!.split('|').map((c) => c.trim());
      assert.equal(cells[3], t.matches.join(', '), `${p.bridge} ${t.name}: matches in docs`);
      assert.equal(cells[4], t.sets.join(', '), `${p.bridge} ${t.name}: sets in docs`);
      assert.equal(cells[5], t.next.length ? t.next.join(', ') : '—', `${p.bridge} ${t.name}: next tables in docs`);
      assert.equal(cells[6], missText(t.miss), `${p.bridge} ${t.name}: miss in docs`);
      assert.equal(cells[7], Object.entries(t.bands).sort((a, b) => a[1] - b[1]).map(([k, v]) => `${k} ${v}`).join(', '), `${p.bridge} ${t.name}: bands in docs`);
    }
  }
});

test('the builders refuse what a table does not declare: writes, continuations, bare priorities', () => {
  assert.throws(() => flow('spoofGuard', { category: 'pipeline', id: 0 }).actions({ type: 'set_field', field: { field: 'eth_dst', value: '0e:00:00:00:00:01' } }), /does not set eth_dst/);
  assert.throws(() => flow('l2Forwarding', { category: 'pipeline', id: 0 }).band('exact'), /no priority band exact/);
  assert.throws(() => flow('l2Forwarding', { category: 'pipeline', id: 0 }).build(), /needs a priority band/);
  // br-phy: ct recirculation and resubmit are continuations, checked like goto_table
  assert.throws(() => phyFlow('phyNextHop', { category: 'pipeline', id: 0 }).actions({ type: 'resubmit', in_port: 0xfff8, table: BR_PHY.tableId.phyNat }), /may not go to phyNat/);
  assert.throws(() => phyFlow('phyNat', { category: 'pipeline', id: 0 }).actions({ type: 'ct', flags: 1, zone: 1, recirc_table: 255, alg: 0, actions: [{ type: 'reg_move', src: 'in_port', src_ofs: 0, dst: 'ct_mark', dst_ofs: 0, n_bits: 16 }] }), /does not set ct_mark/);
  const ok = phyFlow('phyIngress', { category: 'pipeline', id: 0 }).band('fromBrInt').match('in_port', 1).match('eth_type', 0x0800)
    .actions({ type: 'ct', flags: 0, zone: 1, recirc_table: BR_PHY.tableId.phyNat, alg: 0, actions: [] }).build();
  assert.equal(ok.priority, BR_PHY_TABLES[0].bands.fromBrInt);
  assert.deepEqual(BR_PHY.missFlows().map((f) => f.table_id), [0, 1, 2]);
  // OVS refuses ct in a flow that does not match IP: so does the builder
  assert.throws(() => flow('policyCommit', { category: 'pipeline', id: 0 }).band('fromEndpointNew')
    .actions({ type: 'ct', flags: 1, zone: 1, recirc_table: 255, alg: 0, actions: [] }).build(), /ct needs an eth_type match/);
});

/** A switch that applies flow-mods to a FakeTable and answers flow stats and barriers. */
function fakeConn(table: FakeTable, sent: OfpMessage[]): Connection {
  return {
    send(m: Outgoing) { sent.push(m as OfpMessage); if (m.type === 'flow_mod') table.apply({ ...m, xid: 0 } as FlowMod); return 1; },
    async barrier() { /* applied synchronously */ },
    async multipart() {
      return [{ kind: 'flow', stats: table.flows.map((f) => ({ ...f, duration_sec: 0, duration_nsec: 0, idle_timeout: 0, hard_timeout: 0, flags: 0, packet_count: 0n, byte_count: 0n })) }];
    },
  } as unknown as Connection;
}

const net: NetworkRec = { id: 1, name: 'blue', cidr: '10.1.0.0/24', gateway: '10.1.0.1', mode: 'local', vni: 5000, blockSize: 26, vlan: null, mtu: 1500, createdAt: '' };
const ep = (id: string, ip: string, port: string): EndpointRec => ({
  id, containerId: id, ifName: 'eth0', host: 'h', network: 'blue', networkId: 1, portName: port, mac: `0a:01:0a:01:00:${ip.split('.')[3].padStart(2, '0')}`,
  ip, requestedIp: null, netns: null, state: 'pending', createdAt: '', readyAt: null,
});

test('reconciler: full sync installs the round and deletes older rounds; then minimal diffs', async () => {
  const table = new FakeTable();
  let endpoints = [ep('a', '10.1.0.2', 'pa'), ep('b', '10.1.0.3', 'pb')];
  const ports = new Map([['pa', 1], ['pb', 2], ['pc', 3]]);
  const source = { desiredFlows: () => containerFlows({ host: 'h', hosts: new Map(), networks: new Map([[1, net]]), endpoints, blocks: [], ofport: (n: string) => ports.get(n) }) };
  const sent1: OfpMessage[] = [];
  const r1 = new Reconciler(() => fakeConn(table, sent1), source, 1, pino({ level: 'silent' }));
  await r1.fullSync('d');
  const n1 = table.flows.length;
  // 10 misses (5 forwarding, 3 policy, 2 service tables); per network: gateway ARP, derived ARP, derive-and-deliver; per endpoint: 2 spoof guards, L2 delivery
  assert.equal(n1, 10 + 3 + 2 * 3);
  assert.ok(table.flows.every((f) => roundOf(f.cookie) === 1));
  // a restarted controller (round 2) with one endpoint gone while it was down
  endpoints = [endpoints[0]];
  const sent2: OfpMessage[] = [];
  const r2 = new Reconciler(() => fakeConn(table, sent2), source, 2, pino({ level: 'silent' }));
  // (and flows of other rounds: an older one, and round 0, a trace's; round 3's bits are a superset of round 2's)
  for (const [round, port] of [[1, 90], [0, 91], [3, 92], [0x8002, 93]] as const) {
    table.apply({ ...flowMod({ table_id: 7, priority: 5, match: [{ field: 'in_port', value: port }], cookie: BigInt(round) << 48n }), xid: 0 } as FlowMod);
  }
  const st = await r2.fullSync('d');
  assert.equal(st.added, 10 + 3 + 3);
  assert.equal(table.flows.length, 10 + 3 + 3, 'every flow of another round is gone');
  assert.ok(table.flows.every((f) => roundOf(f.cookie) === 2));
  // the round-2 adds came before the deletes, which read nothing from the switch (16 by cookie mask, one per round bit)
  const deletes = sent2.filter((m) => m.type === 'flow_mod' && m.command === 3);
  assert.equal(deletes.length, 16);
  const firstDelete = sent2.findIndex((m) => m.type === 'flow_mod' && m.command === 3);
  assert.ok(firstDelete > sent2.filter((m) => m.type === 'flow_mod' && m.command === 0).length - 1);
  assert.equal(sent2.filter((m) => m.type === 'multipart_request').length, 0);
  // steady state: adding one endpoint sends exactly its three flows and nothing else
  endpoints = [...endpoints, ep('c', '10.1.0.4', 'pc')];
  sent2.length = 0;
  const d = await r2.sync('d');
  assert.deepEqual([d.added, d.deleted], [3, 0]);
  assert.equal(sent2.filter((m) => m.type === 'flow_mod').length, 3);
  // and removing it sends three strict deletes
  endpoints = endpoints.slice(0, 1);
  sent2.length = 0;
  const e = await r2.sync('d');
  assert.deepEqual([e.added, e.deleted], [0, 3]);
  assert.ok(sent2.every((m) => m.type === 'flow_mod' && m.command === 4));
  assert.equal(table.flows.length, 10 + 3 + 3);
  // nothing changed: nothing sent
  sent2.length = 0;
  await r2.sync('d');
  assert.equal(sent2.length, 0);
});
