// The /v1/events WebSocket (switch, port, network and endpoint events) and
// the topology reads, against a real controller and scripted switches over
// TCP (a container host's br-int is a FakeBrInt).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startController, api, adminHeaders } from '../helpers/controller';
import { FakeSwitch, fakePort } from '../helpers/fake-switch';
import { waitFor } from '../helpers/wait';
import { FakeBrInt } from '../helpers/cni-fake-api';
import { buildArpRequest } from '../../southbound/packet/ethernet';

const ctlP = startController({ apps: 'forwarding' });
const socks: FakeSwitch[] = [];
after(async () => { for (const s of socks) s.close(); await (await ctlP).cleanup(); });

function open(path: string): Promise<{ ws: WebSocket; msgs: { type: string; ts: string; [k: string]: unknown }[] }> {
  return ctlP.then((ctl) => new Promise((res, rej) => {
    const ws = new WebSocket(`ws://127.0.0.1:${ctl.apiPort}${path}`, { headers: adminHeaders(ctl) });
    const msgs: { type: string; ts: string }[] = [];
    ws.on('message', (d) => msgs.push(JSON.parse(d.toString())));
    ws.once('open', () => res({ ws, msgs }));
    ws.once('error', rej);
  }));
}

test('snapshot on connect, then live switch/port events with type and timestamp', async () => {
  const ctl = await ctlP;
  const { ws, msgs } = await open('/v1/events?snapshot=1');
  await waitFor(() => msgs.find((m) => m.type === 'snapshot'), { what: 'snapshot' });
  const snap = msgs[0] as unknown as { switches: unknown[]; links: unknown[]; hosts: unknown[] };
  assert.deepEqual([snap.switches, snap.links, snap.hosts], [[], [], []]);
  const s = await FakeSwitch.connect({ port: ctl.ofPort, dpid: 0x77n, ports: [fakePort(1), fakePort(2)] });
  socks.push(s);
  const ev = await waitFor(() => msgs.find((m) => m.type === 'switch.connected'), { what: 'switch.connected event' });
  assert.equal(ev.dpid, '0000000000000077');
  assert.ok(!Number.isNaN(Date.parse(ev.ts)));
  s.send({ type: 'port_status', xid: 0, reason: 2, desc: { ...fakePort(2), state: 1 } });
  const pe = await waitFor(() => msgs.find((m) => m.type === 'port.modified'), { what: 'port event' });
  assert.equal((pe.port as { status: string }).status, 'down');
  // asking again on the open socket
  ws.send(JSON.stringify({ type: 'snapshot' }));
  await waitFor(() => msgs.filter((m) => m.type === 'snapshot').length === 2, { what: 'second snapshot' });
  const last = msgs.filter((m) => m.type === 'snapshot')[1] as unknown as { switches: { dpid: string }[] };
  assert.deepEqual(last.switches.map((x) => x.dpid), ['0000000000000077']);
  ws.send('not json');
  await waitFor(() => msgs.find((m) => m.type === 'error'), { what: 'error for bad request' });
  ws.close();
});

test('type filter and unknown path', async () => {
  const ctl = await ctlP;
  const { ws, msgs } = await open('/v1/events?types=link.,host.');
  const s = await FakeSwitch.connect({ port: ctl.ofPort, dpid: 0x78n });
  socks.push(s);
  await waitFor(() => ctl.registry.get('0000000000000078'), { what: 'registered' });
  await api(ctl, '/v1/health');
  assert.equal(msgs.filter((m) => m.type.startsWith('switch.')).length, 0);
  ws.close();
  await assert.rejects(open('/v1/nope'));
});

test('GET /v1/topology, /v1/links, /v1/hosts answer with arrays', async () => {
  const ctl = await ctlP;
  for (const p of ['/v1/links', '/v1/hosts']) {
    const r = await api<unknown[]>(ctl, p);
    assert.equal(r.status, 200);
    assert.ok(Array.isArray(r.body));
  }
  const t = await api<{ switches: { dpid: string }[]; links: unknown[]; hosts: unknown[] }>(ctl, '/v1/topology');
  assert.ok(t.body.switches.some((s) => s.dpid === '0000000000000077'));
});

