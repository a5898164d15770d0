// WebSocket event stream at /v1/events: every bus event as one JSON text
// message {type, ts, ...}. `?snapshot=1` (or sending {"type":"snapshot"})
// first delivers {type:"snapshot", ts, switches, links, hosts}.
// `?types=link.,host.` filters by type prefix.
import type { FastifyInstance } from 'fastify';
import { WebSocketServer, WebSocket } from 'ws';
import type { ApiDeps } from './deps';
import { switchView } from './views';

export const EVENTS_PATH = '/v1/events';

export function attachEventStream(app: FastifyInstance, deps: ApiDeps): void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  const snapshot = () => JSON.stringify({
    type: 'snapshot', ts: new Date().toISOString(),
    switches: deps.registry.list().map(switchView), links: deps.topology.links(), hosts: [...deps.topology.hosts.values()],
  });
  app.server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== EVENTS_PATH) {
      socket.write('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const prefixes = (url.searchParams.get('types') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      if (url.searchParams.get('snapshot') === '1' || url.searchParams.get('snapshot') === 'true') ws.send(snapshot());
      const off = deps.bus.on('*', (e) => {
        if (ws.readyState !== WebSocket.OPEN) return;
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
  });
  // Documents the stream in the OpenAPI document; a plain GET is told to upgrade.
  app.get(EVENTS_PATH, {
    schema: {
      summary: 'Event stream (WebSocket): one JSON message {type, ts, ...} per event',
      description: 'Open with a WebSocket upgrade. Query: snapshot=1 sends {type:"snapshot", switches, links, hosts} first; '
        + 'types=link.,host. keeps only events whose type starts with one of the prefixes. Sending {"type":"snapshot"} asks for a snapshot at any time. '
        + 'Event types: switch.connected, switch.disconnected, port.added, port.modified, port.removed, link.added, link.removed, host.added, host.moved, host.removed.',
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
