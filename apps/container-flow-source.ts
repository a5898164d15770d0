// Container networking as a flow source: for a registered host's bridge
// (br-int or br-phy), the host's view of the cluster assembled from the
// store and the switches, turned into the flows the reconciler installs.
import type { FlowMod } from '../southbound/codec';
import type { Connection } from '../southbound/channel';
import type { FlowSource, MeterSpec, GroupSpec } from '../controller/reconciler';
import type { Resources, HostRec, NetworkRec, EndpointRec, PolicyRec, ServiceRec, PortMapping } from '../controller/resources';
import type { Ipam, Block } from '../controller/ipam';
import type { EventBus } from '../controller/events';
import { TUNNEL_PORT, SECURE_TUNNEL_PORT, PATCH_PORT, PHY_PATCH_PORT, uplinkOf, bridgeMac } from '../controller/pipeline';
import { containerFlows, containerGroups, phyFlows, FlowCache, HostState } from './container-network';
import { ClusterView, BlockTree } from './container/cluster-view';
import { tunnelProbeMeter } from './container/tunnel-probe';

export interface ContainerState {
  resources: Resources;
  ipam: Ipam;
  connOf(dpid: string): Connection | undefined;
  /** encrypted networks' VTEP range (controller/ipsec.ts) */
  ipsec?: { vtepCidr: { text: string } };
  /** the events that tell the flow source what changed in the store (without: it re-reads the store for every computation) */
  bus?: EventBus;
}

export class ContainerFlowSource implements FlowSource {
  constructor(
    private readonly state: ContainerState,
    /** next hops resolved for a host (apps/next-hop-resolver.ts) */
    private readonly neighbors: (host: string) => ReadonlyMap<string, string> | undefined,
    /** the controller probes tunnels every this many ms (0: it does not): br-int punts other hosts' probes through a meter (apps/tunnel-prober.ts) */
    private readonly tunnelProbeMs = 0,
  ) {
    this.view = new ClusterView(state.resources, state.ipam, state.bus);
  }

  /** br-int's probe meter, while probes are on and it has its tunnel port. */
  desiredMeters(dpid: string): MeterSpec[] {
    if (!this.tunnelProbeMs) return [];
    const v = this.cluster();
    const host = v.hostByDpid(dpid);
    if (!host || !this.state.connOf(dpid)?.ports.some((p) => p.name === TUNNEL_PORT)) return [];
    return [tunnelProbeMeter(host.name, v.hosts.values(), this.tunnelProbeMs)];
  }

  /** MAC of a host's br-phy (its LOCAL port), while that bridge is connected. */
  private phyMac(h: HostRec): string | undefined {
    return h.phyDpid ? bridgeMac(this.state.connOf(h.phyDpid)?.ports ?? []) : undefined;
  }

  /** MAC of a host's uplink (br-phy's uplink port), while br-phy is connected. */
  private uplinkMac(h: HostRec): string | undefined {
    const ports = h.phyDpid ? this.state.connOf(h.phyDpid)?.ports ?? [] : [];
    const up = uplinkOf(ports);
    return up === undefined ? undefined : ports.find((p) => p.port_no === up)?.hw_addr;
  }

  /** The cluster in memory, kept up to date by the bus's events (apps/container/cluster-view.ts). */
  private readonly view: ClusterView;
  /** Each br-int's flows by item, from one computation to the next. */
  private readonly caches = new Map<string, FlowCache>();

  /** The view reads the cluster on first use; without a bus it cannot follow changes, and re-reads it for every computation. */
  private cluster(): ClusterView {
    if (!this.state.bus) this.view.reload();
    return this.view.load();
  }

  /**
   * A bridge's flows computed from the store alone, without the view or the
   * caches: what desiredFlows must equal (the unit tests compare them).
   */
  scratchFlows(dpid: string): FlowMod[] {
    return this.compute(dpid, this.storeCluster());
  }

  /** A bridge's groups computed from the store alone (the unit tests compare them with desiredGroups). */
  scratchGroups(dpid: string): GroupSpec[] {
    const st = this.hostState(dpid, this.storeCluster());
    return st && !st.phy ? containerGroups(st.state) : [];
  }

  /** The cluster read from the store, without the view's indexes or a cache. */
  private storeCluster(): ClusterInput {
    const { resources, ipam } = this.state;
    const endpoints = resources.endpoints();
    return {
      hosts: new Map(resources.hosts().map((h) => [h.name, h])), networks: new Map(resources.networks().map((n) => [n.id, n])),
      endpoints: () => endpoints, blocks: [...ipam.allBlocks()], policies: resources.policies(), services: resources.services(),
    };
  }

  /**
   * Forget the view and the caches: the next computation reads the store
   * in full. For a change of the store that came with no event (the view
   * follows endpoint, host, network and policy events only).
   */
  refresh(): void {
    this.view.reload();
    this.caches.clear();
  }

