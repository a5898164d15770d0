// A small client for the Weft REST API endpoints the CNI plugin needs,
// on node:http, every request with a timeout. Failures come back as
// CniErrors with the code a runtime should see: an unreachable or busy API
// is "try again later" (11).
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { CniCode, CniError } from './errors';

/** An endpoint as the Weft API returns it. */
export interface Endpoint {
  id: string;
  containerId: string;
  ifName: string;
  host: string;
  network: string;
  /** Host-side veth name (at most 15 chars). */
  portName: string;
  mac: string;
  ip: string;
  prefixLength: number;
  gateway: string | null;
  state: 'pending' | 'ready' | 'removed';
  ofport: number | null;
  /** Ask OVS for this OpenFlow port number (the controller installs the flows for it meanwhile). */
  ofportRequest?: number | null;
  mtu?: number | null;
  createdAt?: string;
  readyAt?: string | null;
  portMappings?: { protocol: string; hostIP: string; hostPort: number; containerPort: number }[];
}

/** Body of POST /v1/endpoints. */
export interface CreateEndpointRequest {
  containerId: string;
  ifName: string;
  host: string;
  network: string;
  netns?: string;
  ip?: string;
  mac?: string;
  portName?: string;
  /** From runtimeConfig.portMappings (the portMappings capability). */
  portMappings?: { hostPort: number; containerPort: number; protocol?: string; hostIP?: string }[];
  /** Policy labels: k8s.namespace / k8s.pod from CNI_ARGS, runtimeConfig.labels. */
  labels?: Record<string, string>;
}

/** A network as the Weft API returns it (the fields the Docker driver reads). */
export interface Network {
  id: number;
  name: string;
  cidr: string;
  gateway: string;
  mode: string;
  mtu?: number;
}

/** Body of POST /v1/networks. */
export interface CreateNetworkRequest { name: string; cidr: string; gateway?: string; mode?: string }

/** An HTTP error answer from the API, `{"error", "message", "field"?}`. */
export class ApiHttpError extends CniError {
  constructor(
    readonly status: number,
    readonly apiCode: string,
    readonly apiMessage: string,
    readonly field: string | undefined,
    what: string,
  ) {
    super(codeFor(status), `${what}: ${apiMessage}${field ? ` (field ${field})` : ''}${hintFor(status)}`,
      `HTTP ${status} ${apiCode}`);
  }
}

/**
 * 401 and 403 are Weft's own codes 101 and 102 (the token); 400 and 404
 * (unknown host / network) mean the configuration does not match what Weft
 * knows (7); 502-504 are transient (11); the rest (409 conflict /
 * exhausted, 500) are 999.
 */
function codeFor(status: number): number {
  if (status === 401) return CniCode.UNAUTHORIZED;
  if (status === 403) return CniCode.FORBIDDEN;
  if (status === 400 || status === 404 || status === 422) return CniCode.INVALID_CONFIG;
  if (status === 502 || status === 503 || status === 504 || status === 429) return CniCode.TRY_AGAIN_LATER;
  return CniCode.GENERIC;
}

/** What the operator should look at for an authentication or authorization refusal. */
function hintFor(status: number): string {
  if (status === 401) return ' (check the tokenFile of this configuration: the token is missing, wrong or revoked)';
  if (status === 403) return ' (the token does not cover this: a host token acts only for its own host; check host and tokenFile)';
  return '';
}

/** Default timeout of one request that is not a long-poll. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Extra time allowed on top of a long-poll's own timeout. */
const LONG_POLL_SLACK_MS = 5000;

/** How to reach and prove ourselves to the API: a bearer token, and a CA for an https API with a private one. */
export interface ApiAuth { token?: string; ca?: Buffer }

