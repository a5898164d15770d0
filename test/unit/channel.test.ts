// The OpenFlow channel against scripted switches over real TCP sockets.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startController, api } from '../helpers/controller';
import { FakeSwitch, fakePort } from '../helpers/fake-switch';
import { waitFor } from '../helpers/wait';
import { encodeMessage, OFPET_HELLO_FAILED, OFPET_BAD_REQUEST, OFPBRC_BAD_TYPE, OFPET_BAD_ACTION, flowMod, OFPMPF_REPLY_MORE, FlowStats } from '../../southbound/codec';
import { RequestTimeout } from '../../southbound/channel';
import type { Stamped, WeftEvent } from '../../controller/events';

const ctlP = startController({ connection: { echoIntervalMs: 300, deadAfterMs: 1500, requestTimeoutMs: 2000 } });
const switches: FakeSwitch[] = [];
after(async () => {
  for (const s of switches) s.close();
  await (await ctlP).cleanup();
});

async function sw(opts: Partial<Parameters<typeof FakeSwitch.connect>[0]> = {}) {
  const ctl = await ctlP;
  const s = await FakeSwitch.connect({ port: ctl.ofPort, ...opts });
  switches.push(s);
  return s;
}

test('handshake: hello, features, port-desc; the switch appears in the API', async () => {
  const ctl = await ctlP;
  const events: Stamped<WeftEvent>[] = [];
  const off = ctl.bus.on('*', (e) => events.push(e));
  await sw({ dpid: 0xabcn, ports: [fakePort(1, 'eth1'), fakePort(2, 'eth2')] });
  await waitFor(() => ctl.registry.get('0000000000000abc'), { what: 'switch registered' });
  const { status, body } = await api<{ dpid: string; ports: { port_no: number; name: string; status: string }[] }[]>(ctl, '/v1/switches');
  assert.equal(status, 200);
  const s = body.find((x) => x.dpid === '0000000000000abc');
  assert.ok(s);
  assert.deepEqual(s.ports.map((p) => [p.port_no, p.name, p.status]), [[1, 'eth1', 'up'], [2, 'eth2', 'up']]);
  const ev = events.find((e) => e.type === 'switch.connected');
  assert.ok(ev && ev.type === 'switch.connected' && ev.dpid === '0000000000000abc' && typeof ev.ts === 'string');
  off();
});

test('unknown dpid is a 404 with a JSON error; a malformed dpid is a 400', async () => {
  const ctl = await ctlP;
  const r = await api<{ error: string; message: string }>(ctl, '/v1/switches/00000000deadbeef');
  assert.equal(r.status, 404);
  assert.equal(r.body.error, 'not_found');
  assert.match(r.body.message, /00000000deadbeef/);
  const b = await api<{ error: string }>(ctl, '/v1/switches/xyz');
  assert.equal(b.status, 400);
  assert.equal(b.body.error, 'bad_request');
});

test('a switch that offers only OpenFlow 1.0 gets HELLO_FAILED and is closed', async () => {
  const s = await sw({ helloBitmap: 0x02, autoHandshake: false });
  const e = await s.waitFor('error');
  assert.equal(e.errType, OFPET_HELLO_FAILED);
  assert.match(e.data.toString(), /OpenFlow 1\.3/);
  await waitFor(() => s.closed, { what: 'socket closed' });
});

test('a version-6 HELLO without bitmap (as OVS sends) settles on 1.3', async () => {
  const ctl = await ctlP;
  await sw({ dpid: 0x606n, helloVersion: 6, helloBitmap: 0 });
  await waitFor(() => ctl.registry.get('0000000000000606'), { what: 'switch registered' });
});

test('a malformed frame gets OFPT_ERROR with its xid; the switch and others stay up', async () => {
  const ctl = await ctlP;
  const a = await sw({ dpid: 0xa1n });
  const b = await sw({ dpid: 0xb1n });
  await waitFor(() => ctl.registry.get('00000000000000a1') && ctl.registry.get('00000000000000b1'), { what: 'both registered' });
  // unknown message type 200
  a.sendRaw(Buffer.from('04c8000877777777', 'hex'));
  const e1 = await a.waitFor('error', (m) => m.xid === 0x77777777);
  assert.equal(e1.errType, OFPET_BAD_REQUEST);
  assert.equal(e1.code, OFPBRC_BAD_TYPE);
  // a packet-out with a zero-length action inside
  const po = encodeMessage({ type: 'packet_out', xid: 0x88, buffer_id: 0xffffffff, in_port: 1, actions: [{ type: 'output', port: 2 }], data: Buffer.alloc(0) });
  po.writeUInt16BE(0, 8 + 16 + 2); // action len = 0
  a.sendRaw(po);
  const e2 = await a.waitFor('error', (m) => m.xid === 0x88);
  assert.equal(e2.errType, OFPET_BAD_ACTION);
  assert.ok(!a.closed);
  assert.equal(ctl.registry.get('00000000000000a1')?.state, 'ready');
  assert.equal(ctl.registry.get('00000000000000b1')?.state, 'ready');
  // the channel still works: a barrier round-trips
  await ctl.registry.get('00000000000000a1')!.barrier();
});

