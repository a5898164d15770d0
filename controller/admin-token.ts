// The admin token a controller starts with. On the first start (or when its
// file is gone or no longer valid) the controller makes one and writes it,
// mode 0600, to the admin token file: by default next to the database. A
// controller on an in-memory database keeps it in memory only, unless a
// file is named.
import fs from 'node:fs';
import path from 'node:path';
import type { Tokens } from './tokens';

/** The admin token file that goes with a database, unless one is named. */
export function defaultAdminTokenFile(db: string): string | undefined {
  return db === ':memory:' ? undefined : path.join(path.dirname(path.resolve(db)), 'weft-admin.token');
}

/** The admin token to start with: the file's, if it still proves an admin, else a new one written there. */
export function ensureAdminToken(tokens: Tokens, file: string | undefined, storeDegraded = false): { token?: string; created: boolean } {
  if (storeDegraded) {
    // nothing can be checked or written: the file's token, if any, opens what needs no store
    const token = file && fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : undefined;
    if (token) tokens.acceptWhileDegraded(token);
    return { token, created: false };
  }
  const { token, created } = fileOrNew(tokens, file);
  // should the store fail later, this token still opens what needs no store
  tokens.acceptWhileDegraded(token);
  return { token, created };
}

function fileOrNew(tokens: Tokens, file: string | undefined): { token: string; created: boolean } {
  if (file && fs.existsSync(file)) {
    const token = fs.readFileSync(file, 'utf8').trim();
    if (tokens.verify(token)?.role === 'admin') {
      // an operator may have copied it with looser permissions: the admin token is for its owner only
      if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
      return { token, created: false };
    }
  }
  const { token } = tokens.create('admin');
  if (file) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    // written beside and renamed over: the file never exists with looser permissions or half a token
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    fs.writeFileSync(tmp, token + '\n', { mode: 0o600, flag: 'wx' }); // never through a file or link already there
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
  }
  return { token, created: true };
}