/** The API client a network configuration names: its token file and CA file are read now (code 7 when unreadable). */
export function apiFor(conf: { api: string; tokenFile?: string; apiCaFile?: string }, requestTimeoutMs = REQUEST_TIMEOUT_MS): WeftApi {
  const read = (file: string, what: string) => {
    try { return fs.readFileSync(file); } catch (e) { throw new CniError(CniCode.INVALID_CONFIG, `cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); }
  };
  const token = conf.tokenFile !== undefined ? read(conf.tokenFile, 'token file').toString('utf8').trim() : undefined;
  if (token !== undefined && !/^[\x21-\x7e]{1,512}$/.test(token)) throw new CniError(CniCode.INVALID_CONFIG, `the token file ${conf.tokenFile} does not hold a token`);
  return new WeftApi(conf.api, requestTimeoutMs, { token, ca: conf.apiCaFile !== undefined ? read(conf.apiCaFile, 'API CA file') : undefined });
}

/**
 * The Weft API's base URLs: one, or several controllers' separated by
 * commas ("http://10.0.0.1:8080,http://10.0.0.2:8080": every controller of a
 * cluster serves the API). Each must be an http or https URL; returned
 * without a trailing slash, in order. Throws an Error whose message names
 * the bad one.
 */
export function apiUrls(raw: string): string[] {
  const parts = raw.split(',').map((x) => x.trim());
  if (parts.length > 16) throw new Error(`"${raw.slice(0, 80)}…": at most 16 URLs`);
  return parts.map((x) => {
    if (x === '') throw new Error(`"${raw}" has an empty URL (URLs are separated by single commas)`);
    let u: URL;
    try { u = new URL(x); } catch { throw new Error(`"${x}" is not a URL`); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`"${x}" must be an http or https URL`);
    if (u.search || u.hash || u.username || u.password) throw new Error(`"${x}" must be a base URL (no query, fragment or credentials: the token goes in a token file)`);
    return u.toString().replace(/\/+$/, '');
  });
}

/**
 * Which of a list of API URLs answered last, by list: the next call (the CNI
 * agent's, the Docker plugin's, the IPsec agent's) starts there.
 */
const lastGood = new Map<string, number>();

export class WeftApi {
  /** The controllers' base URLs, in the order given. */
  readonly bases: string[];

  constructor(
    /**
     * Base URL without a trailing slash, e.g. http://192.168.150.1:8080, or
     * several separated by commas (apiUrls): a call that cannot reach one,
     * or that one answers 503 (it lost its store's quorum), is made to the
     * next; the one that answered is tried first next time.
     */
    base: string,
    private readonly requestTimeoutMs = REQUEST_TIMEOUT_MS,
    private readonly auth: ApiAuth = {},
  ) {
    try { this.bases = apiUrls(base); } catch (e) { throw new CniError(CniCode.INVALID_CONFIG, `the Weft API URL ${(e as Error).message}`); }
    this.key = this.bases.join(',');
  }

  private readonly key: string;

  /** The URL the next call goes to first. */
  get base(): string {
    return this.bases[(lastGood.get(this.key) ?? 0) % this.bases.length]!;
  }

  /** POST /v1/endpoints. `created` is false when the API answered 200 (it already existed). */
  async createEndpoint(body: CreateEndpointRequest): Promise<{ endpoint: Endpoint; created: boolean }> {
    const { status, json } = await this.request('POST', '/v1/endpoints', 'creating the endpoint', body);
    return { endpoint: asEndpoint(json, 'POST /v1/endpoints'), created: status === 201 };
  }

  /** GET /v1/endpoints?query. */
  async findEndpoints(query: Record<string, string>): Promise<Endpoint[]> {
    const qs = new URLSearchParams(query).toString();
    const { json } = await this.request('GET', `/v1/endpoints?${qs}`, 'listing endpoints');
    if (!Array.isArray(json)) throw badAnswer('GET /v1/endpoints', 'expected an array');
    return json.map((e) => asEndpoint(e, 'GET /v1/endpoints'));
  }

  /** GET /v1/endpoints/{id}. */
  async getEndpoint(id: string): Promise<Endpoint> {
    const { json } = await this.request('GET', `/v1/endpoints/${encodeURIComponent(id)}`, `reading endpoint ${id}`);
    return asEndpoint(json, 'GET /v1/endpoints/{id}');
  }

  /** One long-poll: GET /v1/endpoints/{id}?wait=ready&timeoutMs=N; the answer may still be pending. */
  async waitEndpoint(id: string, timeoutMs: number): Promise<Endpoint> {
    const path = `/v1/endpoints/${encodeURIComponent(id)}?wait=ready&timeoutMs=${Math.max(0, Math.round(timeoutMs))}`;
    const { json } = await this.request('GET', path, `waiting for endpoint ${id}`, undefined, timeoutMs + LONG_POLL_SLACK_MS);
    return asEndpoint(json, 'GET /v1/endpoints/{id}?wait=ready');
  }

  /** DELETE /v1/endpoints/{id}: true if deleted, false if it was already gone (404). */
  async deleteEndpoint(id: string): Promise<boolean> {
    try {
      await this.request('DELETE', `/v1/endpoints/${encodeURIComponent(id)}`, `deleting endpoint ${id}`);
      return true;
    } catch (e) {
      if (e instanceof ApiHttpError && e.status === 404) return false;
      throw e;
    }
  }

  /** PATCH /v1/endpoints/{id}: a new containerId and/or the published ports, replaced as a whole. */
  async patchEndpoint(id: string, body: { containerId?: string; portMappings?: CreateEndpointRequest['portMappings'] }): Promise<Endpoint> {
    const { json } = await this.request('PATCH', `/v1/endpoints/${encodeURIComponent(id)}`, `updating endpoint ${id}`, body);
    return asEndpoint(json, 'PATCH /v1/endpoints/{id}');
  }

  /** GET /v1/networks. */
  async listNetworks(): Promise<Network[]> {
    const { json } = await this.request('GET', '/v1/networks', 'listing networks');
    if (!Array.isArray(json)) throw badAnswer('GET /v1/networks', 'expected an array');
    return json.map((n) => asNetwork(n, 'GET /v1/networks'));
  }

  /** GET /v1/networks/{name}, or null when there is none (404). */
  async getNetwork(name: string): Promise<Network | null> {
    try {
      const { json } = await this.request('GET', `/v1/networks/${encodeURIComponent(name)}`, `reading network ${name}`);
      return asNetwork(json, 'GET /v1/networks/{id}');
    } catch (e) {
      if (e instanceof ApiHttpError && e.status === 404) return null;
      throw e;
    }
  }

  /** POST /v1/networks. */
  async createNetwork(body: CreateNetworkRequest): Promise<Network> {
    const { json } = await this.request('POST', '/v1/networks', `creating network ${body.name}`, body);
    return asNetwork(json, 'POST /v1/networks');
  }

  /** DELETE /v1/networks/{name}: true if deleted, false if it was already gone (404); 409 (not empty) throws. */
  async deleteNetwork(name: string): Promise<boolean> {
    try {
      await this.request('DELETE', `/v1/networks/${encodeURIComponent(name)}`, `deleting network ${name}`);
      return true;
    } catch (e) {
      if (e instanceof ApiHttpError && e.status === 404) return false;
      throw e;
    }
  }

  /** GET /v1/hosts/{name}/ipsec: the host's IPsec configuration (with its PSKs for the host's own token), checked by the caller. */
  async ipsecConfig(host: string): Promise<unknown> {
    const { json } = await this.request('GET', `/v1/hosts/${encodeURIComponent(host)}/ipsec`, `reading host ${host}'s IPsec configuration`);
    return json;
  }

  /** GET /v1/health: the body when it answers 200. */
  async health(timeoutMs?: number): Promise<Record<string, unknown>> {
    const { json } = await this.request('GET', '/v1/health', 'checking health', undefined, timeoutMs);
    return typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
  }

  private async request(
    method: string,
    path: string,
    what: string,
    body?: unknown,
    timeoutMs = this.requestTimeoutMs,
  ): Promise<{ status: number; json: unknown }> {
    // each controller in turn, from the one that answered last: on to the next when one cannot be
    // reached or answers 503 (its store lost quorum: another may have it). Calls are safe to repeat
    // (an endpoint is created once per container and interface; the rest are reads and deletes).
    const first = (lastGood.get(this.key) ?? 0) % this.bases.length;
    const unreachable: string[] = [];
    let res: { status: number; ok: boolean; statusText: string; text: string } | undefined;
    for (let i = 0; i < this.bases.length && !res; i++) {
      const at = (first + i) % this.bases.length;
      const base = this.bases[at]!;
      try {
        const r = await httpRequest(`${base}${path}`, method, body === undefined ? undefined : JSON.stringify(body), timeoutMs, this.auth);
        if (r.status === 503 && i < this.bases.length - 1) { unreachable.push(`${base}: HTTP 503`); continue; }
        res = r;
        lastGood.set(this.key, at);
      } catch (e) {
        unreachable.push(`${base}: ${describeFetchError(e, timeoutMs)}`);
      }
    }
    if (!res) {
      const which = this.bases.length > 1 ? `none of the ${this.bases.length} Weft API URLs answered (${what}): ${unreachable.join('; ')}`
        : `Weft API at ${this.bases[0]} is unreachable (${what}): ${unreachable[0]!.slice(this.bases[0]!.length + 2)}`;
      throw new CniError(CniCode.TRY_AGAIN_LATER, which, `${method} ${path}`);
    }
    const text = res.text;
    let json: unknown = undefined;
    if (text !== '') {
      try {
        json = JSON.parse(text);
      } catch {
        if (res.ok) throw badAnswer(`${method} ${path}`, 'not JSON');
      }
    }
    if (!res.ok) {
      const err = typeof json === 'object' && json !== null ? (json as Record<string, unknown>) : {};
      const apiCode = typeof err.error === 'string' ? err.error : `http_${res.status}`;
      const apiMessage = typeof err.message === 'string' ? err.message : text.slice(0, 200) || res.statusText;
      const field = typeof err.field === 'string' ? err.field : undefined;
      throw new ApiHttpError(res.status, apiCode, apiMessage, field, `Weft API ${what}`);
    }
    return { status: res.status, json };
  }
}

/**
 * Connections to the API are kept alive: the CNI agent makes many calls, and
 * a one-shot plugin makes two or three (POST, then the long-poll). The
 * plugin process exits explicitly, so idle sockets never hold it.
 */
const keepAlive = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
/** One kept-alive https agent per private CA (the CNI agent may serve networks with different ones). */
const caAgents = new Map<string, https.Agent>();
function httpsAgent(ca: Buffer | undefined): https.Agent {
  if (!ca) return keepAlive.https;
  const key = ca.toString('base64');
  let a = caAgents.get(key);
  if (!a) { a = new https.Agent({ keepAlive: true, ca }); caAgents.set(key, a); }
  return a;
}

/**
 * One HTTP request with node:http. Not fetch(): in a short-lived plugin
 * process the first fetch() costs ~40 ms and slows the exit by ~30 ms more
 * (undici loads and compiles its parser), a large share of an ADD.
 * A kept-alive connection the server closed meanwhile is retried once on a
 * new one (the server never saw the request).
 */
function httpRequest(url: string, method: string, body: string | undefined, timeoutMs: number, auth: ApiAuth = {}, retried = false):
  Promise<{ status: number; ok: boolean; statusText: string; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const tls = u.protocol === 'https:';
    const mod = tls ? https : http;
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (auth.token !== undefined) headers.authorization = `Bearer ${auth.token}`;
    if (body !== undefined) { headers['content-type'] = 'application/json'; headers['content-length'] = Buffer.byteLength(body); }
    const req = mod.request(u, { method, headers, timeout: timeoutMs, agent: tls ? httpsAgent(auth.ca) : keepAlive.http }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        resolve({ status, ok: status >= 200 && status < 300, statusText: res.statusMessage ?? '', text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { name: 'TimeoutError' })));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (req.reusedSocket && !retried && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) {
        httpRequest(url, method, body, timeoutMs, auth, true).then(resolve, reject);
      } else reject(e);
    });
    req.end(body);
  });
}

