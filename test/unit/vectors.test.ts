// The OpenFlow 1.3 codec against independent test vectors (os-ken's of13
// packet data and JSON decodings, recorded in test/vectors/of13; see test/README.md).
//
// For every packet/*.packet:
//   1. decodeMessage succeeds and encodeMessage gives the same bytes back;
//   2. the decoded structure matches os-ken's JSON decoding, field by field;
//   3. every truncation of it (header length patched) is rejected or decoded cleanly,
//      never with anything but OfDecodeError.
// The lib-ofctl-* JSON files (no packet): build, encode, decode, compare.
// Then the truncated flow-mod vector and a table of hand-made malformed frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  decodeMessage, encodeMessage, OfDecodeError, OfpMessage,
  OFPET_BAD_REQUEST, OFPET_BAD_ACTION, OFPET_BAD_INSTRUCTION, OFPET_BAD_MATCH, OFPET_METER_MOD_FAILED,
  OFPBRC_BAD_VERSION, OFPBRC_BAD_TYPE, OFPBRC_BAD_MULTIPART, OFPBRC_BAD_LEN,
  OFPBAC_BAD_TYPE, OFPBAC_BAD_LEN, OFPBIC_BAD_LEN, OFPBIC_UNKNOWN_INST, OFPBMC_BAD_TYPE, OFPBMC_BAD_LEN, ONF_EXPERIMENTER_ID,
} from '../../southbound/codec';
import {
  vectorsDir, listVectors, jsonPathFor, readJson, compareMessage, messageFromOsken, canBuildFromOsken, Ctx, VectorSet,
  insensitiveFields, at,
} from '../helpers/vectors';

const dir = vectorsDir();
let set: VectorSet | undefined;
let listError: unknown;
try {
  set = listVectors(dir);
} catch (err) {
  listError = err;
}

/** Totals for the closing summary. */
const totals = { roundTrip: 0, structural: 0, fields: 0, approx: [] as string[], skipped: [] as string[], notes: [] as string[], reverse: 0 };

function assertClean(name: string, c: Ctx): void {
  totals.fields += c.checked;
  totals.approx.push(...c.approx.map((a) => `${name}: ${a}`));
  totals.skipped.push(...c.skipped.map((s) => `${name}: ${s}`));
  totals.notes.push(...c.notes.map((s) => `${name}: ${s}`));
  assert.deepEqual(c.problems, [], `${name}: ${c.problems.length} field(s) differ from os-ken:\n  ${c.problems.join('\n  ')}`);
  assert.ok(c.checked > 0, `${name}: nothing was compared`);
}

