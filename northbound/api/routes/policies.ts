// Network policies: /v1/policies (admin only: no route here has scope
// 'host', so a host token is refused). Bodies are checked by
// controller/network-policy.ts with errors naming the field; the schema
// below documents them and bounds their size.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../deps';
import { PolicyBody, PolicySchema } from '../schemas-containers';
import type { PolicyRec } from '../../../controller/resources';

const err = Type.Ref('Error');
const view = (p: PolicyRec) => ({
  name: p.name, ...(p.network !== undefined && { network: p.network }), selector: p.selector, priority: p.priority,
  ...(p.ingress && { ingress: p.ingress }), ...(p.egress && { egress: p.egress }), createdAt: p.createdAt, updatedAt: p.updatedAt,
});

export function policyRoutes(deps: ApiDeps) {
  const svc = () => deps.containers;
  return async (app: FastifyInstance) => {
    app.get('/policies', { schema: { summary: 'Network policies, by name', response: { 200: Type.Array(PolicySchema) } } },
      async () => svc().resources.policies().map(view));
    app.get<{ Params: { name: string } }>('/policies/:name', {
      schema: { summary: 'One network policy', params: Type.Object({ name: Type.String() }), response: { 200: PolicySchema, 404: err } },
    }, async (req) => view(svc().networkPolicy(req.params.name)));
    app.post('/policies', {
      schema: {
        summary: 'Create a network policy; every host enforces it before the answer (the hosts connected then)',
        body: PolicyBody, response: { 201: PolicySchema, 400: err, 404: err, 409: err },
      },
    }, async (req, reply) => reply.status(201).send(view((await svc().putPolicy(req.body, { create: true })).policy)));
    app.put<{ Params: { name: string } }>('/policies/:name', {
      schema: {
        summary: 'Create or replace a network policy (new connections follow the new rules; see docs/api.md for established ones)',
        params: Type.Object({ name: Type.String() }), body: PolicyBody, response: { 200: PolicySchema, 201: PolicySchema, 400: err, 404: err, 409: err },
      },
    }, async (req, reply) => {
      const r = await svc().putPolicy(req.body, { create: false, name: req.params.name });
      return reply.status(r.created ? 201 : 200).send(view(r.policy));
    });
    app.delete<{ Params: { name: string } }>('/policies/:name', {
      schema: { summary: 'Delete a network policy', params: Type.Object({ name: Type.String() }), response: { 204: Type.Null(), 404: err } },
    }, async (req, reply) => { await svc().deletePolicy(req.params.name); return reply.status(204).send(); });
  };
}
