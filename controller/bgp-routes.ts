// What the BGP speaker (controller/bgp.ts) announces: every host block of a
// routed network via its host's underlay address, and a routed endpoint
// living on another host's (or no host's) block as a /32 via its own host.
import type { Resources } from './resources';
import { Ipam, blockOf } from './ipam';
import { ipToInt, intToIp } from './ipv4';

export function bgpRoutes(resources: Resources, ipam: Ipam): { prefix: string; nextHop: string }[] {
  const hosts = new Map(resources.hosts().map((h) => [h.name, h]));
  const routed = new Map(resources.networks().filter((n) => n.mode === 'routed').map((n) => [n.id, n]));
  if (!routed.size) return [];
  const blocks = ipam.allBlocks().filter((b) => routed.has(b.networkId));
  const out = blocks.flatMap((b) => {
    const h = b.host ? hosts.get(b.host) : undefined;
    return h ? [{ prefix: `${intToIp(b.base)}/${b.len}`, nextHop: h.underlayIp }] : [];
  });
  for (const e of resources.endpoints()) {
    if (!routed.has(e.networkId)) continue;
    const h = hosts.get(e.host);
    if (blockOf(blocks, e.networkId, ipToInt(e.ip))?.host !== e.host && h) out.push({ prefix: `${e.ip}/32`, nextHop: h.underlayIp });
  }
  return out;
}
