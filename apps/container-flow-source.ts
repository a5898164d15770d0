// Container networking as a flow source: for a registered host's bridge
// (br-int or br-phy), the host's view of the cluster assembled from the
// store and the switches, turned into the flows the reconciler installs.
import type { FlowMod } from '../southbound/codec';
import type { Connection } from '../southbound/channel';
import type { FlowSource, MeterSpec, GroupSpec } from '../controller/reconciler';
import type { Resources, HostRec, NetworkRec, EndpointRec, ServiceRec } from '../controller/resources';
import type { Ipam, Block } from '../controller/ipam';
import { TUNNEL_PORT, SECURE_TUNNEL_PORT, PATCH_PORT, PHY_PATCH_PORT, uplinkOf, bridgeMac } from '../controller/pipeline';
import { containerFlows, containerGroups, phyFlows, HostState } from './container-network';
import { tunnelProbeMeter } from './container/tunnel-probe';

export interface ContainerState {
  resources: Resources;
  ipam: Ipam;
  connOf(dpid: string): Connection | undefined;
  /** encrypted networks' VTEP range (controller/ipsec.ts) */
  ipsec?: { vtepCidr: { text: string } };
}

export class ContainerFlowSource implements FlowSource {
  constructor(
    private readonly state: ContainerState,
    /** next hops resolved for a host (apps/next-hop-resolver.ts) */
    private readonly neighbors: (host: string) => ReadonlyMap<string, string> | undefined,
    /** the controller probes tunnels every this many ms (0: it does not): br-int punts other hosts' probes through a meter (apps/tunnel-prober.ts) */
    private readonly tunnelProbeMs = 0,
  ) {}

  /** br-int's probe meter, while probes are on and it has its tunnel port. */
  desiredMeters(dpid: string): MeterSpec[] {
    if (!this.tunnelProbeMs) return [];
    const { resources, connOf } = this.state;
    const host = resources.hostByDpid(dpid);
    if (!host || !connOf(dpid)?.ports.some((p) => p.name === TUNNEL_PORT)) return [];
    return [tunnelProbeMeter(host.name, resources.hosts(), this.tunnelProbeMs)];
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

  /** The cluster as the store holds it, read once per store change and shared by every host's computation. */
  private snap?: { gen: number; hosts: Map<string, HostRec>; networks: Map<number, NetworkRec>; endpoints: EndpointRec[]; blocks: Block[]; services: ServiceRec[] };

  /**
   * A re-sync of every host (a block claimed, say) computes each host's
   * flows from the same cluster state: reading it from SQLite once instead
   * of once per host. SQLite's total_changes() (rows this connection has
   * written, the controller being the store's one writer) tells when it is
   * stale.
   */
  private cluster(): NonNullable<ContainerFlowSource['snap']> {
    const { resources, ipam } = this.state;
    const gen = resources.store.db.prepare('SELECT total_changes()').pluck().get() as number;
    if (this.snap?.gen !== gen) {
      this.snap = {
        gen, hosts: new Map(resources.hosts().map((h) => [h.name, h])), networks: new Map(resources.networks().map((n) => [n.id, n])),
        endpoints: resources.endpoints(), blocks: ipam.allBlocks(), services: resources.services(),
      };
    }
    return this.snap;
  }

  desiredFlows(dpid: string): FlowMod[] {
    const { resources, connOf } = this.state;
    const phyHost = resources.hostByPhyDpid(dpid);
    const state = this.hostState(dpid);
    if (!state) return [];
    const c = connOf(dpid);
    return phyHost
      ? phyFlows({ ...state, patchPort: c && c.ports.find((p) => p.name === PHY_PATCH_PORT)?.port_no, uplinkPort: c && uplinkOf(c.ports), neighbors: this.neighbors(phyHost.name) })
      : containerFlows(state);
  }

  /** br-int's select groups (services); none on br-phy. */
  desiredGroups(dpid: string): GroupSpec[] {
    if (this.state.resources.hostByPhyDpid(dpid)) return [];
    const state = this.hostState(dpid);
    return state ? containerGroups(state) : [];
  }

  /** A bridge's host's view of the cluster, or undefined when the bridge is no host's. */
  private hostState(dpid: string): HostState | undefined {
    const { resources, connOf } = this.state;
    const host = resources.hostByPhyDpid(dpid) ?? resources.hostByDpid(dpid);
    if (!host) return undefined;
    const c = connOf(dpid);
    const ports = new Map((c?.ports ?? []).map((p) => [p.name, p.port_no]));
    const cl = this.cluster();
    return {
      host: host.name,
      hosts: cl.hosts,
      networks: cl.networks,
      endpoints: cl.endpoints,
      blocks: cl.blocks,
      mappings: resources.portMappings({ host: host.name }),
      policies: resources.policies(),
      services: cl.services,
      ofport: (name: string) => ports.get(name),
      tunnelPort: ports.get(TUNNEL_PORT),
      secureTunnelPort: ports.get(SECURE_TUNNEL_PORT),
      ipsecVtepCidr: this.state.ipsec?.vtepCidr.text,
      tunnelProbes: this.tunnelProbeMs > 0,
      patchPort: ports.get(PATCH_PORT),
      phyMac: (name: string) => { const h = cl.hosts.get(name); return h ? this.phyMac(h) : undefined; },
      uplinkMac: (name: string) => { const h = cl.hosts.get(name); return h ? this.uplinkMac(h) : undefined; },
    };
  }
}
