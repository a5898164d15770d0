// Fuzzing: mutated and truncated frames built from the independent vectors
// go through the framer and the decoder. Nothing may crash or hang; every
// rejection must be a typed error. Seeded, so a failure reproduces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Framer, FramingError } from '../../southbound/channel/framer';
import { decodeMessage, encodeMessage, OfDecodeError, OfEncodeError } from '../../southbound/codec';
import { vectorsDir } from '../helpers/paths';

/** xorshift32: deterministic and fast. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s % n;
  };
}

function corpus(): Buffer[] {
  const dir = path.join(vectorsDir(), 'packet');
  return fs.readdirSync(dir).map((f) => fs.readFileSync(path.join(dir, f))).filter((b) => b.length >= 8);
}

const N = Number(process.env.WEFT_FUZZ_N ?? 100_000);

test(`${N} mutated frames: decode succeeds or fails with a typed error`, () => {
  const seeds = corpus();
  assert.ok(seeds.length > 50, 'vectors found');
  const r = rng(0xc0ffee);
  const outcome = { ok: 0, decodeErr: 0, framingErr: 0, encodeErr: 0, incomplete: 0 };
  const errTypes = new Set<number>();
  for (let i = 0; i < N; i++) {
    const f = Buffer.from(seeds[r(seeds.length)]);
    const mode = r(4);
    if (mode === 0) { // flip random bytes
      for (let k = 1 + r(4); k > 0; k--) f[r(f.length)] = r(256);
    } else if (mode === 1) { // flip a length-ish byte (where TLV lengths live)
      const at = 8 + r(Math.max(1, f.length - 8));
      f[at] = r(256);
    }
    let frame = f;
    if (mode === 2) { // truncate, keep header length consistent half the time
      frame = f.subarray(0, 8 + r(Math.max(1, f.length - 8)));
      if (r(2)) frame.writeUInt16BE(frame.length, 2);
    } else if (mode !== 3 && r(2)) {
      frame.writeUInt16BE(frame.length, 2); // most mutations keep a consistent header
    }
    if (mode === 3) { // mutate one byte inside the body but keep the header
      const at = 8 + r(Math.max(1, f.length - 8));
      if (at < f.length) f[at] ^= 1 << r(8);
    }
    const framer = new Framer();
    try {
      framer.push(frame, (fr) => {
        let m;
        try {
          m = decodeMessage(fr);
        } catch (e) {
          if (!(e instanceof OfDecodeError)) throw e;
          assert.equal(typeof e.errType, 'number');
          assert.equal(typeof e.errCode, 'number');
          errTypes.add(e.errType);
          outcome.decodeErr++;
          return;
        }
        try {
          encodeMessage(m);
          outcome.ok++;
        } catch (e) {
          if (!(e instanceof OfEncodeError)) throw e;
          outcome.encodeErr++;
        }
      });
      // A header that claims more bytes than were sent: the framer waits for the rest.
      if (framer.buffered > 0) outcome.incomplete++;
    } catch (e) {
      if (!(e instanceof FramingError)) throw new Error(`iteration ${i}: untyped ${(e as Error).stack}`);
      outcome.framingErr++;
    }
  }
  const seen = outcome.ok + outcome.decodeErr + outcome.framingErr + outcome.encodeErr + outcome.incomplete;
  assert.ok(seen >= N, `every frame has an outcome (${JSON.stringify(outcome)})`);
  assert.ok(outcome.decodeErr > N / 10, 'mutations are actually rejected');
  assert.ok(outcome.ok > N / 10, 'mutations are not all rejected');
  assert.ok(errTypes.size >= 3, `several error types seen: ${[...errTypes]}`);
});

test('a stream of concatenated mutated frames never throws anything but typed errors', () => {
  const seeds = corpus();
  const r = rng(42);
  for (let round = 0; round < 200; round++) {
    const parts: Buffer[] = [];
    for (let k = 0; k < 20; k++) parts.push(Buffer.from(seeds[r(seeds.length)]));
    const stream = Buffer.concat(parts);
    for (let k = 0; k < 3; k++) stream[r(stream.length)] = r(256);
    const framer = new Framer();
    try {
      for (let at = 0; at < stream.length;) {
        const n = 1 + r(300);
        framer.push(stream.subarray(at, at + n), (fr) => {
          try { decodeMessage(fr); } catch (e) { if (!(e instanceof OfDecodeError)) throw e; }
        });
        at += n;
      }
    } catch (e) {
      if (!(e instanceof FramingError)) throw e;
    }
  }
});
