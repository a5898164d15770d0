// BGP: message bytes (southbound/bgp), and the speaker's sessions against a
// scripted peer over TCP (OPEN/KEEPALIVE handshake, announcements,
// withdrawals, a wrong AS). Framing cut at every offset is in framer.test.ts.
// bird2 as a real peer is in test/integration/multihost-routed.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pino from 'pino';
import { BgpRoute, BgpSpeaker } from '../../controller/bgp';
import { BgpFramer, BgpSession, decodeOpen, encodeOpen, encodeUpdates, messageBody, messageType } from '../../southbound/bgp';
import { FramingError } from '../../southbound/channel/framer';
import { waitFor } from '../helpers/wait';

const hex = (b: Buffer) => b.toString('hex');

/** The messages of `bytes` as (type, body) pairs. */
function frame(f: BgpFramer, bytes: Buffer): { type: number; body: Buffer }[] {
  const out: { type: number; body: Buffer }[] = [];
  f.push(bytes, (m) => out.push({ type: messageType(m), body: messageBody(m) }));
  return out;
}

test('OPEN and UPDATE bytes', () => {
  const open = encodeOpen(64512, 90, '172.31.244.1');
  assert.equal(hex(open), 'ff'.repeat(16) + '001d' + '01' + '04' + 'fc00' + '005a' + 'ac1ff401' + '00');
  assert.deepEqual(decodeOpen(open.subarray(19)), { version: 4, asn: 64512, holdTime: 90, routerId: '172.31.244.1' });
  // eBGP: ORIGIN IGP, AS_PATH [64512], NEXT_HOP; NLRI 10.60.0.0/26 and 10.60.0.64/26
  const [u] = encodeUpdates(64512, 65001, [{ prefix: '10.60.0.0/26', nextHop: '172.31.244.2' }, { prefix: '10.60.0.64/26', nextHop: '172.31.244.2' }], []);
  const body = '0000' + '0012' + '40010100' + '40020402' + '01fc00' + '400304ac1ff402' + '1a0a3c0000' + '1a0a3c0040';
  assert.equal(hex(u!), 'ff'.repeat(16) + (19 + body.length / 2).toString(16).padStart(4, '0') + '02' + body);
  // iBGP: empty AS_PATH and LOCAL_PREF 100
  const [i] = encodeUpdates(64512, 64512, [{ prefix: '10.60.0.0/24', nextHop: '10.0.0.1' }], []);
  assert.ok(hex(i!).includes('400200' + '4003040a000001' + '40050400000064' + '180a3c00'), hex(i!));
  // withdrawals alone; host bits of a prefix are cleared; /0 has no address bytes
  const [w] = encodeUpdates(64512, 65001, [], ['10.60.0.64/26', '10.61.1.9/16', '0.0.0.0/0']);
  assert.equal(hex(w!.subarray(19)), '0009' + '1a0a3c0040' + '100a3d' + '00' + '0000');
  // many routes split over messages of at most 4096 bytes
  const many = Array.from({ length: 2000 }, (_, k) => ({ prefix: `10.${k >> 8}.${k & 255}.0/24`, nextHop: '10.0.0.1' }));
  const msgs = encodeUpdates(64512, 65001, many, []);
  assert.ok(msgs.length > 1 && msgs.every((m) => m.length <= 4096));
  assert.equal(frame(new BgpFramer(), Buffer.concat(msgs)).length, msgs.length);
});

test('the framer refuses a bad marker or length', () => {
  assert.throws(() => frame(new BgpFramer(), Buffer.alloc(19)), (e: unknown) => e instanceof FramingError && /marker/.test(e.message));
  const bad = Buffer.alloc(19, 0xff);
  bad.writeUInt16BE(5000, 16);
  assert.throws(() => frame(new BgpFramer(), bad), (e: unknown) => e instanceof FramingError && /length/.test(e.message));
  const ka = Buffer.alloc(19, 0xff);
  ka.writeUInt16BE(19, 16);
  ka[18] = 4;
  const f = new BgpFramer();
  assert.equal(frame(f, ka.subarray(0, 7)).length, 0, 'a message split anywhere waits for the rest');
  assert.deepEqual(frame(f, ka.subarray(7)).map((m) => m.type), [4]);
});

