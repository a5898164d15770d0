import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Framer, FramingError } from '../../southbound/channel/framer';
import { encodeMessage, flowMod, OfpMessage } from '../../southbound/codec';

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
