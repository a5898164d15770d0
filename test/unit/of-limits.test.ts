// The OpenFlow listener's limits against scripted switches over real
// sockets: connections per source address and in total, handshakes in
// progress and their deadline (TCP and TLS), multipart reassembly and the
// outgoing buffer. Each exceeded limit closes that one connection and
// nothing else. (The port-desc flood with the controller's memory measured
// is test/integration/of-flood.test.ts.)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { startController } from '../helpers/controller';
import { FakeSwitch } from '../helpers/fake-switch';
import { waitFor } from '../helpers/wait';
import { OFPMPF_REPLY_MORE, FlowStats } from '../../southbound/codec';
import { ConnectionClosed, LimitExceeded } from '../../southbound/channel';
import type { Connection } from '../../southbound/channel';
import { pkiMain } from '../../northbound/cli/pki';

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function controller(connection: Parameters<typeof startController>[0] extends infer P ? P extends { connection?: infer C } ? C : never : never, over: Parameters<typeof startController>[0] = {}) {
  const ctl = await startController({ apps: 'none', connection, ...over });
  cleanups.push(() => ctl.cleanup());
  return ctl;
}

async function fake(port: number, dpid: bigint, more: Partial<Parameters<typeof FakeSwitch.connect>[0]> = {}): Promise<FakeSwitch> {
  const s = await FakeSwitch.connect({ port, dpid, ...more });
  cleanups.push(() => s.close());
  return s;
}

/** A raw TCP connection that sends nothing; resolves when connected. */
async function silent(port: number, localAddress = '127.0.0.1'): Promise<net.Socket & { gone: boolean }> {
  const s = net.connect({ port, host: '127.0.0.1', localAddress }) as net.Socket & { gone: boolean };
  s.gone = false;
  s.on('error', () => {});
  s.on('close', () => { s.gone = true; });
  s.resume();
  await new Promise((r) => s.once('connect', r));
  cleanups.push(() => s.destroy());
  return s;
}

const dpidStr = (d: bigint) => d.toString(16).padStart(16, '0');

test('connections per source address and in total: the one over the limit is refused, the others work', async () => {
  const ctl = await controller({ maxConnectionsPerAddress: 3, maxConnections: 5 });
  const refused: string[] = [];
  ctl.of.on('refused', (remote: string, why: string) => refused.push(`${remote} ${why}`));
  const ones = [];
  for (const d of [0x11n, 0x12n, 0x13n]) {
    ones.push(await fake(ctl.ofPort, d));
    await waitFor(() => ctl.registry.get(dpidStr(d)), { what: `switch ${d} registered` });
  }
  // a 4th from 127.0.0.1 is over the per-address limit
  const fourth = await fake(ctl.ofPort, 0x14n);
  await waitFor(() => fourth.closed, { what: 'the 4th connection from 127.0.0.1 closed' });
  assert.equal(ctl.registry.get(dpidStr(0x14n)), undefined);
  assert.match(refused.join('\n'), /127\.0\.0\.1:\d+ 3 connections from 127\.0\.0\.1, the limit per address/);
  // another address still gets in, up to the total
  for (const d of [0x21n, 0x22n]) {
    await fake(ctl.ofPort, d, { localAddress: '127.0.0.2' });
    await waitFor(() => ctl.registry.get(dpidStr(d)), { what: `switch ${d} from 127.0.0.2 registered` });
  }
  const sixth = await fake(ctl.ofPort, 0x31n, { localAddress: '127.0.0.3' });
  await waitFor(() => sixth.closed, { what: 'the 6th connection closed' });
  assert.match(refused.join('\n'), /5 connections, the limit/);
  // the admitted ones all still work
  for (const d of [0x11n, 0x12n, 0x13n, 0x21n, 0x22n]) await ctl.registry.get(dpidStr(d))!.barrier();
  assert.ok(ones.every((s) => !s.closed));
  // a slot freed is a slot again
  ones[0]!.close();
  await waitFor(() => ctl.of.counts('127.0.0.1').fromAddress === 2, { what: 'the closed one uncounted' });
  await fake(ctl.ofPort, 0x15n);
  await waitFor(() => ctl.registry.get(dpidStr(0x15n)), { what: 'a new switch in the freed slot' });
});

