// Observability (issue 13): GET /metrics in Prometheus' text format, an
// endpoint's counters read live from its br-int, and a host's reconciler
// state. A real controller in-process; h1's br-int is a scripted switch
// (FakeBrInt) that keeps its flows and answers flow stats from them, h2 is
// registered but never connects, and one more switch is a lab switch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startController } from '../helpers/controller';
import { FakeBrInt } from '../helpers/cni-fake-api';
import { waitFor } from '../helpers/wait';
import type { Controller } from '../../northbound/compose';
import { BR_INT, CATEGORY, categoryOf, objectId, objectIdOf } from '../../controller/pipeline';
import { OFPTT_ALL } from '../../southbound/codec';

let ctl: Controller & { cleanup(): Promise<void> };
let br: FakeBrInt;
let lab: FakeBrInt;
let hostToken: string;
const H1 = '00000000000000d1', H2 = '00000000000000d2';

interface Ep { id: string; portName: string; ofportRequest: number; state: string }

async function req<T = Record<string, unknown>>(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: T; text: string; type?: string }> {
  const r = await ctl.api!.inject({ method: method as 'GET', url, payload: body as object, ...(headers ? { headers } : {}) });
  let json: unknown;
  try { json = r.body ? r.json() : undefined; } catch { json = undefined; }
  return { status: r.statusCode, body: json as T, text: r.body, type: r.headers['content-type'] as string | undefined };
}

