// GET /v1/health, /v1/switches, /v1/switches/{dpid}, /v1/switches/{dpid}/flows
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { API_VERSION, ApiDeps } from '../deps';
import { switchView, flowView } from '../views';
import { Dpid, Health, FlowsQuery, FlowsQueryT, SwitchT, FlowT } from '../schemas';
import { notFound, unavailable, badRequest } from '../errors';
import { portView } from '../../../controller/switch-registry';
import type { Connection } from '../../../southbound/channel';
import { OFPTT_ALL, OFPG_ANY, OFPP_ANY, FlowStats } from '../../../southbound/codec';
import { formatFlow } from '../../../southbound/text';

const started = Date.now();
const errRef = Type.Ref('Error');

function parseCookie(s: string | undefined): { cookie: bigint; mask: bigint } {
  if (!s) return { cookie: 0n, mask: 0n };
  const [c, m] = s.split('/');
  const big = (x: string) => BigInt(x.startsWith('0x') ? x : '0x' + x);
  try {
    return { cookie: big(c), mask: m ? big(m) : 0xffffffffffffffffn };
  } catch {
    throw badRequest(`bad cookie "${s}"`, 'cookie');
  }
}

export function switchRoutes(deps: ApiDeps) {
  return async (app: FastifyInstance) => {
    const get = (dpid: string) => {
      const c = deps.registry.get(dpid);
      if (!c) throw notFound('switch', dpid);
      return c;
    };
    app.get('/health', {
      schema: { summary: 'Liveness, the store\'s state and a connected-switch count (503 when the store is degraded)', response: { 200: Health, 503: Health } },
    }, async (_req, reply) => {
      const s = deps.store.health();
      const state = s.state;
      if (state !== 'ok') reply.status(503);
      return {
        status: state, version: API_VERSION, uptime_sec: (Date.now() - started) / 1000, switches: deps.registry.list().length,
        store: state, ...(s.state === 'degraded' ? { store_reason: s.reason } : {}),
        ...(deps.cluster ? { cluster: (({ role, generation }) => ({ role, generation }))(deps.cluster.status()) } : {}),
      };
    });
    app.get('/switches', {
      schema: { summary: 'Connected switches with their ports', response: { 200: Type.Array(Type.Ref('Switch')) } },
    }, async () => deps.registry.list().map(switchView));
    app.get<{ Params: { dpid: string } }>('/switches/:dpid', {
      schema: { summary: 'One connected switch', params: Type.Object({ dpid: Dpid }), response: { 200: Type.Ref('Switch'), 404: errRef, 400: errRef } },
    }, async (req) => switchView(get(req.params.dpid)));
    app.get<{ Params: { dpid: string }; Querystring: FlowsQueryT }>('/switches/:dpid/flows', {
      schema: {
        summary: 'The switch\'s flow table, read live with an OpenFlow flow-stats request',
        params: Type.Object({ dpid: Dpid }), querystring: FlowsQuery,
        response: { 200: Type.Array(Type.Ref('Flow')), 404: errRef, 400: errRef, 503: errRef },
      },
    }, async (req) => {
      const c = get(req.params.dpid);
      const { cookie, mask } = parseCookie(req.query.cookie);
      try {
        const parts = await c.multipart({
          kind: 'flow', table_id: req.query.table ?? OFPTT_ALL, out_port: OFPP_ANY, out_group: OFPG_ANY,
          cookie, cookie_mask: mask, match: [],
        }, 5000);
        return parts.flatMap((p) => p.stats).map(flowView);
      } catch (e) {
        throw unavailable(`flow stats from ${c.dpid} failed: ${(e as Error).message}`);
      }
    });
  };
}
