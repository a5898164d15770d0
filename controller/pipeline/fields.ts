// Named fields, registers and spec constants the pipelines use, written once
// (Antrea's fields.go model): every register, conntrack field and ct_state
// bit a flow touches is spelled here and nowhere else.
import { OFPP_MAX, OFPP_LOCAL } from '../../southbound/codec';

/** Register use on br-int. */
export const REG = {
  /** network id of the packet's source endpoint (set by the classifier or the spoof guard) */
  network: 'reg6',
  /** scratch for ARP answers: holds arp_tpa while arp_spa and arp_tpa are swapped */
  scratch: 'reg0',
} as const;

/**
 * Conntrack fields on br-phy (NAT zone). A published connection keeps the
 * client's MAC and the port it came in on, so its replies go straight back
 * without a neighbour table or MAC learning; a masqueraded one keeps the
 * container's MAC.
 */
export const CT = {
  /** ct_label[0..47]: the client's (published port) or the container's (SNAT) MAC */
  peerMac: { field: 'ct_label', ofs: 0, bits: 48 },
  /** ct_mark[0..15]: br-phy port a published connection came in on */
  ingressPort: { field: 'ct_mark', ofs: 0, bits: 16 },
} as const;

/** NXM_OF_IN_PORT (class 0, field 0): the 16-bit in_port that NXM moves can read (OXM's in_port is 32 bits). */
export const NXM_OF_IN_PORT = 'field:0:0';

/** ct_state bits (ovs-fields(7), CS_*). */
export const CS = {
  new: 0x01, est: 0x02, rel: 0x04, rpl: 0x08, inv: 0x10, trk: 0x20, snat: 0x40, dnat: 0x80,
} as const;

/** A ct_state match: `on` bits set, `off` bits clear (`+trk+rpl`, `+snat-rpl`). */
export function ctState(on: number, off = 0): { field: 'ct_state'; value: number; mask: number } {
  return { field: 'ct_state', value: on, mask: on | off };
}

/** ct's recirc_table value meaning "do not recirculate" (NX_CT_RECIRC_NONE). */
export const NX_CT_RECIRC_NONE = 255;
/** resubmit's in_port value meaning "keep the packet's in_port" (OFPP_IN_PORT in 16 bits). */
export const OFPP_IN_PORT_16 = 0xfff8;

export const ETH_TYPE = { ipv4: 0x0800, arp: 0x0806, vlan: 0x8100 } as const;
export const IP_PROTO = { icmp: 1, tcp: 6, udp: 17 } as const;
export const ARP_OP = { request: 1, reply: 2 } as const;
/** vlan_vid's OFPVID_PRESENT bit: a tagged frame's VID is matched and set with it. */
export const OFPVID_PRESENT = 0x1000;
export const BROADCAST_MAC = 'ff:ff:ff:ff:ff:ff';

/** The distributed gateway's MAC, the same on every host and network (locally administered). */
export const GATEWAY_MAC = '0e:00:00:00:00:01';
/** Name of the VXLAN port (remote_ip=flow, key=flow) on every host's br-int. */
export const TUNNEL_PORT = 'vxlan0';
/**
 * Name of the secure VXLAN port on br-int (local_ip = the host's secure
 * VTEP, remote_ip=flow, key=flow), made by `weft ipsec-agent`: encrypted
 * networks tunnel through it only, so their traffic between hosts passes the
 * host's IPsec stack (docs/pipeline.md, "Encrypted networks").
 */
export const SECURE_TUNNEL_PORT = 'vxsec0';
/**
 * The controller's tunnel probes (apps/tunnel-prober.ts) travel with this
 * VNI, which no network gets (networks' VNIs count up from 5000 and stop
 * below it); br-int's classifier sends them to the controller through meter
 * TUNNEL_PROBE_METER.
 */
export const TUNNEL_PROBE_VNI = 0xffffff;
/** The meter that bounds how many probe packet-ins a br-int may send (packets per second). */
export const TUNNEL_PROBE_METER = 1;
/** EtherType of a tunnel probe's inner frame (IEEE 802 local experimental 1). */
export const TUNNEL_PROBE_ETH_TYPE = 0x88b5;
/** Patch port on br-int leading to br-phy, and its peer on br-phy. */
export const PATCH_PORT = 'patch-phy';
export const PHY_PATCH_PORT = 'patch-int';
/** reg6 value of packets that came in from the underlay (routed mode). */
export const UNDERLAY_NET = 0xfffe;
/** Conntrack zone of published ports (DNAT) and egress SNAT on br-phy. */
export const NAT_ZONE = 0xfe00;
/**
 * Conntrack zone of network policy on br-int: the network id in reg6 (the
 * sender's network for packets from endpoints, the network of the VNI for
 * packets from the tunnel), so overlapping networks never share an entry.
 */
export const POLICY_ZONE = { zone_src: 'reg6', zone_ofs: 0, zone_n_bits: 16 } as const;

/**
 * Conntrack zone of a network's hairpin SNAT (apps/container/service.ts): a
 * backend that reached itself through its service's VIP gets the gateway
 * address as source in this zone, apart from the network's own zone (reg6)
 * where the DNAT is. Networks' ids stay far below 0x7e00, so these zones
 * meet neither NAT_ZONE nor UNDERLAY_NET.
 */
export const hairpinZone = (networkId: number): number => 0x8000 + networkId;

/**
 * Endpoint MACs are derived from the network id and the address:
 * 0a:<id>:<IPv4 bytes>. A host block of addresses is then also a MAC prefix,
 * so one flow per remote block (not per remote endpoint) delivers, answers
 * ARP and routes: flows grow with hosts, not with the cluster's endpoints.
 */
export function derivedMac(networkId: number, ip: string): string {
  return ['0a', (networkId & 0xff).toString(16).padStart(2, '0'), ...ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0'))].join(':');
}
/** The MAC prefix/mask of an address block under derivedMac. */
export function blockMac(networkId: number, baseIp: string, len: number): { value: string; mask: string } {
  const maskInt = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const m = [24, 16, 8, 0].map((sh) => ((maskInt >>> sh) & 255).toString(16).padStart(2, '0'));
  return { value: derivedMac(networkId, baseIp), mask: ['ff', 'ff', ...m].join(':') };
}
/** The endpoint's MAC is the one derivedMac gives its address (so network-wide flows cover it). */
export const isDerived = (e: { mac: string; networkId: number; ip: string }): boolean => e.mac.toLowerCase() === derivedMac(e.networkId, e.ip);

/** br-phy's uplink: its one port that is neither reserved (LOCAL) nor the patch to br-int. */
export function uplinkOf(ports: Iterable<{ port_no: number; name: string }>): number | undefined {
  for (const p of ports) if (p.port_no <= OFPP_MAX && p.name !== PHY_PATCH_PORT) return p.port_no;
  return undefined;
}

/** A bridge's own MAC: its LOCAL port's (for br-phy, the host's address on the underlay). */
export function bridgeMac(ports: Iterable<{ port_no: number; hw_addr: string }>): string | undefined {
  for (const p of ports) if (p.port_no === OFPP_LOCAL) return p.hw_addr;
  return undefined;
}
