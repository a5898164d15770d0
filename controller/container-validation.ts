// Meaning checks for container resources (the REST schema checks shapes):
// each returns the record to store or throws a WeftError naming the field.
// Nothing here writes, so a rejected request changes nothing.
import type { Resources, HostRec, NetworkRec, NetworkMode, PortMapping, MacMode, AddressRange } from './resources';
import { NETWORK_MODES } from './resources';
import { WeftError, badRequest, conflict } from './errors';
import { Cidr, parseCidr, ipToInt, intToIp, cidrContains, isIp, prefixMask, overlaps } from './ipv4';
import { portNameFor } from './port-name';
import { ContainerPolicy, DEFAULT_POLICY, allowedPrefix, forbiddenOverlap, hostPortRefusal } from './container-policy';
import { GATEWAY_MAC, derivedMac } from './pipeline';

export interface HostInput { name: string; dpid: string; underlayIp: string; phyDpid?: string; underlayGateway?: string; underlayPrefix?: number }
export interface NetworkInput {
  name: string; cidr: string; gateway?: string; mode?: string; blockSize?: number; vlan?: number; mtu?: number;
  macMode?: string; ranges?: AddressRange[]; exclude?: string[]; encrypted?: boolean;
}

/**
 * An encrypted network's MTU at most: strongSwan's kernel-libipsec TUN
 * (ipsec0) has MTU 1400 whatever the underlay's, and VXLAN takes 50 of it
 * (docs/pipeline.md, "Encrypted networks").
 */
export const ENCRYPTED_MAX_MTU = 1350;

