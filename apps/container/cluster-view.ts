// The cluster as every host's flow computation reads it, kept in memory and
// brought up to date by the bus events that change it (an endpoint, host,
// network, policy or service created, changed or deleted) instead of re-read from
// the store after every write: with 100k endpoints, re-reading them all
// for each attach is what an attach cost.
//
// Besides the records, it keeps the indexes that let a host's computation
// skip the rest of the cluster: each host's endpoints, and the endpoints
// other hosts must route to one by one (a requested MAC, or an address
// outside their host's blocks: the "exceptions"; every other endpoint is
// reached through its host's block). Records that did not change keep their
// identity from one read to the next, so a per-item flow cache
// (apps/container-network.ts) can tell what changed by identity.
import type { EventBus, WeftEvent } from '../../controller/events';
import type { Resources, HostRec, NetworkRec, EndpointRec, PolicyRec, ServiceRec, PortMapping } from '../../controller/resources';
import { blockOf, Ipam, Block } from '../../controller/ipam';
import { ipToInt } from '../../controller/ipv4';
import { isDerived } from '../../controller/pipeline';

const byCreation = (a: EndpointRec, b: EndpointRec) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Keep the old record where the new one is equal (identity means "unchanged"). */
function keep<K, V>(old: Map<K, V> | undefined, fresh: Map<K, V>): Map<K, V> {
  if (!old) return fresh;
  for (const [k, v] of fresh) { const o = old.get(k); if (o !== undefined && same(o, v)) fresh.set(k, o); }
  return fresh;
}

/**
 * The blocks in a tree of fixed buckets, BLOCK_FANOUT wide and
 * BLOCK_TREE_DEPTH deep (512 leaves): a node keeps its array while nothing
 * under it changed, so a claim recomputes one path on each host (8 + 8 + 8
 * lookups and one leaf's few blocks) instead of a lookup per bucket or per
 * block: at 1000 hosts a claim makes every host compute, and those lookups
 * were most of it.
 */
export const BLOCK_FANOUT = 8;
export const BLOCK_TREE_DEPTH = 3;
/** A node: its children (inner nodes), or its blocks (a leaf, at depth 0). */
export type BlockTree = BlockTree[] | Block[];

const sameArray = <T>(a: readonly T[] | undefined, b: readonly T[]): boolean =>
  !!a && a.length === b.length && a.every((x, i) => x === b[i]);

/** The blocks by leaf (network and base hashed; in the blocks' order), each node of `old` kept where nothing under it changed. */
export function blockTree(blocks: Block[], old?: BlockTree): BlockTree {
  const leaves: Block[][] = Array.from({ length: BLOCK_FANOUT ** BLOCK_TREE_DEPTH }, () => []);
  const bits = Math.log2(leaves.length);
  for (const b of blocks) leaves[(Math.imul(b.networkId, 0x9e3779b1) ^ Math.imul(b.base, 0x85ebca6b)) >>> (32 - bits)]!.push(b);
  let at = 0;
  const build = (depth: number, was: BlockTree | undefined): BlockTree => {
    if (depth === 0) { const leaf = leaves[at++]!; return sameArray(was as Block[] | undefined, leaf) ? was! : leaf; }
    const node: BlockTree[] = [];
    for (let i = 0; i < BLOCK_FANOUT; i++) node.push(build(depth - 1, (was as BlockTree[] | undefined)?.[i]));
    return sameArray(was as BlockTree[] | undefined, node) ? was! : node;
  };
  return build(BLOCK_TREE_DEPTH, old);
}

