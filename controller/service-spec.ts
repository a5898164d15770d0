// Services (docs/api.md, "Services"): a VIP of a network, balanced in br-int
// over endpoints of that network (apps/container/service.ts). This checks a
// body and picks the backends; nothing here writes, so a rejected request
// changes nothing.
import type { Resources, ServiceSpec, ServicePort, EndpointRec } from './resources';
import { badRequest, WeftError } from './errors';
import { parseCidr, ipToInt, isIp } from './ipv4';
import { validLabels } from './container-validation';
import { selects } from './network-policy';

/** Bounds: what one service (and all of them) may cost. */
export const SERVICE_LIMITS = { ports: 16, endpoints: 64, services: 1024 } as const;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
function only(o: Record<string, unknown>, keys: string[], field: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw badRequest(`${field}: unknown property "${k.slice(0, 64)}" (allowed: ${keys.join(', ')})`, `${field}.${k.slice(0, 64)}`);
}
const portNo = (x: unknown, f: string): number => {
  if (!Number.isInteger(x) || (x as number) < 1 || (x as number) > 65535) throw badRequest(`${f} must be an integer 1-65535`, f);
  return x as number;
};

/** A service body, checked: the ServiceSpec to store, or a WeftError naming the field. */
export function validService(body: unknown, r: Resources): ServiceSpec {
  if (!isObj(body)) throw badRequest('a service must be an object', undefined);
  only(body, ['name', 'network', 'vip', 'ports', 'endpoints', 'selector', 'affinity'], 'service');
  if (typeof body.name !== 'string' || !NAME_RE.test(body.name)) throw badRequest('name must be 1-63 letters, digits, _ . or -, starting with a letter or digit', 'name');
  if (typeof body.network !== 'string') throw badRequest('network must be a network name or id', 'network');
  const net = r.network(body.network);
  if (!net) throw new WeftError(404, 'not_found', `network ${body.network.slice(0, 64)} not found`, 'network');
  if (net.mode === 'underlay') throw badRequest(`network ${net.name} is an underlay network: services need a network whose addresses Weft owns (local, overlay, routed)`, 'network');
  if (typeof body.vip !== 'string' || !isIp(body.vip)) throw badRequest('vip must be an IPv4 address a.b.c.d', 'vip');
  const c = parseCidr(net.cidr);
  const vip = ipToInt(body.vip);
  if (vip < c.base || vip >= c.base + c.size) throw badRequest(`vip ${body.vip} is not in network ${net.name} (${net.cidr})`, 'vip');
  if (c.len <= 30 && (vip === c.base || vip === c.base + c.size - 1)) throw badRequest(`vip ${body.vip} is the network or broadcast address of ${net.cidr}`, 'vip');
  if (vip === ipToInt(net.gateway)) throw badRequest(`vip ${body.vip} is the gateway of network ${net.name}`, 'vip');
  const holder = r.endpoints({ networkId: net.id }).find((e) => e.ip === body.vip);
  if (holder) throw new WeftError(409, 'conflict', `vip ${body.vip} is the address of endpoint ${holder.id}`, 'vip');
  const other = r.serviceByVip(net.id, vip);
  if (other) throw new WeftError(409, 'conflict', `vip ${body.vip} is already service ${other}'s`, 'vip');
  if (!Array.isArray(body.ports) || body.ports.length < 1 || body.ports.length > SERVICE_LIMITS.ports) throw badRequest(`ports must be an array of 1-${SERVICE_LIMITS.ports} ports`, 'ports');
  const seen = new Set<string>();
  const ports: ServicePort[] = body.ports.map((p, i) => {
    const f = `ports.${i}`;
    if (!isObj(p)) throw badRequest(`${f} must be an object {protocol, port, targetPort}`, f);
    only(p, ['protocol', 'port', 'targetPort'], f);
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') throw badRequest(`${f}.protocol must be tcp or udp`, `${f}.protocol`);
    const port = portNo(p.port, `${f}.port`);
    const targetPort = p.targetPort === undefined ? port : portNo(p.targetPort, `${f}.targetPort`);
    if (seen.has(`${p.protocol}/${port}`)) throw badRequest(`${f}: ${p.protocol} port ${port} is listed twice`, f);
    seen.add(`${p.protocol}/${port}`);
    return { protocol: p.protocol, port, targetPort };
  });
  const x: ServiceSpec = { name: body.name, network: net.name, networkId: net.id, vip: body.vip, ports, affinity: 'none' };
  if ((body.endpoints === undefined) === (body.selector === undefined)) throw badRequest('a service needs exactly one of endpoints and selector', 'endpoints');
  if (body.endpoints !== undefined) {
    if (!Array.isArray(body.endpoints) || body.endpoints.length > SERVICE_LIMITS.endpoints || body.endpoints.some((e) => typeof e !== 'string' || e.length > 64)) {
      throw badRequest(`endpoints must be an array of at most ${SERVICE_LIMITS.endpoints} endpoint ids`, 'endpoints');
    }
    const ids = [...new Set(body.endpoints as string[])];
    ids.forEach((id, i) => {
      const e = r.endpoint(id);
      if (!e) throw new WeftError(404, 'not_found', `endpoint ${id} not found`, `endpoints.${i}`);
      if (e.networkId !== net.id) throw badRequest(`endpoint ${id} is in network ${e.network}, not ${net.name}`, `endpoints.${i}`);
    });
    x.endpoints = ids;
  } else {
    if (!isObj(body.selector)) throw badRequest('selector must be an object {matchLabels}', 'selector');
    only(body.selector, ['matchLabels'], 'selector');
    if (body.selector.matchLabels === undefined) throw badRequest('selector.matchLabels is required ({} selects every endpoint of the network)', 'selector.matchLabels');
    x.selector = { matchLabels: validLabels(body.selector.matchLabels, 'selector.matchLabels') };
  }
  if (body.affinity !== undefined) {
    if (body.affinity !== 'none' && body.affinity !== 'clientIP') throw badRequest('affinity must be none or clientIP', 'affinity');
    x.affinity = body.affinity;
  }
  return x;
}

/**
 * A service's backends: its endpoints (listed, or selected in its network)
 * that are ready, in id order (at most SERVICE_LIMITS.endpoints).
 */
/** Whether endpoint e is one of service x's backends once it is ready (listed, or selected, in its network). */
export function mayBack(x: ServiceSpec, e: EndpointRec): boolean {
  return e.networkId === x.networkId && (x.endpoints ? x.endpoints.includes(e.id) : selects(x.selector!, e.labels));
}

export function serviceBackends(x: ServiceSpec, all: readonly EndpointRec[]): EndpointRec[] {
  return all
    .filter((e) => e.state === 'ready' && mayBack(x, e))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, SERVICE_LIMITS.endpoints);
}
