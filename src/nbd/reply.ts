/**
 * Framing of the transmission phase, server to client: simple replies and
 * structured reply chunks, reassembled from a byte stream split at any
 * boundaries.
 *
 * Read data is never buffered here: the header of a data-carrying message asks
 * the sink where its bytes go, and they are copied straight from the socket's
 * chunks into the caller's buffer (one copy, no concatenation). Everything
 * else is small and handed over whole. The decoder keeps no reference to the
 * chunks it is fed, so the transport may reuse one read buffer.
 *
 * A header that cannot be right (unknown magic or chunk type, a length outside
 * what the type allows) throws an `NBD_PROTOCOL` error: nothing after it can be
 * trusted, so the caller must destroy the connection, never skip.
 */
import {
  MAX_BLOCK_STATUS_PAYLOAD,
  MAX_PAYLOAD,
  MAX_STRING,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
  REPLY_TYPE_ERROR_BIT,
  ReplyFlag,
  ReplyType,
  SIMPLE_REPLY_HEADER_SIZE,
  STRUCTURED_REPLY_HEADER_SIZE,
} from './constants.js';
import { NbdClientError } from './errors.js';
import { copyBytes } from '../util/copy.js';

/** Where the decoder delivers what it parsed; the dispatcher implements it. */
export interface ReplySink {
  /**
   * A simple reply. Returns the buffer its payload must fill (a successful
   * READ when structured replies are off), or undefined when none follows.
   */
  simple(cookie: number, error: number): Buffer | undefined;
  /** The payload of the simple reply whose simple() returned a buffer has all arrived. */
  simpleEnd(cookie: number): void;
  /**
   * The header of an NBD_REPLY_TYPE_OFFSET_DATA chunk (`length` data bytes at
   * export `offset`). Returns the buffer the data must fill, exactly `length`
   * bytes, or undefined to discard them.
   */
  dataStart(cookie: number, flags: number, offset: number, length: number): Buffer | undefined;
  /** The data of the chunk announced by the last dataStart() has all arrived. */
  dataEnd(cookie: number, flags: number): void;
  /** Any other structured chunk, with its whole payload. */
  chunk(cookie: number, flags: number, type: number, payload: Buffer): void;
}

export function protocolError(message: string): NbdClientError {
  return new NbdClientError('NBD_PROTOCOL', `malformed NBD reply: ${message}`);
}

/** Error chunks: a 4-byte error, a 2-byte message length, the message, and type-specific fields. */
const ERROR_CHUNK_MAX = 6 + MAX_STRING + 64;
const OFFSET_DATA_PREFIX = 8;

type State =
  | { kind: 'header' }
  | { kind: 'data-offset'; cookie: number; flags: number; length: number }
  | { kind: 'payload'; cookie: number; flags: number; type: number; buf: Buffer; filled: number }
  | {
      kind: 'stream';
      dest: Buffer | undefined;
      filled: number;
      length: number;
      done: () => void;
    };

export class ReplyDecoder {
  private readonly head = Buffer.alloc(STRUCTURED_REPLY_HEADER_SIZE + OFFSET_DATA_PREFIX);
  private headFilled = 0;
  private state: State = { kind: 'header' };

  constructor(private readonly sink: ReplySink) {}

  /** True when no message is partly received: a clean place for the stream to end. */
  get idle(): boolean {
    return this.state.kind === 'header' && this.headFilled === 0;
  }

  /** Consumes bytes; throws an NBD_PROTOCOL error on a malformed message (then stop feeding). */
  push(chunk: Uint8Array): void {
    let i = 0;
    const end = chunk.length;
    while (i < end) {
      const s = this.state;
      switch (s.kind) {
        case 'header': {
          const need = this.headerSize();
          const n = Math.min(need - this.headFilled, end - i);
          this.head.set(chunk.subarray(i, i + n), this.headFilled);
          this.headFilled += n;
          i += n;
          if (this.headFilled === this.headerSize()) this.onHeader();
          break;
        }
        case 'data-offset': {
          const n = Math.min(OFFSET_DATA_PREFIX - this.headFilled, end - i);
          this.head.set(chunk.subarray(i, i + n), this.headFilled);
          this.headFilled += n;
          i += n;
          if (this.headFilled === OFFSET_DATA_PREFIX) this.onDataOffset(s);
          break;
        }
        case 'payload': {
          const n = Math.min(s.buf.length - s.filled, end - i);
          s.buf.set(chunk.subarray(i, i + n), s.filled);
          s.filled += n;
          i += n;
          if (s.filled === s.buf.length) {
            this.reset();
            this.sink.chunk(s.cookie, s.flags, s.type, s.buf);
          }
          break;
        }
        case 'stream': {
          const n = Math.min(s.length - s.filled, end - i);
          // copyBytes: dest is often an arena slot (shared memory), where V8's own copy goes
          // word by word (util/copy.ts).
          if (s.dest) copyBytes(s.dest, s.filled, chunk.subarray(i, i + n));
          s.filled += n;
          i += n;
          if (s.filled === s.length) {
            this.reset();
            s.done();
          }
          break;
        }
      }
    }
  }

  private reset(): void {
    this.state = { kind: 'header' };
    this.headFilled = 0;
  }

  /** 4 bytes until the magic is known, then the size of that kind of header. */
  private headerSize(): number {
    if (this.headFilled < 4) return 4;
    const magic = this.head.readUInt32BE(0);
    if (magic === NBD_SIMPLE_REPLY_MAGIC) return SIMPLE_REPLY_HEADER_SIZE;
    if (magic === NBD_STRUCTURED_REPLY_MAGIC) return STRUCTURED_REPLY_HEADER_SIZE;
    throw protocolError(`unknown reply magic 0x${magic.toString(16).padStart(8, '0')}`);
  }