export class ClusterView {
  hosts = new Map<string, HostRec>();
  networks = new Map<number, NetworkRec>();
  blocks: Block[] = [];
  /** what Ipam gave last (its array is kept until a block changes) */
  private storedBlocks?: readonly Block[];
  /** the blocks in a tree of fixed buckets (by network and base): a node keeps its array while nothing under it changed */
  blockTree: BlockTree = blockTree([]);
  policies: PolicyRec[] = [];
  services: ServiceRec[] = [];
  private readonly endpoints = new Map<string, EndpointRec>();
  private readonly byHost = new Map<string, Set<EndpointRec>>();
  /** endpoints other hosts reach one by one (see above) */
  private readonly exceptions = new Set<EndpointRec>();
  private sortedAll?: EndpointRec[];
  private sortedRemote?: EndpointRec[];
  private readonly sortedLocal = new Map<string, EndpointRec[]>();
  /** each host's published ports, read on first use after a change of its endpoints (they come and go with them) */
  private readonly mappingsByHost = new Map<string, PortMapping[]>();
  /** bumped by every change of an endpoint (policies read them all) */
  endpointsVersion = 0;
  private loaded = false;

  constructor(private readonly resources: Resources, private readonly ipam: Ipam, bus?: EventBus) {
    bus?.on('*', (e) => this.onEvent(e));
  }

  /** Read everything again (at start, and after an event this view cannot apply one by one). */
  reload(): void {
    this.hosts = keep(this.hosts, new Map(this.resources.hosts().map((h) => [h.name, h])));
    this.dpids = undefined;
    this.networks = keep(this.networks, new Map(this.resources.networks().map((n) => [n.id, n])));
    this.policies = this.resources.policies();
    this.services = this.resources.services();
    this.mappingsByHost.clear();
    const fresh = new Map(this.resources.endpoints().map((e) => [e.id, e]));
    for (const id of [...this.endpoints.keys()]) if (!fresh.has(id)) this.dropEndpoint(id);
    this.blocks = this.freshBlocks();
    for (const e of fresh.values()) this.putEndpoint(e);
    this.loaded = true;
  }

  /** Read everything on first use. */
  load(): this {
    if (!this.loaded) this.reload();
    return this;
  }

  private dpids?: { int: Map<string, HostRec>; phy: Map<string, HostRec> };
  private indexDpids(): NonNullable<ClusterView['dpids']> {
    this.load();
    if (!this.dpids) {
      const int = new Map<string, HostRec>(), phy = new Map<string, HostRec>();
      for (const h of this.hosts.values()) { int.set(h.dpid, h); if (h.phyDpid) phy.set(h.phyDpid, h); }
      this.dpids = { int, phy };
    }
    return this.dpids;
  }

  /** The host whose br-int this is. */
  hostByDpid(dpid: string): HostRec | undefined {
    return this.indexDpids().int.get(dpid);
  }

  /** The host whose br-phy this is. */
  hostByPhyDpid(dpid: string): HostRec | undefined {
    return this.indexDpids().phy.get(dpid);
  }

  /** The blocks as the store has them, old objects kept where unchanged (and the old array, when none changed: sections of flows over the blocks are kept by its identity). */
  private freshBlocks(): Block[] {
    // the same array as last time: no block changed (Ipam keeps it until one does)
    const stored = this.ipam.allBlocks();
    if (stored === this.storedBlocks) return this.blocks;
    this.storedBlocks = stored;
    const old = new Map(this.blocks.map((b) => [`${b.networkId}/${b.base}/${b.len}/${b.host}`, b]));
    // (frozen: blockOf indexes a frozen list once)
    const fresh = Object.freeze(stored.map((b) => old.get(`${b.networkId}/${b.base}/${b.len}/${b.host}`) ?? b)) as Block[];
    if (fresh.length === this.blocks.length && fresh.every((b, i) => b === this.blocks[i])) return this.blocks;
    this.blockTree = blockTree(fresh, this.blockTree);
    return fresh;
  }

