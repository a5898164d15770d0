// BGP: message bytes (southbound/bgp), and the speaker's sessions against a
// scripted peer over TCP (OPEN/KEEPALIVE handshake, announcements,
// withdrawals, a wrong AS). Framing cut at every offset is in framer.test.ts.
// bird2 as a real peer is in test/integration/multihost-routed.test.ts, and
// graceful restart against bird2 in test/integration/bgp-graceful-restart.test.ts.
// Capabilities (RFC 5492, graceful restart RFC 4724) are checked against
// os-ken's BGP codec (test/tools/osken-bgp-open.py, Debian python3-os-ken,
// as in osken-generated.test.ts: a missing os-ken fails, it is not skipped).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { BgpRoute, BgpSpeaker } from '../../controller/bgp';
import {
  BgpFramer, BgpOpenError, BgpSession, decodeOpen, decodeOptionalParameters, encodeCapabilities, encodeEndOfRib, encodeOpen, encodeUpdates, isEndOfRib,
  messageBody, messageType, NO_CAPABILITIES, OwnCapabilities,
} from '../../southbound/bgp';
import { repoRoot } from '../helpers/paths';
import { FramingError } from '../../southbound/channel/framer';
import { waitFor } from '../helpers/wait';

const hex = (b: Buffer) => b.toString('hex');

/** Our OPEN's capabilities with graceful restart (120 s, IPv4 unicast forwarding kept) and Restart State `r`. */
const GR_CAPS = (r: boolean): OwnCapabilities => ({
  families: [{ afi: 1, safi: 1 }], gracefulRestart: { restartState: r, restartTime: 120, families: [{ afi: 1, safi: 1, forwarding: true }] },
});

/** The messages of `bytes` as (type, body) pairs. */
function frame(f: BgpFramer, bytes: Buffer): { type: number; body: Buffer }[] {
  const out: { type: number; body: Buffer }[] = [];
  f.push(bytes, (m) => out.push({ type: messageType(m), body: messageBody(m) }));
  return out;
}