/** At most this many ranges and excluded addresses per network. */
export const MAX_RANGES = 64;
export const MAX_EXCLUDE = 256;
export interface PortMappingInput { hostPort: number; containerPort: number; protocol?: string; hostIP?: string }
export interface EndpointInput {
  containerId: string; ifName: string; host: string; network: string; netns?: string; ip?: string; mac?: string; portName?: string;
  /** Published ports (docker -p / CNI portMappings): hostIP:hostPort -> endpoint:containerPort. */
  portMappings?: PortMappingInput[];
  /** Labels network policies select by (validLabels). */
  labels?: Record<string, string>;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/;
/** CNI's interface name rules, in printable ASCII: 1-15 characters, none of / : or space (and not . or ..). */
const IFNAME_RE = /^[!-.0-9;-~]{1,15}$/;
const MAC_RE = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;
const DPID_RE = /^[0-9a-f]{16}$/;
const NAME_MSG = 'name must be 1-63 letters, digits, _ . or -, starting with a letter or digit';

/**
 * Addresses that are never a host's: "this network" (0/8), loopback
 * (127/8), link-local (169.254/16: not routable, so no BGP next hop or
 * VXLAN peer), multicast (224/4) and reserved/broadcast (240/4).
 */
const NOT_UNICAST: [Cidr, string][] = ([
  ['0.0.0.0/8', '"this network" (0.0.0.0/8)'], ['127.0.0.0/8', 'loopback'], ['169.254.0.0/16', 'link-local'],
  ['224.0.0.0/4', 'multicast'], ['240.0.0.0/4', 'reserved or broadcast'],
] as const).map(([c, why]) => [parseCidr(c), why]);

/** Why `ip` cannot be a host's underlay address (or its router), or undefined. `prefix`: its subnet's length, if known. */
export function hostAddressRefusal(ip: string, prefix: number | null): string | undefined {
  const n = ipToInt(ip);
  const bad = NOT_UNICAST.find(([c]) => cidrContains(c, n));
  if (bad) return `${ip} is a ${bad[1]} address`;
  if (prefix !== null && prefix <= 30) {
    const base = (n & prefixMask(prefix)) >>> 0;
    if (n === base) return `${ip} is the network address of ${intToIp(base)}/${prefix}`;
    if (n === base + 2 ** (32 - prefix) - 1) return `${ip} is the broadcast address of ${intToIp(base)}/${prefix}`;
  }
  return undefined;
}

/** Whether two networks would share the underlay's routing (routed) or L2 (underlay, same VLAN), so must not overlap. */
function sharesUnderlay(a: { mode: NetworkMode }, b: { mode: NetworkMode }): boolean {
  return (a.mode === 'routed' && (b.mode === 'routed' || b.mode === 'underlay')) || (b.mode === 'routed' && a.mode === 'underlay');
}

export function validHost(inp: HostInput, r: Resources): HostRec {
  if (!NAME_RE.test(inp.name)) throw badRequest(NAME_MSG, 'name');
  const dpid = inp.dpid.toLowerCase();
  if (!DPID_RE.test(dpid)) throw badRequest('dpid must be 16 hex digits', 'dpid');
  if (!isIp(inp.underlayIp)) throw badRequest(`underlayIp "${inp.underlayIp}" is not an IPv4 address (a.b.c.d, no leading zeros)`, 'underlayIp');
  // the subnet is known only with a router (underlayPrefix defaults to 24 then)
  const subnetLen = inp.underlayGateway !== undefined ? inp.underlayPrefix ?? 24 : null;
  const whyNot = hostAddressRefusal(inp.underlayIp, subnetLen !== null && Number.isInteger(subnetLen) ? subnetLen : null);
  if (whyNot) throw badRequest(`underlayIp: ${whyNot}, not a host's`, 'underlayIp');
  if (r.host(inp.name)) throw conflict(`host ${inp.name} already exists`, 'name');
  const sameIp = r.hosts().find((h) => h.underlayIp === inp.underlayIp);
  if (sameIp) throw conflict(`underlayIp ${inp.underlayIp} already belongs to host ${sameIp.name}`, 'underlayIp');
  const routed = r.networks().find((n) => n.mode === 'routed' && cidrContains(parseCidr(n.cidr), ipToInt(inp.underlayIp)));
  if (routed) throw conflict(`underlayIp ${inp.underlayIp} is inside routed network ${routed.name} (${routed.cidr})`, 'underlayIp');
  // an underlay network shares the business subnet with the hosts: a host cannot take a container's address
  for (const n of r.networks().filter((x) => x.mode === 'underlay')) {
    const holder = r.endpoints({ networkId: n.id }).find((e) => e.ip === inp.underlayIp || e.ip === inp.underlayGateway);
    if (holder) throw conflict(`${holder.ip} is endpoint ${holder.id}'s address in underlay network ${n.name}`, holder.ip === inp.underlayIp ? 'underlayIp' : 'underlayGateway');
  }
  if (r.hostByDpid(dpid) || r.hostByPhyDpid(dpid)) throw conflict(`datapath ${dpid} already belongs to another host`, 'dpid');
  const phyDpid = inp.phyDpid?.toLowerCase();
  if (phyDpid !== undefined) {
    if (!DPID_RE.test(phyDpid) || phyDpid === dpid) throw badRequest('phyDpid must be 16 hex digits, other than dpid', 'phyDpid');
    if (r.hostByDpid(phyDpid) || r.hostByPhyDpid(phyDpid)) throw conflict(`datapath ${phyDpid} already belongs to another host`, 'phyDpid');
  }
  let underlayPrefix: number | null = null;
  if (inp.underlayPrefix !== undefined && inp.underlayGateway === undefined) throw badRequest('underlayPrefix goes with underlayGateway', 'underlayPrefix');
  if (inp.underlayGateway !== undefined) {
    if (!isIp(inp.underlayGateway)) throw badRequest(`underlayGateway "${inp.underlayGateway}" is not an IPv4 address (a.b.c.d, no leading zeros)`, 'underlayGateway');
    underlayPrefix = inp.underlayPrefix ?? 24;
    if (!Number.isInteger(underlayPrefix) || underlayPrefix < 1 || underlayPrefix > 31) throw badRequest('underlayPrefix must be 1..31', 'underlayPrefix');
    const gwNot = hostAddressRefusal(inp.underlayGateway, underlayPrefix);
    if (gwNot) throw badRequest(`underlayGateway: ${gwNot}, not a router's`, 'underlayGateway');
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
export function validNetwork(inp: NetworkInput, r: Resources, policy: ContainerPolicy = DEFAULT_POLICY): Omit<NetworkRec, 'id' | 'vni'> {
  if (!NAME_RE.test(inp.name)) throw badRequest(NAME_MSG, 'name');
  // GET /v1/networks/{name or id}: a name of digits only would be hidden by the network with that id
  if (/^\d+$/.test(inp.name)) throw badRequest('name must not be all digits (it would read as a network id)', 'name');
  let c;
  try { c = parseCidr(inp.cidr); } catch (e) { throw badRequest((e as Error).message, 'cidr'); }
  if (c.len > 30 || c.len < 8) throw badRequest(`cidr ${inp.cidr}: prefix length must be 8..30`, 'cidr');
  const forbidden = forbiddenOverlap(c);
  if (forbidden) throw badRequest(`cidr ${c.text} overlaps ${forbidden.text}, which is never container address space`, 'cidr');
  if (!allowedPrefix(policy, c)) throw badRequest(`cidr ${c.text} is not inside the allowed pod address space (${policy.podCidrs.map((p) => p.text).join(', ')})`, 'cidr');
  const mode = (inp.mode ?? 'local') as NetworkMode;
  if (!NETWORK_MODES.includes(mode)) throw badRequest(`mode must be one of ${NETWORK_MODES.join(', ')}`, 'mode');
  const gw = inp.gateway ?? intToIp(c.base + 1);
  if (!isIp(gw)) throw badRequest(`gateway "${gw}" is not an IPv4 address (a.b.c.d, no leading zeros)`, 'gateway');
  const g = ipToInt(gw);
  if (!cidrContains(c, g) || g === c.base || g === c.base + c.size - 1) throw badRequest(`gateway ${gw} must be a host address in ${c.text}`, 'gateway');
  const blockSize = inp.blockSize ?? 26;
  if (!Number.isInteger(blockSize) || blockSize < 16 || blockSize > 30) throw badRequest('blockSize must be a prefix length 16..30', 'blockSize');
  if (inp.vlan !== undefined && (!Number.isInteger(inp.vlan) || inp.vlan < 1 || inp.vlan > 4094)) throw badRequest('vlan must be 1..4094', 'vlan');
  if (inp.encrypted !== undefined && typeof inp.encrypted !== 'boolean') throw badRequest('encrypted must be true or false', 'encrypted');
  const encrypted = inp.encrypted === true;
  if (encrypted && mode !== 'overlay' && mode !== 'routed') throw badRequest(`encrypted is for overlay and routed networks only (this one is ${mode})`, 'encrypted');
  // VXLAN adds 50 bytes on the underlay: an overlay network defaults to 1450 so a 1500-byte underlay carries it;
  // an encrypted one goes through IPsec's TUN device (MTU 1400) as VXLAN
  const mtu = inp.mtu ?? (encrypted ? ENCRYPTED_MAX_MTU : mode === 'overlay' ? 1450 : 1500);
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 9000) throw badRequest('mtu must be 576..9000', 'mtu');
  if (encrypted && mtu > ENCRYPTED_MAX_MTU) throw badRequest(`mtu of an encrypted network must be at most ${ENCRYPTED_MAX_MTU} (IPsec and VXLAN overhead)`, 'mtu');
  const { macMode, ranges, exclude } = underlayAddressing(inp, mode, c, g);
  if (r.network(inp.name)) throw conflict(`network ${inp.name} already exists`, 'name');
  for (const n of r.networks()) {
    if (sharesUnderlay({ mode }, n) && overlaps(c, parseCidr(n.cidr))) {
      throw conflict(`cidr ${c.text} overlaps ${n.mode} network ${n.name} (${n.cidr}): both are routed on the underlay`, 'cidr');
    }
    // the uplink's classifier tells underlay networks apart by VLAN alone
    if (mode === 'underlay' && n.mode === 'underlay' && n.vlan === (inp.vlan ?? null)) {
      throw conflict(`underlay network ${n.name} already uses ${n.vlan === null ? 'the untagged uplink' : `VLAN ${n.vlan}`}`, 'vlan');
    }
  }
  if (mode === 'routed') {
    const h = r.hosts().find((x) => cidrContains(c, ipToInt(x.underlayIp)) || (x.underlayGateway && cidrContains(c, ipToInt(x.underlayGateway))));
    if (h) throw conflict(`cidr ${c.text} holds host ${h.name}'s underlay address or router`, 'cidr');
  }
  return { name: inp.name, cidr: c.text, gateway: gw, mode, blockSize, vlan: inp.vlan ?? null, mtu, createdAt: new Date().toISOString(), macMode, ranges, exclude, encrypted };
}

/**
 * An underlay network's MAC mode and the part of the business subnet the
 * network team gave the platform: `ranges` (inclusive, inside the CIDR, not
 * overlapping) and `exclude` (addresses inside the CIDR never handed out).
 * Other modes own their whole CIDR, so they take neither.
 */
function underlayAddressing(inp: NetworkInput, mode: NetworkMode, c: Cidr, gateway: number): { macMode: MacMode; ranges: AddressRange[] | null; exclude: string[] | null } {
  for (const k of ['macMode', 'ranges', 'exclude'] as const) {
    if (inp[k] !== undefined && mode !== 'underlay') throw badRequest(`${k} is for underlay networks only (this one is ${mode})`, k);
  }
  const macMode = (inp.macMode ?? 'own') as MacMode;
  if (macMode !== 'own' && macMode !== 'shared') throw badRequest('macMode must be own or shared', 'macMode');
  const inside = (ip: string, f: string): number => {
    if (!isIp(ip)) throw badRequest(`${f} "${ip}" is not an IPv4 address (a.b.c.d, no leading zeros)`, f);
    const n = ipToInt(ip);
    if (!cidrContains(c, n)) throw badRequest(`${f} ${ip} is not in ${c.text}`, f);
    return n;
  };
  let ranges: AddressRange[] | null = null;
  if (inp.ranges !== undefined) {
    if (!Array.isArray(inp.ranges) || inp.ranges.length === 0 || inp.ranges.length > MAX_RANGES) throw badRequest(`ranges must list 1..${MAX_RANGES} ranges`, 'ranges');
    const spans = inp.ranges.map((x, i) => {
      const s = inside(x.start, `ranges.${i}.start`), e = inside(x.end, `ranges.${i}.end`);
      if (s > e) throw badRequest(`ranges.${i}: start ${x.start} is after end ${x.end}`, `ranges.${i}`);
      return { s, e, i };
    }).sort((a, b) => a.s - b.s);
    for (let k = 1; k < spans.length; k++) {
      if (spans[k].s <= spans[k - 1].e) throw badRequest(`ranges.${spans[k].i} overlaps ranges.${spans[k - 1].i}`, `ranges.${spans[k].i}`);
    }
    ranges = inp.ranges.map((x) => ({ start: x.start, end: x.end }));
  }
  let exclude: string[] | null = null;
  if (inp.exclude !== undefined) {
    if (!Array.isArray(inp.exclude) || inp.exclude.length > MAX_EXCLUDE) throw badRequest(`exclude must list at most ${MAX_EXCLUDE} addresses`, 'exclude');
    inp.exclude.forEach((ip, i) => inside(ip, `exclude.${i}`));
    exclude = [...new Set(inp.exclude)];
  }
  if (ranges) {
    // something must be left to hand out (looked for up to a bound: a range that large has room anyway)
    const never = new Set([gateway, c.base, c.base + c.size - 1, ...(exclude ?? []).map(ipToInt)]);
    let found = false;
    for (const x of ranges) {
      for (let ip = ipToInt(x.start), n = 0; ip <= ipToInt(x.end) && n <= never.size; ip++, n++) if (!never.has(ip)) { found = true; break; }
      if (found) break;
    }
    if (!found) throw badRequest('ranges leave no address to hand out (the gateway, network and broadcast addresses and exclude are never handed out)', 'ranges');
  }
  return { macMode, ranges, exclude };
}

/** At most this many labels per endpoint (and matchLabels per selector). */
export const MAX_LABELS = 64;
const LABEL_NAME_RE = /^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Labels in Kubernetes label syntax: a key is an optional DNS-subdomain
 * prefix (at most 253 characters) and '/', then a name of 1-63 letters,
 * digits, - _ . starting and ending with a letter or digit; a value is empty
 * or such a name. At most MAX_LABELS of them.
 */
export function validLabels(labels: unknown, field: string): Record<string, string> {
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) throw badRequest(`${field} must be an object of string keys and string values`, field);
  const entries = Object.entries(labels as Record<string, unknown>);
  if (entries.length > MAX_LABELS) throw badRequest(`${field} has ${entries.length} labels; at most ${MAX_LABELS}`, field);
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    const slash = k.lastIndexOf('/');
    const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
    const name = slash >= 0 ? k.slice(slash + 1) : k;
    if (!LABEL_NAME_RE.test(name) || (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN_RE.test(prefix)))) {
      throw badRequest(`${field}: key "${k.slice(0, 300)}" is not a label key ([prefix/]name: name 1-63 letters, digits, - _ . starting and ending with a letter or digit; prefix a DNS subdomain)`, `${field}.${k.slice(0, 300)}`);
    }
    if (typeof v !== 'string' || (v !== '' && !LABEL_NAME_RE.test(v))) {
      throw badRequest(`${field}.${k}: value must be empty or 1-63 letters, digits, - _ . starting and ending with a letter or digit`, `${field}.${k}`);
    }
    out[k] = v;
  }
  return out;
}

