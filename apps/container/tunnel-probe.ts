// Tunnel probes (apps/tunnel-prober.ts): the controller sends a probe frame
// by packet-out on host A into vxlan0 with VNI TUNNEL_PROBE_VNI and B's
// underlay address; on B, br-int's classifier hands it to the controller.
// One flow per registered peer, matching that peer's underlay address as the
// tunnel's source, through a meter: whatever the underlay carries, B sends
// at most the meter's rate of probe packet-ins. The controller accepts a
// probe only with a nonce it issued (a container that reaches vxlan0 over
// the underlay with this VNI gets, at most, a dropped packet-in).
import type { FlowMod } from '../../southbound/codec';
import { OFPP_CONTROLLER } from '../../southbound/codec';
import { flow, objectId, TUNNEL_PROBE_VNI, TUNNEL_PROBE_METER } from '../../controller/pipeline';
import type { Ctx } from './context';
import type { MeterSpec } from '../../controller/reconciler';
import type { HostRec } from '../../controller/resources';

/** Bytes of a probe sent to the controller: the inner frame (the probe is 64 bytes). */
export const PROBE_PUNT_BYTES = 128;

export function tunnelProbeFlows(c: Ctx): FlowMod[] {
  const { s, tun } = c;
  if (!s.tunnelProbes || tun === undefined) return [];
  // the hosts, the tunnel port and whether probes are on are in the host's context deps
  return c.memo('tunnelProbes', [], () => probeFlows(c, tun));
}

function probeFlows(c: Ctx, tun: number): FlowMod[] {
  const { s } = c;
  const me = s.hosts.get(s.host);
  const out: FlowMod[] = [];
  const seen = new Set<string>();
  for (const h of s.hosts.values()) {
    if (h.name === s.host || h.underlayIp === me?.underlayIp || seen.has(h.underlayIp)) continue;
    seen.add(h.underlayIp);
    out.push(flow('classifier', { category: 'probe', id: objectId(h.name) }).band('tunnelProbe')
      .match('in_port', tun).match('tunnel_id', BigInt(TUNNEL_PROBE_VNI)).match('tun_ipv4_src', h.underlayIp)
      .meter(TUNNEL_PROBE_METER).actions({ type: 'output', port: OFPP_CONTROLLER, max_len: PROBE_PUNT_BYTES }).build());
  }
  return out;
}

/** Meter flags: rate in packets per second, with a burst size. */
const OFPMF_PKTPS = 2, OFPMF_BURST = 4;

/** The probe meter's rate on a host with `peers` other hosts probed every intervalMs: twice the probes it should get, and some. */
export function probeMeterRate(peers: number, intervalMs: number): { rate: number; burst: number } {
  return { rate: Math.ceil((2 * peers * 1000) / intervalMs) + 10, burst: peers + 10 };
}

/** The meter of a host's probe flows. */
export function tunnelProbeMeter(host: string, hosts: Iterable<HostRec>, intervalMs: number): MeterSpec {
  let peers = 0;
  for (const h of hosts) if (h.name !== host) peers++;
  const { rate, burst } = probeMeterRate(peers, intervalMs);
  return { meter_id: TUNNEL_PROBE_METER, flags: OFPMF_PKTPS | OFPMF_BURST, bands: [{ type: 'drop', rate, burst_size: burst }] };
}
