// What every container-flow module reads: the host's view of the cluster
// (HostState, assembled by the flow source from the store) and the facts
// derived from it once per computation (Ctx).
import type { Action, FlowMod } from '../../southbound/codec';
import { EndpointRec, NetworkRec, HostRec, PortMapping, PolicySpec, ServiceRec, endpointPort } from '../../controller/resources';
import { policySelects } from '../../controller/network-policy';
import type { Block } from '../../controller/ipam';
import type { BlockTree } from './cluster-view';
import { flow, GATEWAY_MAC, REG, derivedMac, UNDERLAY_NET, ETH_TYPE, Owner } from '../../controller/pipeline';
import { parseCidr, Cidr, intToIp, maskOf, overlaps } from '../../controller/ipv4';

export interface HostState {
  /** this host */
  host: string;
  hosts: Map<string, HostRec>;
  networks: Map<number, NetworkRec>;
  /** every endpoint in the cluster (local ones are those with host === this host) */
  endpoints: EndpointRec[];
  /**
   * An index (apps/container/cluster-view.ts): this host's endpoints, in
   * every state. Without it they are found among `endpoints`.
   */
  localEndpoints?: EndpointRec[];
  /**
   * An index: other hosts' endpoints that their host's blocks do not
   * describe (a requested MAC, an address outside their host's blocks), or
   * any superset of them (each module checks); without it, `endpoints`.
   */
  remoteEndpoints?: EndpointRec[];
  /** A cache of this host's flows by item, kept from one computation to the next (none: every flow is computed). */
  cache?: FlowCache;
  blocks: Block[];
  /**
   * An index: the blocks in a tree of fixed buckets whose arrays keep their
   * identity while nothing under them changed (cluster-view.ts, depth
   * BLOCK_TREE_DEPTH), so flows over other hosts' blocks are kept by node.
   * Without it, one leaf: blocks.
   */
  blockTree?: BlockTree;
  /** OpenFlow port number of a bridge port by name, if it exists yet */
  ofport(name: string): number | undefined;
  tunnelPort?: number;
  /** br-int's secure tunnel port (SECURE_TUNNEL_PORT), once the host's IPsec agent made it */
  secureTunnelPort?: number;
  /** the secure VTEP range (--ipsec-vtep-cidr): br-phy never hands cleartext aimed into it to the host */
  ipsecVtepCidr?: string;
  /** the controller probes tunnels (apps/tunnel-prober.ts): punt other hosts' probes to it */
  tunnelProbes?: boolean;
  /** the bridge's patch port to the other bridge (br-int: patch-phy; br-phy: patch-int) */
  patchPort?: number;
  /** MAC of a host's br-phy, while it is connected (routed mode, NAT) */
  phyMac?(host: string): string | undefined;
  /** MAC of a host's uplink (br-phy's uplink port), while br-phy is connected: shared-MAC underlay endpoints appear behind it */
  uplinkMac?(host: string): string | undefined;
  /** ports published on this host */
  mappings?: PortMapping[];
  /** br-phy's uplink port (SNAT output) */
  uplinkPort?: number;
  /** next-hop MACs resolved by the controller for SNAT, by IPv4 address */
  neighbors?: ReadonlyMap<string, string>;
  /** network policies (all of them: they select by labels, cluster-wide) */
  policies?: PolicySpec[];
  /** services (all of them: a host balances those of its endpoints' networks) */
  services?: ServiceRec[];
}

/**
 * Flows of one item (an endpoint, a block, a network...) computed by `f`,
 * or the ones computed before for the same key if each of `deps` is the
 * same (===) as then. Everything else `f` reads must be in the host's
 * context deps (containerFlows).
 */
export type Memo = (key: ItemKey, deps: readonly unknown[], f: () => FlowMod[]) => FlowMod[];
/**
 * An item's key among its siblings: a string, or (cheaper to look up, as
 * when a section asks for each of a thousand blocks in every computation)
 * a number or the record itself, while it keeps its identity.
 */
export type ItemKey = string | number | object;
/** No cache: compute every time. */
export const NO_MEMO: Memo = (_k, _d, f) => f();

function sameDeps(a: readonly unknown[] | undefined, b: readonly unknown[]): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Flows of merged deltas kept for the next take at most (beyond: compare everything). */
const MAX_PENDING = 50_000;

