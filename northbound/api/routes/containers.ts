// Hosts, networks and endpoints: POST/GET/DELETE under /v1.
import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../deps';
import { registeredHostView, networkView, endpointView, endpointCountersView, hostStatusView, ENDPOINT_COOKIE_MASK } from '../views';
import {
  BgpStatusSchema, IpsecConfigSchema, RekeySchema, EndpointCountersSchema, HostStatusSchema, HostRegBody, HostRegBodyT, NetworkBody, NetworkBodyT, EndpointBody, EndpointBodyT, EndpointQuery, WaitQuery, EndpointT, EndpointPatchBody, EndpointPatchBodyT,
} from '../schemas-containers';
import type { EndpointRec, HostRec, NetworkRec } from '../../../controller/resources';
import { notFound, unavailable, conflict } from '../errors';
import { cookie, objectId } from '../../../controller/pipeline';
import { OFPTT_ALL, OFPP_ANY, OFPG_ANY } from '../../../southbound/codec';
import { requireHost, tokenHost } from '../auth';

const err = Type.Ref('Error');
const errs = { 400: err, 404: err, 409: err };

export function containerRoutes(deps: ApiDeps) {
  // the service is read when a request comes, never while routes are registered (weft openapi has none)
  const svc = () => deps.containers;
  const hostView = (h: HostRec) => registeredHostView(deps, h);
  const netView = (n: NetworkRec) => networkView(deps, n);
  const epView = (e: EndpointRec) => endpointView(deps, e);

  return async (app: FastifyInstance) => {
    // ---- hosts (GET /v1/hosts itself is in routes/topology.ts: it also lists learned hosts)
    app.post<{ Body: HostRegBodyT }>('/hosts', {
      schema: { summary: 'Register a container host', body: HostRegBody, response: { 201: Type.Ref('RegisteredHost'), ...errs } },
    }, async (req, reply) => reply.status(201).send(hostView(svc().createHost(req.body))));
    app.get<{ Params: { name: string } }>('/hosts/:name', {
      config: { scope: 'host' },
      schema: { summary: 'One registered container host', params: Type.Object({ name: Type.String() }), response: { 200: Type.Ref('RegisteredHost'), 404: err } },
    }, async (req) => { requireHost(req, req.params.name, 'name'); return hostView(svc().host(req.params.name)); });
    app.get<{ Params: { name: string } }>('/hosts/:name/status', {
      config: { scope: 'host' },
      schema: {
        summary: 'A registered host\'s bridges as the reconciler sees them: connected, synced, flows desired and confirmed, the last sync and the last error',
        params: Type.Object({ name: Type.String() }), response: { 200: HostStatusSchema, 404: err },
      },
    }, async (req) => { requireHost(req, req.params.name, 'name'); return hostStatusView(deps, svc().host(req.params.name)); });
    app.get<{ Params: { name: string } }>('/hosts/:name/ipsec', {
      config: { scope: 'host' },
      schema: {
        summary: 'A host\'s IPsec configuration for encrypted networks: its secure VTEP and, per peer host, the peer\'s underlay address, VTEP and the pair\'s key generation. The PSKs only to the host\'s own token (an admin token gets everything else); for `weft ipsec-agent`',
        params: Type.Object({ name: Type.String() }), response: { 200: IpsecConfigSchema, 403: err, 404: err },
      },
    }, async (req, reply) => {
      requireHost(req, req.params.name, 'name');
      // secrets are for the host itself: never cached on the way
      reply.header('cache-control', 'no-store');
      return svc().ipsec.config(svc().host(req.params.name), tokenHost(req) === req.params.name);
    });
    app.delete<{ Params: { name: string } }>('/hosts/:name', {
      schema: { summary: 'Unregister a host (refused while it has endpoints)', params: Type.Object({ name: Type.String() }), response: { 204: Type.Null(), 404: err, 409: err } },
    }, async (req, reply) => { svc().deleteHost(req.params.name); return reply.status(204).send(); });

    // ---- BGP
    app.get('/bgp', {
      schema: { summary: 'The BGP speaker: peers, session states and the routes announced', response: { 200: BgpStatusSchema } },
    }, async () => ({
      enabled: !!deps.bgp, asn: deps.bgp?.cfg.asn ?? null, routerId: deps.bgp?.cfg.routerId ?? null,
      peers: deps.bgp?.status() ?? [], routes: deps.bgp ? svc().bgpRoutes() : [],
    }));

    // ---- networks
    app.post<{ Body: NetworkBodyT }>('/networks', {
      schema: { summary: 'Create a network', body: NetworkBody, response: { 201: Type.Ref('Network'), ...errs } },
    }, async (req, reply) => reply.status(201).send(netView(svc().createNetwork(req.body))));
    app.get('/networks', { config: { scope: 'host' }, schema: { summary: 'All networks', response: { 200: Type.Array(Type.Ref('Network')) } } },
      async () => svc().resources.networks().map(netView));
    app.get<{ Params: { id: string } }>('/networks/:id', {
      config: { scope: 'host' },
      schema: { summary: 'One network, by name or id', params: Type.Object({ id: Type.String() }), response: { 200: Type.Ref('Network'), 404: err } },
    }, async (req) => netView(svc().network(req.params.id)));
    app.post<{ Params: { id: string } }>('/networks/:id/rekey', {
      schema: {
        summary: 'New IPsec keys for an encrypted network: every pair of hosts gets a new PSK under the next key generation, and the hosts\' agents rekey their SAs without dropping traffic (one SA between two hosts carries all their encrypted networks, so they are all rekeyed)',
        params: Type.Object({ id: Type.String() }), response: { 200: RekeySchema, 404: err, 409: err },
      },
    }, async (req) => {
      const n = svc().network(req.params.id);
      if (!n.encrypted) throw conflict(`network ${n.name} is not encrypted`, 'id');
      return { network: n.name, ...svc().ipsec.rekey(`network ${n.name}`) };
    });
    app.delete<{ Params: { id: string } }>('/networks/:id', {
      schema: { summary: 'Delete a network (refused while it has endpoints)', params: Type.Object({ id: Type.String() }), response: { 204: Type.Null(), 404: err, 409: err } },
    }, async (req, reply) => { svc().deleteNetwork(req.params.id); return reply.status(204).send(); });

    // ---- endpoints
    app.post<{ Body: EndpointBodyT }>('/endpoints', {
      config: { scope: 'host' },
      schema: {
        summary: 'Attach a container interface: allocates its address; the endpoint is ready once its flows are confirmed',
        description: 'Idempotent: the same containerId+ifName on the same host and network returns the existing endpoint with 200.',
        body: EndpointBody, response: { 201: Type.Ref('Endpoint'), 200: Type.Ref('Endpoint'), ...errs },
      },
    }, async (req, reply) => {
      requireHost(req, req.body.host);
      const { endpoint, created } = svc().createEndpoint(req.body);
      return reply.status(created ? 201 : 200).send(epView(endpoint));
    });
    app.get<{ Querystring: { host?: string; network?: string; containerId?: string; ifName?: string } }>('/endpoints', {
      config: { scope: 'host' },
      schema: { summary: 'Endpoints, optionally filtered', querystring: EndpointQuery, response: { 200: Type.Array(Type.Ref('Endpoint')) } },
    }, async (req) => {
      const q = req.query;
      // a host token lists its own host's endpoints only
      if (q.host !== undefined) requireHost(req, q.host);
      const host = q.host ?? tokenHost(req);
      const networkId = q.network !== undefined ? svc().resources.network(q.network)?.id ?? -1 : undefined;
      return svc().resources.endpoints({ host, networkId, containerId: q.containerId, ifName: q.ifName }).map(epView);
    });
    app.get<{ Params: { id: string }; Querystring: { wait?: 'ready'; timeoutMs?: number } }>('/endpoints/:id', {
      config: { scope: 'host' },
      schema: {
        summary: 'One endpoint; with wait=ready, long-polls until it is ready or timeoutMs passes (then check state)',
        params: Type.Object({ id: Type.String() }), querystring: WaitQuery, response: { 200: Type.Ref('Endpoint'), 404: err },
      },
    }, async (req) => {
      requireHost(req, svc().endpoint(req.params.id).host);
      if (req.query.wait === 'ready') {
        const e = await svc().waitReady(req.params.id, req.query.timeoutMs ?? 10000);
        deps.log.debug({ id: e.id }, 'long-poll answered');
        if (e.state === 'removed') throw notFound('endpoint', req.params.id);
        return epView(e);
      }
      return epView(svc().endpoint(req.params.id));
    });
    app.get<{ Params: { id: string } }>('/endpoints/:id/counters', {
      config: { scope: 'host' },
      schema: {
        summary: 'Packets and bytes the endpoint sent (out) and was delivered (in), read live from its br-int\'s flow stats',
        description: 'One flow-stats request to the host\'s br-int for the flows with the endpoint\'s cookie (all tables, any round). 503 when the br-int is not connected or does not answer.',
        params: Type.Object({ id: Type.String() }), response: { 200: EndpointCountersSchema, 404: err, 503: err },
      },
    }, async (req) => {
      const e = svc().endpoint(req.params.id);
      requireHost(req, e.host);
      const dpid = svc().host(e.host).dpid;
      const c = deps.registry.get(dpid);
      if (!c) throw unavailable(`host ${e.host}'s br-int (${dpid}) is not connected`);
      let parts;
      try {
        parts = await c.multipart({
          kind: 'flow', table_id: OFPTT_ALL, out_port: OFPP_ANY, out_group: OFPG_ANY, match: [],
          cookie: cookie(0, 'endpoint', objectId(e.id)), cookie_mask: ENDPOINT_COOKIE_MASK,
        });
      } catch (err) {
        throw unavailable(`reading flow stats from host ${e.host}'s br-int: ${(err as Error).message}`);
      }
      return endpointCountersView(e, dpid, parts.flatMap((p) => p.stats));
    });
    app.patch<{ Params: { id: string }; Body: EndpointPatchBodyT }>('/endpoints/:id', {
      config: { scope: 'host' },
      schema: {
        summary: 'Change an endpoint: its containerId (e.g. Docker naming the address it reserved) and/or its published ports (replaced as a whole)',
        params: Type.Object({ id: Type.String() }), body: EndpointPatchBody, response: { 200: Type.Ref('Endpoint'), ...errs },
      },
    }, async (req) => {
      requireHost(req, svc().endpoint(req.params.id).host);
      return epView(await svc().updateEndpoint(req.params.id, req.body));
    });
    app.delete<{ Params: { id: string } }>('/endpoints/:id', {
      config: { scope: 'host' },
      schema: { summary: 'Detach: removes the endpoint\'s flows and releases its address', params: Type.Object({ id: Type.String() }), response: { 204: Type.Null(), 404: err } },
    }, async (req, reply) => {
      requireHost(req, svc().endpoint(req.params.id).host);
      await svc().deleteEndpoint(req.params.id);
      return reply.status(204).send();
    });
  };
}
