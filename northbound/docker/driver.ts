// Weft's Docker network and IPAM driver (libnetwork's remote driver
// protocol, see protocol.ts and docs/docker.md). Weft holds every fact: the
// plugin keeps nothing in memory that a restart of it or of dockerd would
// need.
//
//  - A Docker network is a Weft network of the same subnet. IPAM pool ids
//    are "weft:<cidr>", so every IPAM call names the subnet; the Weft
//    network's name is the Docker network's (dockerd is asked for it, since
//    CreateNetwork does not carry it), and one that exists is adopted.
//  - RequestAddress reserves the address: a Weft endpoint with containerId
//    docker-reserve-<random> (ip and the MAC Docker chose or was given).
//    CreateEndpoint claims it (PATCH: containerId = Docker's endpoint id),
//    makes the veth pair and the OVS port; Join waits until Weft reports the
//    endpoint ready, then hands dockerd the container end. Reservations never
//    claimed are deleted after RESERVATION_TTL_MS (reconcileReservations).
//  - Published ports (-p) are the endpoint's portMappings: Weft's conntrack
//    DNAT in br-phy (ProgramExternalConnectivity / RevokeExternalConnectivity).
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ApiHttpError, CreateEndpointRequest, Endpoint, Network, WeftApi } from '../cni/api-client';
import { waitReady, randomMac } from '../cni/add';
import { Ovs, EXTERNAL_IDS } from '../cni/ovs';
import * as netlink from '../cni/netlink';
import { DEFAULTS } from '../cni/config';
import { DockerApi } from './docker-api';
import { Handler, PluginError } from './protocol';

/** containerId of a Weft endpoint that holds an address Docker's IPAM asked for, not yet claimed by an endpoint. */
export const RESERVE_PREFIX = 'docker-reserve-';
/** ifName of every Docker endpoint in Weft (the name inside the container is Docker's: eth0, eth1, ...). */
export const DOCKER_IFNAME = 'docker';
/** An unclaimed reservation older than this is deleted (dockerd went away between RequestAddress and CreateEndpoint). */
export const RESERVATION_TTL_MS = 120_000;
/** external_ids key on the OVS interface: Docker's endpoint id. */
export const DOCKER_ENDPOINT_ID = 'docker-endpoint';
/** The generic options `docker network create -o` may give. */
const OPTION_MODE = 'weft.mode';
const MODES = ['local', 'overlay', 'routed', 'underlay'];
const GATEWAY_REQUEST = 'com.docker.network.gateway';
const MAC_OPTION = 'com.docker.network.endpoint.macaddress';

export interface DriverOptions {
  api: WeftApi;
  ovs: Ovs;
  /** This host's name in Weft. */
  host: string;
  docker: DockerApi;
  log: Logger;
  readyTimeoutMs?: number;
}

/** The container end of an endpoint's veth: named from its port name (wf<11 hex> -> wc<11 hex>). */
export const containerEnd = (ep: Pick<Endpoint, 'portName'>) => `wc${ep.portName.slice(2)}`;

// ---- input checks (everything Docker sends is checked before use)