  private cookieAt(pos: number): number {
    return this.head.readUInt32BE(pos) * 2 ** 32 + this.head.readUInt32BE(pos + 4);
  }

  private onHeader(): void {
    const magic = this.head.readUInt32BE(0);
    if (magic === NBD_SIMPLE_REPLY_MAGIC) {
      const error = this.head.readUInt32BE(4);
      const cookie = this.cookieAt(8);
      this.reset();
      const dest = this.sink.simple(cookie, error);
      if (dest && dest.length === 0) this.sink.simpleEnd(cookie);
      else if (dest) {
        this.state = {
          kind: 'stream',
          dest,
          filled: 0,
          length: dest.length,
          done: () => this.sink.simpleEnd(cookie),
        };
      }
      return;
    }
    const flags = this.head.readUInt16BE(4);
    const type = this.head.readUInt16BE(6);
    const cookie = this.cookieAt(8);
    const length = this.head.readUInt32BE(16);
    checkChunkLength(type, flags, length);
    this.headFilled = 0;
    if (type === ReplyType.OFFSET_DATA) {
      this.state = { kind: 'data-offset', cookie, flags, length: length - OFFSET_DATA_PREFIX };
    } else if (length === 0) {
      this.reset();
      this.sink.chunk(cookie, flags, type, Buffer.alloc(0));
    } else {
      this.state = { kind: 'payload', cookie, flags, type, buf: Buffer.alloc(length), filled: 0 };
    }
  }

  private onDataOffset(s: { cookie: number; flags: number; length: number }): void {
    const hi = this.head.readUInt32BE(0);
    const offset = hi * 2 ** 32 + this.head.readUInt32BE(4);
    if (hi >= 2 ** 21)
      throw protocolError(`data offset beyond 2^53 (high word 0x${hi.toString(16)})`);
    this.headFilled = 0;
    const dest = this.sink.dataStart(s.cookie, s.flags, offset, s.length);
    if (dest && dest.length !== s.length) {
      throw new Error(`sink gave a buffer of ${dest.length} bytes for ${s.length}`);
    }
    const { cookie, flags } = s;
    this.state = {
      kind: 'stream',
      dest,
      filled: 0,
      length: s.length,
      done: () => this.sink.dataEnd(cookie, flags),
    };
  }
}

/** The lengths each chunk type allows; anything else is a malformed stream. */
function checkChunkLength(type: number, flags: number, length: number): void {
  const bad = (why: string): never => {
    throw protocolError(`chunk type ${type} with length ${length}: ${why}`);
  };
  switch (type) {
    case ReplyType.NONE:
      if (length !== 0) bad('NBD_REPLY_TYPE_NONE must be empty');
      if (!(flags & ReplyFlag.DONE)) bad('NBD_REPLY_TYPE_NONE without the DONE flag');
      return;
    case ReplyType.OFFSET_DATA:
      if (length < OFFSET_DATA_PREFIX + 1 || length > MAX_PAYLOAD + OFFSET_DATA_PREFIX) {
        bad('data chunks carry 1 byte to 32 MiB');
      }
      return;
    case ReplyType.OFFSET_HOLE:
      if (length !== 12) bad('hole chunks are 12 bytes');
      return;
    case ReplyType.BLOCK_STATUS:
      if (length < 12 || (length - 4) % 8 !== 0 || length > MAX_BLOCK_STATUS_PAYLOAD) {
        bad('block status chunks are 4 + 8n bytes, 1 <= n <= 2^20');
      }
      return;
    default:
      if (!(type & REPLY_TYPE_ERROR_BIT)) bad('unknown chunk type');
      if (length < 6 || length > ERROR_CHUNK_MAX) bad('error chunks are 6 to 4166 bytes');
  }
}

export interface ErrorChunk {
  error: number;
  message: string;
  /** For NBD_REPLY_TYPE_ERROR_OFFSET: where the error happened. */
  offset?: number;
}

/** Parses any error chunk (bit 15 set), known or not. */
export function parseErrorChunk(type: number, payload: Buffer): ErrorChunk {
  const error = payload.readUInt32BE(0);
  const msgLen = payload.readUInt16BE(4);
  if (6 + msgLen > payload.length) {
    throw protocolError(`error message of ${msgLen} bytes in a ${payload.length}-byte chunk`);
  }
  const message = payload.toString('utf8', 6, 6 + msgLen);
  if (type === ReplyType.ERROR_OFFSET) {
    if (payload.length !== 6 + msgLen + 8) {
      throw protocolError(`error-offset chunk of ${payload.length} bytes, message ${msgLen}`);
    }
    const rest = payload.subarray(6 + msgLen);
    return { error, message, offset: Number(rest.readBigUInt64BE(0)) };
  }
  return { error, message };
}

export interface HoleChunk {
  offset: number;
  length: number;
}

export function parseHoleChunk(payload: Buffer): HoleChunk {
  const length = payload.readUInt32BE(8);
  if (length === 0) throw protocolError('hole of length 0');
  return { offset: Number(payload.readBigUInt64BE(0)), length };
}

export interface StatusDescriptor {
  length: number;
  flags: number;
}

export function parseBlockStatusChunk(payload: Buffer): {
  contextId: number;
  descriptors: StatusDescriptor[];
} {
  const contextId = payload.readUInt32BE(0);
  const descriptors: StatusDescriptor[] = [];
  for (let p = 4; p < payload.length; p += 8) {
    const length = payload.readUInt32BE(p);
    if (length === 0) throw protocolError('block status descriptor of length 0');
    descriptors.push({ length, flags: payload.readUInt32BE(p + 4) });
  }
  return { contextId, descriptors };
}
