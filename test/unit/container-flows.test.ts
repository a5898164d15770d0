// Flows of endpoints that break the host-block rule (docs/pipeline.md): a
// requested MAC, and an address borrowed from another host's block. Two
// hosts of an overlay network, their br-ints scripted switches (FakeBrInt)
// connected to the real controller in-process; the flows are read from the
// switches' tables.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startController } from '../helpers/controller';
import { FakeBrInt } from '../helpers/cni-fake-api';
import type { FakeFlow } from '../helpers/fake-table';
import { waitFor } from '../helpers/wait';
import type { Controller } from '../../northbound/compose';

let ctl: Controller & { cleanup(): Promise<void> };
const sw: Record<string, FakeBrInt> = {};
const UNDERLAY = { hA: '172.30.0.1', hB: '172.30.0.2' };

async function req<T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
  const r = await ctl.api!.inject({ method: method as 'GET', url, payload: body as object });
  return { status: r.statusCode, body: (r.body ? r.json() : undefined) as T };
}

interface Ep { id: string; ip: string; mac: string; portName: string; ofportRequest: number; state: string; host: string }

/** Creates an endpoint, plugs its port on its host's br-int, waits until it is ready. */
async function attach(containerId: string, host: 'hA' | 'hB', network: string, mac?: string): Promise<Ep> {
  const r = await req<Ep>('POST', '/v1/endpoints', { containerId, ifName: 'eth0', host, network, ...(mac ? { mac } : {}) });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  sw[host]!.addPort(r.body.portName, r.body.ofportRequest);
  return waitFor(async (): Promise<Ep | undefined> => { const e = (await req<Ep>('GET', `/v1/endpoints/${r.body.id}`)).body; return e.state === 'ready' ? e : undefined; }, { what: `${containerId} ready` });
}

