// The persistent store: embedded SQLite (better-sqlite3 v12), WAL, every
// write in a transaction. Schema migrations are numbered and idempotent.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';

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
];

export interface KnownSwitch { dpid: string; first_seen: string; last_seen: string; last_remote: string }

export class Store {
  readonly db: Database.Database;

  constructor(readonly file: string) {
    if (file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.migrate();
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    const run = this.db.transaction(() => {
      for (let i = version; i < MIGRATIONS.length; i++) this.db.exec(MIGRATIONS[i]);
      this.db.pragma(`user_version = ${MIGRATIONS.length}`);
    });
    run();
  }

  /** Remember that a datapath connected (for GET /v1/switches?known=1 and audits). */
  switchSeen(dpid: string, remote: string): void {
    const now = new Date().toISOString();
    this.db.prepare(`INSERT INTO switches (dpid, first_seen, last_seen, last_remote) VALUES (?, ?, ?, ?)
      ON CONFLICT(dpid) DO UPDATE SET last_seen = excluded.last_seen, last_remote = excluded.last_remote`).run(dpid, now, now, remote);
  }

  knownSwitches(): KnownSwitch[] {
    return this.db.prepare('SELECT dpid, first_seen, last_seen, last_remote FROM switches ORDER BY dpid').all() as KnownSwitch[];
  }

  getMeta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  /** Run fn in one transaction (IMMEDIATE: it takes the write lock first). */
  tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  close(): void {
    this.db.close();
  }
}