test('network and endpoint events: network.created, endpoint.created, endpoint.ready, endpoint.deleted, network.deleted', async () => {
  const ctl = await ctlP;
  const { ws, msgs } = await open('/v1/events?types=network.,endpoint.');
  const inject = async (method: string, url: string, body?: unknown) => {
    const r = await ctl.api!.inject({ method: method as 'GET', url, payload: body as object });
    return { status: r.statusCode, body: (r.body ? r.json() : undefined) as Record<string, unknown> };
  };
  assert.equal((await inject('POST', '/v1/hosts', { name: 'evh', dpid: '00000000000000e1', underlayIp: '172.30.9.1' })).status, 201);
  const br = await FakeBrInt.connect(ctl.ofPort, 0xe1n);
  try {
    await waitFor(() => br.table.flows.length > 0, { what: 'evh br-int synced' });
    const n = await inject('POST', '/v1/networks', { name: 'evnet', cidr: '10.80.0.0/24' });
    assert.equal(n.status, 201);
    const nc = await waitFor(() => msgs.find((m) => m.type === 'network.created'), { what: 'network.created' });
    assert.deepEqual(nc.network, { id: n.body.id, name: 'evnet', cidr: '10.80.0.0/24', mode: 'local' });
    const e = (await inject('POST', '/v1/endpoints', { containerId: 'evc', ifName: 'eth0', host: 'evh', network: 'evnet' })).body as
      { id: string; ip: string; mac: string; portName: string; ofportRequest: number };
    const view = { id: e.id, containerId: 'evc', ifName: 'eth0', host: 'evh', network: 'evnet', ip: e.ip, mac: e.mac };
    const ec = await waitFor(() => msgs.find((m) => m.type === 'endpoint.created'), { what: 'endpoint.created' });
    assert.deepEqual(ec.endpoint, { ...view, state: 'pending' });
    assert.equal(msgs.some((m) => m.type === 'endpoint.ready'), false, 'not ready before its port exists');
    br.addPort(e.portName, e.ofportRequest);
    const er = await waitFor(() => msgs.find((m) => m.type === 'endpoint.ready'), { what: 'endpoint.ready' });
    assert.deepEqual(er.endpoint, { ...view, state: 'ready' });
    assert.equal((await inject('DELETE', `/v1/endpoints/${e.id}`)).status, 204);
    const ed = await waitFor(() => msgs.find((m) => m.type === 'endpoint.deleted'), { what: 'endpoint.deleted' });
    assert.deepEqual(ed.endpoint, { ...view, state: 'removed' });
    assert.equal((await inject('DELETE', '/v1/networks/evnet')).status, 204);
    const nd = await waitFor(() => msgs.find((m) => m.type === 'network.deleted'), { what: 'network.deleted' });
    assert.deepEqual(nd.network, nc.network);
    assert.deepEqual(msgs.map((m) => m.type), ['network.created', 'endpoint.created', 'endpoint.ready', 'endpoint.deleted', 'network.deleted'], 'in order, and nothing filtered out came through');
    assert.ok(msgs.every((m) => !Number.isNaN(Date.parse(m.ts))));
  } finally {
    ws.close();
    br.close();
  }
});

test('GET /v1/hosts?kind=learned lists the hosts learned from frames, not the registered ones (and ?kind=registered the other way round)', async () => {
  const ctl = await ctlP;
  const s = await FakeSwitch.connect({ port: ctl.ofPort, dpid: 0x79n, ports: [fakePort(1), fakePort(2)] });
  socks.push(s);
  await waitFor(() => ctl.registry.get('0000000000000079'), { what: 'registered' });
  // an ARP request from a host behind port 2 (a port carrying no link)
  s.send({ type: 'packet_in', xid: 0, buffer_id: 0xffffffff, total_len: 42, reason: 0, table_id: 0, cookie: 0n,
    match: [{ field: 'in_port', value: 2 }], data: buildArpRequest('02:00:00:00:79:02', '10.79.0.2', '10.79.0.1') });
  const learned = await waitFor(async () => {
    const r = await api<{ kind: string; mac: string }[]>(ctl, '/v1/hosts?kind=learned');
    return r.body.find((x) => x.mac === '02:00:00:00:79:02') && r;
  }, { what: 'learned host' });
  assert.equal(learned.status, 200);
  assert.ok(learned.body.length > 0 && learned.body.every((x) => x.kind === 'learned'), JSON.stringify(learned.body));
  assert.ok(!learned.body.some((x) => (x as unknown as { name?: string }).name === 'evh'), 'no registered host');
  const registered = await api<{ kind: string; name?: string; mac?: string }[]>(ctl, '/v1/hosts?kind=registered');
  assert.ok(registered.body.some((x) => x.name === 'evh'));
  assert.ok(registered.body.every((x) => x.kind === 'registered'));
  const all = await api<{ kind: string }[]>(ctl, '/v1/hosts');
  assert.equal(all.body.length, learned.body.length + registered.body.length);
});
