// Field names of the ovs-ofctl text form (ovs-fields(7), ovs-actions(7)),
// as Open vSwitch 3.1 prints them.
// Each OVS field, derived from the codec's FIELD_TABLE, maps an NXM/OXM
// header to the three names OVS uses: the match keyword, the meta-flow name
// (set_field) and the header name (load/move subfields).
import { OXM_BY_NAME, OXM_FIELDS } from '../codec/oxm';
import { FIELD_TABLE, KIND_LEN, ValueStyle, ovsHeaderOf } from '../codec/field-table';

/** Text that is not valid ovs-ofctl syntax. `token` is the offending piece. */
export class OfctlSyntaxError extends Error {
  override readonly name = 'OfctlSyntaxError';
  constructor(message: string, readonly token: string) {
    super(message);
  }
}

export function syntaxError(message: string, token: string): OfctlSyntaxError {
  return new OfctlSyntaxError(`${message}: "${token}"`, token);
}

export type { ValueStyle } from '../codec/field-table';

/** One OVS field: its NXM/OXM header as OVS writes it in load/move, and its names. */
export interface OvsField {
  /** Header name printed in subfields: NXM_OF_ETH_DST, OXM_OF_METADATA, NXM_NX_REG0. */
  nxm: string;
  cls: number;
  code: number;
  /** Value length in bytes (the header's length byte). */
  bytes: number;
  /** Usable width in bits; `[]` in a subfield means all of them. */
  bits: number;
  /** Meta-flow name, printed by set_field. */
  mf: string;
  /** Our OXM field that carries the same OVS field (it may use a different header). */
  oxm?: string;
  style: ValueStyle;
  aliases?: string[];
}

/** The FIELD_TABLE rows OVS has names for, as the text form reads them. */
export const OVS_FIELDS: OvsField[] = FIELD_TABLE.filter((f) => f.ovs).map((f) => {
  const [cls, code] = ovsHeaderOf(f);
  const bytes = KIND_LEN[f.kind];
  const { nxm, mf, style, aliases } = f.ovs!;
  return { nxm, cls, code, bytes, bits: f.bits ?? bytes * 8, mf, oxm: f.name, style, aliases };
});

const headerKey = (cls: number, code: number) => `${cls}:${code}`;
const BY_HEADER = new Map(OVS_FIELDS.map((f) => [headerKey(f.cls, f.code), f]));
const BY_OXM = new Map(OVS_FIELDS.filter((f) => f.oxm).map((f) => [f.oxm!, f]));
/** Any name a user may write for a field in a subfield or set_field: header, mf name, alias, our OXM name. */
const BY_ANY_NAME = new Map<string, OvsField>();
for (const f of OVS_FIELDS) {
  for (const n of [f.oxm, f.mf, ...(f.aliases ?? [])]) if (n && !BY_ANY_NAME.has(n)) BY_ANY_NAME.set(n, f);
}
// OVS reads a bare "in_port" as its 16-bit NXM field in actions.
BY_ANY_NAME.set('in_port', BY_HEADER.get(headerKey(0, 0))!);
for (const f of OVS_FIELDS) BY_ANY_NAME.set(f.nxm, f);

/** The OVS field behind one of our OXM field names or a `field:cls:code` name from the codec. */
export function ovsFieldOf(name: string): OvsField | undefined {
  const raw = /^field:([0-9a-f]+):([0-9a-f]+)$/i.exec(name);
  if (raw) return BY_HEADER.get(headerKey(parseInt(raw[1], 16), parseInt(raw[2], 16)));
  return BY_OXM.get(name);
}

export function ovsFieldByName(name: string): OvsField | undefined {
  return BY_ANY_NAME.get(name);
}

/**
 * The field name the codec uses for the header OVS writes for `f`: our OXM
 * name when our table has that exact header, otherwise `field:cls:code`
 * (the codec's readFieldHeader spelling).
 */
export function codecFieldName(f: OvsField): string {
  for (const d of OXM_FIELDS) if (d.oxmClass === f.cls && d.field === f.code && d.experimenter === undefined) return d.name;
  return `field:${f.cls.toString(16)}:${f.code.toString(16)}`;
}

/** Width in bits of a codec field name, as OVS counts it (vlan_vid is 12, tcp_flags 12). */
export function fieldWidth(name: string): number {
  const f = ovsFieldOf(name);
  if (f) return f.bits;
  const d = OXM_BY_NAME.get(name);
  return d ? KIND_LEN[d.kind] * 8 : 0;
}
