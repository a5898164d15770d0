// The one length-prefixed framer, in its two formats: OpenFlow (8-byte
// header, length at offset 2) and BGP (16-byte marker, length at offset 16,
// 19-byte header, at most 4096 bytes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Framer, FramingError, LengthFramer } from '../../southbound/channel/framer';
import { encodeMessage, flowMod, OfpMessage } from '../../southbound/codec';
import { BgpFramer, BGP_MAX_MESSAGE, encodeKeepalive, encodeNotification, encodeOpen, encodeUpdates } from '../../southbound/bgp';

function frames(): Buffer[] {
  const msgs: OfpMessage[] = [
    { type: 'hello', xid: 1, elements: [{ type: 'versionbitmap', bitmaps: [0x10] }] },
    { type: 'echo_request', xid: 2, data: Buffer.from('abc') },
    flowMod({ xid: 3, priority: 7, match: [{ field: 'in_port', value: 1 }], instructions: [{ type: 'apply_actions', actions: [{ type: 'output', port: 2 }] }] }),
    { type: 'barrier_request', xid: 4 },
  ];
  return msgs.map(encodeMessage);
}

test('frames split at every possible offset come out whole and in order', () => {
  const all = Buffer.concat(frames());
  for (let cut1 = 0; cut1 <= all.length; cut1++) {
    for (const cut2 of [cut1, Math.min(all.length, cut1 + 3), all.length]) {
      const f = new Framer();
      const got: Buffer[] = [];
      for (const part of [all.subarray(0, cut1), all.subarray(cut1, cut2), all.subarray(cut2)]) {
        f.push(part, (fr) => got.push(Buffer.from(fr)));
      }
      assert.deepEqual(got, frames(), `cuts at ${cut1}/${cut2}`);
      assert.equal(f.buffered, 0);
    }
  }
});

test('one byte at a time', () => {
  const all = Buffer.concat(frames());
  const f = new Framer();
  const got: Buffer[] = [];
  for (let i = 0; i < all.length; i++) f.push(all.subarray(i, i + 1), (fr) => got.push(Buffer.from(fr)));
  assert.deepEqual(got, frames());
});

test('a frame that arrives whole is zero-copy', () => {
  const all = Buffer.concat(frames());
  const f = new Framer();
  const got: Buffer[] = [];
  f.push(all, (fr) => got.push(fr));
  assert.equal(got.length, 4);
  for (const g of got) assert.equal(g.buffer, all.buffer, 'frame shares the chunk memory');
});

test('a length shorter than the header is unrecoverable', () => {
  const f = new Framer();
  assert.throws(() => f.push(Buffer.from('0400000400000000', 'hex'), () => {}), FramingError);
  const g = new Framer();
  g.push(Buffer.from('0400', 'hex'), () => {});
  assert.throws(() => g.push(Buffer.from('000500000000', 'hex'), () => {}), FramingError);
});

test('maximum frame size is enforced', () => {
  const f = new Framer(1024);
  assert.throws(() => f.push(Buffer.from('0400080000000000', 'hex'), () => {}), /exceeds the maximum of 1024/);
  assert.throws(() => new Framer(4), RangeError);
});

test('the OpenFlow framer is the shared framer, with its errors typed', () => {
  assert.ok(new Framer() instanceof LengthFramer);
  assert.throws(() => new Framer(1024).push(Buffer.from('0400080000000000', 'hex'), () => {}),
    (e: unknown) => e instanceof FramingError && e.reason === 'long' && e.length === 0x800);
  assert.throws(() => new Framer().push(Buffer.from('0400000700000000', 'hex'), () => {}),
    (e: unknown) => e instanceof FramingError && e.reason === 'short' && e.length === 7);
  assert.throws(() => new LengthFramer({ name: 'x', headerLen: 4, lengthOffset: 3, maxFrame: 100 }), RangeError);
  assert.throws(() => new LengthFramer({ name: 'x', headerLen: 4, lengthOffset: 0, maxFrame: 70000 }), RangeError);
});

// ---- BGP (RFC 4271 §4.1) ------------------------------------------------------

function bgpMessages(): Buffer[] {
  const big = Array.from({ length: 400 }, (_, k) => ({ prefix: `10.${k >> 8}.${k & 255}.0/24`, nextHop: '10.0.0.1' }));
  return [
    encodeOpen(64512, 90, '10.0.0.1'),
    encodeKeepalive(),
    ...encodeUpdates(64512, 65001, [{ prefix: '10.60.0.0/26', nextHop: '10.0.0.2' }], ['10.61.0.0/16']),
    ...encodeUpdates(64512, 65001, big, []),
    encodeNotification(6, 2),
  ];
}

