/**
 * Fakes for tests that run the real weft-cni executable.
 *
 * FakeWeftApi: the Weft REST endpoints the CNI plugin calls (POST/GET/DELETE
 * /v1/endpoints, the ready long-poll, /v1/health), in memory, following the
 * real contract (northbound/api/routes/containers.ts,
 * controller/container-service.ts): the endpoint takes the `portName` the
 * plugin sends (else the controller's default, portNameFor), gets an
 * `ofportRequest` from 10000 per host, keeps its `portMappings`, and a
 * repeated (containerId, ifName) is 200 on the same host and network, 409
 * elsewhere.
 *
 *   const api = await FakeWeftApi.start({ hosts: ['h1'], networks: [{ name: 'blue', base: '10.1.0', gateway: '10.1.0.1' }] });
 *   ... CNI conf { api: api.url, host: 'h1', network: 'blue' } ...
 *   await api.close();
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Endpoint } from '../../northbound/cni/api-client';
import { portNameFor } from '../../controller/port-name';
import { Framer } from '../../southbound/channel/framer';
import { decodeMessage, encodeMessage, FlowMod, OfpMessage, Port, OFPPR_ADD, OFPPR_DELETE, OFPTT_ALL } from '../../southbound/codec';
import { execFileSync } from 'node:child_process';
import { FakeTable, FakeFlow } from './fake-table';
import { startController } from './controller';
import { waitFor } from './wait';
import type { Controller } from '../../northbound/compose';

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
  requestedIp: string | null;
  ofportRequest: number;
  portMappings: { protocol: string; hostIP: string; hostPort: number; containerPort: number }[];
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
    const ep = this.allocate({ containerId: p.containerId, ifName: p.ifName, host: p.host }, this.network(p.network)!);
    ep.state = p.state ?? 'ready';
    this.endpoints.set(ep.id, ep);
    return ep;
  }

  private network(name: string): FakeNetwork | undefined {
    return this.opts.networks.find((n) => n.name === name);
  }

  private allocate(b: { containerId: string; ifName: string; host: string; ip?: string; mac?: string; netns?: string; portName?: string; portMappings?: unknown },
    net: FakeNetwork): FakeEndpoint {
    const { containerId, ifName, host, ip, mac, netns } = b;
    let addr = ip;
    for (let i = 2; addr === undefined && i < 255; i++) {
      const cand = `${net.base}.${i}`;
      if (![...this.endpoints.values()].some((e) => e.network === net.name && e.ip === cand)) addr = cand;
    }
    if (addr === undefined) throw Object.assign(new Error('exhausted'), { status: 409 });
    const last = addr.split('.').map((o) => Number(o).toString(16).padStart(2, '0'));
    // OpenFlow port numbers to ask OVS for: the lowest free one from 10000, per host (as the controller does)
    const used = new Set([...this.endpoints.values()].filter((e) => e.host === host).map((e) => e.ofportRequest));
    let ofportRequest = 10000;
    while (used.has(ofportRequest)) ofportRequest++;
    const pm = Array.isArray(b.portMappings) ? (b.portMappings as { hostPort: number; containerPort: number; protocol?: string }[]) : [];
    return {
      id: `ep-${randomBytes(6).toString('hex')}`,
      containerId, ifName, host, network: net.name,
      portName: b.portName ?? portNameFor(containerId, ifName),
      mac: mac ?? `02:77:${last.join(':')}`,
      ip: addr, prefixLength: 24, gateway: net.gateway, state: 'pending', ofport: null, ofportRequest,
      mtu: net.mtu ?? 1500, createdAt: new Date().toISOString(), netns, requestedIp: ip ?? null,
      portMappings: pm.map((m) => ({ protocol: (m.protocol ?? 'tcp').toLowerCase(), hostIP: '127.0.0.1', hostPort: m.hostPort, containerPort: m.containerPort })),
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
      const ip = typeof b.ip === 'string' ? b.ip : undefined;
      const existing = [...this.endpoints.values()].find((e) => e.containerId === cid && e.ifName === ifn);
      if (existing) {
        if (existing.host === host && existing.network === netName && (ip === undefined || ip === existing.ip)) return send(200, existing);
        return error(409, 'conflict', `container ${cid} already has interface ${ifn} (on ${existing.host}, network ${existing.network})`, 'ifName');
      }
      if (ip && [...this.endpoints.values()].some((e) => e.network === netName && e.ip === ip)) {
        return error(409, 'conflict', `${ip} is already in use in network ${netName}`, 'ip');
      }
      const str = (k: string) => (typeof b[k] === 'string' ? (b[k] as string) : undefined);
      const portName = str('portName');
      if (portName !== undefined && [...this.endpoints.values()].some((e) => e.host === host && e.portName === portName)) {
        return error(409, 'conflict', `port name ${portName} is already used on ${host}`, 'portName');
      }
      let ep: FakeEndpoint;
      try {
        ep = this.allocate({ containerId: cid, ifName: ifn, host, ip, mac: str('mac')?.toLowerCase(), netns: str('netns'), portName, portMappings: b.portMappings }, net);
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

// ---------------------------------------------------------------------------
// The container host's side, for tests against the real controller
// (test/helpers/controller.ts startController): a scripted br-int that keeps
// its flows, and an OVSDB that weft-cni reaches through an `ovs-vsctl` shim.

export function hostPort(no: number, name: string): Port {
  return {
    port_no: no, hw_addr: `02:00:00:00:${((no >> 8) & 0xff).toString(16).padStart(2, '0')}:${(no & 0xff).toString(16).padStart(2, '0')}`, name,
    config: 0, state: 0, curr: 0, advertised: 0, supported: 0, peer: 0, curr_speed: 10_000_000, max_speed: 0,
  };
}

/**
 * A host's br-int as the controller sees it over OpenFlow 1.3: answers the
 * handshake, port_desc, echo and barriers, applies every flow_mod to a
 * FakeTable (in order, so a barrier reply covers what came before) and
 * answers flow-stats requests from it. Ports come and go with port_status,
 * as OVS reports them.
 */
