// BGP-4 UPDATE messages (RFC 4271 §4.3) for IPv4 unicast: withdrawn routes,
// the path attributes ORIGIN, AS_PATH, NEXT_HOP and LOCAL_PREF (§5.1), and
// NLRI, split so that no message exceeds 4096 bytes.
import { ipv4ToInt, prefixMask } from './address';
import { BGP_HEADER_LEN, BGP_MAX_MESSAGE, BGP_TYPE, encodeMessage } from './header';

/** A route to announce: prefix "a.b.c.d/len" and its next hop. */
export interface BgpRoute { prefix: string; nextHop: string }

/** Attribute flags (§4.3): well-known attributes are transitive, not optional. */
const TRANSITIVE = 0x40;
const ATTR = { ORIGIN: 1, AS_PATH: 2, NEXT_HOP: 3, LOCAL_PREF: 5 } as const;
const ORIGIN_IGP = 0;
const AS_SEQUENCE = 2;

/** A prefix as (length, the significant octets); host bits are cleared. */
function encodePrefix(prefix: string): Buffer {
  const [ip, lenS] = prefix.split('/');
  const len = Number(lenS);
  const n = (ipv4ToInt(ip!) & prefixMask(len)) >>> 0;
  const bytes = Math.ceil(len / 8);
  const b = Buffer.alloc(1 + bytes);
  b[0] = len;
  for (let i = 0; i < bytes; i++) b[1 + i] = (n >>> (24 - 8 * i)) & 0xff;
  return b;
}

function attr(flags: number, type: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([flags, type, value.length]), value]);
}

/**
 * UPDATE messages announcing `routes` (grouped by next hop) and withdrawing
 * `withdrawn` prefixes, for a peer in `peerAsn` from us in `asn`. eBGP peers
 * get our AS in AS_PATH; iBGP peers an empty AS_PATH and LOCAL_PREF 100.
 */
export function encodeUpdates(asn: number, peerAsn: number, routes: BgpRoute[], withdrawn: string[]): Buffer[] {
  const out: Buffer[] = [];
  // room for prefixes: the header, both length fields and slack
  const room = BGP_MAX_MESSAGE - BGP_HEADER_LEN - 4 - 64;
  // withdrawals, as many per message as fit
  let w: Buffer[] = [];
  let wLen = 0;
  const flushW = () => {
    if (!w.length) return;
    const wb = Buffer.concat(w);
    const b = Buffer.alloc(2 + wb.length + 2);
    b.writeUInt16BE(wb.length, 0);
    wb.copy(b, 2);
    b.writeUInt16BE(0, 2 + wb.length);
    out.push(encodeMessage(BGP_TYPE.UPDATE, b));
    w = [];
    wLen = 0;
  };
  for (const p of withdrawn) {
    const e = encodePrefix(p);
    if (wLen + e.length > room) flushW();
    w.push(e);
    wLen += e.length;
  }
  flushW();
  const byHop = new Map<string, string[]>();
  for (const r of routes) byHop.set(r.nextHop, [...(byHop.get(r.nextHop) ?? []), r.prefix]);
  for (const [hop, prefixes] of byHop) {
    const ebgp = peerAsn !== asn;
    const asPath = ebgp ? Buffer.from([AS_SEQUENCE, 1, (asn >> 8) & 0xff, asn & 0xff]) : Buffer.alloc(0);
    const nh = Buffer.alloc(4);
    nh.writeUInt32BE(ipv4ToInt(hop));
    const attrs = Buffer.concat([
      attr(TRANSITIVE, ATTR.ORIGIN, Buffer.from([ORIGIN_IGP])),
      attr(TRANSITIVE, ATTR.AS_PATH, asPath),
      attr(TRANSITIVE, ATTR.NEXT_HOP, nh),
      ...(ebgp ? [] : [attr(TRANSITIVE, ATTR.LOCAL_PREF, Buffer.from([0, 0, 0, 100]))]),
    ]);
    let nlri: Buffer[] = [];
    let nLen = 0;
    const flush = () => {
      if (!nlri.length) return;
      const nb = Buffer.concat(nlri);
      const b = Buffer.alloc(2 + 2 + attrs.length + nb.length);
      b.writeUInt16BE(0, 0);
      b.writeUInt16BE(attrs.length, 2);
      attrs.copy(b, 4);
      nb.copy(b, 4 + attrs.length);
      out.push(encodeMessage(BGP_TYPE.UPDATE, b));
      nlri = [];
      nLen = 0;
    };
    for (const p of prefixes) {
      const e = encodePrefix(p);
      if (nLen + e.length > room - attrs.length) flush();
      nlri.push(e);
      nLen += e.length;
    }
    flush();
  }
  return out;
}
