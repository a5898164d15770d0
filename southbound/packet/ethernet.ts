// Just enough frame parsing for the controller's apps: Ethernet (with one
// 802.1Q tag), ARP, IPv4 addresses and LLDP. Never throws on short or odd
// frames: fields that are not there are undefined.
import { macToString, ipv4ToString, macToBytes, ipv4ToBytes } from '../codec/oxm';

export const ETH_TYPE_IPV4 = 0x0800;
export const ETH_TYPE_ARP = 0x0806;
export const ETH_TYPE_VLAN = 0x8100;
export const ETH_TYPE_IPV6 = 0x86dd;
export const ETH_TYPE_LLDP = 0x88cc;

export interface Frame {
  dst: string;
  src: string;
  ethType: number;
  vlan?: number;
  /** offset of the payload after Ethernet (and VLAN) headers */
  l3: number;
  arp?: { op: number; sha: string; spa: string; tha: string; tpa: string };
  ipv4?: { src: string; dst: string; proto: number };
}

export function parseFrame(b: Buffer): Frame | undefined {
  if (b.length < 14) return undefined;
  let ethType = b.readUInt16BE(12);
  let l3 = 14;
  let vlan: number | undefined;
  if (ethType === ETH_TYPE_VLAN && b.length >= 18) {
    vlan = b.readUInt16BE(14) & 0xfff;
    ethType = b.readUInt16BE(16);
    l3 = 18;
  }
  const f: Frame = { dst: macToString(b.subarray(0, 6)), src: macToString(b.subarray(6, 12)), ethType, l3 };
  if (vlan !== undefined) f.vlan = vlan;
  if (ethType === ETH_TYPE_ARP && b.length >= l3 + 28) {
    f.arp = {
      op: b.readUInt16BE(l3 + 6), sha: macToString(b.subarray(l3 + 8, l3 + 14)), spa: ipv4ToString(b.subarray(l3 + 14, l3 + 18)),
      tha: macToString(b.subarray(l3 + 18, l3 + 24)), tpa: ipv4ToString(b.subarray(l3 + 24, l3 + 28)),
    };
  } else if (ethType === ETH_TYPE_IPV4 && b.length >= l3 + 20) {
    f.ipv4 = { proto: b[l3 + 9], src: ipv4ToString(b.subarray(l3 + 12, l3 + 16)), dst: ipv4ToString(b.subarray(l3 + 16, l3 + 20)) };
  }
  return f;
}

/** True for group (broadcast/multicast) MAC addresses. */
export function isGroupMac(mac: string): boolean {
  const d = mac.charCodeAt(1); // the low bit of the first byte is the low bit of its second hex digit
  const v = d <= 57 ? d - 48 : (d | 32) - 87;
  return (v & 1) === 1;
}

/** Bytes 0-5 / 6-11 as lowercase strings without allocating a Frame (hot path). */
export function frameMacs(b: Buffer): [string, string] | undefined {
  if (b.length < 14) return undefined;
  return [macToString(b.subarray(0, 6)), macToString(b.subarray(6, 12))];
}

/** A broadcast ARP request (RFC 826) from (srcMac, srcIp) for targetIp. */
export function buildArpRequest(srcMac: string, srcIp: string, targetIp: string): Buffer {
  const b = Buffer.alloc(42);
  b.fill(0xff, 0, 6);
  macToBytes(srcMac).copy(b, 6);
  b.writeUInt16BE(ETH_TYPE_ARP, 12);
  b.writeUInt16BE(1, 14); b.writeUInt16BE(ETH_TYPE_IPV4, 16); b[18] = 6; b[19] = 4; b.writeUInt16BE(1, 20);
  macToBytes(srcMac).copy(b, 22);
  ipv4ToBytes(srcIp).copy(b, 28);
  ipv4ToBytes(targetIp).copy(b, 38);
  return b;
}