interface PeerLog { open?: ReturnType<typeof decodeOpen>; types: number[]; announced: string[]; withdrawn: string[]; nextHops: string[] }

/** A scripted BGP peer: answers OPEN with OPEN(asn) + KEEPALIVE and records what it gets. */
async function scriptedPeer(asn: number): Promise<{ port: number; log: PeerLog; close(): Promise<void> }> {
  const log: PeerLog = { types: [], announced: [], withdrawn: [], nextHops: [] };
  const socks: net.Socket[] = [];
  const srv = net.createServer((s) => {
    socks.push(s);
    const f = new BgpFramer();
    s.on('data', (d: Buffer) => {
      for (const m of frame(f, d)) {
        log.types.push(m.type);
        if (m.type === 1) {
          log.open = decodeOpen(m.body);
          s.write(Buffer.concat([encodeOpen(asn, 30, '192.0.2.9'), Buffer.from('ffffffffffffffffffffffffffffffff001304', 'hex')]));
        } else if (m.type === 2) {
          const b = m.body;
          const wl = b.readUInt16BE(0);
          for (const p of prefixes(b.subarray(2, 2 + wl))) log.withdrawn.push(p);
          const al = b.readUInt16BE(2 + wl);
          const attrs = b.subarray(4 + wl, 4 + wl + al);
          for (let i = 0; i < attrs.length;) {
            const type = attrs[i + 1]!;
            const len = attrs[i + 2]!;
            if (type === 3) log.nextHops.push([...attrs.subarray(i + 3, i + 7)].join('.'));
            i += 3 + len;
          }
          for (const p of prefixes(b.subarray(4 + wl + al))) log.announced.push(p);
        }
      }
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port, log,
    close: () => new Promise<void>((r) => { for (const s of socks) s.destroy(); srv.close(() => r()); }),
  };
}

function prefixes(b: Buffer): string[] {
  const out: string[] = [];
  for (let i = 0; i < b.length;) {
    const len = b[i]!;
    const n = Math.ceil(len / 8);
    const bytes = [0, 0, 0, 0];
    for (let k = 0; k < n; k++) bytes[k] = b[i + 1 + k]!;
    out.push(`${bytes.join('.')}/${len}`);
    i += 1 + n;
  }
  return out;
}

test('a session: handshake, the table once established, then only changes', async () => {
  const peer = await scriptedPeer(65001);
  let routes: BgpRoute[] = [{ prefix: '10.60.0.0/26', nextHop: '172.31.244.2' }, { prefix: '10.60.0.64/26', nextHop: '172.31.244.3' }];
  const sp = new BgpSpeaker({ asn: 64512, routerId: '172.31.244.1', peers: [{ address: '127.0.0.1', asn: 65001, port: peer.port }] }, () => routes, pino({ level: 'silent' }));
  try {
    sp.start();
    await waitFor(() => sp.status()[0]!.state === 'established', { what: 'established', timeoutMs: 5000 });
    assert.deepEqual(peer.log.open, { version: 4, asn: 64512, holdTime: 90, routerId: '172.31.244.1' });
    await waitFor(() => peer.log.announced.length === 2, { what: 'the table', timeoutMs: 5000 });
    assert.deepEqual(peer.log.announced.sort(), ['10.60.0.0/26', '10.60.0.64/26']);
    assert.deepEqual(peer.log.nextHops.sort(), ['172.31.244.2', '172.31.244.3']);
    assert.equal(sp.status()[0]!.advertised, 2);
    // a block released, another claimed
    routes = [routes[0]!, { prefix: '10.60.0.128/26', nextHop: '172.31.244.2' }];
    sp.sync();
    await waitFor(() => peer.log.withdrawn.length === 1 && peer.log.announced.length === 3, { what: 'the change', timeoutMs: 5000 });
    assert.deepEqual(peer.log.withdrawn, ['10.60.0.64/26']);
    assert.equal(peer.log.announced[2], '10.60.0.128/26');
    // nothing changed: nothing sent. TCP keeps order, so a later change is the
    // barrier: if the idle sync had sent anything it would arrive first.
    const n = peer.log.types.filter((t) => t === 2).length;
    sp.sync();
    routes = [...routes, { prefix: '10.60.1.0/26', nextHop: '172.31.244.2' }];
    sp.sync();
    await waitFor(() => peer.log.announced.length === 4, { what: 'the barrier route', timeoutMs: 5000 });
    assert.equal(peer.log.announced[3], '10.60.1.0/26');
    assert.equal(peer.log.types.filter((t) => t === 2).length, n + 1, 'only the barrier UPDATE after the idle sync');
  } finally {
    sp.stop();
    await peer.close();
  }
});

test('routes that cannot be read (a degraded store) leave the session and its announcements as they are', async () => {
  const peer = await scriptedPeer(65001);
  let broken = false;
  const table: BgpRoute[] = [{ prefix: '10.60.0.0/26', nextHop: '172.31.244.2' }];
  const sp = new BgpSpeaker({ asn: 64512, routerId: '172.31.244.1', peers: [{ address: '127.0.0.1', asn: 65001, port: peer.port }] },
    () => { if (broken) throw new Error('the store is unavailable'); return table; }, pino({ level: 'silent' }));
  try {
    sp.start();
    await waitFor(() => peer.log.announced.length === 1, { what: 'the table', timeoutMs: 5000 });
    broken = true;
    sp.sync();
    broken = false;
    // the session stayed up and announced nothing new: the next change arrives alone, and nothing was withdrawn
    table.push({ prefix: '10.60.0.64/26', nextHop: '172.31.244.2' });
    sp.sync();
    await waitFor(() => peer.log.announced.length === 2, { what: 'the next change', timeoutMs: 5000 });
    assert.deepEqual(peer.log.withdrawn, []);
    assert.equal(sp.status()[0]!.state, 'established');
    assert.equal(peer.log.types.filter((t) => t === 3).length, 0, 'no NOTIFICATION');
  } finally {
    sp.stop();
    await peer.close();
  }
});

test('a peer in another AS than configured gets a NOTIFICATION and no routes', async () => {
  const peer = await scriptedPeer(65099);
  const sp = new BgpSpeaker({ asn: 64512, routerId: '10.0.0.1', peers: [{ address: '127.0.0.1', asn: 65001, port: peer.port }] },
    () => [{ prefix: '10.60.0.0/26', nextHop: '10.0.0.2' }], pino({ level: 'silent' }));
  try {
    sp.start();
    await waitFor(() => peer.log.types.includes(3), { what: 'NOTIFICATION', timeoutMs: 5000 });
    assert.match(sp.status()[0]!.lastError ?? '', /peer AS 65099, configured 65001/);
    assert.notEqual(sp.status()[0]!.state, 'established');
    assert.equal(peer.log.announced.length, 0);
  } finally {
    sp.stop();
    await peer.close();
  }
});

/** A raw BGP message: marker, a Length field that may lie, type, body. */
function rawMsg(type: number, body: Buffer, len = 19 + body.length, marker = Buffer.alloc(16, 0xff)): Buffer {
  const h = Buffer.alloc(19);
  marker.copy(h);
  h.writeUInt16BE(len, 16);
  h[18] = type;
  return Buffer.concat([h, body]);
}
const KEEPALIVE = rawMsg(4, Buffer.alloc(0));

/**
 * A peer that answers the session's OPEN with `reply(open)` (its OPEN and
 * KEEPALIVE first when `establish`) and resolves with the NOTIFICATION it
 * gets back: [code, subcode, data hex].
 */
async function notificationFor(bad: Buffer, establish: boolean): Promise<[number, number, string]> {
  let resolveN!: (n: [number, number, string]) => void;
  const got = new Promise<[number, number, string]>((r) => { resolveN = r; });
  const socks: net.Socket[] = [];
  const srv = net.createServer((s) => {
    socks.push(s);
    s.on('error', () => {});
    const f = new BgpFramer();
    s.on('data', (d: Buffer) => {
      for (const m of frame(f, d)) {
        if (m.type === 1) s.write(Buffer.concat([...(establish ? [encodeOpen(65001, 30, '192.0.2.9'), KEEPALIVE] : []), bad]));
        if (m.type === 3) resolveN([m.body[0]!, m.body[1]!, m.body.subarray(2).toString('hex')]);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const session = new BgpSession({ asn: 64512, routerId: '10.0.0.1', peer: { address: '127.0.0.1', asn: 65001, port: (srv.address() as net.AddressInfo).port } },
    pino({ level: 'silent' }), () => {});
  try {
    session.start();
    const timeout = new Promise<never>((_r, rej) => setTimeout(() => rej(new Error('no NOTIFICATION within 5 s')), 5000).unref());
    return await Promise.race([got, timeout]);
  } finally {
    session.stop();
    for (const s of socks) s.destroy();
    await new Promise<void>((r) => srv.close(() => r()));
  }
}

test('RFC 4271 §6 length checks: each bad length gets its NOTIFICATION', async () => {
  const open = encodeOpen(65001, 30, '192.0.2.9');
  const cases: [string, Buffer, boolean, [number, number, string]][] = [
    // §6.1 Message Header Error, Bad Message Length (data: the Length field)
    ['a Length below 19', rawMsg(4, Buffer.alloc(0), 18), false, [1, 2, '0012']],
    ['a Length above 4096', rawMsg(2, Buffer.alloc(0), 5000), false, [1, 2, '1388']],
    ['a KEEPALIVE of 20 bytes', rawMsg(4, Buffer.alloc(1)), true, [1, 2, '0014']],
    ['an OPEN of 28 bytes', rawMsg(1, open.subarray(19, 28)), false, [1, 2, '001c']],
    ['an UPDATE of 22 bytes', rawMsg(2, Buffer.alloc(3)), true, [1, 2, '0016']],
    ['a NOTIFICATION of 20 bytes', rawMsg(3, Buffer.from([6])), true, [1, 2, '0014']],
    // §6.1 Connection Not Synchronized and Bad Message Type
    ['a bad marker', rawMsg(4, Buffer.alloc(0), 19, Buffer.alloc(16, 0xfe)), false, [1, 1, '']],
    ['an unknown type', rawMsg(9, Buffer.alloc(0)), true, [1, 3, '09']],
    // §6.3 UPDATE Message Error, Malformed Attribute List: the internal lengths exceed the message
    ['withdrawn routes length too large', rawMsg(2, Buffer.from('00100000', 'hex')), true, [3, 1, '']],
    ['path attribute length too large', rawMsg(2, Buffer.from('0000' + '0008' + '40010100', 'hex')), true, [3, 1, '']],
    // §6.2: an OPEN whose optional parameters length does not match its size
    ['OPEN optional parameters length', rawMsg(1, Buffer.concat([open.subarray(19, 28), Buffer.from([4])])), false, [2, 0, '']],
  ];
  for (const [what, bad, establish, want] of cases) {
    assert.deepEqual(await notificationFor(bad, establish), want, what);
  }
  // well-formed UPDATEs draw none: the first NOTIFICATION is the one for the bad KEEPALIVE after them (TCP keeps order)
  const [w] = encodeUpdates(65001, 64512, [], ['10.1.0.0/16']);
  const [a] = encodeUpdates(65001, 64512, [{ prefix: '10.2.0.0/16', nextHop: '192.0.2.9' }], []);
  assert.deepEqual(await notificationFor(Buffer.concat([w!, a!, rawMsg(4, Buffer.alloc(1))]), true), [1, 2, '0014']);
});