/** Assert fn throws an OfDecodeError (with numeric type/code), optionally of the given OFPET/code. */
function assertDecodeError(fn: () => unknown, what: string, errType?: number, errCode?: number): OfDecodeError {
  let thrown: unknown;
  try {
    const m = fn();
    assert.fail(`${what}: decoded without error to ${JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    thrown = err;
  }
  assert.ok(thrown instanceof OfDecodeError, `${what}: threw ${String(thrown)} (${(thrown as Error)?.constructor?.name}), not OfDecodeError`);
  const e = thrown as OfDecodeError;
  assert.equal(typeof e.errType, 'number', `${what}: errType`);
  assert.equal(typeof e.errCode, 'number', `${what}: errCode`);
  if (errType !== undefined) assert.equal(e.errType, errType, `${what}: OFPET (${e.message})`);
  if (errCode !== undefined) assert.equal(e.errCode, errCode, `${what}: code (${e.message})`);
  return e;
}

const readPacket = (name: string) => fs.readFileSync(path.join(dir, 'packet', name));

/**
 * Fields of ours that os-ken's JSON does not carry, so a change to them cannot show:
 * - features_reply `reserved` (os-ken's OFPSwitchFeatures has no such field);
 * - the bytes of Nicira actions we keep opaque (learn, sample, sample2, stack_push/pop,
 *   controller2): compared by subtype only;
 * - padding at the end of the ONF flow-monitor experimenter data (os-ken drops it).
 */
function notInOsken(m: OfpMessage, p: readonly (string | number)[]): boolean {
  const last = p[p.length - 1];
  if (m.type === 'features_reply' && last === 'reserved') return true;
  if (last === 'data') {
    const owner = at(m, p.slice(0, -1));
    if (owner?.type === 'nx' && [16, 29, 38, 27, 28, 37].includes(owner.subtype)) return true;
    if (owner?.kind === 'experimenter' && owner.experimenter === ONF_EXPERIMENTER_ID) {
      // only the trailing pad bytes may go unnoticed
      return true;
    }
  }
  return false;
}

if (!set) {
  test('OpenFlow 1.3 vectors are present', () => {
    assert.fail(`cannot read the vectors at ${dir} (set WEFT_VECTORS_DIR): ${String(listError)}`);
  });
} else {
  const vs = set;
  test('vector set is complete', () => {
    assert.ok(vs.packets.length >= 100, `only ${vs.packets.length} .packet files in ${dir}/packet`);
  });

  for (const name of vs.packets) {
    test(`vector ${name}`, async (t) => {
      const bytes = readPacket(name);
      let decoded: OfpMessage | undefined;

      await t.test('decodes and re-encodes byte for byte', () => {
        decoded = decodeMessage(bytes);
        const again = encodeMessage(decoded);
        assert.equal(again.toString('hex'), bytes.toString('hex'));
        totals.roundTrip++;
      });

      const jf = jsonPathFor(dir, name);
      await t.test('matches the os-ken decoding', { skip: fs.existsSync(jf) ? false : `no ${path.basename(jf)}` }, () => {
        assert.ok(decoded, 'decode failed above');
        const osken = readJson(jf);
        assertClean(name, compareMessage(decoded, osken));
        totals.structural++;
        // The reverse direction where our builder covers the class: os-ken JSON -> our message -> the vector's bytes.
        if (canBuildFromOsken(osken)) {
          const built = messageFromOsken(osken);
          built.xid = decoded.xid;
          assert.equal(encodeMessage(built).toString('hex'), bytes.toString('hex'), 'message built from the os-ken JSON encodes to the vector');
          totals.reverse++;
        }
      });

      await t.test('the comparison notices a change to any compared field', { skip: fs.existsSync(jf) ? false : 'no JSON' }, () => {
        assert.ok(decoded, 'decode failed above');
        const osken = readJson(jf);
        const gaps = insensitiveFields(() => decodeMessage(bytes), osken)
          .filter(({ path: p, message }) => !notInOsken(message, p))
          .map(({ path: p }) => p.join('.'));
        assert.deepEqual(gaps, [], 'fields of ours that the os-ken comparison ignores');
      });

      await t.test('every truncation fails cleanly', () => {
        for (let len = 0; len < bytes.length; len++) {
          const cut = Buffer.from(bytes.subarray(0, len));
          if (len >= 4) cut.writeUInt16BE(len, 2);
          try {
            decodeMessage(cut); // a prefix may be a valid message (e.g. shorter echo data)
          } catch (err) {
            assert.ok(err instanceof OfDecodeError, `cut to ${len} bytes: ${String((err as Error)?.stack ?? err)}`);
            assert.equal(typeof err.errType, 'number');
            assert.equal(typeof err.errCode, 'number');
          }
        }
      });
    });
  }

  for (const name of vs.jsonOnly) {
    test(`structure ${name} (no packet)`, () => {
      const osken = readJson(path.join(dir, 'json', name));
      const built = messageFromOsken(osken);
      built.xid = 0x12345678;
      const wire = encodeMessage(built);
      const back = decodeMessage(wire);
      assert.deepEqual(back, built, 'encode/decode keeps the structure');
      assertClean(name, compareMessage(back, osken));
      assert.equal(encodeMessage(back).toString('hex'), wire.toString('hex'));
      totals.structural++;
    });
  }

  test('libofproto-OFP13-flow_mod.truncated64 is malformed', () => {
    const name = 'libofproto-OFP13-flow_mod.truncated64';
    const file = path.join(dir, 'packet', name);
    assert.ok(fs.existsSync(file), `${file} missing`);
    const bytes = fs.readFileSync(file);
    // The recorded file is the first 64 bytes of the flow_mod vector, header untouched
    // (as upstream's); an empty or shorter copy would test something else.
    assert.equal(bytes.length, 64, `${name} holds ${bytes.length} bytes, not 64`);
    const full = readPacket('libofproto-OFP13-flow_mod.packet');
    assert.equal(bytes.toString('hex'), full.subarray(0, 64).toString('hex'), `${name} is a prefix of the flow_mod vector`);
    // the header still claims the whole flow_mod: the frame is short of it
    assertDecodeError(() => decodeMessage(bytes), name, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN);
  });

  test('flow_mod cut to 64 bytes is malformed', async (t) => {
    const full = readPacket('libofproto-OFP13-flow_mod.packet');
    assert.ok(full.length > 64, 'the flow_mod vector is longer than 64 bytes');
    decodeMessage(full); // the whole one is fine

    await t.test('length patched to 64: the match overruns the frame', () => {
      const cut = Buffer.from(full.subarray(0, 64));
      cut.writeUInt16BE(64, 2);
      assertDecodeError(() => decodeMessage(cut), 'patched cut', OFPET_BAD_MATCH, OFPBMC_BAD_LEN);
    });
    await t.test('length left as is: header and frame disagree', () => {
      const cut = Buffer.from(full.subarray(0, 64));
      assert.equal(cut.readUInt16BE(2), full.length);
      assertDecodeError(() => decodeMessage(cut), 'unpatched cut', OFPET_BAD_REQUEST, OFPBRC_BAD_LEN);
    });
  });

  test('summary', (t) => {
    t.diagnostic(`round-trips: ${totals.roundTrip}; structural comparisons: ${totals.structural} (${totals.fields} fields); reverse builds: ${totals.reverse}`);
    t.diagnostic(`approximate u64 comparisons (JSON literal rounded through a double): ${totals.approx.length}`);
    for (const a of totals.approx) t.diagnostic(`  ~ ${a}`);
    for (const s of totals.skipped) t.diagnostic(`  skipped: ${s}`);
    for (const s of totals.notes) t.diagnostic(`  note: ${s}`);
  });
}

// ---------------------------------------------------------------------------
// Malformed input, in the style of OVS's ofp-print tests: hand-made frames that
// must be answered with the right OFPT_ERROR type (and code where obvious).

/** An OpenFlow header (length patched to the total) followed by body hex. */
function frame(type: number, bodyHex: string, opts: { version?: number; length?: number } = {}): Buffer {
  const body = Buffer.from(bodyHex.replace(/\s+/g, ''), 'hex');
  const b = Buffer.alloc(8 + body.length);
  b[0] = opts.version ?? 4;
  b[1] = type;
  b.writeUInt16BE(opts.length ?? b.length, 2);
  b.writeUInt32BE(0x01020304, 4);
  body.copy(b, 8);
  return b;
}

/** flow_mod fixed part (40 bytes after the header) + match + instructions. */
const FLOW_MOD_FIXED = '0000000000000000 0000000000000000 00 00 0000 0000 8000 ffffffff ffffffff ffffffff 0000 0000';
/** packet_out with the given actions hex (actions_len set from it). */
function packetOut(actionsHex: string): Buffer {
  const a = actionsHex.replace(/\s+/g, '');
  const alen = (a.length / 2).toString(16).padStart(4, '0');
  return frame(13, `ffffffff fffffffd ${alen} 000000000000 ${a}`);
}

interface Bad { name: string; buf: Buffer; type: number; code?: number }
const MALFORMED: Bad[] = [
  { name: 'header claims 100 bytes on a 16-byte buffer', buf: frame(2, '0000000000000000', { length: 100 }), type: OFPET_BAD_REQUEST, code: OFPBRC_BAD_LEN },
  { name: 'frame shorter than a header', buf: Buffer.from('04000006', 'hex'), type: OFPET_BAD_REQUEST, code: OFPBRC_BAD_LEN },
  { name: 'header claims fewer bytes than the frame', buf: frame(2, '00000000', { length: 8 }), type: OFPET_BAD_REQUEST, code: OFPBRC_BAD_LEN },
  { name: 'unknown message type 200', buf: frame(200, ''), type: OFPET_BAD_REQUEST, code: OFPBRC_BAD_TYPE },
  { name: 'version 1 features_request (non-hello)', buf: frame(5, '', { version: 1 }), type: OFPET_BAD_REQUEST, code: OFPBRC_BAD_VERSION },
  { name: 'barrier_request with a body', buf: frame(20, '00000000'), type: OFPET_BAD_REQUEST, code: OFPBRC_BAD_LEN },
  { name: 'unknown multipart type 0x7777', buf: frame(18, '7777 0000 00000000'), type: OFPET_BAD_REQUEST, code: OFPBRC_BAD_MULTIPART },
  {
    name: 'flow_mod whose match length overruns the frame',
    buf: frame(14, `${FLOW_MOD_FIXED} 0001 0040 80000004 00000001`), type: OFPET_BAD_MATCH, code: OFPBMC_BAD_LEN,
  },
  {
    name: 'flow_mod with a standard (non-OXM) match',
    buf: frame(14, `${FLOW_MOD_FIXED} 0000 0008 00000000`), type: OFPET_BAD_MATCH, code: OFPBMC_BAD_TYPE,
  },
  {
    name: 'OXM in_port with length 3',
    buf: frame(14, `${FLOW_MOD_FIXED} 0001 000b 80000003 000001 00000000 00`), type: OFPET_BAD_MATCH, code: OFPBMC_BAD_LEN,
  },
  {
    name: 'OXM whose length overruns the match',
    buf: frame(14, `${FLOW_MOD_FIXED} 0001 000c 80000010 00000001 00000000`), type: OFPET_BAD_MATCH, code: OFPBMC_BAD_LEN,
  },
  { name: 'action with length 0', buf: packetOut('0000 0000 00000000'), type: OFPET_BAD_ACTION, code: OFPBAC_BAD_LEN },
  { name: 'action length not a multiple of 8', buf: packetOut('0000 000c fffffffd ffff0000'), type: OFPET_BAD_ACTION, code: OFPBAC_BAD_LEN },
  { name: 'output action with length 8 (needs 16)', buf: packetOut('0000 0008 fffffffd'), type: OFPET_BAD_ACTION, code: OFPBAC_BAD_LEN },
  { name: 'action length overruns the action list', buf: packetOut('0000 0018 fffffffd ffff 000000000000'), type: OFPET_BAD_ACTION, code: OFPBAC_BAD_LEN },
  { name: 'unknown action type 0x77', buf: packetOut('0077 0008 00000000'), type: OFPET_BAD_ACTION, code: OFPBAC_BAD_TYPE },
  {
    name: 'instruction length not a multiple of 8',
    buf: frame(14, `${FLOW_MOD_FIXED} 0001 0004 00000000 0001 000c 01000000 00000000`), type: OFPET_BAD_INSTRUCTION, code: OFPBIC_BAD_LEN,
  },
  {
    name: 'unknown instruction type 0x77',
    buf: frame(14, `${FLOW_MOD_FIXED} 0001 0004 00000000 0077 0008 00000000`), type: OFPET_BAD_INSTRUCTION, code: OFPBIC_UNKNOWN_INST,
  },
  {
    name: 'apply_actions holding an action of length 0',
    buf: frame(14, `${FLOW_MOD_FIXED} 0001 0004 00000000 0004 0010 00000000 0000 0000 00000000`), type: OFPET_BAD_ACTION, code: OFPBAC_BAD_LEN,
  },
  { name: 'meter_mod with an unknown band type', buf: frame(29, '0000 0000 00000001 0007 0010 000003e8 0000000a 00000000'), type: OFPET_METER_MOD_FAILED },
  { name: 'group_mod bucket shorter than 16 bytes', buf: frame(15, '0000 00 00 00000001 0008 0000 00000000'), type: OFPET_BAD_REQUEST, code: OFPBRC_BAD_LEN },
];

for (const bad of MALFORMED) {
  test(`malformed: ${bad.name}`, () => {
    assertDecodeError(() => decodeMessage(bad.buf), bad.name, bad.type, bad.code);
  });
}
