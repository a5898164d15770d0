// The OpenFlow 1.3 codec against messages os-ken builds at test time.
//
// test/tools/osken-of13-messages.py (Debian python3-os-ken, run with
// /usr/bin/python3) builds the kinds of message Weft sends: flow_mods with
// Nicira fields and actions (ct, nat, resubmit, reg_load/move, conjunction,
// set_field of tun_id/tun_dst and registers, ct_state ...), packet_out,
// group_mod, meter_mod, multipart requests and the session messages. It
// serializes them with os-ken and prints the bytes with os-ken's decoding.
// For each one:
//   1. our decoder accepts os-ken's bytes and our encoder writes them back
//      byte for byte (so we also encode what os-ken encodes);
//   2. our decoded message matches os-ken's, field by field (test/helpers/vectors.ts);
//   3. the comparison notices a change to any field of ours it should see.
// setup.sh installs python3-os-ken, so a missing os-ken fails here with the
// reason; it is not skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeMessage, encodeMessage, OfpMessage, Action, Oxm } from '../../southbound/codec';
import { repoRoot } from '../helpers/paths';
import { parseJsonExact, compareMessage, insensitiveFields } from '../helpers/vectors';

/** Debian's interpreter: python3-os-ken installs into its dist-packages (a pyenv python3 on PATH cannot import it). */
const PYTHON = process.env.WEFT_OSKEN_PYTHON ?? '/usr/bin/python3';
const SCRIPT = path.join(repoRoot(), 'test/tools/osken-of13-messages.py');

interface Encoded { hex: string; parsed: boolean; osken: unknown }
/**
 * One message os-ken built. `reencoded` is set where Weft writes a field in another
 * valid form than os-ken (tcp_flags: ONF OXM in, NXM out): the same message built by
 * os-ken in Weft's form, which our encoder must then write byte for byte.
 */
interface Generated extends Encoded { name: string; reencoded?: Encoded & { why: string } }

/** Run the generator; a missing interpreter or os-ken is an error that names the package. */
function generate(): Generated[] {
  if (!fs.existsSync(PYTHON)) throw new Error(`${PYTHON} not found: install python3-os-ken (mininet/scripts/setup.sh does)`);
  let out: string;
  try {
    out = execFileSync(PYTHON, [SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${PYTHON} ${SCRIPT} failed (is python3-os-ken installed? mininet/scripts/setup.sh installs it):\n${e.stderr || e.message}`);
  }
  return parseJsonExact(out) as Generated[];
}

/** Every action, nested ones (ct's, buckets') included. */
function actionsOf(m: OfpMessage): Action[] {
  const out: Action[] = [];
  const walk = (as: readonly Action[]) => {
    for (const a of as) {
      out.push(a);
      if (a.type === 'ct') walk(a.actions);
    }
  };
  if (m.type === 'flow_mod') for (const i of m.instructions) if ('actions' in i) walk(i.actions);
  if (m.type === 'packet_out') walk(m.actions);
  if (m.type === 'group_mod') for (const b of m.buckets) walk(b.actions);
  return out;
}

function matchOf(m: OfpMessage): Oxm[] {
  if (m.type === 'flow_mod') return m.match;
  if (m.type === 'multipart_request' && (m.body.kind === 'flow' || m.body.kind === 'aggregate')) return m.body.match;
  return [];
}

let generated: Generated[] = [];
let generateError: unknown;
try {
  generated = generate();
} catch (err) {
  generateError = err;
}

test('os-ken generated the whole set', () => {
  if (generateError) assert.fail((generateError as Error).message);
  assert.ok(generated.length >= 50, `only ${generated.length} messages`);
  const names = new Set(generated.map((g) => g.name));
  assert.equal(names.size, generated.length, 'message names are unique');
});

test('the set holds the fields and actions Weft relies on', () => {
  assert.ok(generated.length > 0, 'nothing generated');
  const msgs = generated.map((g) => decodeMessage(Buffer.from(g.hex, 'hex')));
  const types = new Set(msgs.map((m) => m.type));
  for (const t of ['flow_mod', 'packet_out', 'group_mod', 'meter_mod', 'multipart_request', 'set_config', 'role_request', 'barrier_request']) {
    assert.ok(types.has(t as OfpMessage['type']), `no ${t}`);
  }
  const actions = msgs.flatMap(actionsOf);
  const actionTypes = new Set(actions.map((a) => a.type));
  for (const t of ['ct', 'nat', 'resubmit', 'reg_load', 'reg_move', 'conjunction', 'ct_clear', 'dec_ttl', 'note', 'set_field', 'output', 'group']) {
    assert.ok(actionTypes.has(t as Action['type']), `no ${t} action`);
  }
  const setFields = new Set(actions.flatMap((a) => (a.type === 'set_field' ? [a.field.field] : [])));
  for (const f of ['tunnel_id', 'tun_ipv4_dst', 'reg0', 'eth_dst', 'xreg2']) assert.ok(setFields.has(f), `no set_field of ${f}`);
  const fields = new Set(msgs.flatMap(matchOf).map((o) => o.field));
  for (const f of ['in_port', 'ct_state', 'ct_zone', 'ct_mark', 'ct_label', 'reg0', 'reg7', 'pkt_mark', 'tunnel_id', 'tun_ipv4_src', 'tun_ipv4_dst', 'conj_id', 'ipv6_src', 'metadata', 'tcp_flags']) {
    assert.ok(fields.has(f), `no ${f} match field`);
  }
});

for (const [i, g] of generated.entries()) {
  test(`os-ken ${g.name}`, async (t) => {
    const bytes = Buffer.from(g.hex, 'hex');
    let decoded: OfpMessage | undefined;

    // what our encoder must write: os-ken's bytes, or os-ken's bytes of the form Weft writes
    const want = g.reencoded ?? g;

    await t.test(g.reencoded ? `decodes, and re-encodes as os-ken does when ${g.reencoded.why}` : 'decodes and re-encodes byte for byte', () => {
      decoded = decodeMessage(bytes);
      // the generator numbers xids from 0x100 (os-ken's JSON does not carry the xid)
      assert.equal(decoded.xid, 0x100 + i, 'xid');
      assert.equal(encodeMessage(decoded).toString('hex'), want.hex);
      if (g.reencoded) {
        assert.notEqual(g.reencoded.hex, g.hex, 'the two forms differ on the wire');
        assert.deepEqual(decodeMessage(Buffer.from(g.reencoded.hex, 'hex')), decoded, 'both forms decode to the same message');
      }
    });

    await t.test(`matches os-ken's ${want.parsed ? 'decoding' : 'message'}`, () => {
      assert.ok(decoded, 'decode failed above');
      const c = compareMessage(decoded, want.osken);
      assert.deepEqual(c.problems, [], `${c.problems.length} field(s) differ from os-ken:\n  ${c.problems.join('\n  ')}`);
      assert.ok(c.checked > 0, 'nothing was compared');
      assert.deepEqual(c.approx, [], 'os-ken wrote exact integers: nothing may compare approximately');
    });

    await t.test('the comparison notices a change to any field', () => {
      assert.ok(decoded, 'decode failed above');
      const gaps = insensitiveFields(() => decodeMessage(bytes), want.osken).map(({ path: p }) => p.join('.'));
      assert.deepEqual(gaps, [], 'fields of ours that the os-ken comparison ignores');
    });
  });
}
