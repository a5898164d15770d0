// POST /v1/traces: the path a packet would take between two endpoints (or
// from an endpoint to an address), computed on the flows the controller
// wants on every bridge: hop by hop, with the tunnel and underlay between
// hosts, and a verdict (controller/trace.ts). With "live": true, a marked
// packet is injected too and observed on the switches, and the two are
// compared (controller/live-trace.ts).
import type { FastifyInstance } from 'fastify';
import { Type, Static } from '@sinclair/typebox';
import type { ApiDeps } from '../deps';
import { Tracer } from '../../../controller/trace';
import { conflict } from '../errors';

const err = Type.Ref('Error');
const Id = Type.String({ minLength: 1, maxLength: 64 });
const Ip = Type.String({ minLength: 7, maxLength: 15 });

const TraceBody = Type.Object({
  from: Type.Union([Type.Object({ endpoint: Id }, { additionalProperties: false }), Type.Object({ ip: Ip, network: Type.String({ minLength: 1, maxLength: 63 }) }, { additionalProperties: false })]),
  to: Type.Union([Type.Object({ ip: Ip }, { additionalProperties: false }), Type.Object({ endpoint: Id }, { additionalProperties: false })]),
  proto: Type.Union([Type.Literal('icmp'), Type.Literal('tcp'), Type.Literal('udp')]),
  dstPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  live: Type.Optional(Type.Boolean({ description: 'also inject a marked packet at the source endpoint\'s port, observe it on the switches, and compare with the computed path' })),
}, { additionalProperties: false });
type TraceBodyT = Static<typeof TraceBody>;

const Hop = Type.Object({
  host: Type.Optional(Type.String()), bridge: Type.Optional(Type.String()), tableId: Type.Optional(Type.Integer()), table: Type.Optional(Type.String()),
  flow: Type.Optional(Type.Union([Type.String(), Type.Null()])), owner: Type.Optional(Type.Union([Type.String(), Type.Null()])), actions: Type.Optional(Type.String()),
  kind: Type.Optional(Type.Union([Type.Literal('tunnel'), Type.Literal('underlay')])), vni: Type.Optional(Type.Integer()), from: Type.Optional(Type.String()), to: Type.Optional(Type.String()),
}, { description: 'a table a bridge looked the packet up in (host, bridge, table, the matched flow in ovs-ofctl text with its owner, the actions taken), or a tunnel / underlay crossing between hosts' });

const Backend = Type.Object({ id: Type.String(), ip: Type.String(), host: Type.String() });

const TraceAnswer = Type.Object({
  computed: Type.Object({
    arp: Type.Object({ target: Type.String(), mac: Type.Union([Type.String(), Type.Null()]) }, { description: 'the next hop the container resolves first, and the MAC the flows answer' }),
    service: Type.Optional(Type.Object({
      name: Type.String(), vip: Type.String(), affinity: Type.Union([Type.Literal('none'), Type.Literal('clientIP')]),
      backends: Type.Array(Backend, { description: 'the ready backends (the select group\'s buckets)' }),
      chosen: Type.Union([Backend, Type.Null()], { description: 'the backend the computed walk DNATed to: a select group\'s bucket is picked from the packet\'s addresses and ports (the switch hashes its own way, so a real connection may get another); with clientIP affinity the one of the source address\'s slot, as on the switch; null when none (no backend, another port)' }),
    }, { description: 'the destination is a VIP of a service of the source\'s network' })),
    hops: Type.Array(Hop),
    verdict: Type.Object({
      result: Type.Union([Type.Literal('delivered'), Type.Literal('dropped'), Type.Literal('left')]),
      endpoint: Type.Optional(Type.String()), host: Type.String(), bridge: Type.Optional(Type.String()), table: Type.Optional(Type.String()),
      reason: Type.Optional(Type.String()), detail: Type.Optional(Type.String()), how: Type.Optional(Type.String()),
    }),
  }),
  live: Type.Optional(Type.Object({
    tag: Type.Integer({ description: 'the marked packet\'s IP DSCP, and the trace\'s bits in its observation flows\' cookie' }),
    bridges: Type.Array(Type.String(), { description: 'host/bridge that had observation flows while the trace ran' }),
    injections: Type.Integer({ description: 'marked packets injected: another when one was not seen to its end in time (a datapath still had real traffic\'s cached flow)' }),
    observed: Type.Array(Type.Object({
      host: Type.String(), bridge: Type.String(), tableId: Type.Integer(), table: Type.String(),
      event: Type.Union([Type.Literal('forwarded'), Type.Literal('tunneled'), Type.Literal('delivered'), Type.Literal('dropped'), Type.Literal('left')]),
      flow: Type.Union([Type.String(), Type.Null()]), endpoint: Type.Optional(Type.String()), port: Type.Optional(Type.String()),
    }), { description: 'where the switches saw the marked packet, table by table: the switch\'s flow that matched (null: none did) and what it did' }),
    verdict: Type.Object({
      result: Type.Union([Type.Literal('delivered'), Type.Literal('dropped'), Type.Literal('left'), Type.Literal('lost')]),
      endpoint: Type.Optional(Type.String()), host: Type.String(), bridge: Type.Optional(Type.String()), table: Type.Optional(Type.String()),
      reason: Type.Optional(Type.String()), how: Type.Optional(Type.String()), detail: Type.Optional(Type.String()),
    }),
  }, { description: 'with "live": what the switches did with a marked packet' })),
  agree: Type.Optional(Type.Boolean({ description: 'with "live": the live path and verdict are the computed ones' })),
  difference: Type.Optional(Type.Object({ index: Type.Integer(), computed: Type.String(), live: Type.String(), detail: Type.String() }, { description: 'the first difference between the computed and the live path' })),
});

export function traceRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    app.post<{ Body: TraceBodyT }>('/traces', {
      schema: {
        summary: 'Trace a packet: its path hop by hop on the controller\'s flows, and whether it is delivered or where it is dropped, and why; with live, what the switches did with a marked packet, compared',
        body: TraceBody, response: { 200: TraceAnswer, 400: err, 404: err, 409: err },
      },
    }, async (req) => {
      if (!deps.tracer) throw conflict('tracing is not available');
      return (deps.tracer as Tracer).answer(req.body);
    });
  };
}