const text = (f: FakeFlow) => JSON.stringify(f, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
const has = (f: FakeFlow, field: string, value: string) => f.match.some((m) => m.field === field && String(m.value).toLowerCase() === value.toLowerCase() && m.mask === undefined);
/** Flows of a table matching field=value exactly. */
const flowsWith = (host: string, table: number, field: string, value: string) => sw[host]!.table.flows.filter((f) => f.table_id === table && has(f, field, value));
/** Any flow on the host naming this IP or MAC exactly (match or action). */
const mentions = (host: string, what: string) => sw[host]!.table.flows.filter((f) => text(f).toLowerCase().includes(`"${what.toLowerCase()}"`));

before(async () => {
  ctl = await startController({ apps: 'none' });
  for (const [name, dpid] of [['hA', 0xa1n], ['hB', 0xb1n]] as const) {
    assert.equal((await req('POST', '/v1/hosts', { name, dpid: dpid.toString(16).padStart(16, '0'), underlayIp: UNDERLAY[name] })).status, 201);
    sw[name] = await FakeBrInt.connect(ctl.ofPort, dpid, { vxlan0: 1 });
  }
  await waitFor(() => Object.values(sw).every((s) => s.table.flows.length > 0), { what: 'both br-ints synced' });
});

after(async () => {
  for (const s of Object.values(sw)) s.close();
  await ctl.cleanup();
});

test('an endpoint with a requested MAC gets its own ARP answer and routing flows, here and on the other hosts', async () => {
  assert.equal((await req('POST', '/v1/networks', { name: 'ov', cidr: '10.70.0.0/24', mode: 'overlay', blockSize: 28 })).status, 201);
  const mac = '02:aa:bb:cc:dd:01';
  const a = await attach('macA', 'hA', 'ov', mac);
  assert.equal(a.mac, mac);
  const derived = await attach('plainA', 'hA', 'ov');
  assert.match(derived.mac, /^0a:/, 'the other one has a derived MAC');
  await attach('plainB', 'hB', 'ov'); // the network is local on hB too
  await waitFor(() => flowsWith('hB', 2, 'arp_tpa', a.ip).length > 0, { what: 'hB knows the requested MAC' });

  // its own host: ARP for its address answered with the requested MAC (priority 200), routing to it with that MAC
  const arpA = flowsWith('hA', 2, 'arp_tpa', a.ip);
  assert.equal(arpA.length, 1, 'one ARP answer for it on its host');
  assert.equal(arpA[0]!.priority, 200);
  assert.ok(text(arpA[0]!).includes(mac), `the answer carries ${mac}: ${text(arpA[0]!)}`);
  const routeA = flowsWith('hA', 3, 'ipv4_dst', a.ip);
  assert.ok(routeA.length >= 1 && routeA.every((f) => f.priority === 200 && text(f).includes(mac)), 'routed to it with its MAC');
  // the other host: the same ARP answer, delivery by its MAC into the tunnel to hA, a route by its address
  const arpB = flowsWith('hB', 2, 'arp_tpa', a.ip);
  assert.equal(arpB.length, 1);
  assert.ok(text(arpB[0]!).includes(mac));
  const l2B = flowsWith('hB', 4, 'eth_dst', mac);
  assert.equal(l2B.length, 1);
  assert.ok(text(l2B[0]!).includes(UNDERLAY.hA), `tunnelled to hA: ${text(l2B[0]!)}`);
  assert.ok(flowsWith('hB', 3, 'ipv4_dst', a.ip).some((f) => text(f).includes(mac)), 'hB routes to it by address with its MAC');
  // the derived-MAC endpoint needs none of this: hB knows it through hA's block only
  assert.deepEqual(mentions('hB', derived.ip), []);
  assert.deepEqual(mentions('hB', derived.mac), []);
  assert.deepEqual(flowsWith('hA', 2, 'arp_tpa', derived.ip), [], 'its ARP is the network\'s derived answer');

  // deleting it removes its flows everywhere
  assert.equal((await req('DELETE', `/v1/endpoints/${a.id}`)).status, 204);
  await waitFor(() => mentions('hB', mac).length === 0 && mentions('hA', mac).length === 0, { what: 'its flows removed' });
});

test('a host whose blocks are full borrows an address from another host\'s block; that endpoint gets its own flows on the other hosts', async () => {
  // a /29 in /30 blocks: .0/30 (.2 .3; .1 is the gateway) and .4/30 (.4 .5 .6; .7 is the broadcast)
  assert.equal((await req('POST', '/v1/networks', { name: 'bw', cidr: '10.71.0.0/29', mode: 'overlay', blockSize: 30 })).status, 201);
  const a1 = await attach('bwA1', 'hA', 'bw');
  const b1 = await attach('bwB1', 'hB', 'bw');
  const a2 = await attach('bwA2', 'hA', 'bw');
  assert.deepEqual([a1.ip, b1.ip, a2.ip], ['10.71.0.2', '10.71.0.4', '10.71.0.3']);
  const blocks = (await req<{ blocks: { cidr: string; host: string }[] }>('GET', '/v1/networks/bw')).body.blocks;
  assert.deepEqual(blocks.map((b) => [b.cidr, b.host]), [['10.71.0.0/30', 'hA'], ['10.71.0.4/30', 'hB']]);
  // hA's block is full and no block is free: it borrows from hB's
  const a3 = await attach('bwA3', 'hA', 'bw');
  assert.equal(a3.ip, '10.71.0.5');
  assert.equal(a3.host, 'hA');
  assert.deepEqual((await req<{ blocks: { cidr: string; host: string }[] }>('GET', '/v1/networks/bw')).body.blocks.map((b) => [b.cidr, b.host]), [['10.71.0.0/30', 'hA'], ['10.71.0.4/30', 'hB']], 'no new block');
  // hB would send 10.71.0.5 to itself by the block rule: it has flows of its own for it, to hA's tunnel
  const arpB = flowsWith('hB', 2, 'arp_tpa', a3.ip);
  assert.equal(arpB.length, 1, 'hB answers ARP for it');
  assert.ok(text(arpB[0]!).includes(a3.mac));
  const l2B = flowsWith('hB', 4, 'eth_dst', a3.mac);
  assert.equal(l2B.length, 1);
  assert.ok(text(l2B[0]!).includes(UNDERLAY.hA), `delivered through the tunnel to hA: ${text(l2B[0]!)}`);
  assert.ok(flowsWith('hB', 3, 'ipv4_dst', a3.ip).length >= 1, 'and routed by its address');
  // the endpoint in hB's block that lives on hB needs none: delivered locally
  assert.deepEqual(flowsWith('hB', 2, 'arp_tpa', b1.ip), []);
  // and a2 in hA's own block needs nothing of its own on hB
  assert.deepEqual(mentions('hB', a2.ip), []);
  // hA delivers it locally, to its own port
  assert.ok(flowsWith('hA', 4, 'eth_dst', a3.mac).some((f) => text(f).includes(`"port":${a3.ofportRequest}`)), 'hA outputs it to its port');
  assert.equal((await req('DELETE', `/v1/endpoints/${a3.id}`)).status, 204);
  await waitFor(() => flowsWith('hB', 2, 'arp_tpa', a3.ip).length === 0, { what: 'hB forgets the borrowed address' });
});
