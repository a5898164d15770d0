// Who may call the API, checked before any route runs:
//  1. the Host header names this server — an IP literal, `localhost`, or a
//     name on the allow-list — so a web page cannot reach the API through
//     DNS rebinding; a browser's Origin must be this server or allow-listed;
//  2. a bearer token (`Authorization: Bearer <token>`) proves a principal,
//     except on the public routes (health, the API document and the web
//     UI's static files);
//  3. the principal's role covers the route: routes say `config.scope`
//     'host' when a host token may call them (the handler then checks the
//     host it touches with requireHost); every other route is admin only.
// 401 without a token or with a bad one, 403 outside the token's scope.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import type { Principal, Tokens } from '../../controller/tokens';
import { forbidden, unauthorized } from './errors';

export interface AuthOptions {
  /** Token verification; undefined turns authentication off (labs only). */
  tokens?: Tokens;
  /** Host names (besides IP literals and localhost) the API answers to. */
  allowedHosts: readonly string[];
  /** Browser origins (scheme://host[:port]) allowed besides the API's own. */
  allowedOrigins: readonly string[];
}

/** Routes anyone may read: liveness and the API's own description. */
export const PUBLIC_ROUTES: ReadonlySet<string> = new Set(['/v1/health', '/openapi.json', '/docs', '/']);
/**
 * The web UI's static files, which anyone may GET: one flat file name under
 * /ui/ (they hold no data; the page's data calls carry a token). Strict on
 * purpose: no dot segment, separator or escape can make a public-looking
 * path reach another route.
 */
export const PUBLIC_FILE = /^\/ui\/[A-Za-z0-9_-][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$/;

/** True when anyone may GET this path (no token). */
export const isPublicPath = (path: string): boolean => PUBLIC_ROUTES.has(path) || PUBLIC_FILE.test(path);

/** The route scope a host token may use; everything else is admin only. */
export type Scope = 'admin' | 'host';

declare module 'fastify' {
  interface FastifyRequest { principal?: Principal }
  interface FastifyContextConfig { scope?: Scope }
}

/** The lab principal when authentication is off: it may do everything. */
const ANYONE: Principal = { tokenId: '-', role: 'admin', host: null };

function hostnameOf(hostHeader: string): string {
  // [v6]:port, v4:port, name:port
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(hostHeader) ?? /^([^:]+)(?::\d+)?$/.exec(hostHeader);
  return (m ? m[1]! : hostHeader).toLowerCase();
}

/** Why a request's Host or Origin is refused, or undefined when both are fine. */
export function hostOriginProblem(headers: IncomingMessage['headers'], o: AuthOptions): string | undefined {
  const host = headers.host;
  if (!host) return 'the Host header is missing';
  const name = hostnameOf(host);
  if (!(isIP(name) || name === 'localhost' || o.allowedHosts.includes(name))) return `Host "${host}" is not this API (add it with --api-allowed-hosts)`;
  const origin = headers.origin;
  if (origin !== undefined && origin !== 'null') {
    let u: URL;
    try { u = new URL(origin); } catch { return `Origin "${origin}" is malformed`; }
    if (u.host.toLowerCase() !== host.toLowerCase() && !o.allowedOrigins.includes(u.origin.toLowerCase())) return `Origin "${origin}" is not allowed (add it with --api-allowed-origins)`;
  } else if (origin === 'null') return 'Origin "null" is not allowed';
  return undefined;
}

/** The principal a bearer token proves (authentication off: anyone is admin). */
export function principalOf(token: string | undefined, o: AuthOptions): Principal | undefined {
  if (!o.tokens) return ANYONE;
  return token === undefined ? undefined : o.tokens.verify(token);
}

export function bearer(headers: IncomingMessage['headers']): string | undefined {
  const h = headers.authorization;
  const m = h ? /^Bearer\s+(\S+)\s*$/i.exec(h) : null;
  return m ? m[1] : undefined;
}

export function installAuth(app: FastifyInstance, o: AuthOptions): void {
  app.decorateRequest('principal', undefined);
  app.addHook('onRequest', async (req, reply) => {
    const problem = hostOriginProblem(req.headers, o);
    if (problem) throw forbidden(problem);
    const path = req.url.split('?')[0]!;
    if (req.method === 'GET' && isPublicPath(path)) return;
    const token = bearer(req.headers);
    const p = principalOf(token, o);
    if (!p) {
      reply.header('www-authenticate', 'Bearer realm="weft"');
      throw unauthorized(token === undefined ? 'a bearer token is required (Authorization: Bearer <token>)' : 'the token is not valid');
    }
    req.principal = p;
    if (p.role === 'admin') return;
    const scope = req.routeOptions.config?.scope ?? 'admin';
    if (scope !== 'host') throw forbidden(`a host token may not ${req.method} ${path}`);
  });
}

/** A host token may act on its own host only (admins on any). */
export function requireHost(req: FastifyRequest, host: string, field = 'host'): void {
  const p = req.principal;
  if (p && p.role === 'host' && p.host !== host) throw forbidden(`this token is for host ${p.host}, not ${host}`, field);
}

/** The host a host token is bound to (undefined for admins). */
export const tokenHost = (req: FastifyRequest): string | undefined => (req.principal?.role === 'host' ? req.principal.host ?? undefined : undefined);
