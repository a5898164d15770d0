// Stream framer for OpenFlow (OpenFlow 1.3.5 §7.1: every message starts with
// an 8-byte header whose bytes 2-3 give the whole message length).
// Handles a frame split anywhere (inside the header too) and many frames in
// one chunk; a frame that arrives whole is passed on as a zero-copy subarray.

export class FramingError extends Error {
  override readonly name = 'FramingError';
}

export const OFP_HEADER_LEN = 8;

export class Framer {
  /** Partial frame being assembled across chunks. */
  private partial: Buffer | null = null;
  private partialLen = 0;
  /** Header bytes of a frame split inside its header. */
  private readonly hdr = Buffer.alloc(OFP_HEADER_LEN);
  private hdrLen = 0;

  constructor(readonly maxFrame = 65535) {
    if (maxFrame < OFP_HEADER_LEN || maxFrame > 65535) throw new RangeError('maxFrame must be 8..65535');
  }

  /** Bytes held waiting for the rest of a frame. */
  get buffered(): number {
    return this.hdrLen + this.partialLen;
  }

  private checkLen(len: number): void {
    if (len < OFP_HEADER_LEN) throw new FramingError(`frame length ${len} is shorter than the OpenFlow header`);
    if (len > this.maxFrame) throw new FramingError(`frame length ${len} exceeds the maximum of ${this.maxFrame}`);
  }

  /**
   * Feed a chunk; `onFrame` is called for each complete frame, in order.
   * Frames passed on may share memory with `chunk`: copy them to keep them.
   * Throws FramingError when the stream cannot be resynchronised.
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    let off = 0;
    const n = chunk.length;
    if (this.hdrLen > 0) {
      const take = Math.min(OFP_HEADER_LEN - this.hdrLen, n);
      chunk.copy(this.hdr, this.hdrLen, 0, take);
      this.hdrLen += take;
      off = take;
      if (this.hdrLen < OFP_HEADER_LEN) return;
      const len = this.hdr.readUInt16BE(2);
      this.checkLen(len);
      this.partial = Buffer.allocUnsafe(len);
      this.hdr.copy(this.partial, 0);
      this.partialLen = OFP_HEADER_LEN;
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
    while (n - off >= OFP_HEADER_LEN) {
      const len = chunk.readUInt16BE(off + 2);
      this.checkLen(len);
      if (n - off < len) break;
      onFrame(chunk.subarray(off, off + len));
      off += len;
    }
    const left = n - off;
    if (left === 0) return;
    if (left < OFP_HEADER_LEN) {
      chunk.copy(this.hdr, 0, off, n);
      this.hdrLen = left;
      return;
    }
    const len = chunk.readUInt16BE(off + 2);
    this.partial = Buffer.allocUnsafe(len);
    chunk.copy(this.partial, 0, off, n);
    this.partialLen = left;
  }
}
