// `weft token create|ls|rm`: manage API tokens through the API, with the
// admin token read from its file. A new token is printed once, alone on
// stdout, so scripts can write it to a host's token file.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../config';

export class TokenUsageError extends Error { override name = 'TokenUsageError'; }

async function call(api: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const r = await fetch(new URL(path, api), {
    method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json: unknown = undefined;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = text; }
  return { status: r.status, json };
}

/** Runs `weft token ...`; returns the exit code (2 for usage errors, 1 when the API refuses). */
export async function tokenMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { role: { type: 'string' }, host: { type: 'string' }, api: { type: 'string' }, 'admin-token-file': { type: 'string' } },
  });
  const [verb, id, ...extra] = positionals;
  const api = values.api ?? `http://127.0.0.1:${DEFAULTS.apiPort}`;
  const file = values['admin-token-file'] ?? 'weft-admin.token';
  if (extra.length) throw new TokenUsageError(`unexpected "${extra.join(' ')}"`);
  let admin: string;
  try { admin = fs.readFileSync(file, 'utf8').trim(); } catch (e) { throw new TokenUsageError(`cannot read the admin token file ${file}: ${(e as Error).message}`); }
  let r: { status: number; json: unknown };
  switch (verb) {
    case 'create': {
      if (values.role !== 'admin' && values.role !== 'host') throw new TokenUsageError('token create needs --role admin or --role host');
      if (values.role === 'host' && !values.host) throw new TokenUsageError('a host token needs --host NAME');
      r = await call(api, admin, 'POST', '/v1/tokens', { role: values.role, ...(values.host ? { host: values.host } : {}) });
      if (r.status === 201) { process.stdout.write(`${(r.json as { token: string }).token}\n`); return 0; }
      break;
    }
    case 'ls':
      r = await call(api, admin, 'GET', '/v1/tokens');
      if (r.status === 200) {
        for (const t of r.json as { id: string; role: string; host: string | null; createdAt: string }[]) process.stdout.write(`${t.id}  ${t.role.padEnd(5)}  ${(t.host ?? '-').padEnd(16)}  ${t.createdAt}\n`);
        return 0;
      }
      break;
    case 'rm':
      if (!id) throw new TokenUsageError('token rm needs the token id');
      r = await call(api, admin, 'DELETE', `/v1/tokens/${encodeURIComponent(id)}`);
      if (r.status === 204) return 0;
      break;
    default:
      throw new TokenUsageError(`unknown token command "${verb ?? ''}" (create, ls or rm)`);
  }
  const e = r.json as { message?: string } | undefined;
  process.stderr.write(`weft token: ${r.status} ${e?.message ?? JSON.stringify(r.json)}\n`);
  return 1;
}