test('handshakes in progress: over the cap refused, a stalled one closed at the deadline, then switches get in', async () => {
  const ctl = await controller({ maxHandshakes: 2, handshakeTimeoutMs: 1000 });
  const a = await silent(ctl.ofPort);
  const b = await silent(ctl.ofPort);
  await waitFor(() => ctl.of.counts().handshakes === 2, { what: 'two handshakes counted' });
  const c = await silent(ctl.ofPort);
  await waitFor(() => c.gone, { what: 'the 3rd concurrent handshake refused', timeoutMs: 500 });
  assert.ok(!a.gone && !b.gone, 'the first two wait for their deadline');
  await waitFor(() => a.gone && b.gone, { what: 'stalled handshakes closed at the deadline', timeoutMs: 3000 });
  const s = await fake(ctl.ofPort, 0x41n);
  await waitFor(() => ctl.registry.get(dpidStr(0x41n)), { what: 'a real switch adopted afterwards' });
  assert.ok(!s.closed);
  assert.equal(ctl.of.counts().handshakes, 0);
});

test('a switch that stops mid-handshake (HELLO, no FEATURES_REPLY) is closed at the deadline', async () => {
  const ctl = await controller({ handshakeTimeoutMs: 800, requestTimeoutMs: 60000 });
  const s = await fake(ctl.ofPort, 0x42n, { autoHandshake: false });
  await s.waitFor('features_request');
  await waitFor(() => s.closed, { what: 'the stalled switch closed', timeoutMs: 3000 });
});

test('multipart reassembly over the cap closes that switch only', async () => {
  const ctl = await controller({ maxMultipartBytes: 200_000 });
  const good = await fake(ctl.ofPort, 0x51n);
  const bad = await fake(ctl.ofPort, 0x52n);
  const conn = await waitFor(() => ctl.registry.get(dpidStr(0x52n)), { what: 'registered' });
  await waitFor(() => ctl.registry.get(dpidStr(0x51n)), { what: 'registered' });
  const fs1 = (n: number): FlowStats => ({ table_id: 0, duration_sec: 1, duration_nsec: 0, priority: n, idle_timeout: 0, hard_timeout: 0, flags: 0, cookie: BigInt(n), packet_count: 0n, byte_count: 0n, match: [], instructions: [] });
  const p = conn.multipart({ kind: 'flow', table_id: 0xff, out_port: 0xffffffff, out_group: 0xffffffff, cookie: 0n, cookie_mask: 0n, match: [] });
  const req = await bad.waitFor('multipart_request', (m) => m.body.kind === 'flow');
  const part = { type: 'multipart_reply' as const, xid: req.xid, flags: OFPMPF_REPLY_MORE, body: { kind: 'flow' as const, stats: Array.from({ length: 500 }, (_, i) => fs1(i)) } };
  for (let i = 0; i < 100 && !bad.closed; i++) bad.send(part);
  await assert.rejects(p, (e: unknown) => e instanceof ConnectionClosed && /over 200000 bytes/.test((e as Error).message));
  await waitFor(() => bad.closed, { what: 'the flooding switch closed' });
  await ctl.registry.get(dpidStr(0x51n))!.barrier();
  assert.ok(!good.closed);
});

test('a switch that does not read: the output buffer limit closes it', async () => {
  const ctl = await controller({ maxBufferedBytes: 1024 * 1024 });
  const good = await fake(ctl.ofPort, 0x61n);
  const bad = await fake(ctl.ofPort, 0x62n);
  const conn: Connection = await waitFor(() => ctl.registry.get(dpidStr(0x62n)), { what: 'registered' });
  await waitFor(() => ctl.registry.get(dpidStr(0x61n)), { what: 'registered' });
  bad.sock.pause();
  const data = Buffer.alloc(60000);
  let thrown: unknown;
  for (let i = 0; i < 10000 && !thrown; i++) {
    try {
      conn.send({ type: 'packet_out', buffer_id: 0xffffffff, in_port: 0xfffffffd, actions: [], data });
    } catch (e) {
      thrown = e;
    }
    if (i % 50 === 49) await new Promise((r) => setImmediate(r)); // let writes reach the socket
  }
  assert.ok(thrown instanceof LimitExceeded || thrown instanceof ConnectionClosed, `sending stopped with a limit: ${String(thrown)}`);
  assert.equal(conn.state, 'closed');
  await waitFor(() => !ctl.registry.get(dpidStr(0x62n)), { what: 'unregistered' });
  await ctl.registry.get(dpidStr(0x61n))!.barrier();
  assert.ok(!good.closed);
});

