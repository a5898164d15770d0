// The OpenAPI document, built from the route schemas without a controller:
// nothing listens, no store opens, no switch is served.
import pino from 'pino';
import { buildApi } from './app';
import type { ApiDeps } from './deps';

export async function openapiDocument(): Promise<unknown> {
  // Routes read their dependencies only when a request comes, and none will.
  const none = undefined as never;
  const deps: ApiDeps = { registry: none, store: none, bus: none, topology: none, containers: none, log: pino({ level: 'silent' }) };
  const app = await buildApi(deps);
  const doc = app.swagger();
  await app.close();
  return doc;
}