export class FakeBrInt {
  readonly table = new FakeTable();
  readonly received: OfpMessage[] = [];
  readonly ports = new Map<string, Port>();
  /** A flow's packet and byte counters in flow-stats replies (0 unless given). */
  flowCounts?: (f: FakeFlow) => { packets: bigint; bytes: bigint } | undefined;
  /** While true, barrier replies wait (a sync stays in flight) until releaseBarriers(). */
  holdBarriers = false;
  private heldBarriers: number[] = [];
  private readonly framer = new Framer();
  private constructor(private readonly sock: net.Socket, readonly dpid: bigint) {}

  static async connect(ofPort: number, dpid: bigint, ports: Record<string, number> = {}): Promise<FakeBrInt> {
    const sock = net.connect(ofPort, '127.0.0.1');
    await new Promise<void>((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
    const sw = new FakeBrInt(sock, dpid);
    for (const [name, no] of Object.entries(ports)) sw.ports.set(name, hostPort(no, name));
    sock.on('data', (c) => sw.framer.push(c, (f) => sw.onMessage(decodeMessage(Buffer.from(f)))));
    sock.on('error', () => {});
    sw.send({ type: 'hello', xid: 1, elements: [{ type: 'versionbitmap', bitmaps: [0x10] }] });
    return sw;
  }

  send(m: OfpMessage): void {
    if (!this.sock.destroyed) this.sock.write(encodeMessage(m));
  }

  private onMessage(m: OfpMessage): void {
    this.received.push(m);
    if (m.type === 'features_request') {
      this.send({ type: 'features_reply', xid: m.xid, datapath_id: this.dpid, n_buffers: 0, n_tables: 254, auxiliary_id: 0, capabilities: 0x4f, reserved: 0 });
    } else if (m.type === 'multipart_request' && m.body.kind === 'port_desc') {
      this.send({ type: 'multipart_reply', xid: m.xid, flags: 0, body: { kind: 'port_desc', ports: [...this.ports.values()] } });
    } else if (m.type === 'multipart_request' && m.body.kind === 'flow') {
      // the request's table and cookie/mask select flows, as OVS does (its match and out_port are not looked at)
      const q = m.body;
      const stats = this.table.flows.filter((f) => (q.table_id === OFPTT_ALL || f.table_id === q.table_id) && (f.cookie & q.cookie_mask) === (q.cookie & q.cookie_mask)).map((f) => {
        const n = this.flowCounts?.(f);
        return { ...f, duration_sec: 0, duration_nsec: 0, idle_timeout: 0, hard_timeout: 0, flags: 0, packet_count: n?.packets ?? 0n, byte_count: n?.bytes ?? 0n };
      });
      this.send({ type: 'multipart_reply', xid: m.xid, flags: 0, body: { kind: 'flow', stats } });
    } else if (m.type === 'flow_mod') {
      this.table.apply(m as FlowMod);
    } else if (m.type === 'echo_request') {
      this.send({ type: 'echo_reply', xid: m.xid, data: m.data });
    } else if (m.type === 'barrier_request') {
      if (this.holdBarriers) this.heldBarriers.push(m.xid);
      else this.send({ type: 'barrier_reply', xid: m.xid });
    }
  }

  /** Answer the barriers held so far, and the next ones at once. */
  releaseBarriers(): void {
    this.holdBarriers = false;
    for (const xid of this.heldBarriers.splice(0)) this.send({ type: 'barrier_reply', xid });
  }

  /** A port appears (OVS added it): port_status ADD. */
  addPort(name: string, no: number): void {
    const p = hostPort(no, name);
    this.ports.set(name, p);
    this.send({ type: 'port_status', xid: 0, reason: OFPPR_ADD, desc: p });
  }

  /** A port goes away: port_status DELETE. */
  removePort(name: string): void {
    const p = this.ports.get(name);
    if (!p) return;
    this.ports.delete(name);
    this.send({ type: 'port_status', xid: 0, reason: OFPPR_DELETE, desc: p });
  }

  close(): void {
    this.sock.destroy();
  }
}

export interface FakeInterface {
  bridge: string;
  externalIds: Record<string, string>;
  ofportRequest?: number;
}

/**
 * The host's OVSDB for weft-cni: `bin` holds an `ovs-vsctl` that forwards
 * its arguments here, so a plugin run with `bin` first on its PATH never
 * touches the machine's Open vSwitch. It understands what the plugin runs
 * (add-port with --may-exist, set interface external_ids/ofport_request,
 * del-port with --if-exists, port-to-br, find Interface), each call one
 * transaction. A port added to a bridge that has a FakeBrInt shows up on it
 * (port_status, with its ofport_request as the port number), as ovs-vswitchd
 * would report it; a deleted one goes away from it.
 */
export class FakeOvs {
  readonly interfaces = new Map<string, FakeInterface>();
  /** Every ovs-vsctl argument vector, in order. */
  readonly calls: string[][] = [];
  private nextOfport = 1;
  private constructor(
    private readonly server: http.Server,
    readonly bin: string,
    /** Bridge name -> its switch (null: the bridge exists, nobody reports its ports). */
    readonly bridges: Map<string, FakeBrInt | null>,
  ) {}

  static async start(bridges: Record<string, FakeBrInt | null>): Promise<FakeOvs> {
    let self: FakeOvs | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let out: { stdout: string; stderr: string; code: number };
        try {
          out = self!.run(JSON.parse(Buffer.concat(chunks).toString('utf8')) as string[]);
        } catch (e) {
          out = { stdout: '', stderr: `ovs-vsctl: ${(e as Error).message}\n`, code: 1 };
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(out));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'weft-fake-ovs-'));
    fs.writeFileSync(path.join(bin, 'ovs-vsctl'), `#!${process.execPath}
// fake ovs-vsctl (test/helpers/cni-fake-api.ts FakeOvs)
const req = require('node:http').request('http://127.0.0.1:${port}/', { method: 'POST' }, (res) => {
  let t = '';
  res.on('data', (d) => (t += d));
  res.on('end', () => { const r = JSON.parse(t); process.stdout.write(r.stdout); process.stderr.write(r.stderr); process.exitCode = r.code; });
});
req.on('error', (e) => { process.stderr.write('fake ovs-vsctl: ' + e.message + '\\n'); process.exitCode = 1; });
req.end(JSON.stringify(process.argv.slice(2)));
`, { mode: 0o755 });
    self = new FakeOvs(server, bin, new Map(Object.entries(bridges)));
    return self;
  }

