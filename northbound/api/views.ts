// How the API shows the controller's objects: one view per object, shared by
// every route and the event stream that shows it.
import type { ApiDeps } from './deps';
import type { SwitchT, FlowT } from './schemas';
import type { EndpointT, EndpointCountersT, HostStatusT } from './schemas-containers';
import type { EndpointRec, HostRec, NetworkRec } from '../../controller/resources';
import { parseCidr } from '../../controller/ipv4';
import { portView } from '../../controller/switch-registry';
import type { Connection } from '../../southbound/channel';
import type { FlowStats } from '../../southbound/codec';
import { formatFlow } from '../../southbound/text';
import { BR_INT, CATEGORY, ROUND_MASK, categoryOf, objectId, objectIdOf } from '../../controller/pipeline';

export function switchView(c: Connection): SwitchT {
  return {
    dpid: c.dpid, remote: c.remote, connected_at: new Date(c.connectedAt).toISOString(),
    n_tables: c.features?.n_tables ?? 0, n_buffers: c.features?.n_buffers ?? 0, capabilities: c.features?.capabilities ?? 0,
    ports: [...c.ports].sort((a, b) => a.port_no - b.port_no).map(portView),
  };
}

export function flowView(f: FlowStats): FlowT {
  return {
    table_id: f.table_id, priority: f.priority, cookie: '0x' + f.cookie.toString(16), idle_timeout: f.idle_timeout,
    hard_timeout: f.hard_timeout, flags: f.flags, duration_sec: f.duration_sec,
    packet_count: Number(f.packet_count), byte_count: Number(f.byte_count),
    text: formatFlow(f),
  };
}

/** A registered container host as the API shows it (schema RegisteredHost; also in GET /v1/hosts). */
export function registeredHostView(deps: ApiDeps, h: HostRec) {
  return {
    kind: 'registered' as const, name: h.name, dpid: h.dpid, underlayIp: h.underlayIp, phyDpid: h.phyDpid,
    underlayGateway: h.underlayGateway ?? null, underlayPrefix: h.underlayGateway ? h.underlayPrefix ?? null : null, connected: !!deps.registry.get(h.dpid),
    endpoints: deps.containers.resources.countEndpoints({ host: h.name }), createdAt: h.createdAt,
  };
}

/** A network (schema Network). */
export function networkView(deps: ApiDeps, n: NetworkRec) {
  const svc = deps.containers;
  return { ...n, endpoints: svc.resources.countEndpoints({ networkId: n.id }), blocks: svc.ipam.blocks(n.id) };
}

/** An endpoint (schema Endpoint). */
export function endpointView(deps: ApiDeps, e: EndpointRec): EndpointT {
  const res = deps.containers.resources;
  const n = res.network(e.networkId)!;
  const h = res.host(e.host);
  const port = h ? deps.registry.get(h.dpid)?.ports.find((p) => p.name === e.portName) : undefined;
  return {
    id: e.id, containerId: e.containerId, ifName: e.ifName, host: e.host, network: e.network, portName: e.portName,
    ofport: port?.port_no ?? null, ofportRequest: e.ofportRequest ?? null, mac: e.mac, ip: e.ip, prefixLength: parseCidr(n.cidr).len, gateway: n.gateway, mtu: n.mtu,
    requestedIp: e.requestedIp, netns: e.netns, state: e.state, createdAt: e.createdAt, readyAt: e.readyAt,
    portMappings: res.portMappings({ endpointId: e.id }).map((m) => ({ protocol: m.protocol, hostIP: m.hostIp, hostPort: m.hostPort, containerPort: m.containerPort })),
    labels: e.labels ?? {},
  };
}

/** Cookie bits an endpoint's flows share whatever the round: category, reserved and object id. */
export const ENDPOINT_COOKIE_MASK = ~ROUND_MASK & 0xffffffffffffffffn;

/**
 * An endpoint's counters from the flow stats of its br-int (schema
 * EndpointCounters): out = its spoof-guard flows, in = its delivery flows
 * (l2Forwarding, and l3Forwarding /32 routes that output to its port).
 * Flows of other owners are ignored, should the switch send any.
 */
export function endpointCountersView(e: EndpointRec, dpid: string, stats: FlowStats[]): EndpointCountersT {
  const id = objectId(e.id);
  const out = { packets: 0, bytes: 0 }, inn = { packets: 0, bytes: 0 };
  let flows = 0;
  for (const f of stats) {
    if (categoryOf(f.cookie) !== CATEGORY.endpoint || objectIdOf(f.cookie) !== id) continue;
    flows++;
    const to = f.table_id === BR_INT.tableId.spoofGuard ? out
      : f.table_id === BR_INT.tableId.l2Forwarding || f.table_id === BR_INT.tableId.l3Forwarding ? inn : undefined;
    if (!to) continue;
    to.packets += Number(f.packet_count);
    to.bytes += Number(f.byte_count);
  }
  return { id: e.id, host: e.host, dpid, out, in: inn, flows, readAt: new Date().toISOString() };
}

/** A registered host's bridges as the reconciler sees them (schema HostStatus). */
export function hostStatusView(deps: ApiDeps, h: HostRec): HostStatusT {
  const rec = deps.containers.reconciler;
  const bridge = (bridge: 'br-int' | 'br-phy', dpid: string) => {
    const s = rec.status(dpid);
    return {
      bridge, dpid, connected: !!deps.registry.get(dpid), synced: s.inSync, flows: { desired: s.desired, confirmed: s.confirmed },
      lastSyncAt: s.lastSyncAt, lastSyncMs: s.lastSyncMs, lastSyncKind: s.lastSyncKind, lastError: s.lastError, lastErrorAt: s.lastErrorAt,
    };
  };
  return { name: h.name, bridges: [bridge('br-int', h.dpid), ...(h.phyDpid ? [bridge('br-phy', h.phyDpid)] : [])] };
}
