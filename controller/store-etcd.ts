// The etcd store (--store etcd://HOST:PORT[,...]): the cluster's state lives
// in etcd; each controller keeps a replica in an in-memory SQLite database
// with the same schema as the embedded store, so everything that reads the
// store reads it as it does SQLite, synchronously.
//
// The replica is fed by one range read of the prefix and a watch from the
// revision after it. A write runs as a SQLite transaction on the replica
// (the schema's constraints and the code's checks see the latest state),
// temporary triggers record the rows it touched, the transaction is held
// open while those rows go to etcd as one transaction, and it commits only
// if etcd's does. etcd's transaction compares the mod revision of one key
// (_seq) that every write transaction puts: it succeeds only if nothing was
// written since the state the replica's transaction saw (optimistic
// concurrency, compare-and-swap). Otherwise the replica's transaction is
// rolled back, the replica catches up from the watch, and the write runs
// again on the new state: an address is never given out twice, a block
// never claimed by two hosts, whichever controller serves the request.
//
// Without a quorum (or etcd unreachable) a write fails with 503
// store_unavailable and changes nothing; reads keep serving the replica.
// Tables that are one controller's own (switches seen, meta) stay local.
import type Database from 'better-sqlite3';
import { Store, StoreHealth } from './store';
import { storeUnavailable, conflict } from './errors';
import { EtcdLink, EtcdOptions, EtcdStartError, EtcdTimeout, KvChange, StreamMessage } from './etcd-link';

/** Replicated tables and their primary keys. */
const TABLES: Record<string, string[]> = {
  hosts: ['name'], networks: ['id'], blocks: ['network_id', 'base'], endpoints: ['id'], port_mappings: ['host', 'protocol', 'host_port'],
  tokens: ['id'], policies: ['name'], services: ['name'], ipsec_keys: ['generation'],
};
/** Write transactions retried this often on a conflict before giving up (409). */
const MAX_ATTEMPTS = 20;

export type Row = Record<string, string | number | null>;
/** A row another controller changed: before and/or after. */
export interface RowChange { table: string; before?: Row; after?: Row }
export type Leadership = { leader: boolean; generation: number; holder: string };

export class EtcdStore extends Store {
  readonly link: EtcdLink;
  /** Mod revision of the _seq key the replica reflects (the last write transaction applied). */
  private seqMod = 0;
  private inTx = false;
  private readonly prep: (sql: string) => Database.Statement;
  private readonly columns = new Map<string, { names: string[]; integer: Set<string> }>();
  private etcdHealth: { ok: boolean; reason: string } = { ok: true, reason: 'ok' };
  private readonly remoteFns: ((changes: RowChange[], revision: number) => void)[] = [];
  private readonly leaderFns: ((l: Leadership) => void)[] = [];
  private readonly healthFns: ((ok: boolean, reason: string) => void)[] = [];
  /** Write transactions retried after a conflict, and committed (for the bench and tests). */
  readonly stats = { commits: 0, conflicts: 0 };
  private readonly dataPrefix: string;
  /** Why the replica is out of date (a change it could not apply), until a fresh read repaired it. */
  private broken?: string;