  /** PATH for a plugin process: this fake's ovs-vsctl first. */
  get path(): string {
    return `${this.bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    fs.rmSync(this.bin, { recursive: true, force: true });
  }

  /** Runs one ovs-vsctl call; what it prints and its exit code. */
  run(argv: string[]): { stdout: string; stderr: string; code: number } {
    this.calls.push(argv);
    const next = new Map([...this.interfaces].map(([k, v]) => [k, { ...v, externalIds: { ...v.externalIds } }]));
    const segments: string[][] = [[]];
    for (const a of argv) {
      if (a === '--') segments.push([]);
      else segments[segments.length - 1]!.push(a);
    }
    let stdout = '';
    const fail = (msg: string) => ({ stdout: '', stderr: `ovs-vsctl: ${msg}\n`, code: 1 });
    const unquote = (v: string) => (v.startsWith('"') ? (JSON.parse(v) as string) : v);
    for (const seg of segments) {
      const opts = new Set<string>();
      let i = 0;
      while (seg[i]?.startsWith('--')) opts.add(seg[i++]!.replace(/=.*/, ''));
      const [cmd, ...args] = seg.slice(i);
      if (cmd === undefined) continue;
      if (cmd === 'add-port') {
        const [br, name] = args as [string, string];
        if (!this.bridges.has(br)) return fail(`no bridge named ${br}`);
        const had = next.get(name);
        if (had && !(opts.has('--may-exist') && had.bridge === br)) {
          return fail(`cannot create a port named ${name} because a port named ${name} already exists on bridge ${had.bridge}`);
        }
        if (!had) next.set(name, { bridge: br, externalIds: {} });
      } else if (cmd === 'set' && args[0]?.toLowerCase() === 'interface') {
        const row = next.get(args[1]!);
        if (!row) return fail(`no row "${args[1]}" in table Interface`);
        for (const kv of args.slice(2)) {
          const m = /^external_ids:([^=]+)=(.*)$/.exec(kv);
          if (m) row.externalIds[m[1]!] = unquote(m[2]!);
          else if (kv.startsWith('ofport_request=')) row.ofportRequest = Number(kv.slice('ofport_request='.length));
          else return fail(`fake ovs-vsctl does not know column ${kv}`);
        }
      } else if (cmd === 'del-port') {
        const name = args[args.length - 1]!;
        if (!next.has(name) && !opts.has('--if-exists')) return fail(`no port named ${name}`);
        next.delete(name);
      } else if (cmd === 'port-to-br') {
        const row = next.get(args[0]!);
        if (!row) return fail(`no port named ${args[0]}`);
        stdout += `${row.bridge}\n`;
      } else if (cmd === 'find' && args[0]?.toLowerCase() === 'interface') {
        const conds = args.slice(1).map((c) => {
          const m = /^(external_ids:[^=]+|name)=(.*)$/.exec(c);
          if (!m) throw new Error(`fake ovs-vsctl: condition ${c}`);
          return [m[1]!, unquote(m[2]!)] as const;
        });
        const rows = [...next].filter(([name, r]) => conds.every(([k, v]) => (k === 'name' ? name === v : r.externalIds[k.slice('external_ids:'.length)] === v)));
        stdout += JSON.stringify({ data: rows.map(([name, r]) => [name, ['map', Object.entries(r.externalIds)]]), headings: ['name', 'external_ids'] }) + '\n';
      } else {
        return fail(`fake ovs-vsctl does not know "${seg.join(' ')}"`);
      }
    }
    // committed: ovs-vswitchd reports what changed on the bridges it has
    const gone = [...this.interfaces].filter(([k, v]) => next.get(k)?.bridge !== v.bridge);
    const added = [...next].filter(([k, v]) => this.interfaces.get(k)?.bridge !== v.bridge);
    this.interfaces.clear();
    for (const [k, v] of next) this.interfaces.set(k, v);
    for (const [name, r] of gone) this.bridges.get(r.bridge)?.removePort(name);
    for (const [name, r] of added) this.bridges.get(r.bridge)?.addPort(name, r.ofportRequest ?? this.nextOfport++);
    return { stdout, stderr: '', code: 0 };
  }
}

/**
 * A pass-through HTTP proxy in front of the real controller's API that
 * records every request (method, url, JSON body), so a test can say what
 * the plugin asked. `intercept` may answer a request itself instead.
 */
export class ApiRecorder {
  readonly requests: RecordedRequest[] = [];
  intercept?: (method: string, url: string) => { status: number; json: unknown } | undefined;
  private constructor(private readonly server: http.Server, readonly url: string) {}

  static async start(target: string): Promise<ApiRecorder> {
    let self: ApiRecorder | undefined;
    const t = new URL(target);
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        let body: unknown = undefined;
        try { body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined; } catch { body = raw.toString('utf8'); }
        self!.requests.push({ method: req.method ?? '', url: req.url ?? '', body });
        const own = self!.intercept?.(req.method ?? '', req.url ?? '');
        if (own) {
          res.writeHead(own.status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(own.json));
          return;
        }
        const headers = { ...req.headers, host: t.host };
        const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers }, (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        });
        up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
        up.end(raw);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    self = new ApiRecorder(server, `http://127.0.0.1:${port}`);
    return self;
  }

