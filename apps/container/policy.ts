// Network policy on br-int (docs/pipeline.md, "Network policy"): stateful,
// with conntrack in the zone of the packet's network (POLICY_ZONE: reg6), and rules as conjunctive matches so
// that N selected endpoints x M peers x K ports cost N + M + K flows, not
// their product.
//
// On a host where some local endpoint is selected by a policy, every IPv4
// packet of a local endpoint passes ct into egressPolicy (spoofGuard), and
// every IPv4 packet from the tunnel passes ct into ingressPolicy (the
// classifier). Egress is enforced on the sender's host, ingress on the
// receiver's. A rule is one conjunction: clause 1 the selected endpoints of
// this host (by network and address), then the peers (selector peers by
// network and address, CIDRs by address) and the ports, when the rule has
// them (a rule with neither gets an "any IPv4" clause, so every rule is a
// conjunction and clause flows of different rules can share a flow).
import type { Action, FlowMod } from '../../southbound/codec';
import { NX_CT_F_COMMIT } from '../../southbound/codec';
import type { EndpointRec, PolicySpec, PolicyRule } from '../../controller/resources';
import { policySelects, selects, policyOrder } from '../../controller/network-policy';
import { flow, REG, ETH_TYPE, IP_PROTO, CS, ctState, POLICY_ZONE, NX_CT_RECIRC_NONE, TABLE_ID, objectId, UNDERLAY_NET } from '../../controller/pipeline';
import { parseCidr, intToIp, maskOf } from '../../controller/ipv4';
import type { Ctx } from './context';

type Dir = 'egress' | 'ingress';
const TABLE = { egress: 'egressPolicy', ingress: 'ingressPolicy' } as const;
/** The address field of the local endpoint and of the peer, per direction. */
const LOCAL_FIELD = { egress: 'ipv4_src', ingress: 'ipv4_dst' } as const;
const PEER_FIELD = { egress: 'ipv4_dst', ingress: 'ipv4_src' } as const;

/**
 * ct in the zone of the packet's network (reg6[0..15]): networks whose
 * addresses overlap never share a connection entry. Continues in `table`.
 * With `nat`, a connection's NAT applies (a service's DNAT: a backend's
 * reply from the tunnel is un-DNATed, apps/container/service.ts).
 */
export const ctPolicy = (table: 'egressPolicy' | 'ingressPolicy', nat = false): Action =>
  ({ type: 'ct', flags: 0, ...POLICY_ZONE, recirc_table: TABLE_ID[table], alg: 0, actions: nat ? [{ type: 'nat', flags: 0 }] : [] });
const ctCommit: Action = { type: 'ct', flags: NX_CT_F_COMMIT, ...POLICY_ZONE, recirc_table: NX_CT_RECIRC_NONE, alg: 0, actions: [] };

type Match = [field: string, value: string | number, mask?: string][];
interface Clause { table: 'egressPolicy' | 'ingressPolicy'; offset: number; match: Match; conj: Action; owner: number }

/** Figures of the last computation, for tests and docs: rules, conjunctions and flows. */
export interface PolicyFlowStats { conjunctions: number; clauseFlows: number; flows: number }

/**
 * The policy tables' flows of one host. Clause flows with the same table,
 * priority and match are one flow with several conjunction actions (OVS
 * keeps one flow per match and priority).
 */
export function policyFlows(c: Ctx, stats?: PolicyFlowStats): FlowMod[] {
  if (!c.policy) return [];
  // the policies, every endpoint (peers) and which local ones have a port (selected); the rest is in the host's context deps
  if (!stats) return c.memo('policies', [c.s.policies, c.s.endpoints, c.local.map((e) => e.id).join()], () => policyFlowsOf(c));
  return policyFlowsOf(c, stats);
}