/** What an endpoint request names: its host and network (which must exist), its MAC and its port name. */
/** A containerId as CNI_CONTAINERID allows (letters, digits, _ . -). */
export function validContainerId(containerId: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,255}$/.test(containerId)) throw badRequest('containerId must be letters, digits, _ . or - (CNI_CONTAINERID)', 'containerId');
}

export function endpointRefs(inp: EndpointInput, r: Resources): { host: HostRec; net: NetworkRec; mac?: string; portName: string } {
  validContainerId(inp.containerId);
  if (!IFNAME_RE.test(inp.ifName) || inp.ifName === '.' || inp.ifName === '..') {
    throw badRequest('ifName must be a valid interface name (1-15 printable ASCII characters, no /, : or space, not . or ..)', 'ifName');
  }
  const host = r.host(inp.host);
  if (!host) throw new WeftError(404, 'not_found', `host ${inp.host} not found (register it with POST /v1/hosts)`, 'host');
  const net = r.network(inp.network);
  if (!net) throw new WeftError(404, 'not_found', `network ${inp.network} not found`, 'network');
  if (inp.ip !== undefined && !isIp(inp.ip)) throw badRequest(`ip "${inp.ip}" is not an IPv4 address (a.b.c.d, no leading zeros)`, 'ip');
  const mac = inp.mac?.toLowerCase();
  if (mac !== undefined) macRefusal(mac, inp, net);
  // the host end is always the attachment's own name: never a bridge's, a patch or tunnel port's, or another attachment's
  const own = portNameFor(inp.containerId, inp.ifName);
  if (inp.portName !== undefined && inp.portName !== own) {
    throw badRequest(`portName must be ${own}, the name of this attachment's host end (wf + 11 hex digits of containerId/ifName; omit it to get that)`, 'portName');
  }
  return { host, net, mac, portName: own };
}