  constructor(readonly etcd: EtcdOptions) {
    super(':memory:');
    this.dataPrefix = `${etcd.prefix}data/`;
    this.prep = this.db.prepare.bind(this.db);
    for (const t of Object.keys(TABLES)) {
      const info = this.prep(`PRAGMA table_info(${t})`).all() as { name: string; type: string }[];
      this.columns.set(t, { names: info.map((c) => c.name), integer: new Set(info.filter((c) => c.type === 'INTEGER').map((c) => c.name)) });
    }
    this.capture();
    // every write statement outside a transaction is one (and goes to etcd)
    // (statements are cached by their SQL and shared with this store's own `prep`, which applies other
    // controllers' rows and must not make a transaction of them: the wrapper is a view, the statement is untouched)
    const views = new WeakMap<object, Database.Statement>();
    (this.db as { prepare: unknown }).prepare = (sql: string) => {
      const st = this.prep(sql);
      if (st.readonly) return st;
      let v = views.get(st);
      if (!v) {
        const run = (...a: unknown[]) => (this.inTx ? st.run(...a) : this.tx(() => st.run(...a)));
        v = new Proxy(st, {
          get: (t, k) => {
            if (k === 'run') return run;
            const x: unknown = Reflect.get(t, k);
            return typeof x === 'function' ? x.bind(t) : x;
          },
        });
        views.set(st, v);
      }
      return v;
    };
    try {
      this.link = new EtcdLink(etcd);
    } catch (e) {
      super.close();
      throw e;
    }
    const cannot = (why: string) => {
      void this.link.close();
      super.close();
      return new EtcdStartError(`etcd (${etcd.endpoints.join(',')}) could not be read at start: ${why}`);
    };
    let snap;
    try {
      snap = this.link.call({ op: 'snapshot' }, 15000);
    } catch (e) {
      throw cannot((e as Error).message);
    }
    if (!snap.ok) throw cannot(snap.error ?? 'no reason given');
    this.applyBatch(snap.kvs as { key: string; value: string; mod: number }[], Number(snap.revision), false);
    this.link.stream.on('message', (m: StreamMessage) => this.onStream(m));
    let w;
    try {
      w = this.link.call({ op: 'watch', from: Number(snap.revision) + 1 }, 15000);
    } catch (e) {
      throw cannot(`the watch: ${(e as Error).message}`);
    }
    if (!w.ok) throw cannot(`the watch: ${w.error}`);
  }

  /** Temporary triggers record the primary key of every row a write touches. */
  private capture(): void {
    this.db.exec('CREATE TEMP TABLE _weft_changes (tbl TEXT NOT NULL, pk TEXT NOT NULL)');
    for (const [t, pk] of Object.entries(TABLES)) {
      const key = (r: string) => `json_array(${pk.map((c) => `${r}.${c}`).join(', ')})`;
      this.db.exec(`CREATE TEMP TRIGGER _weft_i_${t} AFTER INSERT ON main.${t} BEGIN INSERT INTO _weft_changes VALUES ('${t}', ${key('NEW')}); END;
        CREATE TEMP TRIGGER _weft_u_${t} AFTER UPDATE ON main.${t} BEGIN INSERT INTO _weft_changes VALUES ('${t}', ${key('OLD')}); INSERT INTO _weft_changes VALUES ('${t}', ${key('NEW')}); END;
        CREATE TEMP TRIGGER _weft_d_${t} AFTER DELETE ON main.${t} BEGIN INSERT INTO _weft_changes VALUES ('${t}', ${key('OLD')}); END;`);
    }
  }

  private keyOf(table: string, pk: unknown[]): string {
    return `${this.dataPrefix}${table}/${pk.map((v) => encodeURIComponent(String(v))).join('/')}`;
  }

  private parseKey(key: string): { table: string; pk: (string | number)[] } | undefined {
    if (!key.startsWith(this.dataPrefix)) return undefined;
    const [table, ...parts] = key.slice(this.dataPrefix.length).split('/');
    const cols = TABLES[table!];
    if (!cols || parts.length !== cols.length) return undefined;
    const ints = this.columns.get(table!)!.integer;
    return { table: table!, pk: parts.map((p, i) => (ints.has(cols[i]!) ? Number(decodeURIComponent(p)) : decodeURIComponent(p))) };
  }

  private row(table: string, pk: unknown[]): Row | undefined {
    return this.prep(`SELECT * FROM ${table} WHERE ${TABLES[table]!.map((c) => `${c} = ?`).join(' AND ')}`).get(...pk) as Row | undefined;
  }

  /** The rows the current transaction touched, as etcd puts (the row now) and deletes (gone). */
  private collect(): KvChange[] {
    const seen = new Set<string>();
    const out: KvChange[] = [];
    for (const { tbl, pk } of this.prep('SELECT tbl, pk FROM _weft_changes ORDER BY rowid').all() as { tbl: string; pk: string }[]) {
      const id = `${tbl}\u0000${pk}`;
      if (seen.has(id)) continue;
      seen.add(id);
      const vals = JSON.parse(pk) as unknown[];
      const r = this.row(tbl, vals);
      out.push({ key: this.keyOf(tbl, vals), value: r ? JSON.stringify(r) : null });
    }
    return out;
  }

