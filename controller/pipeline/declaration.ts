// Pipelines declared as data (the Faucet model): each table has a name, a
// purpose, the match fields it may use, the fields its actions may set, the
// tables it may continue to, its miss behaviour, and its named priority
// bands. Table ids come from the order. A flow is checked against its
// table's declaration when it is built, so a flow that matches, sets or
// continues where its table does not say, or uses a bare priority, cannot be
// built at all.
import { FlowMod, flowMod, Oxm, Action, Instruction, OFPFC_ADD, OFPP_NORMAL, OFPP_CONTROLLER } from '../../southbound/codec';
import { cookie, Owner } from './cookie';

export interface TableDecl<N extends string = string> {
  name: N;
  purpose: string;
  /** match fields flows of this table may use */
  matches: readonly string[];
  /** fields their actions may write (set_field, move and load destinations, ct exec included) */
  sets: readonly string[];
  /** tables a flow may continue to: goto_table, resubmit or ct recirculation */
  next: readonly N[];
  /** What a packet that matches no flow gets. */
  miss: 'drop' | 'normal' | 'controller' | { goto: N };
  /** Named priority bands; the miss flow is band `miss` (0). */
  bands: Readonly<Record<string, number>>;
}

export class PipelineError extends Error {}

/**
 * Band traceObserve, in every table of both bridges: a live trace's
 * observation flows (controller/live-trace.ts). They match only the trace's
 * marked packet: a catch at the band's own priority (the packet matched no
 * flow of the table: dropped) and, at TRACE_OBSERVE + 1 + p, a copy of each
 * flow of priority p the switch holds, which also sends the packet to the
 * controller. Above every other band, so the marked packet always meets them.
 */
export const TRACE_OBSERVE = 1000;

