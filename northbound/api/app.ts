// The northbound REST API (fastify). build() is separate from listen() so
// tests drive it with app.inject().
import Fastify, { FastifyInstance, FastifyBaseLogger } from 'fastify';
import swagger from '@fastify/swagger';
import { containerRoutes } from './routes/containers';
import { HostRegSchema, NetworkSchema, EndpointSchema } from './schemas-containers';
import { topologyRoutes } from './routes/topology';
import { attachEventStream } from './events-ws';
import { installErrorHandler } from './errors';
import { ErrorBody, PortSchema, SwitchSchema, FlowSchema, LinkSchema, HostSchema } from './schemas';
import { switchRoutes } from './routes/switches';
import { API_VERSION, ApiDeps } from './deps';

export { API_VERSION } from './deps';
export type { ApiDeps } from './deps';


export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({ logger: deps.log as unknown as FastifyBaseLogger, disableRequestLogging: true, ajv: { customOptions: { coerceTypes: true, removeAdditional: false } } });
  installErrorHandler(app);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Weft controller API', version: API_VERSION, description: 'Northbound REST API of the Weft OpenFlow 1.3 controller.' },
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => (json.$id as string) ?? `def-${i}` },
  });
  for (const s of [ErrorBody, PortSchema, SwitchSchema, FlowSchema, LinkSchema, HostSchema, HostRegSchema, NetworkSchema, EndpointSchema]) app.addSchema(s);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/docs', { schema: { hide: true } }, async () => app.swagger());
  await app.register(switchRoutes(deps), { prefix: '/v1' });
  await app.register(topologyRoutes(deps), { prefix: '/v1' });
  await app.register(containerRoutes(deps), { prefix: '/v1' });
  attachEventStream(app, deps);
  await app.ready();
  return app;
}
