// GET /v1/links, /v1/hosts, /v1/topology
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../deps';
import { switchView, registeredHostView } from '../views';

export function topologyRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    const links = () => deps.topology.links().sort((a, b) => (a.src.dpid + a.src.port).localeCompare(b.src.dpid + b.src.port));
    const hosts = () => [...deps.topology.hosts.values()].sort((a, b) => a.mac.localeCompare(b.mac)).map((h) => ({ kind: 'learned' as const, ...h }));
    app.get('/links', {
      schema: { summary: 'Discovered directed links (a cable between two switches is two links)', response: { 200: Type.Array(Type.Ref('Link')) } },
    }, async () => links());
    app.get<{ Querystring: { kind?: 'learned' | 'registered' } }>('/hosts', {
      schema: {
        summary: 'Hosts: container hosts registered with POST /v1/hosts (kind "registered") and hosts learned from the frames they sent (kind "learned")',
        querystring: Type.Object({ kind: Type.Optional(Type.Union([Type.Literal('learned'), Type.Literal('registered')])) }),
        response: { 200: Type.Array(Type.Union([Type.Ref('RegisteredHost'), Type.Ref('Host')])) },
      },
    }, async (req) => {
      const reg = req.query.kind === 'learned' ? [] : deps.containers.resources.hosts().map((h) => registeredHostView(deps, h));
      return [...reg, ...(req.query.kind === 'registered' ? [] : hosts())];
    });
    app.get('/topology', {
      schema: {
        summary: 'Switches, links and hosts in one document',
        response: { 200: Type.Object({ switches: Type.Array(Type.Ref('Switch')), links: Type.Array(Type.Ref('Link')), hosts: Type.Array(Type.Ref('Host')) }) },
      },
    }, async () => ({ switches: deps.registry.list().map(switchView), links: links(), hosts: hosts() }));
  };
}
