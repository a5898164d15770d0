// API bearer tokens: an admin token may do everything; a host token may
// attach, read and detach only its own host's endpoints and read what its
// host needs. Tokens are stored as SHA-256 hashes; the secret is shown once,
// when it is made. A token reads `weft_<id>_<secret>`: the id names it in
// lists and logs, the secret (32 random bytes) is what proves it.
import { createHash, randomBytes } from 'node:crypto';
import type { Store } from './store';
import { storeUnavailable } from './errors';

export type Role = 'admin' | 'host';

export interface TokenRec { id: string; role: Role; host: string | null; createdAt: string }
/** Who made a request: the token's id, role and (host tokens) host. */
export interface Principal { tokenId: string; role: Role; host: string | null }

const TOKEN_RE = /^weft_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const hash = (token: string) => createHash('sha256').update(token).digest('hex');

export class Tokens {
  /** The admin token's hash while the store is degraded (it cannot be read): the operator keeps read access to what needs no store. */
  private degradedAdmin?: string;

  constructor(private readonly store: Store) {}

  /** Accept this admin token (the controller's own, or its file's) while the store cannot be read. */
  acceptWhileDegraded(token: string): void {
    this.degradedAdmin = hash(token);
  }

  /** A new token; its secret is in the returned string only. */
  create(role: Role, host: string | null = null): { token: string; rec: TokenRec } {
    const id = randomBytes(8).toString('hex');
    const token = `weft_${id}_${randomBytes(32).toString('base64url')}`;
    const rec: TokenRec = { id, role, host: role === 'host' ? host : null, createdAt: new Date().toISOString() };
    this.store.db.prepare('INSERT INTO tokens (id, hash, role, host, created_at) VALUES (?, ?, ?, ?, ?)').run(id, hash(token), rec.role, rec.host, rec.createdAt);
    return { token, rec };
  }

  list(): TokenRec[] {
    return (this.store.db.prepare('SELECT id, role, host, created_at AS createdAt FROM tokens ORDER BY created_at, id').all() as TokenRec[]);
  }

  get(id: string): TokenRec | undefined {
    return this.store.db.prepare('SELECT id, role, host, created_at AS createdAt FROM tokens WHERE id = ?').get(id) as TokenRec | undefined;
  }

  delete(id: string): boolean {
    return this.store.db.prepare('DELETE FROM tokens WHERE id = ?').run(id).changes > 0;
  }

  /** Revokes every token of a host (it was unregistered: a host registered later under its name must not inherit them). */
  revokeHost(host: string): number {
    return this.store.db.prepare("DELETE FROM tokens WHERE role = 'host' AND host = ?").run(host).changes;
  }

  countAdmins(): number {
    return (this.store.db.prepare("SELECT COUNT(*) AS n FROM tokens WHERE role = 'admin'").get() as { n: number }).n;
  }

  /** The principal a presented token proves, if any. Malformed tokens never reach the store. */
  verify(token: string): Principal | undefined {
    const m = TOKEN_RE.exec(token);
    if (!m) return undefined;
    if (this.store.degraded) {
      if (this.degradedAdmin === hash(token)) return { tokenId: m[1]!, role: 'admin', host: null };
      throw storeUnavailable(`tokens cannot be checked: ${this.store.health().state === 'degraded' ? (this.store.health() as { reason: string }).reason : ''}`);
    }
    const row = this.store.db.prepare('SELECT id, role, host FROM tokens WHERE hash = ?').get(hash(token)) as { id: string; role: Role; host: string | null } | undefined;
    // the hash is the lookup key; the id inside the token must name the same row
    if (!row || row.id !== m[1]) return undefined;
    return { tokenId: row.id, role: row.role, host: row.host };
  }
}
