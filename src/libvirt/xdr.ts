/**
 * XDR (RFC 4506) codec, the encoding of every libvirt RPC payload.
 *
 * Codecs are values built from combinators (`struct`, `array`, `optional`...)
 * so a procedure's argument and return types are declared once and both the
 * encoder and the TypeScript type follow from that declaration. Decoding is
 * strict: reading past the end, a length over its bound or non-zero padding
 * is an XdrError, and the framing layer treats that as a malformed frame.
 */
import { BrankasError } from '../util/errors.js';

export class XdrError extends BrankasError<'XDR_MALFORMED'> {
  override readonly name = 'XdrError';
  constructor(message: string) {
    super('XDR_MALFORMED', message);
  }
}

export class XdrWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialSize));
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  get length(): number {
    return this.pos;
  }

  int(v: number): void {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) {
      throw new XdrError(`int out of range: ${v}`);
    }
    this.reserve(4);
    this.buf.writeInt32BE(v, this.pos);
    this.pos += 4;
  }

  uint(v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
      throw new XdrError(`unsigned int out of range: ${v}`);
    }
    this.reserve(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  hyper(v: bigint): void {
    if (v < -(1n << 63n) || v >= 1n << 63n) throw new XdrError(`hyper out of range: ${v}`);
    this.reserve(8);
    this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }

  uhyper(v: bigint): void {
    if (v < 0n || v >= 1n << 64n) throw new XdrError(`unsigned hyper out of range: ${v}`);
    this.reserve(8);
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
  }

  double(v: number): void {
    this.reserve(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  /** Fixed-length opaque: bytes then zero padding to a multiple of four. */
  fixedOpaque(bytes: Uint8Array, length: number): void {
    if (bytes.length !== length) {
      throw new XdrError(`fixed opaque needs ${length} bytes, got ${bytes.length}`);
    }
    const padded = (length + 3) & ~3;
    this.reserve(padded);
    this.buf.set(bytes, this.pos);
    this.buf.fill(0, this.pos + length, this.pos + padded);
    this.pos += padded;
  }

  varOpaque(bytes: Uint8Array, max: number): void {
    if (bytes.length > max) throw new XdrError(`opaque of ${bytes.length} bytes exceeds ${max}`);
    this.uint(bytes.length);
    this.fixedOpaque(bytes, bytes.length);
  }

  string(v: string, max: number): void {
    this.varOpaque(Buffer.from(v, 'utf8'), max);
  }

  /** The written bytes (a view, valid until the next write). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

export class XdrReader {
  private pos = 0;

  constructor(private readonly buf: Buffer) {}

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) {
      throw new XdrError(
        `truncated ${what}: need ${n} bytes at offset ${this.pos}, have ${this.buf.length - this.pos}`,
      );
    }
  }

  int(): number {
    this.need(4, 'int');
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  uint(): number {
    this.need(4, 'unsigned int');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  hyper(): bigint {
    this.need(8, 'hyper');
    const v = this.buf.readBigInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  uhyper(): bigint {
    this.need(8, 'unsigned hyper');
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  double(): number {
    this.need(8, 'double');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  bool(): boolean {
    const v = this.int();
    if (v !== 0 && v !== 1) throw new XdrError(`bool must be 0 or 1, got ${v}`);
    return v === 1;
  }

  fixedOpaque(length: number): Buffer {
    const padded = (length + 3) & ~3;
    this.need(padded, 'opaque');
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + length));
    for (let i = this.pos + length; i < this.pos + padded; i++) {
      if (this.buf[i] !== 0) throw new XdrError(`non-zero padding at offset ${i}`);
    }
    this.pos += padded;
    return out;
  }

  varOpaque(max: number): Buffer {
    const length = this.uint();
    if (length > max) throw new XdrError(`opaque length ${length} exceeds ${max}`);
    return this.fixedOpaque(length);
  }

  string(max: number): string {
    return this.varOpaque(max).toString('utf8');
  }

  /** Decoding a whole payload must consume it whole: trailing bytes mean a wrong type. */
  end(): void {
    if (this.pos !== this.buf.length) {
      throw new XdrError(`${this.buf.length - this.pos} unexpected trailing bytes`);
    }
  }
}

export interface Codec<T> {
  encode(w: XdrWriter, v: T): void;
  decode(r: XdrReader): T;
}

/** The TypeScript type a codec encodes and decodes. */
export type Of<C> = C extends Codec<infer T> ? T : never;

export const int: Codec<number> = { encode: (w, v) => w.int(v), decode: (r) => r.int() };
export const uint: Codec<number> = { encode: (w, v) => w.uint(v), decode: (r) => r.uint() };
export const hyper: Codec<bigint> = { encode: (w, v) => w.hyper(v), decode: (r) => r.hyper() };
export const uhyper: Codec<bigint> = { encode: (w, v) => w.uhyper(v), decode: (r) => r.uhyper() };
export const double: Codec<number> = { encode: (w, v) => w.double(v), decode: (r) => r.double() };
export const bool: Codec<boolean> = {
  encode: (w, v) => w.int(v ? 1 : 0),
  decode: (r) => r.bool(),
};
export const xvoid: Codec<void> = { encode: () => undefined, decode: () => undefined };

export function string(max: number): Codec<string> {
  return { encode: (w, v) => w.string(v, max), decode: (r) => r.string(max) };
}

export function fixedOpaque(length: number): Codec<Buffer> {
  return { encode: (w, v) => w.fixedOpaque(v, length), decode: (r) => r.fixedOpaque(length) };
}

export function opaque(max: number): Codec<Buffer> {
  return { encode: (w, v) => w.varOpaque(v, max), decode: (r) => r.varOpaque(max) };
}

/** XDR's pointer (`T *`): a bool saying whether a value follows. */
export function optional<T>(codec: Codec<T>): Codec<T | null> {
  return {
    encode: (w, v) => {
      w.int(v === null ? 0 : 1);
      if (v !== null) codec.encode(w, v);
    },
    decode: (r) => (r.bool() ? codec.decode(r) : null),
  };
}

export function array<T>(codec: Codec<T>, max: number): Codec<T[]> {
  return {
    encode: (w, v) => {
      if (v.length > max) throw new XdrError(`array of ${v.length} exceeds ${max}`);
      w.uint(v.length);
      for (const item of v) codec.encode(w, item);
    },
    decode: (r) => {
      const n = r.uint();
      if (n > max) throw new XdrError(`array length ${n} exceeds ${max}`);
      // Each element takes at least 4 bytes: refuse lengths the buffer cannot hold
      // before allocating anything.
      if (n * 4 > r.remaining) throw new XdrError(`array length ${n} exceeds the payload`);
      const out: T[] = [];
      for (let i = 0; i < n; i++) out.push(codec.decode(r));
      return out;
    },
  };
}

type Fields = Record<string, Codec<any>>; // eslint-disable-line @typescript-eslint/no-explicit-any
export type StructOf<F extends Fields> = { [K in keyof F]: Of<F[K]> };

/** A struct: fields encoded in the order they are declared. */
export function struct<F extends Fields>(fields: F): Codec<StructOf<F>> {
  const entries = Object.entries(fields);
  return {
    encode: (w, v) => {
      for (const [name, codec] of entries) codec.encode(w, (v as Record<string, unknown>)[name]);
    },
    decode: (r) => {
      const out: Record<string, unknown> = {};
      for (const [name, codec] of entries) out[name] = codec.decode(r);
      return out as StructOf<F>;
    },
  };
}

/** A discriminated union on an int discriminant (typed params use it). */
export function union<T>(
  arms: Record<number, Codec<T>>,
  what: string,
): Codec<{ type: number; value: T }> {
  return {
    encode: (w, v) => {
      const arm = arms[v.type];
      if (!arm) throw new XdrError(`${what}: no arm for discriminant ${v.type}`);
      w.int(v.type);
      arm.encode(w, v.value);
    },
    decode: (r) => {
      const type = r.int();
      const arm = arms[type];
      if (!arm) throw new XdrError(`${what}: unknown discriminant ${type}`);
      return { type, value: arm.decode(r) };
    },
  };
}

export function encode<T>(codec: Codec<T>, value: T): Buffer {
  const w = new XdrWriter();
  codec.encode(w, value);
  return Buffer.from(w.bytes());
}

export function decode<T>(codec: Codec<T>, bytes: Buffer): T {
  const r = new XdrReader(bytes);
  const v = codec.decode(r);
  r.end();
  return v;
}
