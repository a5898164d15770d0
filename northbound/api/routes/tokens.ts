// API tokens: made, listed and revoked by admins. A new token's secret is in
// the POST answer only; lists show ids, roles and hosts.
import type { FastifyInstance } from 'fastify';
import { Type, Static } from '@sinclair/typebox';
import type { ApiDeps } from '../deps';
import { badRequest, conflict, notFound } from '../errors';

const err = Type.Ref('Error');

export const TokenSchema = Type.Object({
  id: Type.String({ description: 'names the token in lists and logs; not a secret' }),
  role: Type.Union([Type.Literal('admin'), Type.Literal('host')]),
  host: Type.Union([Type.String(), Type.Null()], { description: "a host token's host" }),
  createdAt: Type.String(),
}, { $id: 'Token', additionalProperties: false });

const TokenBody = Type.Object({
  role: Type.Union([Type.Literal('admin'), Type.Literal('host')]),
  host: Type.Optional(Type.String({ maxLength: 63, description: 'the registered host a host token is for (required for role host)' })),
}, { additionalProperties: false });
type TokenBodyT = Static<typeof TokenBody>;

const NewToken = Type.Intersect([Type.Ref('Token'), Type.Object({ token: Type.String({ description: 'the bearer token; shown once, stored only as a hash' }) })]);

export function tokenRoutes(deps: ApiDeps) {
  const tokens = () => {
    if (!deps.tokens) throw conflict('authentication is off (--no-auth): there are no tokens');
    return deps.tokens;
  };
  return async (app: FastifyInstance) => {
    app.post<{ Body: TokenBodyT }>('/tokens', {
      schema: { summary: 'Make a token (admin only); its secret is in this answer only', body: TokenBody, response: { 201: NewToken, 400: err, 404: err, 409: err } },
    }, async (req, reply) => {
      const { role, host } = req.body;
      if (role === 'host') {
        if (host === undefined) throw badRequest('a host token needs the host it is for', 'host');
        if (!deps.containers.resources.host(host)) throw notFound('host', host);
      } else if (host !== undefined) throw badRequest('an admin token is for no host', 'host');
      const { token, rec } = tokens().create(role, host ?? null);
      req.log.info({ tokenId: rec.id, role, host, by: req.principal?.tokenId }, 'token created');
      return reply.status(201).send({ ...rec, token });
    });
    app.get('/tokens', { schema: { summary: 'Tokens (admin only), without their secrets', response: { 200: Type.Array(Type.Ref('Token')), 409: err } } },
      async () => tokens().list());
    app.delete<{ Params: { id: string } }>('/tokens/:id', {
      schema: { summary: 'Revoke a token (admin only); the last admin token cannot be revoked', params: Type.Object({ id: Type.String() }), response: { 204: Type.Null(), 404: err, 409: err } },
    }, async (req, reply) => {
      const t = tokens();
      const rec = t.get(req.params.id);
      if (!rec) throw notFound('token', req.params.id);
      if (rec.role === 'admin' && t.countAdmins() <= 1) throw conflict('the last admin token cannot be revoked: make another one first');
      t.delete(rec.id);
      deps.bus.emit({ type: 'token.revoked', tokenId: rec.id, role: rec.role });
      req.log.info({ tokenId: rec.id, by: req.principal?.tokenId }, 'token revoked');
      return reply.status(204).send();
    });
  };
}