const bgpFrames = (f: BgpFramer, parts: Buffer[]): Buffer[] => {
  const got: Buffer[] = [];
  for (const p of parts) f.push(p, (fr) => got.push(Buffer.from(fr)));
  return got;
};

test('BGP: messages split at every offset (inside the marker and the header too) come out whole and in order', () => {
  const msgs = bgpMessages();
  assert.ok(msgs.some((m) => m.length > 1000), 'one long UPDATE');
  const all = Buffer.concat(msgs);
  for (let cut = 0; cut <= all.length; cut++) {
    const f = new BgpFramer();
    assert.deepEqual(bgpFrames(f, [all.subarray(0, cut), all.subarray(cut)]), msgs, `cut at ${cut}`);
    assert.equal(f.buffered, 0);
  }
  // every cut inside the first header, then the rest one byte at a time up to the end of the second header
  for (let a = 1; a < 19; a++) {
    for (let b = a; b <= 19 + 19; b++) {
      const parts = [all.subarray(0, a), all.subarray(a, b), all.subarray(b)];
      assert.deepEqual(bgpFrames(new BgpFramer(), parts), msgs, `cuts at ${a}/${b}`);
    }
  }
  const one = new BgpFramer();
  const got: Buffer[] = [];
  for (let i = 0; i < all.length; i++) one.push(all.subarray(i, i + 1), (fr) => got.push(Buffer.from(fr)));
  assert.deepEqual(got, msgs, 'one byte at a time');
});

test('BGP: a message that arrives whole is zero-copy', () => {
  const all = Buffer.concat(bgpMessages());
  const got: Buffer[] = [];
  new BgpFramer().push(all, (fr) => got.push(fr));
  assert.equal(got.length, bgpMessages().length);
  for (const g of got) assert.equal(g.buffer, all.buffer);
});

/** A 19-byte header with `len` and type KEEPALIVE. */
const bgpHeader = (len: number, marker = Buffer.alloc(16, 0xff)) => {
  const h = Buffer.alloc(19);
  marker.copy(h);
  h.writeUInt16BE(len, 16);
  h[18] = 4;
  return h;
};

const isFramingError = (reason: string, length?: number) => (e: unknown) => {
  assert.ok(e instanceof FramingError, String(e));
  assert.equal(e.reason, reason);
  if (length !== undefined) assert.equal(e.length, length);
  return true;
};

test('BGP: a bad marker is a typed error, wherever the stream is cut', () => {
  for (let at = 0; at < 16; at++) {
    const m = Buffer.alloc(16, 0xff);
    m[at] = 0xfe;
    const h = bgpHeader(19, m);
    for (let cut = 0; cut < 19; cut++) {
      const f = new BgpFramer();
      assert.throws(() => bgpFrames(f, [h.subarray(0, cut), h.subarray(cut)]), isFramingError('marker'), `byte ${at}, cut ${cut}`);
    }
  }
  // after a good message in the same chunk
  const f = new BgpFramer();
  const seen: Buffer[] = [];
  assert.throws(() => f.push(Buffer.concat([encodeKeepalive(), Buffer.alloc(19)]), (fr) => seen.push(fr)), isFramingError('marker'));
  assert.equal(seen.length, 1, 'the good message before it is delivered');
});

test('BGP: a length under 19 or over 4096 is a typed error, wherever the stream is cut', () => {
  for (const [len, reason] of [[0, 'short'], [18, 'short'], [BGP_MAX_MESSAGE + 1, 'long'], [0xffff, 'long']] as const) {
    const h = bgpHeader(len);
    for (let cut = 0; cut < 19; cut++) {
      assert.throws(() => bgpFrames(new BgpFramer(), [h.subarray(0, cut), h.subarray(cut)]), isFramingError(reason, len), `length ${len}, cut ${cut}`);
    }
  }
  // the limits themselves are fine: an empty KEEPALIVE and a 4096-byte message
  const max = Buffer.concat([bgpHeader(BGP_MAX_MESSAGE), Buffer.alloc(BGP_MAX_MESSAGE - 19)]);
  const got = bgpFrames(new BgpFramer(), [bgpHeader(19), max.subarray(0, 100), max.subarray(100)]);
  assert.deepEqual(got.map((g) => g.length), [19, BGP_MAX_MESSAGE]);
});