/** A memoised item: its deps, its flows, and the items it asked for itself (nested memos). */
interface CacheEntry { deps: readonly unknown[]; flows: FlowMod[]; children?: Map<ItemKey, CacheEntry> }

/**
 * What a computation changed, by flow object: the flows of the items it
 * computed anew, and of the items they replaced or that went. `full`: the
 * context changed (nothing was kept), or an item broke the rule below:
 * compare everything.
 */
export interface FlowDelta { full: boolean; added: FlowMod[]; removed: FlowMod[] }

/**
 * One host bridge's flows by item, from one computation to the next. A
 * computation begins with the host's context deps (what every item may
 * read: when one differs, nothing is kept), asks each item through memo,
 * and ends by forgetting the items it did not ask for (gone ones).
 *
 * Items nest: an item whose function asks for others (a section over every
 * remote block, say) keeps them as its children, and its flows must be
 * exactly theirs, in order. When the section is reused, its children are
 * kept with it untouched, so a sync in which no block changed costs one
 * lookup for all of them, not one per block; when it is computed again,
 * its children are looked up among its old ones.
 *
 * Each computation also records its delta (FlowDelta): the reconciler then
 * touches only the flows that changed, not every flow of the bridge.
 */
export class FlowCache {
  private deps?: readonly unknown[];
  private cur = new Map<ItemKey, CacheEntry>();
  private next = new Map<ItemKey, CacheEntry>();
  /** the scopes of the items being computed (innermost last): where their children are looked up and kept */
  private readonly scopes: { cur: Map<ItemKey, CacheEntry>; next: Map<ItemKey, CacheEntry> }[] = [];
  private delta: FlowDelta = { full: true, added: [], removed: [] };
  /** the deltas of the computations since the last take, merged (a flow added then removed again is in neither) */
  private pending = { full: true, added: new Set<FlowMod>(), removed: new Set<FlowMod>() };
  /** items computed and items reused, since the cache was made */
  computed = 0;
  reused = 0;

  begin(deps: readonly unknown[]): void {
    const keep = sameDeps(this.deps, deps);
    if (!keep) this.cur.clear();
    this.deps = deps;
    this.next = new Map();
    this.scopes.length = 0;
    this.scopes.push({ cur: this.cur, next: this.next });
    this.delta = { full: !keep, added: [], removed: [] };
  }

  readonly memo: Memo = (key, deps, f) => {
    const scope = this.scopes[this.scopes.length - 1];
    if (!scope) return f(); // outside begin/end
    const e = scope.cur.get(key);
    if (e && sameDeps(e.deps, deps)) {
      scope.next.set(key, e);
      this.reused++;
      return e.flows;
    }
    const inner = { cur: e?.children ?? new Map<ItemKey, CacheEntry>(), next: new Map<ItemKey, CacheEntry>() };
    this.scopes.push(inner);
    let flows: FlowMod[];
    try { flows = f(); } finally { this.scopes.pop(); }
    const n: CacheEntry = { deps, flows, ...(inner.next.size ? { children: inner.next } : {}) };
    scope.next.set(key, n);
    this.computed++;
    if (!this.delta.full) {
      // the old item's own flows go, the new one's come; its old children not asked for again go (those asked for saw to their own)
      if (e && !e.children) for (const x of e.flows) this.delta.removed.push(x);
      for (const [k, c] of inner.cur) if (!inner.next.has(k)) this.gone(c);
      if (n.children) {
        // a section: its flows are its children's (the rule above), or the delta cannot be trusted
        let count = 0;
        for (const c of n.children.values()) count += c.flows.length;
        if (count !== flows.length) this.delta.full = true;
      } else {
        for (const x of flows) this.delta.added.push(x);
      }
    }
    return flows;
  };

  /** An item that went: its flows, or its children's. */
  private gone(e: CacheEntry): void {
    if (!e.children) { for (const x of e.flows) this.delta.removed.push(x); return; }
    for (const c of e.children.values()) this.gone(c);
  }

