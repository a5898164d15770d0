// ofp_match (OpenFlow 1.3.5 §7.2.2): type OFPMT_OXM, OXM TLVs, padded to 8.
// A match is kept as an ordered list so it re-encodes byte for byte.
import { Reader, Writer } from './buffer';
import { OfDecodeError, OFPET_BAD_MATCH, OFPBMC_BAD_LEN, OFPBMC_BAD_TYPE } from './errors';
import { decodeOxm, encodeOxm, Oxm } from './oxm';

export const OFPMT_STANDARD = 0;
export const OFPMT_OXM = 1;

export type Match = Oxm[];

export function decodeMatch(r: Reader): Match {
  const start = r.pos;
  const type = r.u16();
  const length = r.u16();
  if (type !== OFPMT_OXM) throw new OfDecodeError(`match type ${type} is not OXM`, OFPET_BAD_MATCH, OFPBMC_BAD_TYPE);
  if (length < 4) throw new OfDecodeError(`match length ${length} < 4`, OFPET_BAD_MATCH, OFPBMC_BAD_LEN);
  const body = r.sub(length - 4, 'match', OFPET_BAD_MATCH, OFPBMC_BAD_LEN);
  const fields: Match = [];
  while (body.remaining > 0) fields.push(decodeOxm(body));
  const padded = (length + 7) & ~7;
  r.need(start + padded - r.pos, 'match padding');
  r.pos = start + padded;
  return fields;
}

export function encodeMatch(w: Writer, m: readonly Oxm[]): void {
  const start = w.pos;
  w.u16(OFPMT_OXM).u16(0);
  for (const f of m) encodeOxm(w, f);
  w.patchU16(start + 2, w.pos - start);
  w.pad(8, start);
}

/** Look up a field's value in a match (first occurrence). */
export function matchGet(m: readonly Oxm[], field: string): Oxm | undefined {
  for (const f of m) if (f.field === field) return f;
  return undefined;
}
