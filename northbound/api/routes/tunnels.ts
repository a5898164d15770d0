// GET /v1/tunnels: the health of the tunnel from each registered host to
// each other, as the controller's probes found it (apps/tunnel-prober.ts).
// Admin only, like the other read routes that show the whole cluster.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../deps';

export const TunnelSchema = Type.Object({
  from: Type.String({ description: 'the host the probes are sent from' }),
  to: Type.String({ description: 'the host they arrive at' }),
  fromIp: Type.String({ description: 'from\'s underlay address' }),
  toIp: Type.String({ description: 'to\'s underlay address' }),
  state: Type.Union([Type.Literal('up'), Type.Literal('down'), Type.Literal('unknown')], { description: 'up: the last probe arrived; down: the last probes (3) did not, or could not be sent; unknown: no result yet (or probing is off)' }),
  rttMs: Type.Union([Type.Number(), Type.Null()], { description: 'ms from the probe\'s packet-out on from to its packet-in on to (the controller\'s two legs included); null before a probe arrived and while down' }),
  lastSeen: Type.Union([Type.String(), Type.Null()], { description: 'when a probe last arrived (ISO 8601), or null' }),
  lastProbed: Type.Union([Type.String(), Type.Null()], { description: 'when the controller last sent a probe for the pair (ISO 8601), or null: each pair is probed once a cycle, the probe interval or, with more pairs than the probe budget allows in it, longer' }),
}, { $id: 'Tunnel', additionalProperties: false });

export function tunnelRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    app.get('/tunnels', {
      schema: {
        summary: 'Tunnel health per ordered pair of hosts, from the controller\'s probes',
        response: { 200: Type.Object({ tunnels: Type.Array(Type.Ref('Tunnel')) }) },
      },
    }, async () => ({ tunnels: deps.tunnels?.list() ?? [] }));
  };
}
