// Network policies (docs/api.md, "Network policy"): their validation and
// who they select. Kubernetes NetworkPolicy semantics plus deny rules and a
// priority: an endpoint selected by a policy that has ingress (egress)
// rules is isolated in that direction, and then only what a rule allows
// passes. Rules are ordered by their policy's priority (lower first), a
// deny before an allow of the same priority; the first rule that matches a
// new connection decides. Nothing here writes: a rejected request changes
// nothing.
import type { Resources, Labels, PolicySpec, PolicyRule, PolicyPeer, PolicyProtocol, EndpointRec } from './resources';
import { badRequest, WeftError } from './errors';
import { parseCidr, intToIp } from './ipv4';
import { validLabels } from './container-validation';

/** Bounds: what one policy (and all of them) may cost. */
export const POLICY_LIMITS = { rules: 64, peers: 64, ports: 32, policies: 1024 } as const;
export const DEFAULT_POLICY_PRIORITY = 100;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const PROTOCOLS: PolicyProtocol[] = ['tcp', 'udp', 'icmp'];

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function only(o: Record<string, unknown>, keys: string[], field: string): void {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw badRequest(`${field}: unknown property "${k.slice(0, 64)}" (allowed: ${keys.join(', ')})`, `${field}.${k.slice(0, 64)}`);
}

function selector(x: unknown, field: string): { matchLabels: Labels } {
  if (!isObj(x)) throw badRequest(`${field} must be an object {matchLabels}`, field);
  only(x, ['matchLabels'], field);
  if (x.matchLabels === undefined) throw badRequest(`${field}.matchLabels is required ({} selects every endpoint)`, `${field}.matchLabels`);
  return { matchLabels: validLabels(x.matchLabels, `${field}.matchLabels`) };
}

function peer(x: unknown, field: string): PolicyPeer {
  if (!isObj(x)) throw badRequest(`${field} must be an object {selector} or {cidr}`, field);
  only(x, ['selector', 'cidr'], field);
  if ((x.selector === undefined) === (x.cidr === undefined)) throw badRequest(`${field} needs exactly one of selector and cidr`, field);
  if (x.selector !== undefined) return { selector: selector(x.selector, `${field}.selector`) };
  if (typeof x.cidr !== 'string') throw badRequest(`${field}.cidr must be a string a.b.c.d/len`, `${field}.cidr`);
  let c;
  try { c = parseCidr(x.cidr); } catch (e) { throw badRequest(`${field}.cidr: ${(e as Error).message}`, `${field}.cidr`); }
  // canonical: the network address
  return { cidr: `${intToIp(c.base)}/${c.len}` };
}

function rule(x: unknown, field: string): PolicyRule {
  if (!isObj(x)) throw badRequest(`${field} must be an object {action, peers?, ports?}`, field);
  only(x, ['action', 'peers', 'ports'], field);
  if (x.action !== 'allow' && x.action !== 'deny') throw badRequest(`${field}.action must be allow or deny`, `${field}.action`);
  const r: PolicyRule = { action: x.action };
  if (x.peers !== undefined) {
    if (!Array.isArray(x.peers) || x.peers.length < 1 || x.peers.length > POLICY_LIMITS.peers) throw badRequest(`${field}.peers must be an array of 1-${POLICY_LIMITS.peers} peers (omit it for any peer)`, `${field}.peers`);
    r.peers = x.peers.map((p, i) => peer(p, `${field}.peers.${i}`));
  }
  if (x.ports !== undefined) {
    if (!Array.isArray(x.ports) || x.ports.length < 1 || x.ports.length > POLICY_LIMITS.ports) throw badRequest(`${field}.ports must be an array of 1-${POLICY_LIMITS.ports} ports (omit it for any protocol)`, `${field}.ports`);
    r.ports = x.ports.map((p, i) => {
      const f = `${field}.ports.${i}`;
      if (!isObj(p)) throw badRequest(`${f} must be an object {protocol, port?}`, f);
      only(p, ['protocol', 'port'], f);
      if (!PROTOCOLS.includes(p.protocol as PolicyProtocol)) throw badRequest(`${f}.protocol must be tcp, udp or icmp`, `${f}.protocol`);
      const protocol = p.protocol as PolicyProtocol;
      if (p.port === undefined) return { protocol };
      if (protocol === 'icmp') throw badRequest(`${f}.port: icmp has no port`, `${f}.port`);
      if (!Number.isInteger(p.port) || (p.port as number) < 1 || (p.port as number) > 65535) throw badRequest(`${f}.port must be an integer 1-65535`, `${f}.port`);
      return { protocol, port: p.port as number };
    });
  }
  return r;
}

function rules(x: unknown, field: string): PolicyRule[] | undefined {
  if (x === undefined) return undefined;
  if (!Array.isArray(x) || x.length > POLICY_LIMITS.rules) throw badRequest(`${field} must be an array of at most ${POLICY_LIMITS.rules} rules ([] isolates: nothing allowed)`, field);
  return x.map((r, i) => rule(r, `${field}.${i}`));
}

/** A policy body, checked: the PolicySpec to store, or a WeftError naming the field. */
export function validPolicy(body: unknown, r: Resources, name?: string): PolicySpec {
  if (!isObj(body)) throw badRequest('a policy must be an object', undefined);
  only(body, ['name', 'network', 'selector', 'ingress', 'egress', 'priority'], 'policy');
  const n = name ?? body.name;
  if (typeof n !== 'string' || !NAME_RE.test(n)) throw badRequest('name must be 1-63 letters, digits, _ . or -, starting with a letter or digit', 'name');
  if (name !== undefined && body.name !== undefined && body.name !== name) throw badRequest(`name "${String(body.name).slice(0, 64)}" differs from the policy named in the path (${name})`, 'name');
  const p: PolicySpec = { name: n, selector: selector(body.selector, 'selector'), priority: DEFAULT_POLICY_PRIORITY };
  if (body.network !== undefined) {
    if (typeof body.network !== 'string') throw badRequest('network must be a network name or id', 'network');
    const net = r.network(body.network);
    if (!net) throw new WeftError(404, 'not_found', `network ${body.network.slice(0, 64)} not found`, 'network');
    p.network = net.name;
  }
  if (body.priority !== undefined) {
    if (!Number.isInteger(body.priority) || (body.priority as number) < 0 || (body.priority as number) > 255) throw badRequest('priority must be an integer 0-255 (lower first)', 'priority');
    p.priority = body.priority as number;
  }
  const ingress = rules(body.ingress, 'ingress');
  const egress = rules(body.egress, 'egress');
  if (ingress === undefined && egress === undefined) throw badRequest('a policy needs ingress or egress rules (an empty list isolates)', 'ingress');
  if (ingress) p.ingress = ingress;
  if (egress) p.egress = egress;
  return p;
}

/** Whether a selector selects labels: every matchLabels pair is among them. */
export function selects(sel: { matchLabels: Labels }, labels: Labels | undefined): boolean {
  return Object.entries(sel.matchLabels).every(([k, v]) => labels?.[k] === v);
}

/** Whether policy p selects endpoint e (its network, if it names one, and its selector). */
export function policySelects(p: PolicySpec, e: EndpointRec): boolean {
  return e.state !== 'removed' && (p.network === undefined || p.network === e.network) && selects(p.selector, e.labels);
}

/** Policies in evaluation order: priority, then name. */
export const policyOrder = (a: PolicySpec, b: PolicySpec): number => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
