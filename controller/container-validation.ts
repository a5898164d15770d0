// Meaning checks for container resources (the REST schema checks shapes):
// each returns the record to store or throws a WeftError naming the field.
// Nothing here writes, so a rejected request changes nothing.
import type { Resources, HostRec, NetworkRec, NetworkMode, PortMapping } from './resources';
import { NETWORK_MODES } from './resources';
import { WeftError, badRequest, conflict } from './errors';
import { parseCidr, ipToInt, intToIp, cidrContains, isIp, prefixMask } from './ipv4';
import { portNameFor } from './port-name';

export interface HostInput { name: string; dpid: string; underlayIp: string; phyDpid?: string; underlayGateway?: string; underlayPrefix?: number }
export interface NetworkInput { name: string; cidr: string; gateway?: string; mode?: string; blockSize?: number; vlan?: number; mtu?: number }
export interface PortMappingInput { hostPort: number; containerPort: number; protocol?: string; hostIP?: string }
export interface EndpointInput {
  containerId: string; ifName: string; host: string; network: string; netns?: string; ip?: string; mac?: string; portName?: string;
  /** Published ports (docker -p / CNI portMappings): hostIP:hostPort -> endpoint:containerPort. */
  portMappings?: PortMappingInput[];
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
const IFNAME_RE = /^[^\s/:]{1,15}$/;
const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
const DPID_RE = /^[0-9a-f]{16}$/;
const NAME_MSG = 'name must be 1-63 letters, digits, _ . or -, starting with a letter or digit';

export function validHost(inp: HostInput, r: Resources): HostRec {
  if (!NAME_RE.test(inp.name)) throw badRequest(NAME_MSG, 'name');
  const dpid = inp.dpid.toLowerCase();
  if (!DPID_RE.test(dpid)) throw badRequest('dpid must be 16 hex digits', 'dpid');
  if (!isIp(inp.underlayIp)) throw badRequest(`underlayIp "${inp.underlayIp}" is not an IPv4 address`, 'underlayIp');
  if (r.host(inp.name)) throw conflict(`host ${inp.name} already exists`, 'name');
  if (r.hostByDpid(dpid) || r.hostByPhyDpid(dpid)) throw conflict(`datapath ${dpid} already belongs to another host`, 'dpid');
  const phyDpid = inp.phyDpid?.toLowerCase();
  if (phyDpid !== undefined) {
    if (!DPID_RE.test(phyDpid) || phyDpid === dpid) throw badRequest('phyDpid must be 16 hex digits, other than dpid', 'phyDpid');
    if (r.hostByDpid(phyDpid) || r.hostByPhyDpid(phyDpid)) throw conflict(`datapath ${phyDpid} already belongs to another host`, 'phyDpid');
  }
  let underlayPrefix: number | null = null;
  if (inp.underlayPrefix !== undefined && inp.underlayGateway === undefined) throw badRequest('underlayPrefix goes with underlayGateway', 'underlayPrefix');
  if (inp.underlayGateway !== undefined) {
    if (!isIp(inp.underlayGateway)) throw badRequest(`underlayGateway "${inp.underlayGateway}" is not an IPv4 address`, 'underlayGateway');
    underlayPrefix = inp.underlayPrefix ?? 24;
    if (!Number.isInteger(underlayPrefix) || underlayPrefix < 1 || underlayPrefix > 31) throw badRequest('underlayPrefix must be 1..31', 'underlayPrefix');
    const net = parseCidr(`${intToIp((ipToInt(inp.underlayIp) & prefixMask(underlayPrefix)) >>> 0)}/${underlayPrefix}`);
    if (!cidrContains(net, ipToInt(inp.underlayGateway)) || inp.underlayGateway === inp.underlayIp) {
      throw badRequest(`underlayGateway ${inp.underlayGateway} must be another address of ${intToIp(net.base)}/${underlayPrefix}`, 'underlayGateway');
    }
  }
  return {
    name: inp.name, dpid, underlayIp: inp.underlayIp, phyDpid: phyDpid ?? null, createdAt: new Date().toISOString(),
    underlayPrefix, underlayGateway: inp.underlayGateway ?? null,
  };
}

/** A network to insert (its id and VNI are given by the store). */
export function validNetwork(inp: NetworkInput, r: Resources): Omit<NetworkRec, 'id' | 'vni'> {
  if (!NAME_RE.test(inp.name)) throw badRequest(NAME_MSG, 'name');
  let c;
  try { c = parseCidr(inp.cidr); } catch (e) { throw badRequest((e as Error).message, 'cidr'); }
  if (c.len > 30 || c.len < 8) throw badRequest(`cidr ${inp.cidr}: prefix length must be 8..30`, 'cidr');
  const mode = (inp.mode ?? 'local') as NetworkMode;
  if (!NETWORK_MODES.includes(mode)) throw badRequest(`mode must be one of ${NETWORK_MODES.join(', ')}`, 'mode');
  const gw = inp.gateway ?? intToIp(c.base + 1);
  if (!isIp(gw)) throw badRequest(`gateway "${gw}" is not an IPv4 address`, 'gateway');
  const g = ipToInt(gw);
  if (!cidrContains(c, g) || g === c.base || g === c.base + c.size - 1) throw badRequest(`gateway ${gw} must be a host address in ${c.text}`, 'gateway');
  const blockSize = inp.blockSize ?? 26;
  if (!Number.isInteger(blockSize) || blockSize < 16 || blockSize > 30) throw badRequest('blockSize must be a prefix length 16..30', 'blockSize');
  if (inp.vlan !== undefined && (!Number.isInteger(inp.vlan) || inp.vlan < 1 || inp.vlan > 4094)) throw badRequest('vlan must be 1..4094', 'vlan');
  // VXLAN adds 50 bytes on the underlay: an overlay network defaults to 1450 so a 1500-byte underlay carries it
  const mtu = inp.mtu ?? (mode === 'overlay' ? 1450 : 1500);
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 9000) throw badRequest('mtu must be 576..9000', 'mtu');
  if (r.network(inp.name)) throw conflict(`network ${inp.name} already exists`, 'name');
  return { name: inp.name, cidr: c.text, gateway: gw, mode, blockSize, vlan: inp.vlan ?? null, mtu, createdAt: new Date().toISOString() };
}

