// BGP-4 OPEN (RFC 4271 §4.2), KEEPALIVE (§4.4) and NOTIFICATION (§4.5)
// messages, and the error codes the session sends (§4.5, §6; Cease subcodes
// RFC 4486).
import { intToIpv4, ipv4ToInt } from './address';
import { BgpError, BGP_TYPE, encodeMessage } from './header';

export const BGP_VERSION = 4;

/** NOTIFICATION error codes (RFC 4271 §4.5). */
export const BGP_ERR = {
  MESSAGE_HEADER: 1, OPEN_MESSAGE: 2, UPDATE_MESSAGE: 3, HOLD_TIMER_EXPIRED: 4, FSM: 5, CEASE: 6,
} as const;
/** The subcodes sent here, by error code. */
export const BGP_SUBCODE = {
  UNSPECIFIC: 0,
  // Message Header Error (§6.1)
  BAD_MESSAGE_TYPE: 3,
  // OPEN Message Error (§6.2)
  UNSUPPORTED_VERSION_NUMBER: 1, BAD_PEER_AS: 2, UNACCEPTABLE_HOLD_TIME: 6,
  // Cease (RFC 4486 §4)
  ADMINISTRATIVE_SHUTDOWN: 2,
} as const;

export interface BgpOpen { version: number; asn: number; holdTime: number; routerId: string }

/** OPEN with a two-octet AS and no optional parameters (so no capabilities). */
export function encodeOpen(asn: number, holdTime: number, routerId: string): Buffer {
  const b = Buffer.alloc(10);
  b[0] = BGP_VERSION;
  b.writeUInt16BE(asn, 1);
  b.writeUInt16BE(holdTime, 3);
  b.writeUInt32BE(ipv4ToInt(routerId), 5);
  b[9] = 0; // Optional Parameters Length
  return encodeMessage(BGP_TYPE.OPEN, b);
}

/** The fixed part of an OPEN body; optional parameters are not read. */
export function decodeOpen(body: Buffer): BgpOpen {
  if (body.length < 10) throw new BgpError('short OPEN');
  return { version: body[0]!, asn: body.readUInt16BE(1), holdTime: body.readUInt16BE(3), routerId: intToIpv4(body.readUInt32BE(5)) };
}

export const encodeKeepalive = (): Buffer => encodeMessage(BGP_TYPE.KEEPALIVE, Buffer.alloc(0));

export function encodeNotification(code: number, subcode: number): Buffer {
  return encodeMessage(BGP_TYPE.NOTIFICATION, Buffer.from([code, subcode]));
}