function policyFlowsOf(c: Ctx, stats?: PolicyFlowStats): FlowMod[] {
  const { s } = c;
  const policies = [...(s.policies ?? [])].sort(policyOrder);
  const owner = (id: number) => ({ category: 'policy' as const, id });
  const out: FlowMod[] = [];
  const stage = owner(objectId('policy-stage'));
  const pass = (t: 'egressPolicy' | 'ingressPolicy') => flow(t, stage);
  for (const t of ['egressPolicy', 'ingressPolicy'] as const) {
    out.push(
      pass(t).band('invalid').matchOxm(ctState(CS.trk | CS.inv)).build(),
      pass(t).band('reply').matchOxm(ctState(CS.trk | CS.rpl, CS.inv)).goto('policyCommit').build(),
      // established, original direction: passes unless a deny rule (above) matched it first
      pass(t).band('established').matchOxm(ctState(CS.trk | CS.est, CS.inv | CS.rpl)).goto(t === 'egressPolicy' ? 'ingressPolicy' : 'policyCommit').build(),
    );
  }
  // back to forwarding: from the tunnel to l2Forwarding (the sender's host routed it), from an endpoint to l3Forwarding
  const commit = (band: string, tun: number | undefined, isNew: boolean) => {
    // ct needs an IP match (OVS refuses it otherwise: OFPBAC_MATCH_INCONSISTENT)
    const b = flow('policyCommit', stage).band(band).match('eth_type', ETH_TYPE.ipv4);
    if (tun !== undefined) b.match('in_port', tun);
    if (isNew) b.matchOxm(ctState(CS.trk | CS.new));
    return b.actions(...(isNew ? [ctCommit] : []), { type: 'resubmit', in_port: 0xfff8, table: TABLE_ID[tun !== undefined ? 'l2Forwarding' : 'l3Forwarding'] }).build();
  };
  out.push(commit('fromEndpoint', undefined, false), commit('fromEndpointNew', undefined, true));
  // both tunnels: the plain one and the secure one (encrypted networks)
  for (const t of [c.tun, c.stun]) if (t !== undefined) out.push(commit('fromTunnel', t, false), commit('fromTunnelNew', t, true));

  const all = s.endpoints.filter((e) => e.state !== 'removed');
  const clauses: Clause[] = [];
  const isolated = new Set<string>();
  let conjId = 0;
  for (const p of policies) {
    const selected = c.local.filter((e) => policySelects(p, e));
    if (!selected.length) continue;
    const pOwner = objectId(`policy:${p.name}`);
    for (const dir of ['egress', 'ingress'] as const) {
      const rules = p[dir];
      if (!rules) continue;
      const table = TABLE[dir];
      // isolated: new connections no rule allowed are dropped (one flow per endpoint, however many policies select it)
      for (const e of selected) {
        for (const m of localMatches(c, e, dir)) {
          const key = `${table}|${JSON.stringify(m)}`;
          if (isolated.has(key)) continue;
          isolated.add(key);
          const b = flow(table, owner(objectId(`isolated:${e.id}`))).band('isolated').matchOxm(ctState(CS.trk | CS.new, CS.inv | CS.rpl));
          for (const [f, v, mask] of m) b.match(f, v, mask);
          out.push(b.build());
        }
      }
      rules.forEach((r, i) => {
        const dims = ruleDims(c, r, selected, dir, all);
        if (!dims) return; // peers that are no endpoint today: the rule matches nothing
        const id = ++conjId;
        // lower priority number first; at equal priority deny first
        const offset = 2 * (255 - p.priority) + (r.action === 'deny' ? 1 : 0);
        dims.forEach((flows, k) => {
          for (const match of flows) clauses.push({ table, offset, match, owner: pOwner, conj: { type: 'conjunction', id, clause: k, n_clauses: dims.length } });
        });
        const b = flow(table, owner(objectId(`policy:${p.name}:${dir}:${i}`))).band('rule', offset).match('conj_id', id);
        // allow: on to the next table (egress -> ingress -> commit); deny: dropped (the flow's counters count it)
        if (r.action === 'allow') b.goto(dir === 'egress' ? 'ingressPolicy' : 'policyCommit');
        out.push(b.build());
      });
    }
  }
  // clause flows of equal table, priority and match are one flow
  const merged = new Map<string, { c: Clause; conj: Action[] }>();
  for (const cl of clauses) {
    const key = `${cl.table}|${cl.offset}|${JSON.stringify(cl.match)}`;
    const m = merged.get(key);
    if (m) m.conj.push(cl.conj); else merged.set(key, { c: cl, conj: [cl.conj] });
  }
  for (const { c: cl, conj } of merged.values()) {
    const b = flow(cl.table, owner(cl.owner)).band('rule', cl.offset);
    for (const [f, v, mask] of cl.match) b.match(f, v, mask);
    out.push(b.actions(...conj).build());
  }
  if (stats) { stats.conjunctions = conjId; stats.clauseFlows = merged.size; stats.flows = out.length; }
  return out;
}

