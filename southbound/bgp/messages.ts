// BGP-4 OPEN (RFC 4271 §4.2), KEEPALIVE (§4.4) and NOTIFICATION (§4.5)
// messages, and the error codes the session sends (§4.5, §6; Cease subcodes
// RFC 4486).
import { intToIpv4, ipv4ToInt } from './address';
import { BgpError, BGP_HEADER_LEN, BGP_TYPE, encodeMessage } from './header';
import { BgpCapabilities, decodeOptionalParameters, encodeCapabilities, OwnCapabilities } from './capabilities';

export const BGP_VERSION = 4;

/** NOTIFICATION error codes (RFC 4271 §4.5). */
export const BGP_ERR = {
  MESSAGE_HEADER: 1, OPEN_MESSAGE: 2, UPDATE_MESSAGE: 3, HOLD_TIMER_EXPIRED: 4, FSM: 5, CEASE: 6,
} as const;
/** The subcodes sent here, by error code. */
export const BGP_SUBCODE = {
  UNSPECIFIC: 0,
  // Message Header Error (§6.1)
  CONNECTION_NOT_SYNCHRONIZED: 1, BAD_MESSAGE_LENGTH: 2, BAD_MESSAGE_TYPE: 3,
  // UPDATE Message Error (§6.3)
  MALFORMED_ATTRIBUTE_LIST: 1,
  // OPEN Message Error (§6.2)
  UNSUPPORTED_VERSION_NUMBER: 1, BAD_PEER_AS: 2, UNACCEPTABLE_HOLD_TIME: 6,
  // Cease (RFC 4486 §4)
  ADMINISTRATIVE_SHUTDOWN: 2,
} as const;

export interface BgpOpen { version: number; asn: number; holdTime: number; routerId: string; capabilities: BgpCapabilities }

/** OPEN with a two-octet AS and, when given, one Capabilities optional parameter (southbound/bgp/capabilities.ts). */
export function encodeOpen(asn: number, holdTime: number, routerId: string, caps?: OwnCapabilities): Buffer {
  const params = caps ? encodeCapabilities(caps) : Buffer.alloc(0);
  const b = Buffer.alloc(10 + params.length);
  b[0] = BGP_VERSION;
  b.writeUInt16BE(asn, 1);
  b.writeUInt16BE(holdTime, 3);
  b.writeUInt32BE(ipv4ToInt(routerId), 5);
  b[9] = params.length; // Optional Parameters Length
  params.copy(b, 10);
  return encodeMessage(BGP_TYPE.OPEN, b);
}

/**
 * An OPEN body: the fixed part and the capabilities of its optional
 * parameters. Throws BgpOpenError (with the OPEN Message Error subcode) for
 * malformed optional parameters, BgpError for a body too short.
 */
export function decodeOpen(body: Buffer): BgpOpen {
  if (body.length < 10) throw new BgpError('short OPEN');
  const opt = body[9]!;
  if (10 + opt > body.length) throw new BgpError(`OPEN's optional parameters length ${opt} exceeds its ${body.length - 10} bytes`);
  return {
    version: body[0]!, asn: body.readUInt16BE(1), holdTime: body.readUInt16BE(3), routerId: intToIpv4(body.readUInt32BE(5)),
    capabilities: decodeOptionalParameters(body.subarray(10, 10 + opt)),
  };
}

/** End-of-RIB for IPv4 unicast (RFC 4724 §2): an UPDATE with no withdrawn routes, no attributes and no NLRI. */
export const encodeEndOfRib = (): Buffer => encodeMessage(BGP_TYPE.UPDATE, Buffer.alloc(4));

/** Whether an UPDATE body is the IPv4 unicast End-of-RIB. */
export const isEndOfRib = (body: Buffer): boolean => body.length === 4 && body.readUInt32BE(0) === 0;

export const encodeKeepalive = (): Buffer => encodeMessage(BGP_TYPE.KEEPALIVE, Buffer.alloc(0));

export function encodeNotification(code: number, subcode: number, data: Buffer = Buffer.alloc(0)): Buffer {
  return encodeMessage(BGP_TYPE.NOTIFICATION, Buffer.concat([Buffer.from([code, subcode]), data]));
}

/** What to answer a malformed message with (RFC 4271 §6), and why. */
export interface BgpMessageError { code: number; subcode: number; data: Buffer; why: string }

/** Smallest whole message of each type (RFC 4271 §4.2-4.5), and KEEPALIVE's only size. */
export const BGP_MIN_LENGTH = { OPEN: 29, UPDATE: 23, NOTIFICATION: 21, KEEPALIVE: 19 } as const;

const u16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };

/**
 * The length checks of RFC 4271 §6.1 for a framed message's type and body
 * (the header's own 19..4096 check is the framer's): Bad Message Length with
 * the erroneous Length field as data, or Bad Message Type with the type.
 * Then the internal lengths: an OPEN's Optional Parameters Length must fill
 * the rest of the body (§6.2, no subcode for it: Unspecific), and an
 * UPDATE's Withdrawn Routes Length + Total Path Attribute Length + 23 must
 * not exceed the message length (§6.3, Malformed Attribute List).
 */
export function checkMessage(type: number, body: Buffer): BgpMessageError | null {
  const len = body.length + BGP_HEADER_LEN;
  const badLength = (what: string): BgpMessageError => ({
    code: BGP_ERR.MESSAGE_HEADER, subcode: BGP_SUBCODE.BAD_MESSAGE_LENGTH, data: u16(len), why: `${what} of ${len} bytes`,
  });
  switch (type) {
    case BGP_TYPE.OPEN: {
      if (len < BGP_MIN_LENGTH.OPEN) return badLength('OPEN');
      const opt = body[9]!;
      if (10 + opt !== body.length) {
        return { code: BGP_ERR.OPEN_MESSAGE, subcode: BGP_SUBCODE.UNSPECIFIC, data: Buffer.alloc(0), why: `OPEN's optional parameters length ${opt} does not match its ${body.length - 10} bytes` };
      }
      return null;
    }
    case BGP_TYPE.UPDATE: {
      if (len < BGP_MIN_LENGTH.UPDATE) return badLength('UPDATE');
      const wl = body.readUInt16BE(0);
      const al = 2 + wl + 2 <= body.length ? body.readUInt16BE(2 + wl) : -1;
      if (al < 0 || wl + al + BGP_MIN_LENGTH.UPDATE > len) {
        return {
          code: BGP_ERR.UPDATE_MESSAGE, subcode: BGP_SUBCODE.MALFORMED_ATTRIBUTE_LIST, data: Buffer.alloc(0),
          why: `UPDATE's withdrawn routes length ${wl}${al >= 0 ? ` and path attribute length ${al}` : ''} exceed its ${len} bytes`,
        };
      }
      return null;
    }
    case BGP_TYPE.NOTIFICATION:
      return len < BGP_MIN_LENGTH.NOTIFICATION ? badLength('NOTIFICATION') : null;
    case BGP_TYPE.KEEPALIVE:
      return len !== BGP_MIN_LENGTH.KEEPALIVE ? badLength('KEEPALIVE') : null;
    default:
      return { code: BGP_ERR.MESSAGE_HEADER, subcode: BGP_SUBCODE.BAD_MESSAGE_TYPE, data: Buffer.from([type]), why: `unknown message type ${type}` };
  }
}