test('OPEN and UPDATE bytes', () => {
  const open = encodeOpen(64512, 90, '172.31.244.1');
  assert.equal(hex(open), 'ff'.repeat(16) + '001d' + '01' + '04' + 'fc00' + '005a' + 'ac1ff401' + '00');
  assert.deepEqual(decodeOpen(open.subarray(19)), { version: 4, asn: 64512, holdTime: 90, routerId: '172.31.244.1', capabilities: NO_CAPABILITIES });
  // with capabilities: one Capabilities parameter (2) holding Multiprotocol IPv4 unicast (1) and Graceful Restart (64):
  // R bit + 120 s (0x8078), AFI 1 SAFI 1 with the Forwarding State bit (0x80)
  const gr = encodeOpen(64512, 90, '172.31.244.1', GR_CAPS(true));
  assert.equal(hex(gr), 'ff'.repeat(16) + '002d' + '01' + '04' + 'fc00' + '005a' + 'ac1ff401' + '10' + '020e' + '010400010001' + '4006' + '8078' + '00010180');
  assert.deepEqual(decodeOpen(gr.subarray(19)).capabilities, {
    ...NO_CAPABILITIES, multiprotocol: [{ afi: 1, safi: 1 }], gracefulRestart: { restartState: true, restartTime: 120, families: [{ afi: 1, safi: 1, forwarding: true }] },
  });
  // End-of-RIB for IPv4 unicast: an UPDATE of 23 bytes, both lengths zero
  assert.equal(hex(encodeEndOfRib()), 'ff'.repeat(16) + '0017' + '02' + '00000000');
  assert.ok(isEndOfRib(encodeEndOfRib().subarray(19)));
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

interface PeerLog {
  open?: ReturnType<typeof decodeOpen>;
  /** Every OPEN received, one per connection. */
  opens: ReturnType<typeof decodeOpen>[];
  types: number[]; announced: string[]; withdrawn: string[]; nextHops: string[];
  /** At each End-of-RIB: how many prefixes had been announced before it. */
  endOfRib: number[];
  /** NOTIFICATIONs received, "code/subcode". */
  notifications: string[];
  /** The address each connection came from. */
  remotes: string[];
}

/**
 * A scripted BGP peer: answers OPEN with OPEN(asn, with `caps` when given) +
 * KEEPALIVE and records what it gets; drop() closes its connections (the
 * session then comes back by itself).
 */
async function scriptedPeer(asn: number, caps?: OwnCapabilities): Promise<{ port: number; log: PeerLog; drop(): void; close(): Promise<void> }> {
  const log: PeerLog = { opens: [], types: [], announced: [], withdrawn: [], nextHops: [], endOfRib: [], notifications: [], remotes: [] };
  const socks: net.Socket[] = [];
  const srv = net.createServer((s) => {
    socks.push(s);
    log.remotes.push(s.remoteAddress ?? '');
    const f = new BgpFramer();
    s.on('data', (d: Buffer) => {
      for (const m of frame(f, d)) {
        log.types.push(m.type);
        if (m.type === 1) {
          log.open = decodeOpen(m.body);
          log.opens.push(log.open);
          s.write(Buffer.concat([encodeOpen(asn, 30, '192.0.2.9', caps), Buffer.from('ffffffffffffffffffffffffffffffff001304', 'hex')]));
        } else if (m.type === 3) {
          log.notifications.push(`${m.body[0]}/${m.body[1]}`);
        } else if (m.type === 2) {
          const b = m.body;
          if (isEndOfRib(b)) log.endOfRib.push(log.announced.length);
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
    drop: () => { for (const s of socks.splice(0)) s.destroy(); },
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
    assert.deepEqual({ ...peer.log.open, capabilities: undefined }, { version: 4, asn: 64512, holdTime: 90, routerId: '172.31.244.1', capabilities: undefined });
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

// ---- Capabilities and graceful restart (RFC 5492, RFC 4724) -------------------

const PYTHON = process.env.WEFT_OSKEN_PYTHON ?? '/usr/bin/python3';
const OSKEN_TOOL = path.join(repoRoot(), 'test/tools/osken-bgp-open.py');
const osken = <T>(args: string[]): T => JSON.parse(execFileSync(PYTHON, [OSKEN_TOOL, ...args], { encoding: 'utf8' })) as T;

test('capabilities against os-ken: it reads our OPENs and End-of-RIB, we read the OPENs it builds', () => {
  const ours = [
    encodeOpen(64512, 90, '172.31.235.1', { families: [{ afi: 1, safi: 1 }] }),
    encodeOpen(64512, 90, '172.31.235.1', GR_CAPS(false)),
    encodeOpen(64512, 90, '172.31.235.1', { ...GR_CAPS(true), gracefulRestart: { ...GR_CAPS(true).gracefulRestart!, restartTime: 4095 } }),
    encodeEndOfRib(),
  ];
  type Read = { type: number; my_as?: number; hold_time?: number; bgp_identifier?: string; caps?: Record<string, unknown>[]; withdrawn?: number; attrs?: number; nlri?: number };
  const read = osken<Read[]>(['decode', ...ours.map(hex)]);
  const mp = { code: 1, afi: 1, safi: 1 };
  assert.deepEqual(read[0], { type: 1, version: 4, my_as: 64512, hold_time: 90, bgp_identifier: '172.31.235.1', caps: [mp] });
  // os-ken's flags are the 4 Restart Flags bits: 8 is R
  assert.deepEqual(read[1]!.caps, [mp, { code: 64, flags: 0, time: 120, tuples: [[1, 1, 0x80]] }]);
  assert.deepEqual(read[2]!.caps, [mp, { code: 64, flags: 8, time: 4095, tuples: [[1, 1, 0x80]] }]);
  assert.deepEqual(read[3], { type: 2, withdrawn: 0, attrs: 0, nlri: 0 });

  const built = osken<{ name: string; hex: string }[]>(['build']);
  const caps = built.map((b) => decodeOpen(messageBody(Buffer.from(b.hex, 'hex'))).capabilities);
  assert.deepEqual(caps[0], {
    multiprotocol: [{ afi: 1, safi: 1 }], routeRefresh: true, fourOctetAs: 65001, unknown: [],
    gracefulRestart: { restartState: true, restartTime: 120, families: [{ afi: 1, safi: 1, forwarding: true }] },
  }, built[0]!.name);
  assert.deepEqual(caps[1], { ...NO_CAPABILITIES, gracefulRestart: { restartState: false, restartTime: 4095, families: [] }, unknown: [73] }, built[1]!.name);
  assert.deepEqual(caps[2], {
    ...NO_CAPABILITIES, multiprotocol: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }],
    gracefulRestart: { restartState: false, restartTime: 300, families: [{ afi: 1, safi: 1, forwarding: true }, { afi: 2, safi: 1, forwarding: false }] },
  }, built[2]!.name);
  // the fixed part too
  assert.deepEqual({ ...decodeOpen(messageBody(Buffer.from(built[0]!.hex, 'hex'))), capabilities: null }, { version: 4, asn: 65001, holdTime: 30, routerId: '172.31.235.201', capabilities: null });
  // and what we encode for one family with GR is what os-ken encodes, once its one-parameter-per-capability form is merged
  assert.equal(hex(encodeCapabilities({ families: [{ afi: 1, safi: 1 }, { afi: 2, safi: 1 }], gracefulRestart: { restartState: false, restartTime: 300, families: [{ afi: 1, safi: 1, forwarding: true }, { afi: 2, safi: 1, forwarding: false }] } })),
    '02' + '18' + '010400010001' + '010400020001' + '400a012c0001018000020100');
  assert.ok(built[2]!.hex.endsWith('0206010400010001' + '0206010400020001' + '020c400a012c0001018000020100'));
});

test('bird 2.0.12\'s OPEN (graceful restart on), as it sent it to Weft\'s session: read, its two unknown capabilities ignored', () => {
  // captured from bird 2.0.12 (`graceful restart on;`, AS 65001, router id 192.0.2.201): Multiprotocol IPv4 unicast,
  // Route Refresh, Graceful Restart (120 s, IPv4 unicast, forwarding not kept), four-octet AS, Enhanced Route Refresh (70)
  // and Long-Lived Graceful Restart (71), all in one Capabilities parameter
  const bird = Buffer.from('ffffffffffffffffffffffffffffffff00390104fde9001ec00002c91c021a0104000100010200400600780001010041040000fde946004700', 'hex');
  assert.deepEqual(decodeOpen(messageBody(bird)), {
    version: 4, asn: 65001, holdTime: 30, routerId: '192.0.2.201',
    capabilities: {
      multiprotocol: [{ afi: 1, safi: 1 }], routeRefresh: true, fourOctetAs: 65001, unknown: [70, 71],
      gracefulRestart: { restartState: false, restartTime: 120, families: [{ afi: 1, safi: 1, forwarding: false }] },
    },
  });
  // os-ken reads the same flags, time and first AFI/SAFI tuple; it does not cut a capability's value at its length, so
  // with more capabilities after Graceful Restart in the same parameter it reads their bytes as more tuples (not compared)
  const [o] = osken<{ caps: { code: number; flags?: number; time?: number; tuples?: number[][] }[] }[]>(['decode', hex(bird)]);
  const g = o!.caps.find((c) => c.code === 64)!;
  assert.deepEqual([g.flags, g.time, g.tuples?.[0]], [0, 120, [1, 1, 0]]);
  assert.deepEqual(o!.caps.map((c) => c.code), [1, 2, 64, 65, 70, 71]);
});

test('malformed optional parameters (an attacker\'s lengths): an OPEN Message Error, never a crash; unknown capabilities ignored', () => {
  const subcodeOf = (h: string): number | 'ok' => {
    try { decodeOptionalParameters(Buffer.from(h, 'hex')); return 'ok'; } catch (e) { assert.ok(e instanceof BgpOpenError, `${h}: ${(e as Error).message}`); return e.subcode; }
  };
  const cases: [string, string, number | 'ok'][] = [
    ['a parameter header cut short', '02', 0],
    ['a parameter longer than the field', '0205' + '4002', 0],
    ['a capability header cut short', '0201' + '40', 0],
    ['a capability longer than its parameter', '0204' + '4006' + '0078', 0],
    ['a capability split across two parameters', '0202' + '4006' + '0204' + '00780001', 0],
    ['Graceful Restart of 1 byte', '0203' + '4001' + '00', 0],
    ['Graceful Restart of 3 bytes', '0205' + '4003' + '007800', 0],
    ['Graceful Restart with half an AFI/SAFI tuple', '0206' + '4004' + '00780001', 0],
    ['Multiprotocol of 3 bytes', '0205' + '0103' + '000101', 0],
    ['Multiprotocol of 5 bytes', '0207' + '0105' + '0001000100', 0],
    ['four-octet AS of 2 bytes', '0204' + '4102' + 'fde9', 0],
    ['Route Refresh with a value', '0203' + '0201' + '00', 0],
    ['an Authentication parameter (type 1)', '0102' + 'abcd', 4],
    ['an extended-length parameter (RFC 9072, not offered)', 'ff' + '0000', 4],
    ['an empty Capabilities parameter', '0200', 'ok'],
    ['an unknown capability of 250 bytes', '02fc' + '49fa' + '00'.repeat(250), 'ok'],
    ['a zero-length unknown capability', '0202' + '4900', 'ok'],
    ['Graceful Restart with no families (helper only)', '0204' + '4002' + '0078', 'ok'],
  ];
  for (const [what, h, want] of cases) assert.equal(subcodeOf(h), want, what);
  // the unsupported parameter is the NOTIFICATION's data
  assert.throws(() => decodeOptionalParameters(Buffer.from('0102abcd', 'hex')), (e: unknown) => e instanceof BgpOpenError && hex(e.data) === '0102abcd');
  // random fields: only BgpOpenError ever comes out
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed; };
  for (let n = 0; n < 20000; n++) {
    const b = Buffer.alloc(rnd() % 40);
    for (let i = 0; i < b.length; i++) b[i] = rnd() & 0xff;
    if (b.length && rnd() % 2) b[0] = 2; // mostly Capabilities parameters, to reach the capability parser
    if (b.length > 2 && rnd() % 2) b[2] = [1, 2, 64, 65][rnd() % 4]!;
    try { decodeOptionalParameters(b); } catch (e) { assert.ok(e instanceof BgpOpenError, `${hex(b)}: ${(e as Error).message}`); }
  }
});

test('a peer\'s malformed capability gets an OPEN Message Error NOTIFICATION', async () => {
  const body = (params: string) => { const b = Buffer.from(encodeOpen(65001, 30, '192.0.2.9').subarray(19)); b[9] = params.length / 2; return Buffer.concat([b, Buffer.from(params, 'hex')]); };
  assert.deepEqual(await notificationFor(rawMsg(1, body('0205' + '4003' + '007800')), false), [2, 0, '']);
  assert.deepEqual(await notificationFor(rawMsg(1, body('0204' + '4006' + '0078')), false), [2, 0, '']);
  assert.deepEqual(await notificationFor(rawMsg(1, body('0102' + 'abcd')), false), [2, 4, '0102abcd']);
});

/** A peer with graceful restart (90 s, IPv4 unicast, forwarding not kept) as bird sends it. */
const PEER_GR: OwnCapabilities = { families: [{ afi: 1, safi: 1 }], gracefulRestart: { restartState: false, restartTime: 90, families: [{ afi: 1, safi: 1, forwarding: false }] } };
const silent = pino({ level: 'silent' });

test('graceful restart: the capability, End-of-RIB after the table, no NOTIFICATION on stop, the Restart State bit when it comes back', async () => {
  const peer = await scriptedPeer(65001, PEER_GR);
  const routes: BgpRoute[] = [{ prefix: '10.60.0.0/26', nextHop: '172.31.244.2' }, { prefix: '10.60.0.64/26', nextHop: '172.31.244.3' }];
  const sp = new BgpSpeaker({ asn: 64512, routerId: '172.31.244.1', peers: [{ address: '127.0.0.1', asn: 65001, port: peer.port }] }, () => routes, silent);
  try {
    sp.start();
    await waitFor(() => peer.log.endOfRib.length === 1, { what: 'End-of-RIB', timeoutMs: 5000 });
    assert.deepEqual(peer.log.endOfRib, [2], 'End-of-RIB right after the two routes');
    assert.deepEqual(peer.log.opens[0]!.capabilities, {
      ...NO_CAPABILITIES, multiprotocol: [{ afi: 1, safi: 1 }],
      gracefulRestart: { restartState: false, restartTime: 120, families: [{ afi: 1, safi: 1, forwarding: true }] },
    }, 'default 120 s, forwarding kept, not restarted (a first start)');
    assert.deepEqual(sp.status()[0]!.gracefulRestart, { negotiated: true, restartTime: 120, restartState: false, peerRestartTime: 90, endOfRibSent: true });
    // stop (a leader stepping down, a controller stopping): the connection closes, with no NOTIFICATION (that would flush the routes)
    const closed = peer.log.types.length;
    sp.stop();
    await waitFor(() => sp.status()[0]!.state === 'idle', { what: 'idle' });
    // a later change is the barrier: the next start's OPEN comes after anything the stop sent (one connection per start)
    sp.start();
    await waitFor(() => peer.log.endOfRib.length === 2, { what: 'the second End-of-RIB', timeoutMs: 5000 });
    assert.deepEqual(peer.log.notifications, [], 'no NOTIFICATION on stop');
    assert.ok(!peer.log.types.slice(closed).includes(3));
    assert.equal(peer.log.opens[1]!.capabilities.gracefulRestart?.restartState, true, 'the Restart State bit: this speaker had a session before');
    assert.deepEqual(peer.log.endOfRib, [2, 4], 'the whole table again, then End-of-RIB');
    assert.equal(sp.status()[0]!.gracefulRestart.restartState, true);
  } finally {
    sp.stop();
    await peer.close();
  }
});

test('graceful restart: a speaker started as restarted (a new leader) says so in its first OPEN; --bgp-source is the session\'s address', async () => {
  const peer = await scriptedPeer(65001, PEER_GR);
  const sp = new BgpSpeaker({ asn: 64512, routerId: '172.31.244.1', peers: [{ address: '127.0.0.1', asn: 65001, port: peer.port }], restartTime: 300, source: '127.0.0.2' }, () => [], silent);
  try {
    sp.start({ restarting: true });
    await waitFor(() => peer.log.endOfRib.length === 1, { what: 'End-of-RIB', timeoutMs: 5000 });
    assert.deepEqual(peer.log.remotes, ['127.0.0.2'], 'from the configured source address');
    assert.deepEqual(peer.log.endOfRib, [0], 'End-of-RIB even with nothing to announce');
    assert.deepEqual(peer.log.opens[0]!.capabilities.gracefulRestart, { restartState: true, restartTime: 300, families: [{ afi: 1, safi: 1, forwarding: true }] });
  } finally {
    sp.stop();
    await peer.close();
  }
});

test('without a restart time: no Graceful Restart capability and stop sends Cease; a peer without it negotiates none', async () => {
  const peer = await scriptedPeer(65001, PEER_GR);
  const sp = new BgpSpeaker({ asn: 64512, routerId: '172.31.244.1', peers: [{ address: '127.0.0.1', asn: 65001, port: peer.port }], restartTime: 0 },
    () => [{ prefix: '10.60.0.0/26', nextHop: '172.31.244.2' }], silent);
  const plain = await scriptedPeer(65001);
  const sp2 = new BgpSpeaker({ asn: 64512, routerId: '172.31.244.1', peers: [{ address: '127.0.0.1', asn: 65001, port: plain.port }] }, () => [], silent);
  try {
    sp.start();
    sp2.start();
    await waitFor(() => peer.log.endOfRib.length === 1 && plain.log.endOfRib.length === 1, { what: 'End-of-RIB', timeoutMs: 5000 });
    assert.deepEqual(peer.log.opens[0]!.capabilities, { ...NO_CAPABILITIES, multiprotocol: [{ afi: 1, safi: 1 }] });
    assert.deepEqual(sp.status()[0]!.gracefulRestart, { negotiated: false, restartTime: null, restartState: false, peerRestartTime: 90, endOfRibSent: true });
    assert.equal(sp2.status()[0]!.gracefulRestart.negotiated, false, 'the peer sent no Graceful Restart capability');
    sp.stop();
    await waitFor(() => peer.log.notifications.length === 1, { what: 'Cease', timeoutMs: 5000 });
    assert.deepEqual(peer.log.notifications, ['6/2']);
  } finally {
    sp.stop();
    sp2.stop();
    await peer.close();
    await plain.close();
  }
});

test('End-of-RIB waits for a table that can be read (a degraded store at establishment)', async () => {
  const peer = await scriptedPeer(65001, PEER_GR);
  let broken = true;
  const sp = new BgpSpeaker({ asn: 64512, routerId: '172.31.244.1', peers: [{ address: '127.0.0.1', asn: 65001, port: peer.port }] },
    () => { if (broken) throw new Error('the store is unavailable'); return [{ prefix: '10.60.0.0/26', nextHop: '172.31.244.2' }]; }, silent);
  try {
    sp.start();
    await waitFor(() => sp.status()[0]!.state === 'established', { what: 'established', timeoutMs: 5000 });
    // an End-of-RIB now would make the peer drop the routes it kept from before
    assert.equal(sp.status()[0]!.gracefulRestart.endOfRibSent, false);
    broken = false;
    sp.sync();
    await waitFor(() => peer.log.endOfRib.length === 1, { what: 'End-of-RIB', timeoutMs: 5000 });
    assert.deepEqual(peer.log.endOfRib, [1], 'after the table');
  } finally {
    sp.stop();
    await peer.close();
  }
});
