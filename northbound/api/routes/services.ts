// Services: /v1/services (admin only: no route here has scope 'host', so a
// host token is refused). Bodies are checked by controller/service-spec.ts
// with errors naming the field; the schema below documents them and bounds
// their size.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../deps';
import { ServiceBody, ServiceSchema } from '../schemas-containers';
import type { ServiceRec } from '../../../controller/resources';
import { serviceBackends } from '../../../controller/service-spec';

const err = Type.Ref('Error');

export function serviceRoutes(deps: ApiDeps) {
  const svc = () => deps.containers;
  const view = (x: ServiceRec) => ({
    name: x.name, network: x.network, vip: x.vip, ports: x.ports,
    ...(x.endpoints && { endpoints: x.endpoints }), ...(x.selector && { selector: x.selector }), affinity: x.affinity,
    backends: serviceBackends(x, svc().resources.endpoints({ networkId: x.networkId })).map((e) => ({ id: e.id, ip: e.ip, host: e.host })),
    createdAt: x.createdAt,
  });
  return async (app: FastifyInstance) => {
    app.get('/services', { schema: { summary: 'Services, by name', response: { 200: Type.Array(ServiceSchema) } } },
      async () => svc().resources.services().map(view));
    app.get<{ Params: { name: string } }>('/services/:name', {
      schema: { summary: 'One service and its ready backends', params: Type.Object({ name: Type.String() }), response: { 200: ServiceSchema, 404: err } },
    }, async (req) => view(svc().service(req.params.name)));
    app.post('/services', {
      schema: {
        summary: 'Create a service: a VIP balanced over ready endpoints on every client\'s own host (before the answer, on the hosts connected then)',
        body: ServiceBody, response: { 201: ServiceSchema, 400: err, 404: err, 409: err },
      },
    }, async (req, reply) => reply.status(201).send(view(await svc().createService(req.body))));
    app.delete<{ Params: { name: string } }>('/services/:name', {
      schema: { summary: 'Delete a service', params: Type.Object({ name: Type.String() }), response: { 204: Type.Null(), 404: err } },
    }, async (req, reply) => { await svc().deleteService(req.params.name); return reply.status(204).send(); });
  };
}
