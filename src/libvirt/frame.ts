/**
 * libvirt RPC framing (virnetprotocol.x): every message is a 4-byte total
 * length (counting itself), a 24-byte header, then the payload. The decoder
 * accepts bytes in chunks of any size and yields whole messages; a length
 * outside the protocol's bounds is a malformed stream that must end the
 * connection, never be skipped.
 */
import { BrankasError } from '../util/errors.js';

export const MessageType = {
  CALL: 0,
  REPLY: 1,
  MESSAGE: 2,
  STREAM: 3,
  CALL_WITH_FDS: 4,
  REPLY_WITH_FDS: 5,
  STREAM_HOLE: 6,
} as const;

export const MessageStatus = {
  OK: 0,
  ERROR: 1,
  CONTINUE: 2,
} as const;

export const LEN_SIZE = 4;
export const HEADER_SIZE = 24;
/** The largest message libvirt sends (newer daemons allow 32 MiB). */
export const MESSAGE_MAX = 32 * 1024 * 1024;
/** The largest message we send: the limit every daemon since 1.x accepts. */
export const SEND_MESSAGE_MAX = 16 * 1024 * 1024;
/** Stream data per packet, as libvirt's own client sends it. */
export const STREAM_CHUNK_MAX = 256 * 1024;

export interface Header {
  program: number;
  version: number;
  procedure: number;
  type: number;
  serial: number;
  status: number;
}

export interface Frame {
  header: Header;
  payload: Buffer;
}

export class FrameError extends BrankasError<'RPC_MALFORMED_FRAME'> {
  override readonly name = 'FrameError';
  constructor(message: string) {
    super('RPC_MALFORMED_FRAME', message);
  }
}

export function encodeFrame(header: Header, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const total = LEN_SIZE + HEADER_SIZE + payload.length;
  if (total > SEND_MESSAGE_MAX + LEN_SIZE) {
    throw new FrameError(`message of ${total} bytes exceeds the protocol limit`);
  }
  const out = Buffer.allocUnsafe(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(header.program, 4);
  out.writeUInt32BE(header.version, 8);
  out.writeInt32BE(header.procedure, 12);
  out.writeInt32BE(header.type, 16);
  out.writeUInt32BE(header.serial, 20);
  out.writeInt32BE(header.status, 24);
  out.set(payload, LEN_SIZE + HEADER_SIZE);
  return out;
}

export function decodeHeader(buf: Buffer): Header {
  return {
    program: buf.readUInt32BE(0),
    version: buf.readUInt32BE(4),
    procedure: buf.readInt32BE(8),
    type: buf.readInt32BE(12),
    serial: buf.readUInt32BE(16),
    status: buf.readInt32BE(20),
  };
}

/** Reassembles frames from a byte stream split at arbitrary boundaries. */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** Adds bytes and returns every frame they complete. Throws FrameError on a bad length. */
  push(chunk: Buffer): Frame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.buffered < LEN_SIZE) break;
      const length = this.peekLength();
      if (length < LEN_SIZE + HEADER_SIZE || length > MESSAGE_MAX + LEN_SIZE) {
        throw new FrameError(`invalid message length ${length}`);
      }
      if (this.buffered < length) break;
      const bytes = this.take(length);
      frames.push({
        header: decodeHeader(bytes.subarray(LEN_SIZE, LEN_SIZE + HEADER_SIZE)),
        payload: bytes.subarray(LEN_SIZE + HEADER_SIZE),
      });
    }
    return frames;
  }

  /** Bytes received but not yet part of a whole frame. */
  get pending(): number {
    return this.buffered;
  }

  private peekLength(): number {
    const first = this.chunks[0]!;
    if (first.length >= LEN_SIZE) return first.readUInt32BE(0);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.readUInt32BE(0);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const use = Math.min(c.length, n - filled);
        c.copy(out, filled, 0, use);
        filled += use;
        if (use === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(use);
      }
    }
    this.buffered -= n;
    return out;
  }
}