const str = (b: Record<string, unknown>, k: string, what: string): string => {
  const v = b[k];
  if (typeof v !== 'string' || v === '') throw new PluginError(`weft: ${what}: "${k}" is missing`, 400);
  if (v.length > 4096) throw new PluginError(`weft: ${what}: "${k}" is too long`, 400);
  return v;
};
const optStr = (b: Record<string, unknown>, k: string): string | undefined => (typeof b[k] === 'string' && b[k] !== '' ? b[k] as string : undefined);
const obj = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : {});
const DOCKER_ID = /^[0-9a-f]{64}$/;
function dockerId(b: Record<string, unknown>, k: string, what: string): string {
  const v = str(b, k, what);
  if (!DOCKER_ID.test(v)) throw new PluginError(`weft: ${what}: "${k}" is not a Docker id (64 hex digits)`, 400);
  return v;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
function ipToInt(ip: string): number { return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0); }
function intToIp(n: number): string { return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.'); }
/** A canonical a.b.c.d/len (host bits zero), or a 400. */
export function canonicalCidr(s: string): string {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(s);
  if (!m || !IPV4.test(m[1]!) || Number(m[2]) < 1 || Number(m[2]) > 32) throw new PluginError(`weft: "${s}" is not an IPv4 subnet a.b.c.d/len`, 400);
  const len = Number(m[2]);
  const size = 2 ** (32 - len);
  return `${intToIp(Math.floor(ipToInt(m[1]!) / size) * size)}/${len}`;
}
export const poolIdOf = (cidr: string) => `weft:${cidr}`;
export function cidrOfPool(poolId: unknown): string {
  if (typeof poolId !== 'string' || !poolId.startsWith('weft:')) throw new PluginError(`weft: pool id ${JSON.stringify(poolId)} is not one of Weft's (weft:<subnet>)`, 400);
  return canonicalCidr(poolId.slice(5));
}
function address(s: string, what: string): string {
  const ip = s.split('/')[0]!;
  if (!IPV4.test(ip)) throw new PluginError(`weft: ${what}: "${s}" is not an IPv4 address`, 400);
  return ip;
}
const firstHost = (cidr: string) => intToIp(ipToInt(cidr.split('/')[0]!) + 1);

/** A Weft or host failure, worded for `docker` (which prefixes the call's name). */
function fail(what: string, e: unknown): PluginError {
  if (e instanceof PluginError) return e;
  const msg = (e as Error).message ?? String(e);
  return new PluginError(`weft: ${what}: ${msg}`, e instanceof ApiHttpError && e.status < 500 ? 400 : 500);
}

export class DockerDriver {
  /** Pools whose CreateNetwork this plugin refused: their ReleasePool deletes nothing in Weft. */
  private readonly refusedPools = new Set<string>();
  private readonly binds = new Set<Promise<void>>();

  constructor(private readonly o: DriverOptions) {}

  private get api(): WeftApi { return this.o.api; }

  handlers(): Record<string, Handler> {
    const h: Record<string, Handler> = {
      'Plugin.Activate': async () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),
      'NetworkDriver.GetCapabilities': async () => ({ Scope: 'local', ConnectivityScope: 'local' }),
      'NetworkDriver.CreateNetwork': (b) => this.createNetwork(b),
      'NetworkDriver.DeleteNetwork': async (b) => { dockerId(b, 'NetworkID', 'DeleteNetwork'); return {}; },
      'NetworkDriver.CreateEndpoint': (b) => this.createEndpoint(b),
      'NetworkDriver.DeleteEndpoint': (b) => this.deleteEndpoint(b),
      'NetworkDriver.EndpointOperInfo': (b) => this.endpointOperInfo(b),
      'NetworkDriver.Join': (b) => this.join(b),
      'NetworkDriver.Leave': async (b) => { dockerId(b, 'EndpointID', 'Leave'); return {}; },
      'NetworkDriver.ProgramExternalConnectivity': (b) => this.programExternal(b),
      'NetworkDriver.RevokeExternalConnectivity': (b) => this.revokeExternal(b),
      'NetworkDriver.DiscoverNew': async () => ({}),
      'NetworkDriver.DiscoverDelete': async () => ({}),
      'IpamDriver.GetCapabilities': async () => ({ RequiresMACAddress: true, RequiresRequestReplay: false }),
      'IpamDriver.GetDefaultAddressSpaces': async () => ({ LocalDefaultAddressSpace: 'weft', GlobalDefaultAddressSpace: 'weft' }),
      'IpamDriver.RequestPool': (b) => this.requestPool(b),
      'IpamDriver.ReleasePool': (b) => this.releasePool(b),
      'IpamDriver.RequestAddress': (b) => this.requestAddress(b),
      'IpamDriver.ReleaseAddress': (b) => this.releaseAddress(b),
    };
    return h;
  }

  // ---- networks -------------------------------------------------------------

  /** The Weft network named `name`: adopted if it exists (same subnet), else made. */
  private async ensureNetwork(name: string, cidr: string, gateway: string | undefined, mode: string | undefined): Promise<Network> {
    const have = await this.api.getNetwork(name);
    if (have) {
      if (have.cidr !== cidr) throw new PluginError(`weft: Weft network ${name} exists with subnet ${have.cidr}, not ${cidr}`, 400);
      if (mode !== undefined && have.mode !== mode) throw new PluginError(`weft: Weft network ${name} exists in mode ${have.mode}, not ${mode}`, 400);
      return have;
    }
    try {
      const n = await this.api.createNetwork({ name, cidr, ...(gateway ? { gateway } : {}), ...(mode ? { mode } : {}) });
      this.o.log.info({ network: name, cidr, mode: n.mode }, 'Weft network created for Docker');
      return n;
    } catch (e) {
      // made meanwhile (another host's plugin): adopt it
      if (e instanceof ApiHttpError && e.status === 409) { const again = await this.api.getNetwork(name); if (again && again.cidr === cidr) return again; }
      throw e;
    }
  }

  /**
   * The Weft network behind a pool: the one Docker network of this driver
   * with that subnet names it (it is adopted or made now if need be);
   * without dockerd, the one Weft network of that subnet.
   */
  private async networkForPool(cidr: string): Promise<Network> {
    const weft = (await this.api.listNetworks()).filter((n) => n.cidr === cidr);
    // the common case: CreateNetwork made or adopted the one Weft network of the subnet
    if (weft.length === 1) return weft[0]!;
    let docker;
    try {
      docker = (await this.o.docker.networks('weft')).filter((n) => (n.IPAM?.Config ?? []).some((c) => c.Subnet !== undefined && canonicalCidrOrNull(c.Subnet) === cidr));
    } catch (e) {
      throw new PluginError(`weft: ${weft.length} Weft networks have subnet ${cidr}, and dockerd at ${this.o.docker.url} could not say which: ${(e as Error).message}`);
    }
    if (docker.length > 1) throw new PluginError(`weft: Docker networks ${docker.map((d) => d.Name).join(', ')} share subnet ${cidr}; give each its own`, 400);
    const d = docker[0];
    if (!d) {
      throw new PluginError(`weft: no Docker network of driver weft has subnet ${cidr}`, 400);
    }
    const named = weft.find((n) => n.name === d.Name);
    if (named) return named;
    const gw = d.IPAM?.Config?.find((c) => c.Gateway)?.Gateway;
    return this.ensureNetwork(d.Name, cidr, gw, d.Options?.[OPTION_MODE]);
  }

  private async createNetwork(b: Record<string, unknown>): Promise<unknown> {
    const id = dockerId(b, 'NetworkID', 'CreateNetwork');
    const v4 = Array.isArray(b.IPv4Data) ? b.IPv4Data.map(obj) : [];
    const v6 = Array.isArray(b.IPv6Data) ? b.IPv6Data : [];
    const pool = v4[0] && typeof v4[0].Pool === 'string' ? canonicalCidr(v4[0].Pool) : undefined;
    try {
      if (!pool) throw new PluginError('weft: a Weft network needs an IPv4 subnet: docker network create -d weft --ipam-driver weft --subnet a.b.c.d/len NAME', 400);
      if (v4.length > 1) throw new PluginError('weft: a Weft network has one IPv4 subnet', 400);
      if (v6.length) throw new PluginError('weft: Weft networks are IPv4 only (no --ipv6)', 400);
      if (v4[0]!.AddressSpace !== 'weft') throw new PluginError('weft: Weft chooses the addresses: create the network with --ipam-driver weft', 400);
      const generic = obj(obj(b.Options)['com.docker.network.generic']);
      for (const k of Object.keys(generic)) {
        if (k.startsWith('weft.') && k !== OPTION_MODE) throw new PluginError(`weft: unknown option ${k} (known: ${OPTION_MODE})`, 400);
      }
      const mode = generic[OPTION_MODE];
      if (mode !== undefined && (typeof mode !== 'string' || !MODES.includes(mode))) throw new PluginError(`weft: -o ${OPTION_MODE}=${String(mode)}: use one of ${MODES.join(', ')}`, 400);
      const gw = typeof v4[0]!.Gateway === 'string' ? address(v4[0]!.Gateway, 'CreateNetwork gateway') : undefined;
      // dockerd stores the network (and so its name) once this call has answered
      const p = this.bind(id, pool, gw, mode as string | undefined).finally(() => this.binds.delete(p));
      this.binds.add(p);
      this.refusedPools.delete(pool);
      return {};
    } catch (e) {
      if (pool) this.refusedPools.add(pool);
      throw e;
    }
  }

  /** After CreateNetwork: the network's name from dockerd, then the Weft network made or adopted. */
  private async bind(id: string, cidr: string, gateway: string | undefined, mode: string | undefined): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (let delay = 20; Date.now() < deadline; delay = Math.min(delay * 2, 500)) {
      await new Promise((r) => setTimeout(r, delay));
      try {
        const d = await this.o.docker.network(id);
        if (!d) continue;
        await this.ensureNetwork(d.Name, cidr, gateway, mode);
        return;
      } catch (e) {
        this.o.log.warn({ network: id.slice(0, 12), err: (e as Error).message }, 'binding the Docker network to Weft');
        // refused (a host token may not make networks, a subnet outside the policy): the first run says why
        if (e instanceof PluginError || (e instanceof ApiHttpError && e.status < 500)) return;
      }
    }
    this.o.log.warn({ network: id.slice(0, 12) }, 'dockerd did not show the network: its Weft network is made on first use');
  }

  /** Resolves when the networks being bound are (tests). */
  async settled(): Promise<void> { await Promise.allSettled([...this.binds]); }

  // ---- IPAM -----------------------------------------------------------------

  private async requestPool(b: Record<string, unknown>): Promise<unknown> {
    if (b.V6 === true) throw new PluginError('weft: Weft networks are IPv4 only', 400);
    const pool = optStr(b, 'Pool');
    if (!pool) throw new PluginError('weft: give the subnet: docker network create --ipam-driver weft --subnet a.b.c.d/len', 400);
    if (optStr(b, 'SubPool')) throw new PluginError('weft: --ip-range is not supported; Weft allocates from the whole subnet', 400);
    const cidr = canonicalCidr(pool);
    return { PoolID: poolIdOf(cidr), Pool: cidr, Data: {} };
  }

  private async releasePool(b: Record<string, unknown>): Promise<unknown> {
    const cidr = cidrOfPool(b.PoolID);
    if (this.refusedPools.delete(cidr)) return {};
    try {
      // the network being removed is already gone from dockerd; another Docker network of the subnet keeps it
      const others = await this.o.docker.networks('weft').catch(() => []);
      if (others.some((n) => (n.IPAM?.Config ?? []).some((c) => c.Subnet !== undefined && canonicalCidrOrNull(c.Subnet) === cidr))) return {};
      const nets = (await this.api.listNetworks()).filter((n) => n.cidr === cidr);
      if (nets.length !== 1) return {};
      await this.api.deleteNetwork(nets[0]!.name);
      this.o.log.info({ network: nets[0]!.name }, 'Weft network deleted');
    } catch (e) {
      // still used (by another host, or by the REST API's endpoints): it stays
      if (e instanceof ApiHttpError && (e.status === 409 || e.status === 403)) { this.o.log.info({ cidr, err: e.message }, 'Weft network kept'); return {}; }
      throw fail('deleting the Weft network', e);
    }
    return {};
  }

  private async requestAddress(b: Record<string, unknown>): Promise<unknown> {
    const cidr = cidrOfPool(b.PoolID);
    const len = cidr.split('/')[1];
    const want = optStr(b, 'Address') !== undefined ? address(optStr(b, 'Address')!, 'RequestAddress') : undefined;
    const opts = obj(b.Options);
    try {
      if (opts.RequestAddressType === GATEWAY_REQUEST) {
        // the Weft network gives the gateway (its default is the subnet's first host address)
        const nets = (await this.api.listNetworks()).filter((n) => n.cidr === cidr);
        const gw = nets.length === 1 ? nets[0]!.gateway : want ?? firstHost(cidr);
        if (want !== undefined && want !== gw) throw new PluginError(`weft: the Weft network of ${cidr} has gateway ${gw}, not ${want}`, 400);
        return { Address: `${gw}/${len}`, Data: {} };
      }
      const net = await this.networkForPool(cidr);
      const mac = typeof opts[MAC_OPTION] === 'string' ? (opts[MAC_OPTION] as string).toLowerCase() : undefined;
      const { endpoint: ep } = await this.api.createEndpoint({
        containerId: `${RESERVE_PREFIX}${randomBytes(8).toString('hex')}`, ifName: DOCKER_IFNAME, host: this.o.host, network: net.name,
        ...(want ? { ip: want } : {}), ...(mac ? { mac } : {}),
      });
      return { Address: `${ep.ip}/${ep.prefixLength}`, Data: {} };
    } catch (e) {
      throw fail(`reserving an address in ${cidr}`, e);
    }
  }

  private async releaseAddress(b: Record<string, unknown>): Promise<unknown> {
    const cidr = cidrOfPool(b.PoolID);
    const ip = address(str(b, 'Address', 'ReleaseAddress'), 'ReleaseAddress');
    try {
      const nets = new Set((await this.api.listNetworks()).filter((n) => n.cidr === cidr).map((n) => n.name));
      // only an unclaimed reservation: a claimed endpoint goes with DeleteEndpoint
      const eps = (await this.api.findEndpoints({ host: this.o.host })).filter((e) => nets.has(e.network) && e.ip === ip && e.containerId.startsWith(RESERVE_PREFIX));
      for (const e of eps) await this.api.deleteEndpoint(e.id);
      return {};
    } catch (e) {
      throw fail(`releasing ${ip}`, e);
    }
  }

  // ---- endpoints ------------------------------------------------------------

  /** Weft's endpoint for a Docker endpoint on this host, or undefined. */
  private async endpointOf(dockerEndpoint: string): Promise<Endpoint | undefined> {
    return (await this.api.findEndpoints({ host: this.o.host, containerId: dockerEndpoint }))[0];
  }

  private async createEndpoint(b: Record<string, unknown>): Promise<unknown> {
    const eid = dockerId(b, 'EndpointID', 'CreateEndpoint');
    const iface = obj(b.Interface);
    if (optStr(iface, 'AddressIPv6')) throw new PluginError('weft: Weft networks are IPv4 only', 400);
    if (!optStr(iface, 'Address')) throw new PluginError('weft: the endpoint has no address: create the network with --ipam-driver weft', 400);
    const ip = address(optStr(iface, 'Address')!, 'CreateEndpoint');
    const mac = optStr(iface, 'MacAddress')?.toLowerCase();
    let ep: Endpoint;
    try {
      const mine = await this.api.findEndpoints({ host: this.o.host });
      const claimed = mine.find((e) => e.containerId === eid);
      if (claimed) ep = claimed; // a retried call
      else {
        const res = mine.filter((e) => e.ip === ip && e.containerId.startsWith(RESERVE_PREFIX));
        const r = res.find((e) => mac === undefined || e.mac.toLowerCase() === mac) ?? res[0];
        if (!r) throw new PluginError(`weft: Weft holds no reservation of ${ip} on host ${this.o.host} (was the address requested from the weft IPAM driver?)`, 400);
        ep = await this.api.patchEndpoint(r.id, { containerId: eid });
      }
    } catch (e) {
      throw fail('claiming the address', e);
    }
    const done = { veth: false, port: false };
    try {
      const mtu = typeof ep.mtu === 'number' && ep.mtu > 0 ? ep.mtu : DEFAULTS.mtu;
      const peer = containerEnd(ep);
      try {
        await netlink.createVethPairHere(ep.portName, randomMac(), peer, ep.mac.toLowerCase(), mtu);
      } catch (e) {
        if (!netlink.isExists(e)) throw e;
        // a retried call, or one cut short: what it made is replaced
        await this.o.ovs.delPort(ep.portName);
        await netlink.deleteLink(ep.portName);
        await netlink.deleteLink(peer);
        await netlink.createVethPairHere(ep.portName, randomMac(), peer, ep.mac.toLowerCase(), mtu);
      }
      done.veth = true;
      const ofportRequest = typeof ep.ofportRequest === 'number' && ep.ofportRequest > 0 ? ep.ofportRequest : undefined;
      await this.o.ovs.addPort(ep.portName, {
        [EXTERNAL_IDS.endpoint]: ep.id, [EXTERNAL_IDS.containerId]: eid, [EXTERNAL_IDS.iface]: DOCKER_IFNAME,
        [EXTERNAL_IDS.network]: ep.network, [DOCKER_ENDPOINT_ID]: eid,
      }, ofportRequest);
      done.port = true;
    } catch (e) {
      // Docker releases the address after a failed CreateEndpoint, but the endpoint is claimed now: it goes here
      if (done.port) await this.o.ovs.delPort(ep.portName).catch(() => undefined);
      if (done.veth) await netlink.deleteLink(ep.portName).catch(() => undefined);
      await this.api.deleteEndpoint(ep.id).catch(() => undefined);
      throw fail(`plumbing endpoint ${ep.id}`, e);
    }
    // Docker set the address and MAC itself (from the IPAM answer): the driver must not change them
    return { Interface: null };
  }

  private async join(b: Record<string, unknown>): Promise<unknown> {
    const eid = dockerId(b, 'EndpointID', 'Join');
    try {
      const ep = await this.endpointOf(eid);
      if (!ep) throw new PluginError(`weft: Weft has no endpoint for Docker endpoint ${eid.slice(0, 12)} on host ${this.o.host}`, 404);
      // the flows are installed and confirmed before the container gets its interface
      const ready = await waitReady(this.api, ep.id, this.o.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs);
      return {
        InterfaceName: { SrcName: containerEnd(ready), DstPrefix: 'eth' },
        ...(ready.gateway ? { Gateway: ready.gateway } : {}),
        StaticRoutes: [],
        DisableGatewayService: false,
      };
    } catch (e) {
      throw fail('joining the endpoint', e);
    }
  }

  private async deleteEndpoint(b: Record<string, unknown>): Promise<unknown> {
    const eid = dockerId(b, 'EndpointID', 'DeleteEndpoint');
    const problems: string[] = [];
    const attempt = async <T>(what: string, f: () => Promise<T>): Promise<T | undefined> => {
      try { return await f(); } catch (e) { problems.push(`${what}: ${(e as Error).message}`); return undefined; }
    };
    // OVS's ports of this Docker endpoint (external_ids), and Weft's endpoint
    const ifaces = await attempt('listing OVS ports', () => this.o.ovs.findInterfaces({ [DOCKER_ENDPOINT_ID]: eid })) ?? [];
    const ep = await attempt('looking up the endpoint', () => this.endpointOf(eid));
    const names = new Set([...ifaces.map((i) => i.name), ...(ep ? [ep.portName] : [])]);
    for (const n of names) {
      await attempt(`deleting OVS port ${n}`, () => this.o.ovs.delPort(n));
      await attempt(`deleting ${n}`, () => netlink.deleteLink(n));
      await attempt(`deleting ${containerEnd({ portName: n })}`, () => netlink.deleteLink(containerEnd({ portName: n })));
    }
    if (ep) await attempt(`deleting endpoint ${ep.id}`, () => this.api.deleteEndpoint(ep.id));
    if (problems.length) throw new PluginError(`weft: ${problems.join('; ')}`);
    return {};
  }

  private async endpointOperInfo(b: Record<string, unknown>): Promise<unknown> {
    const eid = dockerId(b, 'EndpointID', 'EndpointOperInfo');
    try {
      const ep = await this.endpointOf(eid);
      return { Value: ep ? { weftEndpoint: ep.id, network: ep.network, state: ep.state, portName: ep.portName } : {} };
    } catch (e) {
      throw fail('reading the endpoint', e);
    }
  }

  // ---- published ports ------------------------------------------------------

  private async programExternal(b: Record<string, unknown>): Promise<unknown> {
    const eid = dockerId(b, 'EndpointID', 'ProgramExternalConnectivity');
    const mappings = portMappingsOf(obj(b.Options)['com.docker.network.portmap']);
    if (!mappings.length) return {};
    try {
      const ep = await this.endpointOf(eid);
      if (!ep) throw new PluginError(`weft: Weft has no endpoint for Docker endpoint ${eid.slice(0, 12)}`, 404);
      await this.api.patchEndpoint(ep.id, { portMappings: mappings });
      return {};
    } catch (e) {
      throw fail('publishing ports', e);
    }
  }

  private async revokeExternal(b: Record<string, unknown>): Promise<unknown> {
    const eid = dockerId(b, 'EndpointID', 'RevokeExternalConnectivity');
    try {
      const ep = await this.endpointOf(eid);
      if (ep && (ep.portMappings ?? []).length) await this.api.patchEndpoint(ep.id, { portMappings: [] });
      return {};
    } catch (e) {
      throw fail('unpublishing ports', e);
    }
  }

  // ---- reservations never claimed ---------------------------------------------

  /**
   * Deletes what Docker left in Weft on this host and will not come back
   * for, once older than `ttlMs`: reservations never claimed (dockerd went
   * away between RequestAddress and CreateEndpoint), and claimed endpoints
   * whose OVS port is gone (a DeleteEndpoint that removed the port but could
   * not reach Weft). Returns how many.
   */
  async reconcileReservations(now = Date.now(), ttlMs = RESERVATION_TTL_MS): Promise<number> {
    const old = (await this.api.findEndpoints({ host: this.o.host }))
      .filter((e) => e.createdAt !== undefined && now - Date.parse(e.createdAt) > ttlMs);
    const stale = [];
    for (const e of old) {
      if (e.containerId.startsWith(RESERVE_PREFIX)) stale.push(e);
      else if (e.ifName === DOCKER_IFNAME && DOCKER_ID.test(e.containerId) && (await this.o.ovs.findInterfaces({ [DOCKER_ENDPOINT_ID]: e.containerId })).length === 0) stale.push(e);
    }
    for (const e of stale) await this.api.deleteEndpoint(e.id);
    if (stale.length) this.o.log.info({ endpoints: stale.map((e) => e.id) }, 'stale Docker endpoints deleted');
    return stale.length;
  }
}

