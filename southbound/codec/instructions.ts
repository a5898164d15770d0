// Instructions (OpenFlow 1.3.5 §7.2.4).
import { Reader, Writer } from './buffer';
import { OfDecodeError, OfEncodeError, OFPET_BAD_INSTRUCTION, OFPBIC_BAD_LEN, OFPBIC_UNKNOWN_INST } from './errors';
import { Action, decodeActions, encodeActions } from './actions';

export const OFPIT_GOTO_TABLE = 1;
export const OFPIT_WRITE_METADATA = 2;
export const OFPIT_WRITE_ACTIONS = 3;
export const OFPIT_APPLY_ACTIONS = 4;
export const OFPIT_CLEAR_ACTIONS = 5;
export const OFPIT_METER = 6;
export const OFPIT_EXPERIMENTER = 0xffff;

export type Instruction =
  | { type: 'goto_table'; table_id: number }
  | { type: 'write_metadata'; metadata: bigint; metadata_mask: bigint }
  | { type: 'write_actions'; actions: Action[] }
  | { type: 'apply_actions'; actions: Action[] }
  | { type: 'clear_actions' }
  | { type: 'meter'; meter_id: number }
  | { type: 'experimenter'; experimenter: number; data: Buffer };

const bad = (m: string, code = OFPBIC_BAD_LEN) => new OfDecodeError(m, OFPET_BAD_INSTRUCTION, code);

export function decodeInstructions(r: Reader): Instruction[] {
  const out: Instruction[] = [];
  while (r.remaining > 0) {
    const type = r.u16();
    const len = r.u16();
    if (len < 8 || len % 8 !== 0) throw bad(`instruction type ${type}: length ${len}`);
    const b = r.sub(len - 4, `instruction ${type}`, OFPET_BAD_INSTRUCTION, OFPBIC_BAD_LEN);
    const fixed = (n: number) => { if (len !== n) throw bad(`instruction type ${type}: length ${len}, expected ${n}`); };
    switch (type) {
      case OFPIT_GOTO_TABLE: fixed(8); out.push({ type: 'goto_table', table_id: b.u8() }); break;
      case OFPIT_WRITE_METADATA: fixed(24); b.skip(4); out.push({ type: 'write_metadata', metadata: b.u64(), metadata_mask: b.u64() }); break;
      case OFPIT_WRITE_ACTIONS: b.skip(4); out.push({ type: 'write_actions', actions: decodeActions(b) }); break;
      case OFPIT_APPLY_ACTIONS: b.skip(4); out.push({ type: 'apply_actions', actions: decodeActions(b) }); break;
      case OFPIT_CLEAR_ACTIONS: fixed(8); out.push({ type: 'clear_actions' }); break;
      case OFPIT_METER: fixed(8); out.push({ type: 'meter', meter_id: b.u32() }); break;
      case OFPIT_EXPERIMENTER: out.push({ type: 'experimenter', experimenter: b.u32(), data: Buffer.from(b.rest()) }); break;
      default: throw bad(`unknown instruction type ${type}`, OFPBIC_UNKNOWN_INST);
    }
  }
  return out;
}

export function encodeInstructions(w: Writer, insts: readonly Instruction[]): void {
  for (const i of insts) {
    const start = w.pos;
    switch (i.type) {
      case 'goto_table': w.u16(OFPIT_GOTO_TABLE).u16(8).u8(i.table_id).zeros(3); break;
      case 'write_metadata': w.u16(OFPIT_WRITE_METADATA).u16(24).zeros(4).u64(i.metadata).u64(i.metadata_mask); break;
      case 'write_actions': w.u16(OFPIT_WRITE_ACTIONS).u16(0).zeros(4); encodeActions(w, i.actions); break;
      case 'apply_actions': w.u16(OFPIT_APPLY_ACTIONS).u16(0).zeros(4); encodeActions(w, i.actions); break;
      case 'clear_actions': w.u16(OFPIT_CLEAR_ACTIONS).u16(8).zeros(4); break;
      case 'meter': w.u16(OFPIT_METER).u16(8).u32(i.meter_id); break;
      case 'experimenter': w.u16(OFPIT_EXPERIMENTER).u16(0).u32(i.experimenter).bytes(i.data); w.pad(8, start); break;
      default: throw new OfEncodeError(`unknown instruction ${(i as { type: string }).type}`);
    }
    w.patchU16(start + 2, w.pos - start);
  }
}
