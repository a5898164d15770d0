// GET /v1/links, /v1/hosts, /v1/topology
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../app';
import { switchView } from './switches';

export function topologyRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    const links = () => deps.topology.links().sort((a, b) => (a.src.dpid + a.src.port).localeCompare(b.src.dpid + b.src.port));
    const hosts = () => [...deps.topology.hosts.values()].sort((a, b) => a.mac.localeCompare(b.mac));
    app.get('/links', {
      schema: { summary: 'Discovered directed links (a cable between two switches is two links)', response: { 200: Type.Array(Type.Ref('Link')) } },
    }, async () => links());
    app.get('/hosts', {
      schema: { summary: 'Hosts learned from the frames they sent, with their attachment point', response: { 200: Type.Array(Type.Ref('Host')) } },
    }, async () => hosts());
    app.get('/topology', {
      schema: {
        summary: 'Switches, links and hosts in one document',
        response: { 200: Type.Object({ switches: Type.Array(Type.Ref('Switch')), links: Type.Array(Type.Ref('Link')), hosts: Type.Array(Type.Ref('Host')) }) },
      },
    }, async () => ({ switches: deps.registry.list().map(switchView), links: links(), hosts: hosts() }));
  };
}
