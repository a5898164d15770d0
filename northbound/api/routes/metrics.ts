// GET /metrics: Prometheus' text exposition format, admin token required
// (Prometheus sends it with `authorization: { credentials_file: ... }`).
// Hidden from the OpenAPI document: it is not JSON, and docs/api.md
// describes it. The API's own request durations are observed here too.
import type { FastifyInstance } from 'fastify';
import type { ApiDeps } from '../deps';
import { notFound } from '../errors';

/** Observe every answered request (weft_api_request_duration_seconds); install before the routes. */
export function observeRequests(app: FastifyInstance, deps: ApiDeps): void {
  app.addHook('onResponse', async (req, reply) => {
    const m = deps.metrics;
    if (!m) return;
    // the route's pattern, never the raw URL: one series per route, whatever ids are asked for
    const route = req.routeOptions.url ?? 'unmatched';
    m.apiRequest(route, req.method, reply.statusCode, reply.elapsedTime / 1000);
  });
}

export function metricsRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
      const m = deps.metrics;
      if (!m) throw notFound('route', 'GET /metrics (this API runs without metrics)');
      const text = await m.text();
      return reply.type(m.contentType).send(text);
    });
  };
}
