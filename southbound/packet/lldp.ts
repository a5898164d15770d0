// LLDP probes (IEEE 802.1AB) as controllers use them for link discovery:
// chassis id = "dpid:<16 hex>", port id = port number, TTL, and an
// organisation-specific TLV carrying this controller's id, so probes from
// another controller (or replayed ones) are recognised and ignored.
import { macToBytes } from '../codec/oxm';

export const LLDP_DST = '01:80:c2:00:00:0e';
const OUI = Buffer.from([0x00, 0x26, 0xe1]); // as used by other OpenFlow controllers for their probe TLVs

export interface Probe {
  dpid: string;
  port: number;
  controllerId: string;
}

function tlv(type: number, value: Buffer): Buffer {
  const h = Buffer.alloc(2);
  h.writeUInt16BE((type << 9) | value.length);
  return Buffer.concat([h, value]);
}

export function buildProbe(p: Probe, srcMac: string): Buffer {
  const eth = Buffer.concat([macToBytes(LLDP_DST), macToBytes(srcMac), Buffer.from([0x88, 0xcc])]);
  const portBuf = Buffer.alloc(4);
  portBuf.writeUInt32BE(p.port >>> 0);
  const ttl = Buffer.alloc(2);
  ttl.writeUInt16BE(120);
  return Buffer.concat([
    eth,
    tlv(1, Buffer.concat([Buffer.from([7]), Buffer.from(`dpid:${p.dpid}`)])), // chassis id, locally assigned
    tlv(2, Buffer.concat([Buffer.from([2]), portBuf])), // port id, port component
    tlv(3, ttl),
    tlv(127, Buffer.concat([OUI, Buffer.from([0x77]), Buffer.from(p.controllerId)])),
    tlv(0, Buffer.alloc(0)),
  ]);
}

export function parseProbe(b: Buffer, l2 = 14): Probe | undefined {
  let off = l2;
  let dpid: string | undefined;
  let port: number | undefined;
  let controllerId = '';
  while (off + 2 <= b.length) {
    const h = b.readUInt16BE(off);
    const type = h >> 9;
    const len = h & 0x1ff;
    off += 2;
    if (off + len > b.length) return undefined;
    const v = b.subarray(off, off + len);
    off += len;
    if (type === 0) break;
    if (type === 1 && len > 1 && v[0] === 7) {
      const s = v.subarray(1).toString('latin1');
      if (/^dpid:[0-9a-f]{16}$/.test(s)) dpid = s.slice(5);
    } else if (type === 2 && len === 5 && v[0] === 2) {
      port = v.readUInt32BE(1);
    } else if (type === 127 && len >= 4 && v.subarray(0, 3).equals(OUI) && v[3] === 0x77) {
      controllerId = v.subarray(4).toString('latin1');
    }
  }
  if (dpid === undefined || port === undefined) return undefined;
  return { dpid, port, controllerId };
}
