// WebSocket event stream at /v1/events: every bus event as one JSON text
// message {type, ts, ...}. `?snapshot=1` (or sending {"type":"snapshot"})
// first delivers {type:"snapshot", ts, switches, links, hosts}.
// `?types=link.,host.` filters by type prefix.
import type { FastifyInstance } from 'fastify';
import { WebSocketServer, WebSocket } from 'ws';
import { ApiDeps, authOptions } from './deps';
import { switchView } from './views';
import { bearer, hostOriginProblem, principalOf } from './auth';
import { WeftError } from '../../controller/errors';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

export const EVENTS_PATH = '/v1/events';
/** Browsers cannot set headers on a WebSocket: they offer the token as the subprotocol `weft.bearer.<token>`. */
export const BEARER_PROTOCOL = 'weft.bearer.';
/** The subprotocol the server answers with when the client offers it beside the bearer one: the token is not echoed back. */
export const EVENTS_PROTOCOL = 'weft.events.v1';

function refuse(socket: Duplex, status: string, message: string): void {
  const code = { 400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 503: 'store_unavailable' }[Number(status.slice(0, 3))] ?? 'internal';
  const body = JSON.stringify({ error: code, message });
  socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`
    + (status.startsWith('401') ? 'WWW-Authenticate: Bearer realm="weft"\r\n' : '') + `\r\n${body}`);
  socket.destroy();
}

/** The token of an upgrade request: the Authorization header, or the offered `weft.bearer.` subprotocol. */
function upgradeToken(req: IncomingMessage): string | undefined {
  const fromHeader = bearer(req.headers);
  if (fromHeader) return fromHeader;
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  return offered.find((p) => p.startsWith(BEARER_PROTOCOL))?.slice(BEARER_PROTOCOL.length);
}

export function attachEventStream(app: FastifyInstance, deps: ApiDeps): void {
  // a browser must get one of the subprotocols it offered back: weft.events.v1 when offered (the token
  // then never appears in the response, nor in the logs of a proxy on the way); else the bearer one
  const wss = new WebSocketServer({
    noServer: true, maxPayload: 4096,
    handleProtocols: (protocols) => (protocols.has(EVENTS_PROTOCOL) ? EVENTS_PROTOCOL : [...protocols].find((p) => p.startsWith(BEARER_PROTOCOL)) ?? false),
  });
  const auth = authOptions(deps);
  const snapshot = () => JSON.stringify({
    type: 'snapshot', ts: new Date().toISOString(),
    switches: deps.registry.list().map(switchView), links: deps.topology.links(), hosts: [...deps.topology.hosts.values()],
  });
  app.server.on('upgrade', (req, socket, head) => {
    // nothing an upgrade request carries may throw out of this listener: that would end the process
    try {
      upgrade(req, socket, head);
    } catch (e) {
      const status = e instanceof WeftError ? e.status : 500;
      if (status >= 500 && !(e instanceof WeftError)) deps.log.error({ err: (e as Error).stack }, 'WebSocket upgrade failed');
      refuse(socket, `${status} ${status === 503 ? 'Service Unavailable' : status === 400 ? 'Bad Request' : 'Internal Server Error'}`, (e as Error).message);
    }
  });
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (!req.url?.startsWith('/') || req.url.startsWith('//')) return refuse(socket, '400 Bad Request', 'the request target must be a path');
    const url = new URL(req.url, 'http://x');
    if (url.pathname !== EVENTS_PATH) {
      socket.write('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    // the same doors as the REST routes: Host and Origin, then a token; the stream shows everything, so admins only
    const problem = hostOriginProblem(req.headers, auth);
    if (problem) return refuse(socket, '403 Forbidden', problem);
    const p = principalOf(upgradeToken(req), auth);
    if (!p) return refuse(socket, '401 Unauthorized', 'a bearer token is required (Authorization header, or the subprotocol weft.bearer.<token>)');
    if (p.role !== 'admin') return refuse(socket, '403 Forbidden', 'the event stream needs an admin token');
    wss.handleUpgrade(req, socket, head, (ws) => {
      const prefixes = (url.searchParams.get('types') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      if (url.searchParams.get('snapshot') === '1' || url.searchParams.get('snapshot') === 'true') ws.send(snapshot());
      const off = deps.bus.on('*', (e) => {
        if (ws.readyState !== WebSocket.OPEN) return;
        // a stream lasts no longer than the token that opened it
        if (e.type === 'token.revoked' && e.tokenId === p.tokenId) { ws.close(1008, 'token revoked'); return; }
        if (prefixes.length && !prefixes.some((p) => e.type.startsWith(p))) return;
        if (ws.bufferedAmount > 8 * 1024 * 1024) { ws.close(1013, 'client too slow'); return; }
        ws.send(JSON.stringify(e));
      });
      ws.on('message', (data) => {
        let m: { type?: string };
        try {
          m = JSON.parse(data.toString());
        } catch {
          ws.send(JSON.stringify({ type: 'error', ts: new Date().toISOString(), message: 'messages must be JSON, e.g. {"type":"snapshot"}' }));
          return;
        }
        if (m.type === 'snapshot') ws.send(snapshot());
        else ws.send(JSON.stringify({ type: 'error', ts: new Date().toISOString(), message: `unknown request type ${JSON.stringify(m.type)}` }));
      });
      ws.on('close', off);
      ws.on('error', off);
    });
  };
  // Documents the stream in the OpenAPI document; a plain GET is told to upgrade.
  app.get(EVENTS_PATH, {
    schema: {
      summary: 'Event stream (WebSocket): one JSON message {type, ts, ...} per event',
      description: 'Open with a WebSocket upgrade. Query: snapshot=1 sends {type:"snapshot", switches, links, hosts} first; '
        + 'types=link.,host. keeps only events whose type starts with one of the prefixes. Sending {"type":"snapshot"} asks for a snapshot at any time. '
        + 'Event types: switch.connected, switch.disconnected, port.added, port.modified, port.removed, link.added, link.removed, host.added, host.moved, host.removed, '
        + 'host.registered, host.unregistered, network.created, network.deleted, policy.created, policy.updated, policy.deleted ({policy: {name}}), service.created, service.deleted ({service: {name, network, vip}}), endpoint.created, endpoint.ready, endpoint.deleted, token.revoked, '
        + 'tunnel ({type:"tunnel", ts, tunnel: {from, to, fromIp, toIp, state, rttMs, lastSeen, lastProbed}}: a pair of hosts\' tunnel changed state, as in GET /v1/tunnels). '
        + 'A stream is closed (code 1008, "token revoked") when the token that opened it is revoked.',
      querystring: {
        type: 'object',
        properties: { snapshot: { type: 'string', enum: ['1', 'true', '0', 'false'] }, types: { type: 'string' } },
      },
      response: { 426: { $ref: 'Error#' } },
    },
  }, async (_req, reply) => reply.status(426).header('upgrade', 'websocket').send({ error: 'upgrade_required', message: 'open /v1/events as a WebSocket' }));
  app.addHook('onClose', async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
  });
}