/**
 * A requested MAC: unicast, not all zero, not the gateway's, and outside the
 * derived space 0a:<network id>:<IPv4 address> of every network (where other
 * endpoints' MACs live, so it would take their traffic), unless it is this
 * endpoint's own derived MAC for the address it requests. Throws naming `mac`.
 */
function macRefusal(mac: string, inp: EndpointInput, net: NetworkRec): void {
  const bad = (why: string) => badRequest(`mac ${inp.mac}: ${why}`, 'mac');
  if (!MAC_RE.test(mac)) throw bad('not a MAC address (six hex pairs separated by :)');
  if (parseInt(mac.slice(0, 2), 16) & 1) throw bad('a multicast or broadcast address, not a unicast one');
  if (mac === '00:00:00:00:00:00') throw bad('the all-zero address');
  if (mac === GATEWAY_MAC) throw bad('the gateway\'s MAC address');
  if (mac.startsWith('0a:') && !(inp.ip !== undefined && mac === derivedMac(net.id, inp.ip))) {
    throw bad('inside 0a:xx:xx:xx:xx:xx, the MACs Weft derives from endpoints\' addresses');
  }
}

/** A requested MAC that another endpoint of the network already has (checked once the request is not a retry). */
export function macInUse(mac: string | undefined, net: NetworkRec, r: Resources): void {
  if (mac === undefined) return;
  const other = r.endpoints({ networkId: net.id }).find((e) => e.mac.toLowerCase() === mac);
  if (other) throw conflict(`mac ${mac} is already used in network ${net.name}`, 'mac');
}

