// What the API commands of `weft` share (token, hosts, networks, endpoints,
// trace, flows): where the API is and which token to call it with, and a
// small HTTP client that sends the bearer token and turns an error answer
// into `weft: <status> <message>` and exit code 1.
//
// The API's URL and the token are taken, first found wins, from
//   1. flags: --api URL, --token-file PATH (--admin-token-file is an alias)
//   2. the environment: WEFT_API, WEFT_TOKEN (the token itself), WEFT_TOKEN_FILE
//   3. the config file ~/.config/weft/cli.json: {"api": "...", "tokenFile": "..."}
//      (a relative tokenFile is taken relative to the file's folder)
//   4. defaults: http://127.0.0.1:8080 and ./weft-admin.token
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULTS } from '../config';

/** A mistake on the command line (or in the config file): exit 2 with the usage. */
export class CliUsageError extends Error { override name = 'CliUsageError'; }

/** The API answered with an error, or could not be reached: exit 1. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(readonly status: number | null, message: string) { super(message); }
  /** The line printed on stderr. */
  line(): string { return this.status === null ? `weft: ${this.message}` : `weft: ${this.status} ${this.message}`; }
}

export const DEFAULT_API = `http://127.0.0.1:${DEFAULTS.apiPort}`;
export const DEFAULT_TOKEN_FILE = 'weft-admin.token';

/** The options every API command takes, for parseArgs. */
export const CONNECTION_OPTIONS = {
  api: { type: 'string' },
  'token-file': { type: 'string' },
  'admin-token-file': { type: 'string' },
} as const;

export interface Target {
  api: string;
  /** the file the token comes from, or null when it came from WEFT_TOKEN */
  tokenFile: string | null;
  /** where each came from: flag, env, config or default */
  from: { api: string; token: string };
}

const home = (env: NodeJS.ProcessEnv) => env.HOME || os.homedir();

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(home(env), '.config', 'weft', 'cli.json');
}

function readConfig(file: string, homeDir: string): { api?: string; tokenFile?: string } {
  let text: string;
  try { text = fs.readFileSync(file, 'utf8'); } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliUsageError(`cannot read ${file}: ${(e as Error).message}`);
  }
  let c: unknown;
  try { c = JSON.parse(text); } catch (e) { throw new CliUsageError(`${file} is not JSON: ${(e as Error).message}`); }
  if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new CliUsageError(`${file}: expected an object {"api": "...", "tokenFile": "..."}`);
  const o = c as Record<string, unknown>;
  for (const k of ['api', 'tokenFile']) if (o[k] !== undefined && typeof o[k] !== 'string') throw new CliUsageError(`${file}: "${k}" must be a string`);
  const tokenFile = o.tokenFile as string | undefined;
  return {
    ...(o.api !== undefined ? { api: o.api as string } : {}),
    ...(tokenFile !== undefined ? { tokenFile: path.resolve(path.dirname(file), tokenFile.replace(/^~(?=\/|$)/, homeDir)) } : {}),
  };
}

/** Resolves the API's URL and the token's source (flag, then environment, then config file, then default). */
export function resolveTarget(flags: { api?: string; 'token-file'?: string; 'admin-token-file'?: string }, env: NodeJS.ProcessEnv = process.env): Target {
  const flagFile = flags['token-file'] ?? flags['admin-token-file'];
  if (flags['token-file'] !== undefined && flags['admin-token-file'] !== undefined && flags['token-file'] !== flags['admin-token-file']) {
    throw new CliUsageError('--token-file and --admin-token-file name the same thing: give one');
  }
  // the config file is read only when a flag or the environment leaves something open
  let cfg: { api?: string; tokenFile?: string } | undefined;
  const config = () => (cfg ??= readConfig(configPath(env), home(env)));
  let api: string, apiFrom: string;
  if (flags.api !== undefined) [api, apiFrom] = [flags.api, 'flag'];
  else if (env.WEFT_API) [api, apiFrom] = [env.WEFT_API, 'env'];
  else if (config().api !== undefined) [api, apiFrom] = [config().api!, 'config'];
  else [api, apiFrom] = [DEFAULT_API, 'default'];
  let u: URL;
  try { u = new URL(api); } catch { throw new CliUsageError(`the API "${api}" (${apiFrom}) is not a URL`); }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CliUsageError(`the API "${api}" (${apiFrom}) is not an http or https URL`);
  let tokenFile: string | null, tokenFrom: string;
  if (flagFile !== undefined) [tokenFile, tokenFrom] = [flagFile, 'flag'];
  else if (env.WEFT_TOKEN) [tokenFile, tokenFrom] = [null, 'env'];
  else if (env.WEFT_TOKEN_FILE) [tokenFile, tokenFrom] = [env.WEFT_TOKEN_FILE, 'env'];
  else if (config().tokenFile !== undefined) [tokenFile, tokenFrom] = [config().tokenFile!, 'config'];
  else [tokenFile, tokenFrom] = [DEFAULT_TOKEN_FILE, 'default'];
  return { api, tokenFile, from: { api: apiFrom, token: tokenFrom } };
}

export interface Answer { status: number; text: string; json: unknown }

/** Calls the API with the bearer token; an answer outside 2xx is thrown as an ApiError. */
export class ApiClient {
  constructor(readonly api: string, private readonly token: string) {}

  static fromFlags(flags: { api?: string; 'token-file'?: string; 'admin-token-file'?: string }, env: NodeJS.ProcessEnv = process.env): ApiClient {
    const t = resolveTarget(flags, env);
    let token: string;
    if (t.tokenFile === null) token = env.WEFT_TOKEN!.trim();
    else {
      try { token = fs.readFileSync(t.tokenFile, 'utf8').trim(); } catch (e) {
        throw new CliUsageError(`cannot read the token file ${t.tokenFile} (${t.from.token}): ${(e as Error).message}`);
      }
    }
    return new ApiClient(t.api, token);
  }

  async call(method: string, p: string, body?: unknown): Promise<Answer> {
    let r: Response;
    try {
      r = await fetch(new URL(p, this.api), {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new ApiError(null, `cannot reach the API at ${this.api}: ${cause?.code ?? cause?.message ?? (e as Error).message}`);
    }
    const text = await r.text();
    let json: unknown = undefined;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = text; }
    if (r.status < 200 || r.status > 299) {
      const m = (json as { message?: unknown } | undefined)?.message;
      throw new ApiError(r.status, typeof m === 'string' ? m : (text || r.statusText));
    }
    return { status: r.status, text, json };
  }

  get = (p: string) => this.call('GET', p);
}

/** Percent-encodes one path segment. */
export const seg = (s: string) => encodeURIComponent(s);