function canonicalCidrOrNull(s: string): string | null {
  try { return canonicalCidr(s); } catch { return null; }
}

/** Docker's com.docker.network.portmap as Weft portMappings; a port Docker would choose (HostPort 0) is refused. */
export function portMappingsOf(v: unknown): NonNullable<CreateEndpointRequest['portMappings']> {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new PluginError('weft: com.docker.network.portmap is not a list', 400);
  if (v.length > 64) throw new PluginError('weft: at most 64 published ports per endpoint', 400);
  const out: NonNullable<CreateEndpointRequest['portMappings']> = [];
  for (const m of v.map(obj)) {
    const proto = m.Proto === 6 ? 'tcp' : m.Proto === 17 ? 'udp' : undefined;
    if (!proto) throw new PluginError(`weft: published ports are TCP or UDP (protocol ${String(m.Proto)})`, 400);
    const port = m.Port; const from = m.HostPort; const to = m.HostPortEnd ?? m.HostPort;
    if (!Number.isInteger(port) || !Number.isInteger(from) || !Number.isInteger(to)) throw new PluginError('weft: a published port needs integer Port and HostPort', 400);
    if (from === 0) throw new PluginError(`weft: -p ${String(port)} without a host port: Weft publishes the host port you name (-p HOSTPORT:${String(port)})`, 400);
    if (to !== from) throw new PluginError('weft: host port ranges are not supported: name one host port', 400);
    const hostIP = typeof m.HostIP === 'string' ? m.HostIP : '';
    out.push({ hostPort: from as number, containerPort: port as number, protocol: proto, ...(hostIP ? { hostIP } : {}) });
  }
  return out;
}
