// The northbound REST API (fastify). build() is separate from listen() so
// tests drive it with app.inject().
import Fastify, { FastifyInstance, FastifyBaseLogger } from 'fastify';
import swagger from '@fastify/swagger';
import { containerRoutes } from './routes/containers';
import { policyRoutes } from './routes/policies';
import { serviceRoutes } from './routes/services';
import { HostRegSchema, NetworkSchema, EndpointSchema } from './schemas-containers';
import { topologyRoutes } from './routes/topology';
import { attachEventStream } from './events-ws';
import { installErrorHandler } from './errors';
import { ErrorBody, PortSchema, SwitchSchema, FlowSchema, LinkSchema, HostSchema } from './schemas';
import { switchRoutes } from './routes/switches';
import { API_VERSION, ApiDeps, authOptions } from './deps';
import { installAuth, PUBLIC_ROUTES } from './auth';
import { tokenRoutes, TokenSchema } from './routes/tokens';
import { traceRoutes } from './routes/traces';
import { tunnelRoutes, TunnelSchema } from './routes/tunnels';
import { metricsRoutes, observeRequests } from './routes/metrics';
import { uiRoutes } from './routes/ui';
import type { RouteOptions } from 'fastify';

export { API_VERSION } from './deps';
export type { ApiDeps } from './deps';


/** TLS for the API (HTTPS); with `ca`, clients must present a certificate that chains to it. */
export interface ApiTls { key: Buffer | string; cert: Buffer | string; ca?: Buffer | string }


export async function buildApi(deps: ApiDeps, tls?: ApiTls): Promise<FastifyInstance> {
  const app = Fastify({
    ...(tls ? { https: { key: tls.key, cert: tls.cert, ...(tls.ca ? { ca: tls.ca, requestCert: true, rejectUnauthorized: true } : {}) } } : {}), logger: deps.log as unknown as FastifyBaseLogger, disableRequestLogging: true, ajv: { customOptions: { coerceTypes: true, removeAdditional: false } } });
  installErrorHandler(app);
  installAuth(app, authOptions(deps));
  observeRequests(app, deps);
  // every route but the open ones may answer 401 (no or bad token) and 403 (outside its scope, or a foreign Host/Origin)
  app.addHook('onRoute', (r: RouteOptions) => {
    if (PUBLIC_ROUTES.has(r.url) || !r.schema || r.schema.hide) return;
    r.schema = { ...r.schema, security: [{ bearer: [] }], response: { ...(r.schema.response as object ?? {}), 401: { $ref: 'Error' }, 403: { $ref: 'Error' } } };
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Weft controller API', version: API_VERSION, description: 'Northbound REST API of the Weft OpenFlow 1.3 controller. Every route but /v1/health and this document needs a bearer token (Authorization: Bearer <token>): an admin token, or a host token for the routes a host needs.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => (json.$id as string) ?? `def-${i}` },
  });
  for (const s of [TokenSchema, ErrorBody, PortSchema, SwitchSchema, FlowSchema, LinkSchema, HostSchema, HostRegSchema, NetworkSchema, EndpointSchema, TunnelSchema]) app.addSchema(s);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/docs', { schema: { hide: true } }, async () => app.swagger());
  await app.register(switchRoutes(deps), { prefix: '/v1' });
  await app.register(topologyRoutes(deps), { prefix: '/v1' });
  await app.register(containerRoutes(deps), { prefix: '/v1' });
  await app.register(policyRoutes(deps), { prefix: '/v1' });
  await app.register(serviceRoutes(deps), { prefix: '/v1' });
  await app.register(tokenRoutes(deps), { prefix: '/v1' });
  await app.register(traceRoutes(deps), { prefix: '/v1' });
  await app.register(tunnelRoutes(deps), { prefix: '/v1' });
  await app.register(metricsRoutes(deps));
  await app.register(uiRoutes());
  attachEventStream(app, deps);
  await app.ready();
  return app;
}