  /** `total`: how many flows the computation returned; unless they are all its items', the delta is not trusted. */
  end(total?: number): void {
    if (total !== undefined && !this.delta.full) {
      let count = 0;
      for (const e of this.next.values()) count += e.flows.length;
      if (count !== total) this.delta.full = true;
    }
    if (!this.delta.full) for (const [k, e] of this.cur) if (!this.next.has(k)) this.gone(e);
    this.cur = this.next;
    this.scopes.length = 0;
    // merged into what the next take returns (too much to merge: compare everything then)
    const p = this.pending;
    if (this.delta.full || p.full || p.added.size + p.removed.size + this.delta.added.length + this.delta.removed.length > MAX_PENDING) {
      this.pending = { full: true, added: new Set(), removed: new Set() };
    } else {
      for (const x of this.delta.removed) if (!p.added.delete(x)) p.removed.add(x);
      for (const x of this.delta.added) if (!p.removed.delete(x)) p.added.add(x);
    }
  }

  /** What the computations since the last take changed, merged. Full: compare everything. */
  take(): FlowDelta {
    const p = this.pending;
    this.pending = { full: false, added: new Set(), removed: new Set() };
    return { full: p.full, added: [...p.added], removed: [...p.removed] };
  }
}

/**
 * Flows that are the same on every host that sees an item alike (another
 * host's block, say), kept once for all of them: at 1000 hosts, each host
 * holding its own copy of every remote block's route was most of the heap,
 * and computing them again most of a restart. `item` is the object they are
 * of (kept while it lives), `deps` every other object they read (compared by
 * identity: when one differs they are computed again), and `view` what the
 * host's context adds to them (its ports, its source networks) as a string:
 * everything else the function reads must be in one of those. Flows are
 * never mutated once built, so sharing the objects is safe (and the
 * reconciler's keys, bodies and rounded copies are shared with them).
 */
const sharedFlows = new WeakMap<object, { deps: readonly unknown[]; byView: Map<string, FlowMod[]> }>();
function sharedAcrossHosts(item: object, deps: readonly unknown[], view: string, f: () => FlowMod[]): FlowMod[] {
  let e = sharedFlows.get(item);
  if (!e || !sameDeps(e.deps, deps)) sharedFlows.set(item, (e = { deps, byView: new Map() }));
  let flows = e.byView.get(view);
  if (!flows) e.byView.set(view, (flows = f()));
  return flows;
}

/** This host's endpoints, in every state. */
export const localEndpointsOf = (s: HostState): EndpointRec[] => s.localEndpoints ?? s.endpoints.filter((e) => e.host === s.host);
/** Other hosts' endpoints, or a superset holding every one their host's blocks do not describe. */
export const remoteEndpointsOf = (s: HostState): EndpointRec[] => s.remoteEndpoints ?? s.endpoints;

export interface Ctx {
  s: HostState;
  memo: Memo;
  /** Flows shared by every host that sees an item alike (sharedAcrossHosts); computed anew without a cache (from scratch). */
  shared(item: object, deps: readonly unknown[], view: string, f: () => FlowMod[]): FlowMod[];
  /** an endpoint's port: the one OVS has, or (not there yet) the number it asked OVS for */
  portOf(e: EndpointRec): number | undefined;
  /** endpoints of this host that have a port */
  local: EndpointRec[];
  localNets: NetworkRec[];
  localNetIds: Set<number>;
  cidr: Map<number, Cidr>;
  /** this host carries a routed network and has its patch to br-phy */
  routed: boolean;
  myPhyMac?: string;
  /** this host's uplink MAC (shared-MAC underlay networks) */
  myUplinkMac?: string;
  tun?: number;
  /** the secure tunnel port (encrypted networks) */
  stun?: number;
  /** the policy stage is on: some local endpoint is selected by a policy (apps/container/policy.ts) */
  policy: boolean;
  /** services of this host's networks (apps/container/service.ts) */
  services: ServiceRec[];
  /** the networks of those services: their endpoints' IPv4 goes through serviceLB */
  serviceNets: Set<number>;
  /** Source networks on this host that may route to n: itself, any whose CIDR does not overlap, and for a routed network the underlay. */
  routableFrom(n: NetworkRec): NetworkRec[];
  /**
   * Actions that send a packet of network n through the tunnel to a host:
   * an encrypted network's through the secure tunnel to the host's VTEP, or
   * nowhere (undefined) while either side lacks it: never in clear.
   */
  tunnelTo(n: NetworkRec, h: HostRec): Action[] | undefined;
  /** The tunnel port network n arrives on: the secure one for an encrypted network. */
  tunnelPortOf(n: NetworkRec): number | undefined;
  /** A routing flow from src into dst for ip/len: TTL-1, gateway MAC as source, dst's MAC (given, or derived from the address), then `to`. */
  route(src: NetworkRec, dst: NetworkRec, owner: Owner, ip: string, len: number, to: Action[], mac?: string): FlowMod;
}