test('TLS: a certificate binds the dpids a switch may claim; a stalled TLS handshake is closed at the deadline', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-pki-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const quiet = () => undefined;
  assert.equal(await pkiMain(['init', '--dir', dir], quiet, quiet), 0);
  assert.equal(await pkiMain(['controller', '--dir', dir], quiet, quiet), 0);
  assert.equal(await pkiMain(['host', '--dir', dir, '--name', 'h1', '--dpid', '0000000000000a01', '--dpid', '0000000000000b01'], quiet, quiet), 0);
  assert.equal(await pkiMain(['host', '--dir', dir, '--name', 'h2', '--dpid', '0000000000000a02'], quiet, quiet), 0);
  const ca = path.join(dir, 'ca.crt');
  const h1 = { key: path.join(dir, 'h1.key'), cert: path.join(dir, 'h1.crt'), ca };
  const h2 = { key: path.join(dir, 'h2.key'), cert: path.join(dir, 'h2.crt'), ca };
  const ctlCert = { key: path.join(dir, 'ctl.key'), cert: path.join(dir, 'ctl.crt'), ca };
  const ctl = await controller({ handshakeTimeoutMs: 1000 }, { tls: { key: ctlCert.key, cert: ctlCert.cert, ca } });
  const reasons = new Map<string, string>();
  ctl.of.on('connection', (c: Connection) => c.once('close', (r: string) => reasons.set(c.remote, r)));

  // h1's certificate covers both its bridges
  await fake(ctl.ofPort, 0xa01n, { tls: h1 });
  await fake(ctl.ofPort, 0xb01n, { tls: h1 });
  const real = await waitFor(() => ctl.registry.get('0000000000000a01'), { what: 'h1 br-int adopted over TLS' });
  await waitFor(() => ctl.registry.get('0000000000000b01'), { what: 'h1 br-phy adopted over TLS' });
  // h2 claims h1's dpid: refused, h1's session untouched
  const liar = await fake(ctl.ofPort, 0xa01n, { tls: h2 });
  await waitFor(() => liar.closed, { what: 'the switch with a certificate for another dpid closed' });
  assert.match([...reasons.values()].join('\n'), /certificate \(CN=dpid:0000000000000a02\) does not cover dpid 0000000000000a01/);
  assert.equal(ctl.registry.get('0000000000000a01'), real);
  assert.ok(!liar.received.some((m) => m.type === 'multipart_request'), 'refused before port-desc');
  // a certificate without a dpid (the controller's own) covers none
  const none = await fake(ctl.ofPort, 0xc01n, { tls: ctlCert });
  await waitFor(() => none.closed, { what: 'a certificate bound to no dpid refused' });
  assert.equal(ctl.registry.get('0000000000000c01'), undefined);
  // h2 as itself is fine
  await fake(ctl.ofPort, 0xa02n, { tls: h2 });
  await waitFor(() => ctl.registry.get('0000000000000a02'), { what: 'h2 adopted' });
  await real.barrier();

  // TCP connected, no ClientHello: closed at the deadline
  const stall = await silent(ctl.ofPort);
  await waitFor(() => stall.gone, { what: 'stalled TLS handshake closed', timeoutMs: 4000 });
  // and a client without a certificate never gets in
  const anon = tls.connect({ port: ctl.ofPort, host: '127.0.0.1', ca: fs.readFileSync(ca), checkServerIdentity: () => undefined });
  anon.on('error', () => {});
  cleanups.push(() => anon.destroy());
  await waitFor(() => anon.destroyed || anon.readableEnded, { what: 'a client without certificate closed' });
  assert.equal(ctl.registry.list().length, 3);

  // allowUnboundCertificates: a certificate naming no dpid may claim any, one naming some still only those
  const lax = await controller({ allowUnboundCertificates: true }, { tls: { key: ctlCert.key, cert: ctlCert.cert, ca } });
  await fake(lax.ofPort, 0xc02n, { tls: ctlCert });
  await waitFor(() => lax.registry.get('0000000000000c02'), { what: 'an unbound certificate adopted when allowed' });
  const still = await fake(lax.ofPort, 0xc03n, { tls: h2 });
  await waitFor(() => still.closed, { what: 'a bound certificate still held to its dpids' });
});