  /** What a bridge's desired flows changed since the last take (its cache's merged deltas; none for br-phy: compare everything). */
  takeDelta(dpid: string): { full: boolean; added: FlowMod[]; removed: FlowMod[] } | undefined {
    return this.caches.get(dpid)?.take();
  }

  /** How many items a br-int's cache computed and reused since it was made (tests, benches). */
  cacheStats(dpid: string): { computed: number; reused: number } | undefined {
    const c = this.caches.get(dpid);
    return c && { computed: c.computed, reused: c.reused };
  }

  desiredFlows(dpid: string): FlowMod[] {
    const v = this.cluster();
    const host = v.hostByDpid(dpid);
    let cache = this.caches.get(dpid);
    if (!host) this.caches.delete(dpid);
    else if (!cache) this.caches.set(dpid, (cache = new FlowCache()));
    return this.compute(dpid, { ...this.viewCluster(v), cache });
  }

  /** br-int's select groups (services); none on br-phy. */
  desiredGroups(dpid: string): GroupSpec[] {
    const v = this.cluster();
    if (!v.services.length) return []; // (groups are services': with none, no host state to assemble per sync)
    const st = this.hostState(dpid, this.viewCluster(v));
    return st && !st.phy ? containerGroups(st.state) : [];
  }

  private viewCluster(v: ClusterView): ClusterInput {
    return {
      hosts: v.hosts, networks: v.networks, endpoints: () => v.all(), blocks: v.blocks, blockTree: v.blockTree, policies: v.policies, services: v.services,
      local: (h) => v.local(h), remote: () => v.remote(), mappings: (h) => v.mappings(h), byDpid: (d) => v.hostByDpid(d), byPhyDpid: (d) => v.hostByPhyDpid(d),
    };
  }

  private compute(dpid: string, cl: ClusterInput): FlowMod[] {
    const st = this.hostState(dpid, cl);
    if (!st) return [];
    return st.phy ? phyFlows(st.state) : containerFlows(st.state);
  }

  /** A bridge's host's view of the cluster (phy: the bridge is the host's br-phy), or undefined when the bridge is no host's. */
  private hostState(dpid: string, cl: ClusterInput): { phy: boolean; state: HostState } | undefined {
    const { resources, connOf } = this.state;
    const phyHost = cl.byPhyDpid ? cl.byPhyDpid(dpid) : resources.hostByPhyDpid(dpid);
    const host = phyHost ?? (cl.byDpid ? cl.byDpid(dpid) : resources.hostByDpid(dpid));
    if (!host) return undefined;
    const c = connOf(dpid);
    const ports = new Map((c?.ports ?? []).map((p) => [p.name, p.port_no]));
    const base = {
      host: host.name,
      hosts: cl.hosts,
      networks: cl.networks,
      localEndpoints: cl.local?.(host.name),
      blocks: cl.blocks,
      blockTree: cl.blockTree,
      mappings: cl.mappings ? cl.mappings(host.name) : resources.portMappings({ host: host.name }),
      policies: cl.policies,
      services: cl.services,
      ofport: (name: string) => ports.get(name),
      tunnelPort: ports.get(TUNNEL_PORT),
      secureTunnelPort: ports.get(SECURE_TUNNEL_PORT),
      ipsecVtepCidr: this.state.ipsec?.vtepCidr.text,
      tunnelProbes: this.tunnelProbeMs > 0,
      phyMac: (name: string) => { const h = cl.hosts.get(name); return h ? this.phyMac(h) : undefined; },
      uplinkMac: (name: string) => { const h = cl.hosts.get(name); return h ? this.uplinkMac(h) : undefined; },
    };
    // every endpoint: only policies read them all (and only then does the view sort them)
    const withAll = <T extends object>(o: T): T & { endpoints: EndpointRec[] } => Object.defineProperty(o, 'endpoints', { get: cl.endpoints, enumerable: true }) as T & { endpoints: EndpointRec[] };
    if (phyHost) return { phy: true, state: withAll({ ...base, patchPort: ports.get(PHY_PATCH_PORT), uplinkPort: c && uplinkOf(c.ports), neighbors: this.neighbors(host.name) }) };
    return { phy: false, state: withAll({ ...base, patchPort: ports.get(PATCH_PORT), remoteEndpoints: cl.remote?.(), cache: cl.cache }) };
  }
}

/** The cluster a host's computation reads: the view's (with its indexes and a cache) or the store's. */
interface ClusterInput {
  hosts: Map<string, HostRec>; networks: Map<number, NetworkRec>; endpoints: () => EndpointRec[]; blocks: Block[]; blockTree?: BlockTree; policies: PolicyRec[]; services: ServiceRec[];
  local?: (host: string) => EndpointRec[]; remote?: () => EndpointRec[]; mappings?: (host: string) => PortMapping[]; cache?: FlowCache;
  byDpid?: (dpid: string) => HostRec | undefined; byPhyDpid?: (dpid: string) => HostRec | undefined;
}
