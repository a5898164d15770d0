// The store's health: a damaged database file (pages overwritten, or not a
// database at all) still lets the controller start, GET /v1/health says
// degraded (503) with the reason, the routes that need the database answer
// 503 store_unavailable (never 500), and the file is not written to. A
// healthy file says ok, and commits are synchronous=FULL.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { startController, api } from '../helpers/controller';
import { Store } from '../../controller/store';
import { WeftError } from '../../controller/errors';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-store-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

type Health = { status: string; store: string; store_reason?: string; switches: number };
type Err = { error: string; message: string };

const sha = (file: string) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
/** Routes that read the database. */
const DATA_ROUTES = ['/v1/networks', '/v1/networks/blue', '/v1/endpoints', '/v1/hosts?kind=registered', '/v1/hosts/node1'];

/** A database with a host, a network and `n` endpoints, closed cleanly (WAL checkpointed, no -wal left). */
async function populated(name: string, n = 300): Promise<string> {
  const db = path.join(dir, name);
  const c = await startController({ db, apps: 'none' });
  try {
    c.containers.createHost({ name: 'node1', dpid: '0000000000000a01', underlayIp: '172.31.250.2' });
    c.containers.createNetwork({ name: 'blue', cidr: '10.1.0.0/16' });
    for (let i = 0; i < n; i++) c.containers.createEndpoint({ containerId: `c${i}`, ifName: 'eth0', host: 'node1', network: 'blue' });
  } finally {
    await c.cleanup();
  }
  assert.ok(!fs.existsSync(`${db}-wal`), 'closed cleanly');
  return db;
}

/** Root page, page size and page count of a table, read without writing. */
function layout(db: string, table: string): { root: number; pageSize: number; pages: number } {
  const ro = new Database(db, { readonly: true });
  try {
    const root = (ro.prepare('SELECT rootpage FROM sqlite_master WHERE name = ?').get(table) as { rootpage: number }).rootpage;
    return { root, pageSize: ro.pragma('page_size', { simple: true }) as number, pages: ro.pragma('page_count', { simple: true }) as number };
  } finally {
    ro.close();
  }
}

/** The schema's own pages and every root page: without them SQLite cannot even check the file (SQLITE_CORRUPT at open). */
function spared(db: string): Set<number> {
  const ro = new Database(db, { readonly: true });
  try {
    const schema = ro.prepare("SELECT pageno AS p FROM dbstat WHERE name = 'sqlite_schema'").all() as { p: number }[];
    const roots = ro.prepare('SELECT rootpage AS p FROM sqlite_master WHERE rootpage > 0').all() as { p: number }[];
    return new Set([...schema, ...roots].map((r) => r.p));
  } finally {
    ro.close();
  }
}

/** Overwrite the b-tree header (first 64 bytes) of the pages in [from, to] but `keep` with junk. */
function smash(file: string, pageSize: number, from: number, to: number, keep: ReadonlySet<number> = new Set()): void {
  const fd = fs.openSync(file, 'r+');
  try {
    for (let p = from; p <= to; p++) if (!keep.has(p)) fs.writeSync(fd, Buffer.alloc(64, 0xa5), 0, 64, (p - 1) * pageSize);
  } finally {
    fs.closeSync(fd);
  }
}

