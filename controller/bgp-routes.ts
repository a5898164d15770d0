// What the BGP speaker (controller/bgp.ts) announces: every host block of a
// routed network via its host's underlay address, and a routed endpoint
// living on another host's (or no host's) block as a /32 via its own host.
// Only prefixes the policy allows (inside a pod CIDR, clear of the forbidden
// ranges, inside their network) are announced, and only via a registered
// host's underlay address that is a unicast host address: whatever the
// database holds (a network made before the policy, say), nothing else
// reaches the underlay's routers.
import type { Resources } from './resources';
import { Ipam, blockOf } from './ipam';
import { ipToInt, intToIp, parseCidr, cidrWithin, isIp } from './ipv4';
import { ContainerPolicy, DEFAULT_POLICY, allowedPrefix } from './container-policy';
import { hostAddressRefusal } from './container-validation';

export function bgpRoutes(resources: Resources, ipam: Ipam, policy: ContainerPolicy = DEFAULT_POLICY): { prefix: string; nextHop: string }[] {
  const hosts = new Map(resources.hosts().filter((h) => isIp(h.underlayIp) && !hostAddressRefusal(h.underlayIp, null)).map((h) => [h.name, h]));
  const routed = new Map(resources.networks().filter((n) => n.mode === 'routed').map((n) => [n.id, n]));
  if (!routed.size) return [];
  const blocks = ipam.allBlocks().filter((b) => routed.has(b.networkId));
  const out: { prefix: string; nextHop: string }[] = [];
  const announce = (networkId: number, prefix: string, nextHop: string) => {
    const c = parseCidr(prefix);
    if (allowedPrefix(policy, c) && cidrWithin(c, parseCidr(routed.get(networkId)!.cidr))) out.push({ prefix, nextHop });
  };
  for (const b of blocks) {
    const h = b.host ? hosts.get(b.host) : undefined;
    if (h) announce(b.networkId, `${intToIp(b.base)}/${b.len}`, h.underlayIp);
  }
  for (const e of resources.endpoints()) {
    if (!routed.has(e.networkId) || !isIp(e.ip)) continue;
    const h = hosts.get(e.host);
    if (blockOf(blocks, e.networkId, ipToInt(e.ip))?.host !== e.host && h) announce(e.networkId, `${e.ip}/32`, h.underlayIp);
  }
  return out;
}