/** Registers and fields are matched and set by name; a ranged destination (`ct_label[0..47]`) is its field. */
const fieldName = (f: string) => f.replace(/\[.*$/, '');

export class Pipeline<N extends string> {
  readonly tableId: Record<N, number>;

  constructor(readonly bridge: string, readonly tables: readonly TableDecl<N>[]) {
    this.tableId = Object.fromEntries(tables.map((t, i) => [t.name, i])) as Record<N, number>;
    for (const t of tables) {
      if (t.bands.miss !== 0) throw new PipelineError(`${bridge} table ${t.name}: band miss must be 0`);
      for (const n of t.next) if (!(n in this.tableId)) throw new PipelineError(`${bridge} table ${t.name}: next table ${n} is not declared`);
    }
  }

  table(name: N): TableDecl<N> {
    return this.tables[this.tableId[name]];
  }

  /** The name of a table id, for logs, docs and traces. */
  nameOf(id: number): N | undefined {
    return this.tables[id]?.name;
  }

  flow(table: N, owner: Owner): FlowBuilder<N> {
    return new FlowBuilder(this, table, owner);
  }

  /**
   * Miss flows: every table states its miss behaviour explicitly, so dumps
   * show the whole pipeline (`only` restricts them to some tables).
   */
  missFlows(only?: readonly N[]): FlowMod[] {
    return this.tables.filter((t) => !only || only.includes(t.name)).map((t) => {
      const b = this.flow(t.name, { category: 'pipeline', id: this.tableId[t.name] }).band('miss');
      if (t.miss === 'normal') b.actions({ type: 'output', port: OFPP_NORMAL });
      else if (t.miss === 'controller') b.actions({ type: 'output', port: OFPP_CONTROLLER, max_len: 128 });
      else if (t.miss !== 'drop') b.goto(t.miss.goto);
      return b.build();
    });
  }
}

/** A flow builder that refuses matches, writes, continuations and priorities the declaration does not allow. */
export class FlowBuilder<N extends string> {
  private readonly decl: TableDecl<N>;
  private readonly m: Oxm[] = [];
  private readonly acts: Action[] = [];
  private next?: N;
  private prio?: number;
  private meterId?: number;

  constructor(private readonly pipeline: Pipeline<N>, table: N, private readonly owner: Owner) {
    this.decl = pipeline.table(table);
    if (!this.decl) throw new PipelineError(`${pipeline.bridge} has no table ${table}`);
  }

  /** The flow's priority, by the name of one of its table's bands, plus an offset inside the band. */
  band(name: string, offset = 0): this {
    const p = this.decl.bands[name];
    if (p === undefined) throw new PipelineError(`${this.pipeline.bridge} table ${this.decl.name} has no priority band ${name}`);
    if (!Number.isInteger(offset) || offset < 0 || p + offset >= TRACE_OBSERVE && name !== 'traceObserve') throw new PipelineError(`${this.pipeline.bridge} table ${this.decl.name}: offset ${offset} leaves band ${name}`);
    this.prio = p + offset;
    return this;
  }

  match(field: string, value: Oxm['value'], mask?: Oxm['mask']): this {
    if (!this.decl.matches.includes(field)) throw new PipelineError(`${this.pipeline.bridge} table ${this.decl.name} does not match on ${field}`);
    this.m.push(mask === undefined ? { field, value } : { field, value, mask });
    return this;
  }

  /** A whole OXM, as built by helpers such as ctState(). */
  matchOxm(o: Oxm): this {
    return this.match(o.field, o.value, o.mask);
  }

  actions(...a: Action[]): this {
    for (const x of a) this.check(x);
    this.acts.push(...a);
    return this;
  }

  /** Pass the packet through an OpenFlow meter first (the meter instruction). */
  meter(id: number): this {
    this.meterId = id;
    return this;
  }

  goto(t: N): this {
    this.checkNext(this.pipeline.tableId[t]);
    this.next = t;
    return this;
  }

  private checkNext(id: number): void {
    const name = this.pipeline.nameOf(id);
    if (name === undefined || !this.decl.next.includes(name)) throw new PipelineError(`${this.pipeline.bridge} table ${this.decl.name} may not go to ${name ?? `table ${id}`}`);
  }

  private checkSet(field: string): void {
    if (!this.decl.sets.includes(fieldName(field))) throw new PipelineError(`${this.pipeline.bridge} table ${this.decl.name} does not set ${field}`);
  }

  private check(a: Action): void {
    switch (a.type) {
      case 'set_field': this.checkSet(a.field.field); break;
      case 'reg_move': this.checkSet(a.dst); break;
      case 'reg_load': this.checkSet(a.dst); break;
      case 'resubmit': if (a.table !== undefined && a.table !== 255) this.checkNext(a.table); break;
      case 'ct':
        if (a.recirc_table !== 255) this.checkNext(a.recirc_table);
        for (const x of a.actions) this.check(x);
        break;
      default: break;
    }
  }

  /** The flow-mod; the reconciler fills in the round. */
  build(round = 0): FlowMod {
    if (this.prio === undefined) throw new PipelineError(`${this.pipeline.bridge} table ${this.decl.name}: a flow needs a priority band`);
    // OVS refuses ct without an IP match (OFPBAC_MATCH_INCONSISTENT)
    if (this.acts.some((a) => a.type === 'ct') && !this.m.some((o) => o.field === 'eth_type')) throw new PipelineError(`${this.pipeline.bridge} table ${this.decl.name}: ct needs an eth_type match`);
    const instructions: Instruction[] = [];
    if (this.meterId !== undefined) instructions.push({ type: 'meter', meter_id: this.meterId });
    if (this.acts.length) instructions.push({ type: 'apply_actions', actions: this.acts });
    if (this.next) instructions.push({ type: 'goto_table', table_id: this.pipeline.tableId[this.next] });
    return flowMod({
      command: OFPFC_ADD, table_id: this.pipeline.tableId[this.decl.name], priority: this.prio,
      cookie: cookie(round, this.owner.category, this.owner.id), match: this.m, instructions,
    });
  }
}
