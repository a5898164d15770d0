/**
 * A fake of the Weft REST endpoints the CNI plugin calls (POST/GET/DELETE
 * /v1/endpoints, the ready long-poll, /v1/health), in memory, for tests
 * that run the real weft-cni executable against it.
 *
 *   const api = await FakeWeftApi.start({ hosts: ['h1'], networks: [{ name: 'blue', base: '10.1.0', gateway: '10.1.0.1' }] });
 *   ... CNI conf { api: api.url, host: 'h1', network: 'blue' } ...
 *   await api.close();
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Endpoint } from '../../northbound/cni/api-client';

export interface FakeNetwork {
  name: string;
  /** First three octets of a /24, e.g. '10.1.0'. */
  base: string;
  gateway: string | null;
  mtu?: number;
}

/** The API's endpoint as the plugin reads it, plus what the fake also keeps. */
export interface FakeEndpoint extends Endpoint {
  mtu: number;
  createdAt: string;
  readyAt?: string;
  netns?: string;
}

export interface FakeApiOptions {
  hosts: string[];
  networks: FakeNetwork[];
  /**
   * When an endpoint counts as ready: 'immediate' (on creation), 'never', or
   * a function asked on every wait (e.g. "does OVS show its port?") that
   * returns the ofport, or null while not ready.
   */
  ready?: 'immediate' | 'never' | ((ep: FakeEndpoint) => Promise<number | null>);
  /** Status code of GET /v1/health (default 200). */
  healthStatus?: number;
}

export interface RecordedRequest {
  method: string;
  url: string;
  body: unknown;
}