  /** Requests matching method and a path prefix. */
  calls(method: string, pathPrefix: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.url.startsWith(pathPrefix));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A registered container host with its br-int connected to a real in-process controller, its OVSDB faked. */
export interface CniHost {
  ctl: Controller & { cleanup(): Promise<void> };
  brInt: FakeBrInt;
  ovs: FakeOvs;
  /** The controller's API behind a recording proxy: what weft-cni should use. */
  api: ApiRecorder;
  /** The controller's admin token file: the CNI configuration's tokenFile. */
  tokenFile: string;
  host: string;
  network: string;
  /** app.inject on the controller. */
  req<T = Record<string, unknown>>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Network namespaces made with netns() (removed by close()). */
  netns(): string;
  close(): Promise<void>;
}

/**
 * Starts a controller, registers `host` (its br-int a FakeBrInt, connected and
 * synced) and an IPv4 network, fakes the host's OVSDB, and puts a recording
 * proxy in front of the API.
 */
/** The underlay address startCniHost registers its host with. */
export const UNDERLAY_IP = '172.31.254.1';

export async function startCniHost(o: { host?: string; network?: string; cidr?: string; mode?: string; dpid?: bigint } = {}): Promise<CniHost> {
  const host = o.host ?? 'host1';
  const network = o.network ?? 'blue';
  const dpid = o.dpid ?? 0xc0de01n;
  const ctl = await startController({ apps: 'none' });
  const req = async <T,>(method: string, url: string, body?: unknown) => {
    const r = await ctl.api!.inject({ method: method as 'GET', url, payload: body as object });
    return { status: r.statusCode, body: (r.body ? r.json() : undefined) as T };
  };
  // a br-phy is registered (never connected) so the host may publish ports
  const h = await req('POST', '/v1/hosts', { name: host, dpid: dpid.toString(16).padStart(16, '0'), underlayIp: UNDERLAY_IP, phyDpid: (dpid | 0xb000000000n).toString(16).padStart(16, '0') });
  if (h.status !== 201) throw new Error(`registering ${host}: ${JSON.stringify(h.body)}`);
  const n = await req('POST', '/v1/networks', { name: network, cidr: o.cidr ?? '10.91.0.0/24', ...(o.mode ? { mode: o.mode } : {}) });
  if (n.status !== 201) throw new Error(`creating ${network}: ${JSON.stringify(n.body)}`);
  const brInt = await FakeBrInt.connect(ctl.ofPort, dpid);
  // synced: the full sync installed the pipeline's miss flows
  await waitFor(() => brInt.table.flows.length > 0 && ctl.registry.get(dpid.toString(16).padStart(16, '0')), { what: `${host}'s br-int synced` });
  const ovs = await FakeOvs.start({ 'br-int': brInt });
  const api = await ApiRecorder.start(`http://127.0.0.1:${ctl.apiPort}`);
  const spaces: string[] = [];
  return {
    ctl, brInt, ovs, api, host, network, req, tokenFile: ctl.adminTokenFile!,
    netns() {
      const name = `weftut-${process.pid}-${spaces.length}`;
      execFileSync('ip', ['netns', 'add', name]);
      spaces.push(name);
      return `/run/netns/${name}`;
    },
    async close() {
      for (const s of spaces) { try { execFileSync('ip', ['netns', 'del', s]); } catch { /* gone */ } }
      brInt.close();
      await api.close();
      await ovs.close();
      await ctl.cleanup();
    },
  };
}