test('multipart replies with the MORE flag are reassembled', async () => {
  const ctl = await ctlP;
  const s = await sw({ dpid: 0xf10n });
  await waitFor(() => ctl.registry.get('0000000000000f10'), { what: 'registered' });
  const conn = ctl.registry.get('0000000000000f10')!;
  const fs = (n: number): FlowStats => ({ table_id: 0, duration_sec: 1, duration_nsec: 0, priority: n, idle_timeout: 0, hard_timeout: 0, flags: 0, cookie: BigInt(n), packet_count: 0n, byte_count: 0n, match: [], instructions: [] });
  const p = conn.multipart({ kind: 'flow', table_id: 0xff, out_port: 0xffffffff, out_group: 0xffffffff, cookie: 0n, cookie_mask: 0n, match: [] });
  const req = await s.waitFor('multipart_request', (m) => m.body.kind === 'flow');
  s.send({ type: 'multipart_reply', xid: req.xid, flags: OFPMPF_REPLY_MORE, body: { kind: 'flow', stats: [fs(1), fs(2)] } });
  s.send({ type: 'multipart_reply', xid: req.xid, flags: 0, body: { kind: 'flow', stats: [fs(3)] } });
  const parts = await p;
  assert.deepEqual(parts.flatMap((x) => x.stats).map((x) => x.priority), [1, 2, 3]);
  // and an error reply rejects the request
  const q = conn.request(flowMod({ priority: 1 }));
  const fm = await s.waitFor('flow_mod', (m) => m.priority === 1);
  s.send({ type: 'error', xid: fm.xid, errType: 5, code: 0, data: Buffer.alloc(0) });
  await assert.rejects(q, /error type 5 code 0/);
  // and an unanswered request times out
  await assert.rejects(conn.request({ type: 'get_config_request' }, 200), RequestTimeout);
});

test('a flow-mod encoded once is sent to two switches, each with its own xid, in order with the messages around it; a frame that is not one message is refused', async () => {
  const ctl = await ctlP;
  const [s1, s2] = [await sw({ dpid: 0xe51n }), await sw({ dpid: 0xe52n })];
  await waitFor(() => ctl.registry.get('0000000000000e51') && ctl.registry.get('0000000000000e52'), { what: 'registered' });
  const frame = encodeMessage({ ...flowMod({ priority: 77, table_id: 3, cookie: 0x1234n, match: [{ field: 'in_port', value: 9 }] }), xid: 0 });
  const xids: number[] = [];
  for (const d of ['0000000000000e51', '0000000000000e52']) {
    const c = ctl.registry.get(d)!;
    c.send(flowMod({ priority: 76, table_id: 3 }));
    xids.push(c.sendEncoded(frame));
    c.send(flowMod({ priority: 78, table_id: 3 }));
  }
  for (const [i, s] of [s1, s2].entries()) {
    const got = await s.waitFor('flow_mod', (m) => m.priority === 77);
    assert.equal(got.xid, xids[i]);
    assert.equal(got.cookie, 0x1234n);
    assert.deepEqual(got.match, [{ field: 'in_port', value: 9 }]);
    // in order: 76, 77, 78 (one output stream)
    await waitFor(() => s.received.some((m) => m.type === 'flow_mod' && m.priority === 78), { what: 'the last flow-mod' });
    assert.deepEqual(s.received.filter((m) => m.type === 'flow_mod' && [76, 77, 78].includes(m.priority)).map((m) => m.type === 'flow_mod' ? m.priority : 0), [76, 77, 78]);
  }
  assert.notEqual(xids[0], 0);
  // the cached frame itself is not changed by sending it
  assert.equal(frame.readUInt32BE(4), 0);
  const c = ctl.registry.get('0000000000000e51')!;
  assert.throws(() => c.sendEncoded(Buffer.concat([frame, frame])), /not one encoded OpenFlow message/);
  assert.throws(() => c.sendEncoded(Buffer.alloc(4)), /not one encoded OpenFlow message/);
});

