// The /v1/events WebSocket and the topology reads, against a real
// controller and scripted switches over TCP.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startController, api } from '../helpers/controller';
import { FakeSwitch, fakePort } from '../helpers/fake-switch';
import { waitFor } from '../helpers/wait';

const ctlP = startController({ apps: 'forwarding' });
const socks: FakeSwitch[] = [];
after(async () => { for (const s of socks) s.close(); await (await ctlP).cleanup(); });

function open(path: string): Promise<{ ws: WebSocket; msgs: { type: string; ts: string; [k: string]: unknown }[] }> {
  return ctlP.then((ctl) => new Promise((res, rej) => {
    const ws = new WebSocket(`ws://127.0.0.1:${ctl.apiPort}${path}`);
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
