// `weft token create|ls|rm`: manage API tokens through the API, with the
// admin token found as every API command finds it (client.ts: --token-file
// or its alias --admin-token-file, WEFT_TOKEN_FILE / WEFT_TOKEN, the config
// file, ./weft-admin.token). A new token is printed once, alone on stdout,
// so scripts can write it to a host's token file.
import { parseArgs } from 'node:util';
import { ApiClient, CliUsageError, CONNECTION_OPTIONS, seg } from './client';
import { table } from './table';

export class TokenUsageError extends CliUsageError { override name = 'TokenUsageError'; }

/** Runs `weft token ...`; returns the exit code (usage errors and API errors are thrown: exit 2 and 1). */
export async function tokenMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { role: { type: 'string' }, host: { type: 'string' }, output: { type: 'string', short: 'o' }, ...CONNECTION_OPTIONS },
  });
  const [verb, id, ...extra] = positionals;
  if (extra.length) throw new TokenUsageError(`unexpected "${extra.join(' ')}"`);
  const out = values.output ?? 'table';
  if (out !== 'table' && out !== 'json') throw new TokenUsageError(`-o: "${out}" is not an output format (table or json)`);
  switch (verb) {
    case 'create': {
      if (values.role !== 'admin' && values.role !== 'host') throw new TokenUsageError('token create needs --role admin or --role host');
      if (values.role === 'host' && !values.host) throw new TokenUsageError('a host token needs --host NAME');
      const r = await ApiClient.fromFlags(values).call('POST', '/v1/tokens', { role: values.role, ...(values.host ? { host: values.host } : {}) });
      process.stdout.write(out === 'json' ? `${r.text}\n` : `${(r.json as { token: string }).token}\n`);
      return 0;
    }
    case 'ls': {
      const r = await ApiClient.fromFlags(values).get('/v1/tokens');
      if (out === 'json') process.stdout.write(`${r.text}\n`);
      else process.stdout.write(table(['ID', 'ROLE', 'HOST', 'CREATED'], (r.json as { id: string; role: string; host: string | null; createdAt: string }[]).map((t) => [t.id, t.role, t.host, t.createdAt])));
      return 0;
    }
    case 'rm':
      if (!id) throw new TokenUsageError('token rm needs the token id');
      await ApiClient.fromFlags(values).call('DELETE', `/v1/tokens/${seg(id)}`);
      return 0;
    default:
      throw new TokenUsageError(`unknown token command "${verb ?? ''}" (create, ls or rm)`);
  }
}