export class FakeWeftApi {
  readonly endpoints = new Map<string, FakeEndpoint>();
  /** Every endpoint ever created, deleted ones included (for cleanup by port name). */
  readonly created: FakeEndpoint[] = [];
  readonly requests: RecordedRequest[] = [];
  healthStatus: number;
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    readonly opts: FakeApiOptions,
  ) {
    this.healthStatus = opts.healthStatus ?? 200;
  }

  static async start(opts: FakeApiOptions): Promise<FakeWeftApi> {
    let self: FakeWeftApi | undefined;
    const server = http.createServer((req, res) => void self!.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new FakeWeftApi(server, `http://127.0.0.1:${port}`, opts);
    return self;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Requests matching method and a path prefix. */
  calls(method: string, pathPrefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.url.startsWith(pathPrefix));
  }

  /** Adds an endpoint directly (as if another host or an earlier run made it). */
  insert(p: { containerId: string; ifName: string; host: string; network: string; state?: FakeEndpoint['state'] }): FakeEndpoint {
    const ep = this.allocate(p.containerId, p.ifName, p.host, this.network(p.network)!, undefined, undefined, undefined);
    ep.state = p.state ?? 'ready';
    this.endpoints.set(ep.id, ep);
    return ep;
  }

  private network(name: string): FakeNetwork | undefined {
    return this.opts.networks.find((n) => n.name === name);
  }

  private allocate(containerId: string, ifName: string, host: string, net: FakeNetwork, ip?: string, mac?: string, netns?: string): FakeEndpoint {
    let addr = ip;
    for (let i = 2; addr === undefined && i < 255; i++) {
      const cand = `${net.base}.${i}`;
      if (![...this.endpoints.values()].some((e) => e.network === net.name && e.ip === cand)) addr = cand;
    }
    if (addr === undefined) throw Object.assign(new Error('exhausted'), { status: 409 });
    const last = addr.split('.').map((o) => Number(o).toString(16).padStart(2, '0'));
    return {
      id: `ep-${randomBytes(6).toString('hex')}`,
      containerId, ifName, host, network: net.name,
      portName: `wv${randomBytes(5).toString('hex')}`,
      mac: mac ?? `02:77:${last.join(':')}`,
      ip: addr, prefixLength: 24, gateway: net.gateway, state: 'pending', ofport: null,
      mtu: net.mtu ?? 1500, createdAt: new Date().toISOString(), netns,
    };
  }

  private async isReady(ep: FakeEndpoint): Promise<boolean> {
    if (ep.state === 'ready') return true;
    const r = this.opts.ready ?? 'immediate';
    if (r === 'never') return false;
    if (r === 'immediate') {
      this.markReady(ep, 1);
      return true;
    }
    const ofport = await r(ep).catch(() => null);
    if (ofport === null) return false;
    this.markReady(ep, ofport);
    return true;
  }

  private markReady(ep: FakeEndpoint, ofport: number): void {
    ep.state = 'ready';
    ep.ofport = ofport;
    ep.readyAt = new Date().toISOString();
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown = undefined;
    const send = (status: number, json?: unknown) => {
      res.writeHead(status, json === undefined ? {} : { 'content-type': 'application/json' });
      res.end(json === undefined ? undefined : JSON.stringify(json));
    };
    const error = (status: number, code: string, message: string, field?: string) =>
      send(status, { error: code, message, ...(field ? { field } : {}) });
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      this.requests.push({ method: req.method ?? '', url: req.url ?? '', body: text });
      return error(400, 'bad_request', 'body is not JSON');
    }
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', body });
    const url = new URL(req.url ?? '/', 'http://x');
    const q = url.searchParams;
    const one = /^\/v1\/endpoints\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && url.pathname === '/v1/health') {
      return send(this.healthStatus, { status: this.healthStatus === 200 ? 'ok' : 'degraded', version: 'fake', uptime_sec: 0, switches: 0 });
    }
    if (req.method === 'POST' && url.pathname === '/v1/endpoints') {
      const b = (body ?? {}) as Record<string, unknown>;
      for (const k of ['containerId', 'ifName', 'host', 'network']) {
        if (typeof b[k] !== 'string' || b[k] === '') return error(400, 'bad_request', `body/${k} is required`, k);
      }
      const [cid, ifn, host, netName] = [b.containerId, b.ifName, b.host, b.network] as string[];
      if (!this.opts.hosts.includes(host)) return error(404, 'not_found', `host ${host} not found`);
      const net = this.network(netName);
      if (!net) return error(404, 'not_found', `network ${netName} not found`);
      const existing = [...this.endpoints.values()].find((e) => e.containerId === cid && e.ifName === ifn && e.network === netName);
      if (existing) return send(200, existing);
      const ip = typeof b.ip === 'string' ? b.ip : undefined;
      if (ip && [...this.endpoints.values()].some((e) => e.network === netName && e.ip === ip)) {
        return error(409, 'conflict', `address ${ip} is in use on network ${netName}`, 'ip');
      }
      let ep: FakeEndpoint;
      try {
        ep = this.allocate(cid, ifn, host, net, ip, typeof b.mac === 'string' ? b.mac : undefined, typeof b.netns === 'string' ? b.netns : undefined);
      } catch {
        return error(409, 'exhausted', `network ${netName} has no free address`);
      }
      this.endpoints.set(ep.id, ep);
      this.created.push(ep);
      return send(201, ep);
    }
    if (req.method === 'GET' && url.pathname === '/v1/endpoints') {
      const list = [...this.endpoints.values()].filter((e) =>
        (['containerId', 'ifName', 'host', 'network'] as const).every((k) => !q.has(k) || e[k] === q.get(k)));
      return send(200, list);
    }
    if (one && req.method === 'GET') {
      const ep = this.endpoints.get(decodeURIComponent(one[1]!));
      if (!ep) return error(404, 'not_found', `endpoint ${one[1]} not found`);
      if (q.get('wait') === 'ready') {
        const deadline = Date.now() + Number(q.get('timeoutMs') ?? 0);
        while (!(await this.isReady(ep)) && Date.now() < deadline && this.endpoints.has(ep.id)) {
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      return send(200, ep);
    }
    if (one && req.method === 'DELETE') {
      const id = decodeURIComponent(one[1]!);
      const ep = this.endpoints.get(id);
      if (!ep) return error(404, 'not_found', `endpoint ${id} not found`);
      this.endpoints.delete(id);
      ep.state = 'removed';
      return send(204);
    }
    return error(404, 'not_found', `no route ${req.method} ${url.pathname}`);
  }
}
