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

  close(): void {
    this.db.close();
  }
}