function describeFetchError(e: unknown, timeoutMs: number): string {
  const err = e as Error & { code?: string; cause?: { code?: string; message?: string } };
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  return err.code ?? err.cause?.code ?? err.cause?.message ?? err.message ?? String(e);
}

function badAnswer(what: string, why: string): CniError {
  return new CniError(CniCode.GENERIC, `Weft API answered ${what} with an unexpected body: ${why}`);
}

/** Checks the fields the plugin relies on. */
function asEndpoint(x: unknown, what: string): Endpoint {
  if (typeof x !== 'object' || x === null) throw badAnswer(what, 'expected an endpoint object');
  const e = x as Record<string, unknown>;
  for (const k of ['id', 'containerId', 'ifName', 'network', 'portName', 'mac', 'ip', 'state'] as const) {
    if (typeof e[k] !== 'string' || e[k] === '') throw badAnswer(what, `endpoint field "${k}" missing`);
  }
  if (typeof e.prefixLength !== 'number') throw badAnswer(what, 'endpoint field "prefixLength" missing');
  if (e.gateway !== null && e.gateway !== undefined && typeof e.gateway !== 'string') throw badAnswer(what, 'endpoint field "gateway" is not a string');
  return { ...(e as unknown as Endpoint), gateway: typeof e.gateway === 'string' && e.gateway !== '' ? e.gateway : null };
}

function asNetwork(x: unknown, what: string): Network {
  if (typeof x !== 'object' || x === null) throw badAnswer(what, 'expected a network object');
  const n = x as Record<string, unknown>;
  for (const k of ['name', 'cidr', 'gateway', 'mode'] as const) {
    if (typeof n[k] !== 'string' || n[k] === '') throw badAnswer(what, `network field "${k}" missing`);
  }
  return n as unknown as Network;
}
