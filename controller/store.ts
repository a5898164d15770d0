// The persistent store: embedded SQLite (better-sqlite3 v12), WAL with
// synchronous=FULL (a commit is on disk when it returns: an address handed
// out is never handed out again after a power loss), every write in a
// transaction. Schema migrations are numbered and idempotent.
//
// An existing file is checked first (PRAGMA quick_check, on a read-only
// connection, so a damaged file is never written to). If the check fails the
// store is degraded: it opens nothing on the file, every query throws
// store_unavailable (503), and GET /v1/health says why. A query that meets
// corruption at run time (SQLITE_CORRUPT, SQLITE_NOTADB) degrades it the
// same way. The controller still starts, so the operator sees the health.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { isStoreFault, storeUnavailable } from './errors';

const MIGRATIONS: string[] = [
  `CREATE TABLE IF NOT EXISTS switches (
     dpid TEXT PRIMARY KEY,
     first_seen TEXT NOT NULL,
     last_seen TEXT NOT NULL,
     last_remote TEXT NOT NULL
   )`,
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE hosts (
     name TEXT PRIMARY KEY,
     dpid TEXT NOT NULL UNIQUE,
     underlay_ip TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE networks (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     name TEXT NOT NULL UNIQUE,
     cidr TEXT NOT NULL,
     gateway TEXT NOT NULL,
     mode TEXT NOT NULL,
     vni INTEGER NOT NULL UNIQUE,
     block_size INTEGER NOT NULL,
     vlan INTEGER,
     mtu INTEGER NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE blocks (
     network_id INTEGER NOT NULL REFERENCES networks(id) ON DELETE CASCADE,
     base INTEGER NOT NULL,
     len INTEGER NOT NULL,
     host TEXT REFERENCES hosts(name),
     PRIMARY KEY (network_id, base)
   );
   CREATE TABLE endpoints (
     id TEXT PRIMARY KEY,
     container_id TEXT NOT NULL,
     if_name TEXT NOT NULL,
     host TEXT NOT NULL REFERENCES hosts(name),
     network_id INTEGER NOT NULL REFERENCES networks(id),
     port_name TEXT NOT NULL,
     mac TEXT NOT NULL,
     ip TEXT NOT NULL,
     ip_int INTEGER NOT NULL,
     requested_ip TEXT,
     netns TEXT,
     state TEXT NOT NULL,
     created_at TEXT NOT NULL,
     ready_at TEXT,
     UNIQUE (container_id, if_name),
     UNIQUE (network_id, ip_int),
     UNIQUE (host, port_name)
   );
   CREATE INDEX endpoints_host ON endpoints(host);`,
  `ALTER TABLE hosts ADD COLUMN phy_dpid TEXT;
   CREATE UNIQUE INDEX hosts_phy_dpid ON hosts(phy_dpid) WHERE phy_dpid IS NOT NULL;`,
  `CREATE TABLE port_mappings (
     endpoint_id TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
     host TEXT NOT NULL,
     protocol TEXT NOT NULL,
     host_ip TEXT NOT NULL,
     host_port INTEGER NOT NULL,
     container_port INTEGER NOT NULL,
     PRIMARY KEY (host, protocol, host_port)
   );`,
  `ALTER TABLE hosts ADD COLUMN underlay_prefix INTEGER;
   ALTER TABLE hosts ADD COLUMN underlay_gateway TEXT;`,
  `ALTER TABLE endpoints ADD COLUMN ofport_request INTEGER;
   CREATE UNIQUE INDEX endpoints_ofport_request ON endpoints(host, ofport_request) WHERE ofport_request IS NOT NULL;`,
  `CREATE TABLE tokens (
     id TEXT PRIMARY KEY,
     hash TEXT NOT NULL UNIQUE,
     role TEXT NOT NULL,
     host TEXT,
     created_at TEXT NOT NULL
   );`,
  `ALTER TABLE networks ADD COLUMN mac_mode TEXT NOT NULL DEFAULT 'own';
   ALTER TABLE networks ADD COLUMN ranges TEXT;
   ALTER TABLE networks ADD COLUMN exclude TEXT;`,
  `ALTER TABLE endpoints ADD COLUMN labels TEXT;`,
  `CREATE TABLE policies (
     name TEXT PRIMARY KEY,
     body TEXT NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   );`,
  `CREATE TABLE services (
     name TEXT PRIMARY KEY,
     network_id INTEGER NOT NULL,
     vip_int INTEGER NOT NULL,
     body TEXT NOT NULL,
     created_at TEXT NOT NULL
   );`,
  // encrypted networks (controller/ipsec.ts): each host's secure VTEP, and a PSK per pair of hosts (host_a < host_b)
  `ALTER TABLE networks ADD COLUMN encrypted INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE hosts ADD COLUMN ipsec_vtep TEXT;
   CREATE TABLE ipsec_pairs (
     host_a TEXT NOT NULL,
     host_b TEXT NOT NULL,
     generation INTEGER NOT NULL,
     psk TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     PRIMARY KEY (host_a, host_b)
   );`,
  // IPsec keys by generation: a pair's PSK is derived from its generation's secret and the pair (controller/ipsec.ts),
  // so nothing grows with the square of the hosts; the per-pair table goes (its PSKs are replaced by a new generation)
  `CREATE TABLE ipsec_keys (
     generation INTEGER PRIMARY KEY,
     secret TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   DROP TABLE ipsec_pairs;`,
];

export interface KnownSwitch { dpid: string; first_seen: string; last_seen: string; last_remote: string }

export type StoreHealth = { state: 'ok' } | { state: 'degraded'; reason: string };

/** Rows of PRAGMA quick_check that mean "fine". */
const CHECK_OK = ['ok'];
/** At most this many quick_check messages go into the reason. */
const CHECK_MAX_ERRORS = 3;

export class Store {
  readonly db: Database.Database;
  private state: StoreHealth = { state: 'ok' };
  /** meta (the controller's round) while degraded: kept in memory, never written to the file. */
  private readonly memMeta = new Map<string, string>();

  constructor(readonly file: string) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const problem = Store.check(file);
    if (problem) {
      this.state = { state: 'degraded', reason: problem };
      // nothing is opened on the damaged file: an empty in-memory database stands in, refusing every query
      this.db = this.guarded(new Database(':memory:'));
      return;
    }
    this.db = this.guarded(new Database(file));
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = FULL');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
  }

  /**
   * PRAGMA quick_check on a read-only connection (nothing is written, not
   * even a WAL checkpoint). Returns why the file is unusable, or undefined
   * if it is fine or does not exist yet. Other errors (permissions, I/O)
   * are thrown: they are not the file's content.
   */
  static check(file: string): string | undefined {
    if (file === ':memory:' || !fs.existsSync(file) || fs.statSync(file).size === 0) return undefined;
    let ro: Database.Database | undefined;
    try {
      ro = new Database(file, { readonly: true, fileMustExist: true });
      const rows = ro.pragma(`quick_check(${CHECK_MAX_ERRORS})`, { simple: false }) as { quick_check: string }[];
      const msgs = rows.map((r) => r.quick_check.replace(/\*\*\* in database \w+ \*\*\*/, '').replace(/\s+/g, ' ').trim());
      if (msgs.length === 1 && CHECK_OK.includes(msgs[0])) return undefined;
      return `quick_check failed: ${msgs.join('; ')}`;
    } catch (e) {
      if (isStoreFault(e)) return `${(e as { code: string }).code}: ${(e as Error).message}`;
      throw e;
    } finally {
      ro?.close();
    }
  }

  /** ok, or degraded with the reason (quick_check at start, or corruption met by a query since). */
  health(): StoreHealth {
    return this.state;
  }

  get degraded(): boolean {
    return this.state.state === 'degraded';
  }

  /**
   * Every statement of db goes through here: none is prepared once the
   * store is degraded, and a corruption error from one degrades it (so the
   * health says so and nothing more is written to a damaged file).
   */
  private guarded(db: Database.Database): Database.Database {
    const prepare = db.prepare.bind(db);
    const exec = db.exec.bind(db);
    const fault = (e: unknown): unknown => {
      if (isStoreFault(e) && !this.degraded) this.state = { state: 'degraded', reason: `${(e as { code: string }).code} at run time: ${(e as Error).message}` };
      return e;
    };
    const refuse = () => { if (this.state.state === 'degraded') throw storeUnavailable(this.state.reason); };
    // statements by their SQL: preparing one costs more than most queries run with it
    const cache = new Map<string, Database.Statement>();
    db.prepare = ((sql: string) => {
      refuse();
      const hit = cache.get(sql);
      if (hit) return hit;
      let st: Database.Statement;
      try { st = prepare(sql); } catch (e) { throw fault(e); }
      if (cache.size < 1000) cache.set(sql, st);
      for (const m of ['run', 'get', 'all'] as const) {
        const f = st[m] as (...a: unknown[]) => unknown;
        (st as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
          try { return f.apply(st, a); } catch (e) { throw fault(e); }
        };
      }
      return st;
    }) as typeof db.prepare;
    db.exec = ((sql: string) => {
      refuse();
      try { return exec(sql); } catch (e) { throw fault(e); }
    }) as typeof db.exec;
    return db;
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    const run = this.db.transaction(() => {
      for (let i = version; i < MIGRATIONS.length; i++) this.db.exec(MIGRATIONS[i]);
      this.db.pragma(`user_version = ${MIGRATIONS.length}`);
    });
    run();
  }

  /** Connects not yet written (switchSeen), by dpid. */
  private seen = new Map<string, { at: string; remote: string }>();
  private seenTimer?: NodeJS.Timeout;

  /**
   * Remember that a datapath connected (for GET /v1/switches?known=1 and
   * audits). Written within 200 ms, many connects in one transaction: with
   * synchronous=FULL a write per connect would cost a disk sync each when a
   * thousand switches reconnect at once. Reads (knownSwitches) and close
   * write what is pending first.
   */
  switchSeen(dpid: string, remote: string): void {
    if (this.degraded) return;
    this.seen.set(dpid, { at: new Date().toISOString(), remote });
    if (!this.seenTimer) { this.seenTimer = setTimeout(() => this.flushSeen(), 200); this.seenTimer.unref(); }
  }

  private flushSeen(): void {
    if (this.seenTimer) clearTimeout(this.seenTimer);
    this.seenTimer = undefined;
    if (!this.seen.size || this.degraded || !this.db.open) { this.seen.clear(); return; }
    const batch = this.seen;
    this.seen = new Map();
    try {
      const st = this.db.prepare(`INSERT INTO switches (dpid, first_seen, last_seen, last_remote) VALUES (?, ?, ?, ?)
        ON CONFLICT(dpid) DO UPDATE SET last_seen = excluded.last_seen, last_remote = excluded.last_remote`);
      // the store's own transaction (with etcd, writes made outside it go through it anyway)
      this.tx(() => { for (const [dpid, s] of batch) st.run(dpid, s.at, s.at, s.remote); });
    } catch {
      // a damaged store degrades (the guarded statements see to it, see health); the switches were adopted all the same
    }
  }

  knownSwitches(): KnownSwitch[] {
    this.flushSeen();
    return this.db.prepare('SELECT dpid, first_seen, last_seen, last_remote FROM switches ORDER BY dpid').all() as KnownSwitch[];
  }

  getMeta(key: string): string | undefined {
    if (this.degraded) return this.memMeta.get(key);
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    if (this.degraded) { this.memMeta.set(key, value); return; }
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** Run fn in one transaction (IMMEDIATE: it takes the write lock first). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    try { this.flushSeen(); } catch { /* closing anyway */ }
    this.db.close();
  }
}