  private onEvent(e: WeftEvent): void {
    if (!this.loaded) return; // read in full on first use
    switch (e.type) {
      case 'endpoint.created': case 'endpoint.deleted': {
        // a block may have been claimed or released with it
        this.mappingsByHost.delete(e.endpoint.host);
        this.refreshEndpoint(e.endpoint.id);
        this.refreshBlocks();
        break;
      }
      case 'endpoint.updated': case 'endpoint.ready':
        this.mappingsByHost.delete(e.endpoint.host);
        this.refreshEndpoint(e.endpoint.id);
        break;
      case 'host.registered': case 'host.unregistered':
        // unregistering a host releases its blocks
        this.hosts = keep(this.hosts, new Map(this.resources.hosts().map((h) => [h.name, h])));
        this.dpids = undefined;
        this.mappingsByHost.delete(e.name);
        this.refreshBlocks();
        break;
      case 'network.created': case 'network.deleted':
        this.networks = keep(this.networks, new Map(this.resources.networks().map((n) => [n.id, n])));
        this.refreshBlocks();
        break;
      case 'policy.created': case 'policy.updated': case 'policy.deleted':
        this.policies = this.resources.policies();
        break;
      case 'service.created': case 'service.deleted':
        this.services = this.resources.services();
        break;
      default:
    }
  }

  private refreshEndpoint(id: string): void {
    const e = this.resources.endpoint(id);
    if (e) this.putEndpoint(e); else this.dropEndpoint(id);
  }

  private refreshBlocks(): void {
    const before = this.blocks;
    this.blocks = this.freshBlocks();
    const now = new Set(this.blocks), was = new Set(before);
    const changed = [...before.filter((b) => !now.has(b)), ...this.blocks.filter((b) => !was.has(b))];
    if (!changed.length) return;
    // an endpoint in a block that changed hands may become (or stop being) an exception
    for (const e of this.endpoints.values()) {
      const ip = ipToInt(e.ip);
      if (changed.some((b) => b.networkId === e.networkId && ip >= b.base && ip < b.base + 2 ** (32 - b.len))) this.classify(e);
    }
  }

  private classify(e: EndpointRec): void {
    const was = this.exceptions.has(e);
    const is = !isDerived(e) || blockOf(this.blocks, e.networkId, ipToInt(e.ip))?.host !== e.host;
    if (was === is) return;
    if (is) this.exceptions.add(e); else this.exceptions.delete(e);
    this.sortedRemote = undefined;
  }

  private putEndpoint(e: EndpointRec): void {
    const old = this.endpoints.get(e.id);
    if (old && same(old, e)) return;
    if (old) this.dropEndpoint(e.id);
    this.endpoints.set(e.id, e);
    let h = this.byHost.get(e.host);
    if (!h) this.byHost.set(e.host, (h = new Set()));
    h.add(e);
    this.sortedLocal.delete(e.host);
    this.sortedAll = undefined;
    this.endpointsVersion++;
    this.classify(e);
  }

  private dropEndpoint(id: string): void {
    const e = this.endpoints.get(id);
    if (!e) return;
    this.endpoints.delete(id);
    this.byHost.get(e.host)?.delete(e);
    this.sortedLocal.delete(e.host);
    if (this.exceptions.delete(e)) this.sortedRemote = undefined;
    this.sortedAll = undefined;
    this.endpointsVersion++;
  }

  /** The ports published on a host. */
  mappings(host: string): PortMapping[] {
    this.load();
    let m = this.mappingsByHost.get(host);
    if (!m) this.mappingsByHost.set(host, (m = this.resources.portMappings({ host })));
    return m;
  }

  /** Every endpoint, in the store's order (created, then id). */
  all(): EndpointRec[] {
    this.load();
    return (this.sortedAll ??= [...this.endpoints.values()].sort(byCreation));
  }

  /** The endpoints of a host, in the store's order. */
  local(host: string): EndpointRec[] {
    this.load();
    let l = this.sortedLocal.get(host);
    if (!l) this.sortedLocal.set(host, (l = [...(this.byHost.get(host) ?? [])].sort(byCreation)));
    return l;
  }

  /** The endpoints other hosts reach one by one, in the store's order (any host's: the callers skip their own). */
  remote(): EndpointRec[] {
    this.load();
    return (this.sortedRemote ??= [...this.exceptions].sort(byCreation));
  }
}
