// Start a real Controller on free ports with a throw-away database.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Controller, ControllerConfig, DEFAULTS } from '../../northbound/compose';

export async function startController(over: Partial<ControllerConfig> = {}): Promise<Controller & { cleanup(): Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-test-'));
  const cfg: ControllerConfig = { ...DEFAULTS, ofPort: 0, apiPort: 0, ofHost: '127.0.0.1', db: path.join(dir, 'weft.db'), logLevel: 'silent', ...over };
  const log = pino({ level: process.env.WEFT_TEST_LOG ?? cfg.logLevel });
  const c = new Controller(cfg, log) as Controller & { cleanup(): Promise<void> };
  await c.start();
  let stopped = false;
  c.cleanup = async () => {
    if (stopped) return;
    stopped = true;
    await c.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return c;
}

export async function api<T = unknown>(c: Controller, url: string): Promise<{ status: number; body: T }> {
  const r = await c.api!.inject({ method: 'GET', url });
  return { status: r.statusCode, body: r.json() as T };
}