  /**
   * Run fn in a transaction of the replica and commit it through etcd
   * (compare-and-swap on the replica's revision); on a conflict, catch up
   * and run fn again. Nested calls are part of the outer transaction.
   */
  override tx<T>(fn: () => T): T {
    if (this.inTx) return fn();
    if (!this.repair()) throw storeUnavailable(`etcd: ${this.broken}`);
    for (let attempt = 1; ; attempt++) {
      this.drain();
      let result: T;
      let changes: KvChange[];
      // (a BEGIN that fails, inside a transaction opened another way, must not leave inTx set: every later write would stay local)
      this.db.exec('BEGIN IMMEDIATE');
      this.inTx = true;
      try {
        this.prep('DELETE FROM _weft_changes').run();
        result = fn();
        changes = this.collect();
      } catch (e) {
        this.db.exec('ROLLBACK');
        this.inTx = false;
        throw e;
      }
      if (changes.length === 0) { this.db.exec('COMMIT'); this.inTx = false; return result; }
      let r;
      try {
        if (this.link.healthy === false) throw new EtcdTimeout(this.etcdHealth.reason);
        r = this.link.call({ op: 'txn', seqMod: this.seqMod, changes });
        if (!r.ok) throw new EtcdTimeout(r.error ?? 'etcd write failed');
      } catch (e) {
        this.db.exec('ROLLBACK');
        this.inTx = false;
        throw storeUnavailable(`etcd: ${(e as Error).message}`);
      }
      if (r.succeeded) {
        this.db.exec('COMMIT');
        this.inTx = false;
        this.seqMod = Number(r.revision);
        this.stats.commits++;
        return result;
      }
      this.db.exec('ROLLBACK');
      this.inTx = false;
      this.stats.conflicts++;
      if (attempt >= MAX_ATTEMPTS) throw conflict(`the store changed under this write ${attempt} times; try again`);
      this.catchUp(Number(r.seqMod));
    }
  }

  /** Apply the watch's batches until the replica reflects revision `target` (bounded). */
  private catchUp(target: number): void {
    const deadline = Date.now() + this.etcd.callTimeoutMs * 3;
    for (;;) {
      const seen = this.link.streamCount;
      this.drain();
      if (this.seqMod >= target) return;
      const left = deadline - Date.now();
      if (left <= 0) throw storeUnavailable(`etcd: the replica did not catch up with revision ${target}`);
      this.link.waitStream(seen, left);
    }
  }

  /** Apply every stream message that is waiting. */
  private drain(): void {
    for (let m = this.link.next(); m; m = this.link.next()) this.onStream(m);
  }

  private onStream(m: StreamMessage): void {
    if (m.kind === 'events') {
      if (m.revision <= this.seqMod) return;
      try {
        this.applyBatch(m.changes.map((c) => ({ ...c, mod: m.revision })), m.revision, true);
      } catch (e) {
        // the replica could not take a change as it came (it should not happen): read it all again
        process.emitWarning(`etcd store: revision ${m.revision} could not be applied (${(e as Error).message}); reading the whole store again`);
        this.broken = `revision ${m.revision} could not be applied to the replica: ${(e as Error).message}`;
        this.repair();
      }
    } else if (m.kind === 'watchLost') {
      process.emitWarning(`etcd store: ${m.reason}; reading the whole store again`);
      this.broken = m.reason;
      setImmediate(() => this.repair());
    } else if (m.kind === 'health') {
      this.etcdHealth = { ok: m.ok, reason: m.reason };
      setImmediate(() => { for (const f of this.healthFns) f(m.ok, m.reason); });
    } else {
      setImmediate(() => { for (const f of this.leaderFns) f(m); });
    }
  }

