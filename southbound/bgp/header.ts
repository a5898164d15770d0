// BGP-4 message header (RFC 4271 §4.1): a 16-byte all-ones marker, the
// whole message length (19..4096) and the message type. Framing a TCP
// stream into messages uses the shared length-prefixed framer.
import { FrameFormat, LengthFramer } from '../channel/framer';

/** A BGP message that cannot be encoded or decoded. */
export class BgpError extends Error {
  override readonly name = 'BgpError';
}

export const BGP_MARKER: Buffer = Buffer.alloc(16, 0xff);
export const BGP_HEADER_LEN = 19;
/** RFC 4271 §4.1 maximum message size (no RFC 8654 extended messages). */
export const BGP_MAX_MESSAGE = 4096;

/** Message type codes (RFC 4271 §4.1). */
export const BGP_TYPE = { OPEN: 1, UPDATE: 2, NOTIFICATION: 3, KEEPALIVE: 4 } as const;

export const BGP_FRAMING: FrameFormat = {
  name: 'BGP', headerLen: BGP_HEADER_LEN, lengthOffset: 16, maxFrame: BGP_MAX_MESSAGE, marker: BGP_MARKER,
};

/**
 * Splits a TCP stream into whole BGP messages (header included). Throws
 * FramingError (reason 'marker', 'short' or 'long') when the stream cannot
 * be read on: RFC 4271 §6.1 message header errors.
 */
export class BgpFramer extends LengthFramer {
  constructor() {
    super(BGP_FRAMING);
  }
}

/** A whole message: the header followed by `body`. */
export function encodeMessage(type: number, body: Buffer): Buffer {
  const len = BGP_HEADER_LEN + body.length;
  if (len > BGP_MAX_MESSAGE) throw new BgpError(`BGP message of ${len} bytes`);
  const m = Buffer.alloc(len);
  BGP_MARKER.copy(m);
  m.writeUInt16BE(len, 16);
  m[18] = type;
  body.copy(m, BGP_HEADER_LEN);
  return m;
}

/** The type of a framed message. */
export const messageType = (frame: Buffer): number => frame[18]!;

/** The body of a framed message (shares its memory). */
export const messageBody = (frame: Buffer): Buffer => frame.subarray(BGP_HEADER_LEN);