/**
 * How the policy tables see a local endpoint: egress by its network and
 * source address; ingress by destination address and the network the
 * packet is in there (its own, from the tunnel or the same network; a
 * local network that routes to it, before l3Forwarding).
 */
function localMatches(c: Ctx, e: EndpointRec, dir: Dir): Match[] {
  const ip: Match[number] = [LOCAL_FIELD[dir], e.ip];
  if (dir === 'egress') return [[[REG.network, e.networkId], ['eth_type', ETH_TYPE.ipv4], ip]];
  const n = c.s.networks.get(e.networkId);
  const nets = n ? c.routableFrom(n).map((x) => x.id).filter((id) => id !== UNDERLAY_NET) : [e.networkId];
  if (!nets.includes(e.networkId)) nets.unshift(e.networkId);
  return nets.map((id) => [[REG.network, id], ['eth_type', ETH_TYPE.ipv4], ip]);
}

/** A rule's clauses: the selected endpoints, then the peers and the ports when it has them; undefined if it can match nothing. */
function ruleDims(c: Ctx, r: PolicyRule, selected: EndpointRec[], dir: Dir, all: EndpointRec[]): Match[][] | undefined {
  const dims: Match[][] = [selected.flatMap((e) => localMatches(c, e, dir))];
  if (r.peers) {
    const peers = new Map<string, Match>();
    const nets = new Set(selected.map((e) => e.networkId));
    for (const p of r.peers) {
      if (p.cidr) {
        const cidr = parseCidr(p.cidr);
        const m: Match = [['eth_type', ETH_TYPE.ipv4], cidr.len === 32 ? [PEER_FIELD[dir], intToIp(cidr.base)] : [PEER_FIELD[dir], intToIp(cidr.base), maskOf(cidr.len)]];
        if (cidr.len === 0) m.pop();
        peers.set(JSON.stringify(m), m);
        continue;
      }
      // selector peers: endpoints of the selected endpoints' networks (addresses are unique per network)
      for (const e of all) {
        if (!nets.has(e.networkId) || !selects(p.selector!, e.labels)) continue;
        const m: Match = [[REG.network, e.networkId], ['eth_type', ETH_TYPE.ipv4], [PEER_FIELD[dir], e.ip]];
        peers.set(JSON.stringify(m), m);
      }
    }
    if (!peers.size) return undefined;
    dims.push([...peers.values()]);
  }
  if (r.ports) {
    const ports = new Map<string, Match>();
    for (const p of r.ports) {
      const m: Match = [['eth_type', ETH_TYPE.ipv4], ['ip_proto', IP_PROTO[p.protocol]]];
      if (p.port !== undefined) m.push([p.protocol === 'tcp' ? 'tcp_dst' : 'udp_dst', p.port]);
      ports.set(JSON.stringify(m), m);
    }
    dims.push([...ports.values()]);
  }
  if (dims.length === 1) dims.push([[['eth_type', ETH_TYPE.ipv4]]]);
  return dims;
}