/** The underlay as a source network of routed traffic (reg6 = UNDERLAY_NET). */
export const UNDERLAY_SRC = { id: UNDERLAY_NET } as NetworkRec;

export function context(s: HostState): Ctx {
  const portOf = (e: EndpointRec) => endpointPort(e, s.ofport);
  const local = localEndpointsOf(s).filter((e) => e.host === s.host && e.state !== 'removed' && portOf(e) !== undefined);
  const localNets = [...new Set(local.map((e) => e.networkId))].map((id) => s.networks.get(id)).filter((n): n is NetworkRec => !!n);
  const cidr = new Map<number, Cidr>();
  for (const n of s.networks.values()) cidr.set(n.id, parseCidr(n.cidr));
  const routed = localNets.some((n) => n.mode === 'routed') && s.patchPort !== undefined;
  const tun = s.tunnelPort;
  const localNetIds = new Set(localNets.map((n) => n.id));
  const services = (s.services ?? []).filter((x) => localNetIds.has(x.networkId) && s.networks.get(x.networkId)?.mode !== 'underlay');
  const stun = s.secureTunnelPort;
  return {
    s, memo: s.cache?.memo ?? NO_MEMO, shared: s.cache ? sharedAcrossHosts : (_i, _d, _v, f) => f(), portOf, local, localNets, localNetIds, cidr, routed, tun, stun, services, serviceNets: new Set(services.map((x) => x.networkId)),
    policy: !!s.policies?.length && local.some((e) => s.policies!.some((p) => policySelects(p, e))),
    myPhyMac: s.phyMac?.(s.host),
    myUplinkMac: s.uplinkMac?.(s.host),
    routableFrom: (n) => [
      ...localNets.filter((src) => src.id === n.id || !overlaps(cidr.get(src.id)!, cidr.get(n.id)!)),
      ...(n.mode === 'routed' && routed ? [UNDERLAY_SRC] : []),
    ],
    tunnelTo: (n, h) => {
      const port = n.encrypted ? stun : tun;
      const dst = n.encrypted ? h.ipsecVtep : h.underlayIp;
      if (port === undefined || !dst) return undefined;
      return [
        { type: 'set_field', field: { field: 'tunnel_id', value: BigInt(n.vni) } },
        { type: 'set_field', field: { field: 'tun_ipv4_dst', value: dst } },
        { type: 'output', port },
      ];
    },
    tunnelPortOf: (n) => (n.encrypted ? stun : tun),
    route: (src, dst, owner, ip, len, to, mac) => {
      const b = flow('l3Forwarding', owner).band(len === 32 ? 'exact' : 'block')
        .match(REG.network, src.id).match('eth_type', ETH_TYPE.ipv4).match('eth_dst', GATEWAY_MAC);
      if (len === 32) b.match('ipv4_dst', ip); else b.match('ipv4_dst', ip, maskOf(len));
      return b.actions(...decTtlFromGateway(), ...(mac ? [setField('eth_dst', mac)] : deriveDstMac(dst.id)), ...to).build();
    },
  };
}

export const setField = (field: string, value: string | number | bigint): Action => ({ type: 'set_field', field: { field, value } });
export const move = (src: string, dst: string, n_bits: number, dst_ofs = 0): Action => ({ type: 'reg_move', src, src_ofs: 0, dst, dst_ofs, n_bits });
export const output = (port: number): Action => ({ type: 'output', port });

/** A routed packet: TTL-1 and the gateway MAC as its source. */
export const decTtlFromGateway = (): Action[] => [{ type: 'dec_nw_ttl' }, setField('eth_src', GATEWAY_MAC)];
/** The destination MAC derived from the destination address in network n (its low 32 bits are the address). */
export const deriveDstMac = (networkId: number): Action[] => [setField('eth_dst', derivedMac(networkId, '0.0.0.0')), move('ipv4_dst', 'eth_dst', 32)];
/** The CIDR of a network as an ipv4 match value and mask. */
export const cidrMatch = (c: Cidr): [string, string] => [intToIp(c.base), maskOf(c.len)];