test('echo keepalive is answered and a silent switch is declared dead', async () => {
  const ctl = await ctlP;
  const s = await sw({ dpid: 0xdeadn });
  await waitFor(() => ctl.registry.get('000000000000dead'), { what: 'registered' });
  await s.waitFor('echo_request', () => true, 3000);
  // stop answering: the controller must drop the session after deadAfterMs
  s.sock.pause();
  await waitFor(() => !ctl.registry.get('000000000000dead'), { what: 'dead switch removed', timeoutMs: 5000 });
});

test('port-status turns into port.* events and updates the port table', async () => {
  const ctl = await ctlP;
  const s = await sw({ dpid: 0x9017n, ports: [fakePort(1)] });
  await waitFor(() => ctl.registry.get('0000000000009017'), { what: 'registered' });
  const seen: string[] = [];
  const off = ctl.bus.on('*', (e) => { if (e.type.startsWith('port.') && 'port' in e) seen.push(`${e.type}:${e.port.port_no}:${e.port.status}`); });
  s.send({ type: 'port_status', xid: 0, reason: 0, desc: fakePort(7) });
  s.send({ type: 'port_status', xid: 0, reason: 2, desc: { ...fakePort(7), state: 1 } });
  s.send({ type: 'port_status', xid: 0, reason: 1, desc: fakePort(1) });
  await waitFor(() => seen.length === 3, { what: 'three port events' });
  assert.deepEqual(seen, ['port.added:7:up', 'port.modified:7:down', 'port.removed:1:up']);
  const { body } = await api<{ ports: { port_no: number }[] }>(ctl, '/v1/switches/0000000000009017');
  assert.deepEqual(body.ports.map((p) => p.port_no), [7]);
  off();
});

test('a second session for a connected dpid is refused while the first answers echo', async () => {
  const ctl = await ctlP;
  const a = await sw({ dpid: 0x5a5an });
  const first = await waitFor(() => ctl.registry.get('0000000000005a5a'), { what: 'registered' });
  const intruder = await sw({ dpid: 0x5a5an });
  await waitFor(() => intruder.closed, { what: 'the newcomer closed', timeoutMs: 8000 });
  assert.equal(ctl.registry.get('0000000000005a5a'), first, 'the first session keeps the dpid');
  assert.equal(first.state, 'ready');
  assert.ok(!a.closed);
  await first.barrier();
  assert.ok(a.received.some((m) => m.type === 'echo_request' && m.data.toString() === 'weft-probe'), 'the first session was probed');
  assert.ok(!intruder.received.some((m) => m.type === 'flow_mod' || m.type === 'barrier_request'), 'nothing was sent to the newcomer');
});

test('a reconnect replaces the old session when the old one no longer answers', async () => {
  const ctl = await ctlP;
  const a = await sw({ dpid: 0x5a5bn });
  const first = await waitFor(() => ctl.registry.get('0000000000005a5b'), { what: 'registered' });
  a.sock.pause(); // the old connection died without a FIN: nothing comes back
  await sw({ dpid: 0x5a5bn });
  await waitFor(() => ctl.registry.get('0000000000005a5b') !== first && ctl.registry.get('0000000000005a5b'), { what: 'replaced', timeoutMs: 8000 });
  assert.equal(first.state, 'closed');
  await ctl.registry.get('0000000000005a5b')!.barrier();
});

test('a reconnect after the old session closed is adopted at once', async () => {
  const ctl = await ctlP;
  const a = await sw({ dpid: 0x5a5cn });
  const first = await waitFor(() => ctl.registry.get('0000000000005a5c'), { what: 'registered' });
  a.close();
  await waitFor(() => !ctl.registry.get('0000000000005a5c'), { what: 'gone' });
  await sw({ dpid: 0x5a5cn });
  const second = await waitFor(() => ctl.registry.get('0000000000005a5c'), { what: 'registered again' });
  assert.notEqual(second, first);
});

test('a bare TCP connection that sends nothing (as Mininet probes) is survived', async () => {
  const ctl = await ctlP;
  const s = net.connect(ctl.ofPort, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.destroy();
  const r = await api<{ status: string }>(ctl, '/v1/health');
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'ok');
});