test('a healthy database: store ok, WAL with synchronous=FULL', async () => {
  const c = await startController({ db: path.join(dir, 'fresh.db'), apps: 'none' });
  try {
    const h = await api<Health>(c, '/v1/health');
    assert.equal(h.status, 200);
    assert.equal(h.body.status, 'ok');
    assert.equal(h.body.store, 'ok');
    assert.equal(h.body.store_reason, undefined);
    assert.equal(c.store.db.pragma('synchronous', { simple: true }), 2, 'PRAGMA synchronous is FULL (2)');
    assert.equal(c.store.db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal((await api<unknown[]>(c, '/v1/networks')).status, 200);
  } finally {
    await c.cleanup();
  }
});

test('corrupt pages in the middle of the file: the controller starts degraded, data routes answer 503, the file is untouched', async () => {
  const db = await populated('corrupt.db');
  const { pageSize, pages } = layout(db, 'endpoints');
  assert.ok(pages >= 12, `enough pages to have a middle (${pages})`);
  smash(db, pageSize, Math.floor(pages / 3), Math.floor((2 * pages) / 3), spared(db));
  const reason = Store.check(db);
  assert.match(reason ?? '', /^quick_check failed: /, 'quick_check reports the damage');
  const before = sha(db);

  const c = await startController({ db, apps: 'none' });
  try {
    const h = await api<Health>(c, '/v1/health');
    assert.equal(h.status, 503);
    assert.equal(h.body.status, 'degraded');
    assert.equal(h.body.store, 'degraded');
    assert.equal(h.body.store_reason, reason);
    assert.equal(typeof h.body.switches, 'number');
    for (const url of DATA_ROUTES) {
      const r = await api<Err>(c, url);
      assert.equal(r.status, 503, `${url}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.error, 'store_unavailable', url);
      assert.match(r.body.message, /store is unavailable \(quick_check failed: .*\); see GET \/v1\/health/, url);
    }
    // writes are refused the same way, and change nothing
    assert.throws(() => c.containers.createNetwork({ name: 'red', cidr: '10.2.0.0/16' }), (e: unknown) => e instanceof WeftError && e.status === 503 && e.code === 'store_unavailable');
    // what does not need the database still answers
    assert.equal((await api(c, '/v1/switches')).status, 200);
    assert.equal((await api(c, '/v1/links')).status, 200);
    // nothing managed without the store: the lab apps leave every switch alone
    assert.equal(c.containers.isHost('0000000000000001'), true);
  } finally {
    await c.cleanup();
  }
  assert.equal(sha(db), before, 'the damaged file was not written to');
});

test('not a database at all (header overwritten): degraded with SQLITE_NOTADB, file untouched', async () => {
  const db = await populated('notadb.db', 10);
  const fd = fs.openSync(db, 'r+');
  fs.writeSync(fd, Buffer.from('this is not sqlite'), 0, 16, 0);
  fs.closeSync(fd);
  const before = sha(db);
  const c = await startController({ db, apps: 'none' });
  try {
    const h = await api<Health>(c, '/v1/health');
    assert.equal(h.status, 503);
    assert.equal(h.body.status, 'degraded');
    assert.match(h.body.store_reason ?? '', /^SQLITE_NOTADB: /);
    const r = await api<Err>(c, '/v1/endpoints');
    assert.deepEqual([r.status, r.body.error], [503, 'store_unavailable']);
  } finally {
    await c.cleanup();
  }
  assert.equal(sha(db), before);
});

test('corruption met by a query at run time: 503 store_unavailable (not 500), and the health turns degraded', async () => {
  const db = await populated('runtime.db');
  const c = await startController({ db, apps: 'none' });
  try {
    assert.equal((await api<Health>(c, '/v1/health')).body.store, 'ok');
    assert.equal((await api<unknown[]>(c, '/v1/endpoints')).body.length, 300);
    // damage the endpoints table on disk under the running controller, then drop its page cache
    c.store.db.pragma('wal_checkpoint(TRUNCATE)');
    const { root, pageSize } = layout(db, 'endpoints');
    smash(db, pageSize, root, root);
    c.store.db.pragma('shrink_memory');

    const r = await api<Err>(c, '/v1/endpoints');
    assert.equal(r.status, 503, JSON.stringify(r.body));
    assert.equal(r.body.error, 'store_unavailable');
    assert.match(r.body.message, /SQLITE_CORRUPT/);
    const h = await api<Health>(c, '/v1/health');
    assert.equal(h.status, 503);
    assert.deepEqual([h.body.status, h.body.store], ['degraded', 'degraded']);
    assert.match(h.body.store_reason ?? '', /^SQLITE_CORRUPT\w* at run time: /);
    // from then on nothing more is read from (or written to) the damaged file
    const n = await api<Err>(c, '/v1/networks');
    assert.deepEqual([n.status, n.body.error], [503, 'store_unavailable']);
  } finally {
    await c.cleanup();
  }
});
