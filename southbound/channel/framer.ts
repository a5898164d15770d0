// Stream framer for protocols whose messages start with a fixed-size header
// holding the whole message length as a 16-bit big-endian number: OpenFlow
// (OpenFlow 1.3.5 §7.1: 8-byte header, length at bytes 2-3) and BGP
// (RFC 4271 §4.1: 16-byte marker, length at bytes 16-17, 19-byte header;
// its format lives in southbound/bgp/header.ts).
// Handles a frame split anywhere (inside the header too) and many frames in
// one chunk; a frame that arrives whole is passed on as a zero-copy subarray.

export type FramingErrorReason = 'marker' | 'short' | 'long';

/** The stream cannot be resynchronised: a bad marker or an impossible length. */
export class FramingError extends Error {
  override readonly name = 'FramingError';
  constructor(message: string, readonly reason: FramingErrorReason, readonly length?: number) {
    super(message);
  }
}

export interface FrameFormat {
  /** Names the protocol in error messages. */
  name: string;
  headerLen: number;
  /** Offset in the header of the 16-bit big-endian whole-frame length. */
  lengthOffset: number;
  /** Largest frame accepted (at most 65535, what the length field can say). */
  maxFrame: number;
  /** Bytes every frame must start with (BGP's all-ones marker), if any. */
  marker?: Buffer;
}

export const OFP_HEADER_LEN = 8;

/** OpenFlow 1.3.5 §7.1 ofp_header: version, type, length, xid. */
export const OPENFLOW_FRAMING: FrameFormat = { name: 'OpenFlow', headerLen: OFP_HEADER_LEN, lengthOffset: 2, maxFrame: 65535 };

export class LengthFramer {
  readonly maxFrame: number;
  // The format's fields, copied so the hot loop reads own properties.
  private readonly headerLen: number;
  private readonly lenOff: number;
  private readonly marker: Buffer | null;
  private readonly protocol: string;
  /** Partial frame being assembled across chunks. */
  private partial: Buffer | null = null;
  private partialLen = 0;
  /** Header bytes of a frame split inside its header. */
  private readonly hdr: Buffer;
  private hdrLen = 0;

  constructor(format: FrameFormat) {
    const { headerLen, lengthOffset, maxFrame, marker } = format;
    if (!Number.isInteger(headerLen) || headerLen < 2 || lengthOffset < 0 || lengthOffset + 2 > headerLen) {
      throw new RangeError(`the length field must lie inside the ${headerLen}-byte header`);
    }
    if (marker && marker.length > headerLen) throw new RangeError('the marker must lie inside the header');
    if (!Number.isInteger(maxFrame) || maxFrame < headerLen || maxFrame > 65535) throw new RangeError(`maxFrame must be ${headerLen}..65535`);
    this.headerLen = headerLen;
    this.lenOff = lengthOffset;
    this.maxFrame = maxFrame;
    this.marker = marker && marker.length ? Buffer.from(marker) : null;
    this.protocol = format.name;
    this.hdr = Buffer.alloc(headerLen);
  }

  /** Bytes held waiting for the rest of a frame. */
  get buffered(): number {
    return this.hdrLen + this.partialLen;
  }

  /** Checks the header at `off` of `b` (whole, in b) and returns the frame length. */
  private frameLen(b: Buffer, off: number): number {
    const m = this.marker;
    if (m !== null && b.compare(m, 0, m.length, off, off + m.length) !== 0) {
      throw new FramingError(`bad ${this.protocol} marker`, 'marker');
    }
    const len = b.readUInt16BE(off + this.lenOff);
    if (len < this.headerLen) throw new FramingError(`frame length ${len} is shorter than the ${this.protocol} header`, 'short', len);
    if (len > this.maxFrame) throw new FramingError(`frame length ${len} exceeds the maximum of ${this.maxFrame}`, 'long', len);
    return len;
  }

  /**
   * Feed a chunk; `onFrame` is called for each complete frame, in order.
   * Frames passed on may share memory with `chunk`: copy them to keep them.
   * Throws FramingError when the stream cannot be resynchronised.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    const hl = this.headerLen;
    let off = 0;
    const n = chunk.length;
    if (this.hdrLen > 0) {
      const take = Math.min(hl - this.hdrLen, n);
      chunk.copy(this.hdr, this.hdrLen, 0, take);
      this.hdrLen += take;
      off = take;
      if (this.hdrLen < hl) return;
      const len = this.frameLen(this.hdr, 0);
      this.partial = Buffer.allocUnsafe(len);
      this.hdr.copy(this.partial, 0);
      this.partialLen = hl;
      this.hdrLen = 0;
    }
    if (this.partial) {
      const need = this.partial.length - this.partialLen;
      const take = Math.min(need, n - off);
      chunk.copy(this.partial, this.partialLen, off, off + take);
      this.partialLen += take;
      off += take;
      if (this.partialLen < this.partial.length) return;
      const f = this.partial;
      this.partial = null;
      this.partialLen = 0;
      onFrame(f);
    }
    let len = 0;
    while (n - off >= hl) {
      len = this.frameLen(chunk, off);
      if (n - off < len) break;
      onFrame(chunk.subarray(off, off + len));
      off += len;
    }
    const left = n - off;
    if (left === 0) return;
    if (left < hl) {
      chunk.copy(this.hdr, 0, off, n);
      this.hdrLen = left;
      return;
    }
    // A whole header whose frame is not all here: `len` was read (and checked) by the loop.
    this.partial = Buffer.allocUnsafe(len);
    chunk.copy(this.partial, 0, off, n);
    this.partialLen = left;
  }
}

/** The OpenFlow framer (OpenFlow 1.3.5 §7.1), at most `maxFrame` bytes a message. */
export class Framer extends LengthFramer {
  constructor(maxFrame = 65535) {
    if (maxFrame < OFP_HEADER_LEN || maxFrame > 65535) throw new RangeError('maxFrame must be 8..65535');
    super({ ...OPENFLOW_FRAMING, maxFrame });
  }
}
