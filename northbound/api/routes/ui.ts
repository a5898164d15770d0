// The web UI's static files: GET / (index.html) and GET /ui/<file>, served
// from dist/ui (northbound/ui, bundled by esbuild at build time). The files
// are read once when the API is built and only those names are ever served:
// a request path is a key in that table, never a path on disk, so nothing
// outside the folder can be named. The files are public (PUBLIC_PREFIXES):
// the page holds no data; every data call it makes carries the token the
// user logs in with. Every answer carries a strict Content-Security-Policy
// (scripts and styles from this origin only, no inline script, connections
// to this origin only, no framing) and an ETag (revalidated each load).
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { notFound } from '../errors';

/** Where `npm run build` puts the bundled UI (dist/ui, next to dist/northbound). */
export const UI_DIR = path.resolve(__dirname, '../../../ui');

export const UI_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "font-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8',
};

/** A file name the UI may serve: flat, no dot first, no dot segment, no separator (auth.ts's PUBLIC_FILE without /ui/). */
const SAFE_NAME = /^(?=.{1,100}$)[A-Za-z0-9_-][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$/;

interface UiFile { body: Buffer; type: string; etag: string }

/** The UI's files by name (a flat folder; other names and sub-folders are ignored). */
export function loadUiFiles(dir: string): Map<string, UiFile> {
  const files = new Map<string, UiFile>();
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return files; // not built: / answers 404 with a hint
  }
  for (const d of names) {
    const type = TYPES[path.extname(d.name)];
    if (!d.isFile() || !type || !SAFE_NAME.test(d.name)) continue;
    const body = fs.readFileSync(path.join(dir, d.name));
    files.set(d.name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return files;
}

export function uiRoutes(dir = UI_DIR) {
  return async (app: FastifyInstance) => {
    const files = loadUiFiles(dir);
    const send = (name: string, ifNoneMatch: string | undefined, reply: FastifyReply) => {
      const f = SAFE_NAME.test(name) ? files.get(name) : undefined;
      if (!f) throw notFound('UI file', name + (files.size === 0 ? ' (the UI is not built: npm run build)' : ''));
      reply.header('content-security-policy', UI_CSP).header('x-content-type-options', 'nosniff').header('x-frame-options', 'DENY')
        .header('referrer-policy', 'no-referrer').header('cross-origin-opener-policy', 'same-origin').header('cross-origin-resource-policy', 'same-origin')
        .header('cache-control', 'no-cache').header('etag', f.etag);
      if (ifNoneMatch && ifNoneMatch.split(',').some((t) => t.trim() === f.etag)) return reply.status(304).send();
      return reply.type(f.type).send(f.body);
    };
    app.get('/', { schema: { hide: true } }, async (req, reply) => send('index.html', req.headers['if-none-match'], reply));
    app.get<{ Params: { file: string } }>('/ui/:file', { schema: { hide: true } }, async (req, reply) => send(req.params.file, req.headers['if-none-match'], reply));
  };
}