/** OpenFlow messages in raw bytes: an ECHO_REQUEST of `size` bytes. */
function echoRequest(size: number): Buffer {
  const m = Buffer.alloc(size);
  m[0] = 4; m[1] = 2; m.writeUInt16BE(size, 2);
  return m;
}

test('a peer that sends echo requests and never reads loses its own connection; the controller lives on', async () => {
  const ctl = await controller({ maxBufferedBytes: 1024 * 1024 });
  const good = await fake(ctl.ofPort, 0x91n);
  await waitFor(() => ctl.registry.get(dpidStr(0x91n)), { what: 'registered' });
  const s = net.connect({ port: ctl.ofPort, host: '127.0.0.1' });
  s.on('error', () => {});
  let gone = false;
  s.on('close', () => { gone = true; });
  await new Promise((r) => s.once('connect', r));
  s.pause(); // never reads: every echo reply stays in the controller's buffer for it
  const chunk = Buffer.concat(Array.from({ length: 64 }, () => echoRequest(1024)));
  for (let i = 0; i < 400 && !gone; i++) {
    if (!s.write(chunk)) await new Promise((r) => setTimeout(r, 5));
  }
  await waitFor(() => gone, { what: 'the flooding peer disconnected', timeoutMs: 10000 });
  // still here, and the well-behaved switch too
  await ctl.registry.get(dpidStr(0x91n))!.barrier();
  assert.ok(!good.closed);
  assert.equal((await ctl.api!.inject({ method: 'GET', url: '/v1/health' })).statusCode, 200);
});

test('handshakes per source address: one address never holds every slot', async () => {
  const ctl = await controller({ maxHandshakes: 8, maxHandshakesPerAddress: 3, handshakeTimeoutMs: 3000 });
  const mine = [await silent(ctl.ofPort), await silent(ctl.ofPort), await silent(ctl.ofPort)];
  await waitFor(() => ctl.of.counts().handshakes === 3, { what: 'three handshakes from 127.0.0.1' });
  const fourth = await silent(ctl.ofPort);
  await waitFor(() => fourth.gone, { what: 'the 4th handshake from the same address refused', timeoutMs: 1000 });
  // another address still gets in while those three wait for their deadline
  const other = await fake(ctl.ofPort, 0x92n, { localAddress: '127.0.0.2' });
  await waitFor(() => ctl.registry.get(dpidStr(0x92n)), { what: 'a switch from 127.0.0.2 adopted' });
  assert.ok(!other.closed && mine.every((m) => !m.gone));
});

test('port-status: reserved port numbers are not ports, and a switch announcing too many ports is cut off', async () => {
  const ctl = await controller({});
  const s = await fake(ctl.ofPort, 0x93n);
  const conn: Connection = await waitFor(() => ctl.registry.get(dpidStr(0x93n)), { what: 'registered' });
  const before = conn.ports.length;
  const port = (no: number) => ({ port_no: no, hw_addr: '02:00:00:00:00:01', name: `p${no}`, config: 0, state: 0, curr: 0, advertised: 0, supported: 0, peer: 0, curr_speed: 0, max_speed: 0 });
  s.send({ type: 'port_status', xid: 0, reason: 0, desc: port(0xfffffff0) });
  s.send({ type: 'port_status', xid: 0, reason: 0, desc: port(7) });
  s.send({ type: 'port_status', xid: 0, reason: 2, desc: port(7) });
  s.send({ type: 'port_status', xid: 0, reason: 0, desc: port(8) });
  s.send({ type: 'port_status', xid: 0, reason: 1, desc: port(7) });
  await conn.barrier();
  assert.deepEqual(conn.ports.map((p) => p.port_no).slice(before), [8], 'the reserved number ignored; 7 added, changed, removed; 8 kept');
  for (let no = 100; no < 100 + 5000; no++) s.send({ type: 'port_status', xid: 0, reason: 0, desc: port(no) });
  await waitFor(() => conn.state === 'closed', { what: 'cut off past the port limit', timeoutMs: 10000 });
  assert.ok(conn.ports.length <= 4096);
});