  /** Apply changes from etcd to the replica (nothing is captured); tell the listeners what changed. */
  private applyBatch(kvs: { key: string; value: string | null; mod: number }[], revision: number, notify: boolean): void {
    const changes: RowChange[] = [];
    const puts: { table: string; row: Row; pk: unknown[] }[] = [];
    const dels: { table: string; pk: unknown[] }[] = [];
    let seq = this.seqMod;
    for (const kv of kvs) {
      if (kv.key === `${this.dataPrefix}_seq`) { seq = Math.max(seq, kv.mod); continue; }
      const k = this.parseKey(kv.key);
      if (!k) continue;
      if (kv.value === null) dels.push({ table: k.table, pk: k.pk });
      else puts.push({ table: k.table, row: JSON.parse(kv.value) as Row, pk: k.pk });
    }
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.prep('PRAGMA defer_foreign_keys = ON').run();
      // deletes first: a row put in the same revision may take a unique value a deleted one had
      for (const d of dels) {
        const before = this.row(d.table, d.pk);
        if (!before) continue;
        this.prep(`DELETE FROM ${d.table} WHERE ${TABLES[d.table]!.map((c) => `${c} = ?`).join(' AND ')}`).run(...d.pk);
        changes.push({ table: d.table, before });
      }
      for (const p of puts) {
        const cols = this.columns.get(p.table)!.names.filter((c) => c in p.row);
        const pk = TABLES[p.table]!;
        const before = this.row(p.table, p.pk);
        const set = cols.filter((c) => !pk.includes(c));
        this.prep(`INSERT INTO ${p.table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})
          ON CONFLICT(${pk.join(', ')}) DO ${set.length ? `UPDATE SET ${set.map((c) => `${c} = excluded.${c}`).join(', ')}` : 'NOTHING'}`).run(...cols.map((c) => p.row[c]));
        changes.push({ table: p.table, before, after: p.row });
      }
      this.prep('DELETE FROM _weft_changes').run();
      this.db.exec('COMMIT');
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
    this.seqMod = Math.max(seq, notify ? revision : seq);
    if (notify && changes.length) setImmediate(() => { for (const f of this.remoteFns) f(changes, revision); });
  }

  /** Read the store again if the replica is out of date; false if that failed too (writes then get 503). */
  private repair(): boolean {
    if (!this.broken) return true;
    try {
      this.reload();
      this.broken = undefined;
      return true;
    } catch (e) {
      process.emitWarning(`etcd store: the replica could not be read again: ${(e as Error).message}`);
      return false;
    }
  }

  /** Replace the replica's rows with a fresh range read; the listeners hear of it as a change (of unknown rows). */
  reload(): void {
    const snap = this.link.call({ op: 'snapshot' }, this.etcd.callTimeoutMs * 3);
    if (!snap.ok) throw storeUnavailable(`etcd: ${snap.error}`);
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.prep('PRAGMA defer_foreign_keys = ON').run();
      for (const t of Object.keys(TABLES).reverse()) this.prep(`DELETE FROM ${t}`).run();
      this.db.exec('COMMIT');
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
    this.seqMod = 0;
    this.applyBatch(snap.kvs as { key: string; value: string; mod: number }[], Number(snap.revision), false);
    // and the watch from there (a watch etcd cancelled, or one whose changes did not apply)
    const w = this.link.call({ op: 'watch', from: Number(snap.revision) + 1 }, this.etcd.callTimeoutMs * 3);
    if (!w.ok) throw storeUnavailable(`etcd watch: ${w.error}`);
    setImmediate(() => { for (const f of this.remoteFns) f([], Number(snap.revision)); });
  }

  /** Rows other controllers changed (after the replica has them). */
  onRemoteChange(fn: (changes: RowChange[], revision: number) => void): void {
    this.remoteFns.push(fn);
  }

  /** Leader election results (with campaign on). */
  onLeadership(fn: (l: Leadership) => void): void {
    this.leaderFns.push(fn);
  }

  /** Quorum found or lost. */
  onHealth(fn: (ok: boolean, reason: string) => void): void {
    this.healthFns.push(fn);
  }

  /** Degraded while etcd has no quorum (writes get 503; the replica still serves reads). */
  override health(): StoreHealth {
    if (this.broken) return { state: 'degraded', reason: `etcd: ${this.broken}` };
    const h = this.link.healthy === false ? this.etcdHealth : { ok: true };
    return h.ok ? { state: 'ok' } : { state: 'degraded', reason: `etcd: ${(h as { reason: string }).reason}` };
  }

  /** The mod revision of the last write the replica reflects. */
  get revision(): number {
    return this.seqMod;
  }

  /** A flow round no other controller of the cluster has (a counter in etcd, compare-and-swap). */
  nextRound(): number {
    const r = this.link.call({ op: 'nextRound' });
    if (!r.ok) throw new Error(`etcd: no round: ${r.error}`);
    return Number(r.round);
  }

  override close(): void {
    void this.link.close();
    super.close();
  }

  /** Close and wait for the worker to end. */
  async closeAsync(): Promise<void> {
    await this.link.close();
    super.close();
  }
}
