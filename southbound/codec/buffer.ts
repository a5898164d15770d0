// Bounds-checked cursor reader and a growable writer with length patching.
// Every read past the end throws OfDecodeError, so decoders never read
// garbage from a neighbouring frame or crash on a short one.
import { OfDecodeError, OFPET_BAD_REQUEST, OFPBRC_BAD_LEN, OfEncodeError } from './errors';

const UTF8 = new TextDecoder('utf-8', { fatal: true });

export class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start = 0,
    readonly end = buf.length,
    /** OFPET/code used when this reader runs short. */
    readonly errType = OFPET_BAD_REQUEST,
    readonly errCode = OFPBRC_BAD_LEN,
  ) {
    this.pos = start;
  }
  get remaining(): number {
    return this.end - this.pos;
  }
  need(n: number, what = 'field'): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new OfDecodeError(`truncated ${what}: need ${n} bytes at offset ${this.pos}, have ${this.end - this.pos}`, this.errType, this.errCode);
    }
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  bytes(n: number, what = 'bytes'): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  skip(n: number): void {
    this.need(n, 'padding');
    this.pos += n;
  }
  /** Fixed-size, NUL-padded string (e.g. port names, desc strings): UTF-8 when valid, else latin1. */
  str(n: number): string {
    const b = this.bytes(n, 'string');
    const z = b.indexOf(0);
    const s = b.subarray(0, z < 0 ? n : z);
    try {
      return UTF8.decode(s);
    } catch {
      return s.toString('latin1');
    }
  }
  /** A sub-reader over the next n bytes; advances this reader past them. */
  sub(n: number, what: string, errType = this.errType, errCode = this.errCode): Reader {
    if (n < 0 || this.pos + n > this.end) {
      throw new OfDecodeError(`${what}: length ${n} overruns its container (${this.end - this.pos} left)`, errType, errCode);
    }
    const r = new Reader(this.buf, this.pos, this.pos + n, errType, errCode);
    this.pos += n;
    return r;
  }
  rest(): Buffer {
    return this.bytes(this.remaining);
  }
}

export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size);
  }
  private grow(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const nb = Buffer.allocUnsafe(size);
    this.buf.copy(nb, 0, 0, this.pos);
    this.buf = nb;
  }
  u8(v: number): this {
    this.grow(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }
  u16(v: number): this {
    this.grow(2);
    this.buf.writeUInt16BE(v & 0xffff, this.pos);
    this.pos += 2;
    return this;
  }
  u32(v: number): this {
    this.grow(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }
  u64(v: bigint | number): this {
    this.grow(8);
    this.buf.writeBigUInt64BE(BigInt.asUintN(64, BigInt(v)), this.pos);
    this.pos += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.grow(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  zeros(n: number): this {
    this.grow(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }
  /** Fixed-size NUL-padded string (UTF-8); rejects strings that do not fit. */
  str(s: string, n: number): this {
    const b = Buffer.from(s, 'utf8');
    if (b.length > n) throw new OfEncodeError(`string "${s}" longer than ${n} bytes`);
    this.bytes(b);
    return this.zeros(n - b.length);
  }
  /** Pad with zeros to a multiple of `align` relative to `from`. */
  pad(align: number, from = 0): this {
    const r = (this.pos - from) % align;
    return r ? this.zeros(align - r) : this;
  }
  patchU16(at: number, v: number): void {
    if (v > 0xffff) throw new OfEncodeError(`length ${v} does not fit in 16 bits`);
    this.buf.writeUInt16BE(v, at);
  }
  patchU32(at: number, v: number): void {
    this.buf.writeUInt32BE(v >>> 0, at);
  }
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