/** Published ports of a new endpoint on `host`: each valid, and none already published there. */
export function portMappings(inp: Pick<EndpointInput, 'portMappings'>, host: HostRec, r: Resources, policy: ContainerPolicy = DEFAULT_POLICY,
  replacing?: string): Omit<PortMapping, 'endpointId'>[] {
  // published ports are conntrack DNAT on the host's br-phy
  if (inp.portMappings?.length && !host.phyDpid) throw badRequest(`host ${host.name} has no phyDpid (br-phy), so it cannot publish ports`, 'portMappings');
  const mappings = (inp.portMappings ?? []).map((m, i) => {
    const f = `portMappings.${i}`;
    const protocol = (m.protocol ?? 'tcp').toLowerCase();
    if (protocol !== 'tcp' && protocol !== 'udp') throw badRequest(`${f}.protocol must be tcp or udp`, `${f}.protocol`);
    for (const k of ['hostPort', 'containerPort'] as const) {
      if (!Number.isInteger(m[k]) || m[k] < 1 || m[k] > 65535) throw badRequest(`${f}.${k} must be 1..65535`, `${f}.${k}`);
    }
    const refused = hostPortRefusal(policy, m.hostPort);
    if (refused) throw badRequest(`${f}.hostPort ${m.hostPort}: ${refused}`, `${f}.hostPort`);
    // a port is published on the host's own underlay address (hostIP may name it, or be the wildcard)
    if (m.hostIP !== undefined && m.hostIP !== '' && m.hostIP !== '0.0.0.0' && m.hostIP !== host.underlayIp) {
      throw badRequest(`${f}.hostIP must be this host's address ${host.underlayIp} (or 0.0.0.0)`, `${f}.hostIP`);
    }
    return { host: host.name, protocol: protocol as 'tcp' | 'udp', hostIp: host.underlayIp, hostPort: m.hostPort, containerPort: m.containerPort };
  });
  // `replacing`: the endpoint whose own mappings these replace (they do not count as taken)
  const taken = new Set(r.portMappings({ host: host.name }).filter((m) => m.endpointId !== replacing).map((m) => `${m.protocol}/${m.hostPort}`));
  for (const [i, m] of mappings.entries()) {
    const key = `${m.protocol}/${m.hostPort}`;
    if (taken.has(key)) throw conflict(`${m.protocol} port ${m.hostPort} is already published on ${host.name}`, `portMappings.${i}.hostPort`);
    taken.add(key);
  }
  return mappings;
}
