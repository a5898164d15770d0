// Start a real Controller on free ports with a throw-away database.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Controller, ControllerConfig, DEFAULTS } from '../../northbound/compose';

export async function startController(over: Partial<ControllerConfig> = {}): Promise<Controller & { cleanup(): Promise<void> }> {
  // a throw-away folder for the database (and the admin token file beside it), unless the test brings its own database
  const dir = over.db === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), 'weft-test-')) : undefined;
  const cfg: ControllerConfig = { ...DEFAULTS, ofPort: 0, apiPort: 0, ofHost: '127.0.0.1', db: dir ? path.join(dir, 'weft.db') : ':memory:', logLevel: 'silent', ...over };
  const log = pino({ level: process.env.WEFT_TEST_LOG ?? cfg.logLevel });
  let c: Controller & { cleanup(): Promise<void> };
  try {
    c = new Controller(cfg, log) as Controller & { cleanup(): Promise<void> };
    await c.start();
  } catch (e) {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  asAdmin(c);
  let stopped = false;
  c.cleanup = async () => {
    if (stopped) return;
    stopped = true;
    await c.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  };
  return c;
}

export async function api<T = unknown>(c: Controller, url: string): Promise<{ status: number; body: T }> {
  const r = await c.api!.inject({ method: 'GET', url });
  return { status: r.statusCode, body: r.json() as T };
}

/**
 * Requests through app.inject() carry the admin token unless they name an
 * authorization header themselves (an attacker's test passes its own, or
 * an empty one for none): the API's callers in tests are its operator.
 */
function asAdmin(c: Controller): void {
  const api = c.api!;
  const inject = api.inject.bind(api) as (o: object) => Promise<unknown>;
  (api as unknown as { inject: (o: object) => Promise<unknown> }).inject = (opts: object) => {
    const o = opts as { headers?: Record<string, string> };
    if (!c.adminToken || (o.headers && 'authorization' in o.headers)) {
      const h = { ...(o.headers ?? {}) };
      if (h.authorization === '') delete h.authorization;
      return inject({ ...o, headers: h });
    }
    return inject({ ...o, headers: { ...(o.headers ?? {}), authorization: `Bearer ${c.adminToken}` } });
  };
}

/** Headers that carry the controller's admin token (for fetch() and WebSocket clients). */
export const adminHeaders = (c: Controller): Record<string, string> => (c.adminToken ? { authorization: `Bearer ${c.adminToken}` } : {});