/** The value of one series in an exposition text (labels in any order); undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v) && Object.keys(have).length === Object.keys(labels).length) return Number(m[3]);
  }
  return undefined;
}

const scrape = async () => {
  const r = await req('GET', '/metrics');
  assert.equal(r.status, 200, r.text);
  return r.text;
};

let ep: Ep;

before(async () => {
  ctl = await startController({ apps: 'none' });
  assert.equal((await req('POST', '/v1/hosts', { name: 'h1', dpid: H1, underlayIp: '172.30.9.1' })).status, 201);
  assert.equal((await req('POST', '/v1/hosts', { name: 'h2', dpid: H2, underlayIp: '172.30.9.2' })).status, 201);
  assert.equal((await req('POST', '/v1/networks', { name: 'blue', cidr: '10.79.0.0/24' })).status, 201);
  br = await FakeBrInt.connect(ctl.ofPort, 0xd1n);
  lab = await FakeBrInt.connect(ctl.ofPort, 0x1ab1n);
  await waitFor(() => br.table.flows.length > 0 && ctl.registry.get('0000000000001ab1'), { what: 'h1 synced, the lab switch connected' });
  const r = await req<Ep>('POST', '/v1/endpoints', { containerId: 'm1', ifName: 'eth0', host: 'h1', network: 'blue' });
  assert.equal(r.status, 201, r.text);
  br.addPort(r.body.portName, r.body.ofportRequest);
  ep = await waitFor(async () => { const e = (await req<Ep>('GET', `/v1/endpoints/${r.body.id}`)).body; return e.state === 'ready' ? e : undefined; }, { what: 'm1 ready' });
  const t = await req<{ token: string }>('POST', '/v1/tokens', { role: 'host', host: 'h1' });
  assert.equal(t.status, 201);
  hostToken = t.body.token;
});

after(async () => {
  br.close();
  lab.close();
  await ctl.cleanup();
});

test('GET /metrics after an attach: endpoints, attach latency, reconcile, API latency, switches and flows', async () => {
  const text = await scrape();
  assert.match((await req('GET', '/metrics')).type ?? '', /^text\/plain; version=0\.0\.4/);
  assert.equal(sample(text, 'weft_endpoints', { state: 'ready' }), 1);
  assert.equal(sample(text, 'weft_endpoints', { state: 'pending' }), 0);
  assert.equal(sample(text, 'weft_endpoint_attach_seconds_count'), 1, 'one endpoint became ready');
  const attach = sample(text, 'weft_endpoint_attach_seconds_sum')!;
  assert.ok(attach > 0 && attach < 30, `attach seconds ${attach}`);
  assert.ok(sample(text, 'weft_reconcile_duration_seconds_count', { kind: 'full' })! >= 1, 'the full sync on connect was observed');
  assert.ok(sample(text, 'weft_reconcile_duration_seconds_count', { kind: 'diff' })! >= 1, 'the attach\'s diff sync was observed');
  assert.equal(sample(text, 'weft_api_request_duration_seconds_count', { route: '/v1/endpoints', method: 'POST', status: '2xx' }), 1);
  // by route pattern, not by URL: the ready polls of one endpoint are one series
  assert.ok(sample(text, 'weft_api_request_duration_seconds_count', { route: '/v1/endpoints/:id', method: 'GET', status: '2xx' })! >= 1);
  assert.ok(!text.includes(ep.id), 'no endpoint id in any label');
  assert.equal(sample(text, 'weft_switches_connected', { kind: 'host' }), 1);
  assert.equal(sample(text, 'weft_switches_connected', { kind: 'lab' }), 1);
  const desired = sample(text, 'weft_flows', { host: 'h1', bridge: 'br-int', dpid: H1, state: 'desired' });
  const confirmed = sample(text, 'weft_flows', { host: 'h1', bridge: 'br-int', dpid: H1, state: 'confirmed' });
  assert.equal(confirmed, br.table.flows.length, 'confirmed = what the switch holds');
  assert.equal(desired, confirmed);
  assert.equal(sample(text, 'weft_flows', { host: 'h2', bridge: 'br-int', dpid: H2, state: 'confirmed' }), 0, 'h2 never connected');
  assert.ok(!text.includes('0000000000001ab1'), 'no dpid label for a lab switch');
  assert.equal(sample(text, 'weft_bgp_sessions', { state: 'established' }), 0);
});

test('packet-ins are counted by switch kind, unsolicited OpenFlow errors by type', async () => {
  const before = await scrape();
  const pin = (sw: FakeBrInt) => sw.send({ type: 'packet_in', xid: 0, buffer_id: 0xffffffff, total_len: 14, reason: 0, table_id: 0, cookie: 0n, match: [{ field: 'in_port', value: 1 }], data: Buffer.alloc(14) } as never);
  pin(lab); pin(lab); pin(br);
  br.send({ type: 'error', xid: 0, errType: 5, code: 0, data: Buffer.alloc(0) });
  const after = await waitFor(async () => { const t = await scrape(); return sample(t, 'weft_openflow_errors_total', { type: 'flow_mod_failed' }) === 1 && sample(t, 'weft_packet_ins_total', { kind: 'lab' }) === (sample(before, 'weft_packet_ins_total', { kind: 'lab' })! + 2) ? t : undefined; }, { what: 'the counters moved' });
  assert.equal(sample(after, 'weft_packet_ins_total', { kind: 'host' }), sample(before, 'weft_packet_ins_total', { kind: 'host' })! + 1);
});

test('GET /metrics needs the admin token: 401 without one, 403 with a host token', async () => {
  const none = await req('GET', '/metrics', undefined, { authorization: '' });
  assert.equal(none.status, 401);
  assert.ok(!none.text.includes('weft_'), 'nothing leaks');
  const host = await req('GET', '/metrics', undefined, { authorization: `Bearer ${hostToken}` });
  assert.equal(host.status, 403);
  assert.ok(!host.text.includes('weft_'));
  // and it is not in the OpenAPI document
  const doc = await req<{ paths: Record<string, unknown> }>('GET', '/openapi.json');
  assert.ok(!('/metrics' in doc.body.paths));
});

test('GET /v1/endpoints/{id}/counters: out from its spoof-guard flows, in from its delivery flows, read with its cookie', async () => {
  const mine = (c: bigint) => categoryOf(c) === CATEGORY.endpoint && objectIdOf(c) === objectId(ep.id);
  // distinct numbers per table, and large ones on flows that must not count
  br.flowCounts = (f) => !mine(f.cookie) ? { packets: 100000n, bytes: 10000000n }
    : f.table_id === BR_INT.tableId.spoofGuard ? { packets: 3n, bytes: 300n }
      : f.table_id === BR_INT.tableId.l2Forwarding ? { packets: 11n, bytes: 1100n } : { packets: 7000n, bytes: 700000n };
  const spoof = br.table.flows.filter((f) => mine(f.cookie) && f.table_id === BR_INT.tableId.spoofGuard).length;
  const l2 = br.table.flows.filter((f) => mine(f.cookie) && f.table_id === BR_INT.tableId.l2Forwarding).length;
  assert.deepEqual([spoof, l2], [2, 1], 'its ARP and IPv4 spoof-guard flows and its delivery flow');
  const sent = br.received.length;
  const r = await req<{ out: { packets: number; bytes: number }; in: { packets: number; bytes: number }; flows: number; dpid: string; host: string }>('GET', `/v1/endpoints/${ep.id}/counters`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.body.out, { packets: 6, bytes: 600 });
  assert.deepEqual(r.body.in, { packets: 11, bytes: 1100 });
  assert.deepEqual([r.body.host, r.body.dpid], ['h1', H1]);
  assert.equal(r.body.flows, br.table.flows.filter((f) => mine(f.cookie)).length);
  // one flow-stats request: all tables, its category and object id, any round
  const asked = br.received.slice(sent).filter((m) => m.type === 'multipart_request' && m.body.kind === 'flow');
  assert.equal(asked.length, 1);
  const q = (asked[0] as { body: { table_id: number; cookie: bigint; cookie_mask: bigint } }).body;
  assert.equal(q.table_id, OFPTT_ALL);
  assert.equal(q.cookie_mask, 0x0000ffffffffffffn);
  assert.equal(q.cookie & q.cookie_mask, (BigInt(CATEGORY.endpoint) << 40n) | BigInt(objectId(ep.id)));
  br.flowCounts = undefined;
  // a host token for its own host may read them
  assert.equal((await req('GET', `/v1/endpoints/${ep.id}/counters`, undefined, { authorization: `Bearer ${hostToken}` })).status, 200);
});

test('counters: 404 for an unknown endpoint, 403 for another host\'s token, 503 when the br-int is not connected', async () => {
  assert.equal((await req('GET', '/v1/endpoints/nope/counters')).status, 404);
  const r = await req<Ep>('POST', '/v1/endpoints', { containerId: 'm2', ifName: 'eth0', host: 'h2', network: 'blue' });
  assert.equal(r.status, 201);
  assert.equal((await req('GET', `/v1/endpoints/${r.body.id}/counters`, undefined, { authorization: `Bearer ${hostToken}` })).status, 403);
  const off = await req<{ error: string; message: string }>('GET', `/v1/endpoints/${r.body.id}/counters`);
  assert.equal(off.status, 503, off.text);
  assert.match(off.body.message, /not connected/);
  assert.equal((await req('DELETE', `/v1/endpoints/${r.body.id}`)).status, 204);
});

interface Bridge { bridge: string; dpid: string; connected: boolean; synced: boolean; flows: { desired: number; confirmed: number }; lastSyncAt: string | null; lastSyncMs: number | null; lastSyncKind: string | null; lastError: string | null }

test('GET /v1/hosts/{name}/status: the reconciler\'s state per bridge', async () => {
  const r = await req<{ name: string; bridges: Bridge[] }>('GET', '/v1/hosts/h1/status');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.body.name, 'h1');
  assert.equal(r.body.bridges.length, 1, 'no br-phy registered');
  const b = r.body.bridges[0]!;
  assert.deepEqual([b.bridge, b.dpid, b.connected, b.synced], ['br-int', H1, true, true]);
  assert.equal(b.flows.confirmed, br.table.flows.length);
  assert.equal(b.flows.desired, b.flows.confirmed);
  assert.ok(b.lastSyncAt && Date.parse(b.lastSyncAt) <= Date.now());
  assert.ok(typeof b.lastSyncMs === 'number' && b.lastSyncMs >= 0);
  assert.ok(b.lastSyncKind === 'full' || b.lastSyncKind === 'diff');
  assert.equal(b.lastError, null);
  // h2 never connected: not synced, nothing confirmed, though flows are desired
  const h2 = (await req<{ bridges: Bridge[] }>('GET', '/v1/hosts/h2/status')).body.bridges[0]!;
  assert.deepEqual([h2.connected, h2.synced, h2.flows.confirmed, h2.lastSyncAt], [false, false, 0, null]);
  assert.ok(h2.flows.desired > 0);
  // a host token sees its own host only
  assert.equal((await req('GET', '/v1/hosts/h1/status', undefined, { authorization: `Bearer ${hostToken}` })).status, 200);
  assert.equal((await req('GET', '/v1/hosts/h2/status', undefined, { authorization: `Bearer ${hostToken}` })).status, 403);
  assert.equal((await req('GET', '/v1/hosts/nope/status')).status, 404);
});

test('host status: synced again after another attach; a disconnected bridge is neither connected nor synced', async () => {
  const e = await req<Ep>('POST', '/v1/endpoints', { containerId: 'm3', ifName: 'eth0', host: 'h1', network: 'blue' });
  assert.equal(e.status, 201);
  br.addPort(e.body.portName, e.body.ofportRequest);
  await waitFor(async () => (await req<Ep>('GET', `/v1/endpoints/${e.body.id}`)).body.state === 'ready', { what: 'm3 ready' });
  const s = (await req<{ bridges: Bridge[] }>('GET', '/v1/hosts/h1/status')).body.bridges[0]!;
  assert.equal(s.synced, true);
  assert.equal(s.flows.confirmed, br.table.flows.length);
  assert.equal((await req('DELETE', `/v1/endpoints/${e.body.id}`)).status, 204);
  // disconnected: not synced any more, and the scrape shows nothing confirmed
  br.close();
  await waitFor(() => !ctl.registry.get(H1), { what: 'h1 disconnected' });
  const off = (await req<{ bridges: Bridge[] }>('GET', '/v1/hosts/h1/status')).body.bridges[0]!;
  assert.deepEqual([off.connected, off.synced, off.flows.confirmed], [false, false, 0]);
  assert.equal(sample(await scrape(), 'weft_switches_connected', { kind: 'host' }), 0);
});