/** What an endpoint request names: its host and network (which must exist), its MAC and its port name. */
export function endpointRefs(inp: EndpointInput, r: Resources): { host: HostRec; net: NetworkRec; mac?: string; portName: string } {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,255}$/.test(inp.containerId)) throw badRequest('containerId must be letters, digits, _ . or - (CNI_CONTAINERID)', 'containerId');
  if (!IFNAME_RE.test(inp.ifName) || inp.ifName === '.' || inp.ifName === '..') throw badRequest('ifName must be a valid interface name (1-15 chars, no /, : or space)', 'ifName');
  const host = r.host(inp.host);
  if (!host) throw new WeftError(404, 'not_found', `host ${inp.host} not found (register it with POST /v1/hosts)`, 'host');
  const net = r.network(inp.network);
  if (!net) throw new WeftError(404, 'not_found', `network ${inp.network} not found`, 'network');
  const mac = inp.mac?.toLowerCase();
  if (mac !== undefined && (!MAC_RE.test(mac) || parseInt(mac.slice(0, 2), 16) & 1)) throw badRequest(`mac "${inp.mac}" is not a unicast MAC address`, 'mac');
  if (inp.portName !== undefined && !IFNAME_RE.test(inp.portName)) throw badRequest('portName must be a valid interface name (1-15 chars)', 'portName');
  return { host, net, mac, portName: inp.portName ?? portNameFor(inp.containerId, inp.ifName) };
}

/** Published ports of a new endpoint on `host`: each valid, and none already published there. */
export function portMappings(inp: EndpointInput, host: HostRec, r: Resources): Omit<PortMapping, 'endpointId'>[] {
  const mappings = (inp.portMappings ?? []).map((m, i) => {
    const f = `portMappings.${i}`;
    const protocol = (m.protocol ?? 'tcp').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') throw badRequest(`${f}.protocol must be tcp or udp`, `${f}.protocol`);
    for (const k of ['hostPort', 'containerPort'] as const) {
      if (!Number.isInteger(m[k]) || m[k] < 1 || m[k] > 65535) throw badRequest(`${f}.${k} must be 1..65535`, `${f}.${k}`);
    }
    // a port is published on the host's own underlay address (hostIP may name it, or be the wildcard)
    if (m.hostIP !== undefined && m.hostIP !== '' && m.hostIP !== '0.0.0.0' && m.hostIP !== host.underlayIp) {
      throw badRequest(`${f}.hostIP must be this host's address ${host.underlayIp} (or 0.0.0.0)`, `${f}.hostIP`);
    }
    return { host: host.name, protocol: protocol as 'tcp' | 'udp', hostIp: host.underlayIp, hostPort: m.hostPort, containerPort: m.containerPort };
  });
  const taken = new Set(r.portMappings({ host: host.name }).map((m) => `${m.protocol}/${m.hostPort}`));
  for (const [i, m] of mappings.entries()) {
    const key = `${m.protocol}/${m.hostPort}`;
    if (taken.has(key)) throw conflict(`${m.protocol} port ${m.hostPort} is already published on ${host.name}`, `portMappings.${i}.hostPort`);
    taken.add(key);
  }
  return mappings;
}
