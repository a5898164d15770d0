// A flow table that applies flow-mods with OpenFlow semantics (add replaces
// an identical match+priority; delete is non-strict by default; cookie
// masks) and answers "what happens to this packet" through the controller's
// flow simulator, so tests and the product match packets the same way.
import { FlowMod, Instruction, Action, Oxm, OFPFC_ADD, OFPFC_MODIFY, OFPFC_MODIFY_STRICT, OFPFC_DELETE, OFPFC_DELETE_STRICT, OFPTT_ALL } from '../../southbound/codec';
import { simulate, SimOptions, Trace, PacketFields } from '../../controller/flow-sim';

export type { PacketFields };

export interface FakeFlow {
  table_id: number;
  priority: number;
  cookie: bigint;
  match: Oxm[];
  instructions: Instruction[];
}

const norm = (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : typeof v === 'bigint' ? v : String(v));
const same = (a: Oxm[], b: Oxm[]) => a.length === b.length && a.every((x) => b.some((y) => y.field === x.field && norm(y.value) === norm(x.value) && norm(y.mask) === norm(x.mask)));
/** Is flow match `f` at least as specific as `m` (every field of m appears in f, equal)? */
const covers = (f: Oxm[], m: Oxm[]) => m.every((x) => f.some((y) => y.field === x.field && norm(y.value) === norm(x.value) && norm(y.mask) === norm(x.mask)));

export class FakeTable {
  flows: FakeFlow[] = [];

  apply(fm: FlowMod): void {
    const cookieOk = (f: FakeFlow) => (f.cookie & fm.cookie_mask) === (fm.cookie & fm.cookie_mask);
    const tableOk = (f: FakeFlow) => fm.table_id === OFPTT_ALL || f.table_id === fm.table_id;
    switch (fm.command) {
      case OFPFC_ADD: {
        this.flows = this.flows.filter((f) => !(f.table_id === fm.table_id && f.priority === fm.priority && same(f.match, fm.match)));
        this.flows.push({ table_id: fm.table_id, priority: fm.priority, cookie: fm.cookie, match: fm.match, instructions: fm.instructions });
        return;
      }
      case OFPFC_MODIFY: case OFPFC_MODIFY_STRICT:
        for (const f of this.flows) {
          if (!tableOk(f) || !cookieOk(f)) continue;
          if (fm.command === OFPFC_MODIFY_STRICT ? f.priority === fm.priority && same(f.match, fm.match) : covers(f.match, fm.match)) f.instructions = fm.instructions;
        }
        return;
      case OFPFC_DELETE:
        this.flows = this.flows.filter((f) => !(tableOk(f) && cookieOk(f) && covers(f.match, fm.match)));
        return;
      case OFPFC_DELETE_STRICT:
        this.flows = this.flows.filter((f) => !(tableOk(f) && cookieOk(f) && f.priority === fm.priority && same(f.match, fm.match)));
        return;
    }
    throw new Error(`fake table: command ${fm.command} not supported`);
  }

  /** Apply-actions collected along the goto_table chain for a packet; [] = dropped. */
  lookup(pkt: PacketFields): Action[] {
    return this.trace(pkt).hops.flatMap((h) => h.actions);
  }

  /** The whole walk: hops, outputs and the verdict. */
  trace(pkt: PacketFields, opts?: SimOptions): Trace {
    return simulate(this.flows, pkt, opts);
  }
}
