/**
 * What the server puts on the wire: the greeting, option replies of the
 * fixed-newstyle handshake and transmission replies (simple and structured).
 * Pure functions of their arguments, the mirror of ../wire.ts on the client.
 */
import {
  HandshakeFlag,
  Info,
  NBD_INIT_MAGIC,
  NBD_OPTS_MAGIC,
  NBD_REP_MAGIC,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
  ReplyFlag,
  ReplyType,
} from '../constants.js';

/** S: 'NBDMAGIC', 'IHAVEOPT', 16-bit handshake flags. */
export function encodeGreeting(): Buffer {
  const out = Buffer.allocUnsafe(18);
  out.writeBigUInt64BE(NBD_INIT_MAGIC, 0);
  out.writeBigUInt64BE(NBD_OPTS_MAGIC, 8);
  out.writeUInt16BE(HandshakeFlag.FIXED_NEWSTYLE | HandshakeFlag.NO_ZEROES, 16);
  return out;
}

/** S: reply magic, 32-bit option, 32-bit reply type, 32-bit length, data. */
export function encodeOptionReply(option: number, type: number, data: Uint8Array = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(20 + data.length);
  out.writeBigUInt64BE(NBD_REP_MAGIC, 0);
  out.writeUInt32BE(option, 8);
  out.writeUInt32BE(type >>> 0, 12);
  out.writeUInt32BE(data.length, 16);
  out.set(data, 20);
  return out;
}

const EMPTY = Buffer.alloc(0);

export function lengthPrefixed(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(4 + bytes.length);
  out.writeUInt32BE(bytes.length, 0);
  out.set(bytes, 4);
  return out;
}

/** NBD_INFO_EXPORT: 16-bit type, 64-bit size, 16-bit transmission flags. */
export function infoExport(size: number, flags: number): Buffer {
  const out = Buffer.allocUnsafe(12);
  out.writeUInt16BE(Info.EXPORT, 0);
  out.writeBigUInt64BE(BigInt(size), 2);
  out.writeUInt16BE(flags, 10);
  return out;
}

/** NBD_INFO_BLOCK_SIZE: minimum, preferred, maximum. */
export function infoBlockSize(min: number, preferred: number, max: number): Buffer {
  const out = Buffer.allocUnsafe(14);
  out.writeUInt16BE(Info.BLOCK_SIZE, 0);
  out.writeUInt32BE(min, 2);
  out.writeUInt32BE(preferred, 6);
  out.writeUInt32BE(max, 10);
  return out;
}

/** NBD_INFO_NAME and NBD_INFO_DESCRIPTION: 16-bit type, the text. */
export function infoText(type: number, text: string): Buffer {
  const bytes = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(2 + bytes.length);
  out.writeUInt16BE(type, 0);
  out.set(bytes, 2);
  return out;
}

/** The reply to NBD_OPT_EXPORT_NAME (no zeroes: the server sets NBD_FLAG_NO_ZEROES). */
export function encodeExportNameReply(size: number, flags: number, zeroes: boolean): Buffer {
  const out = Buffer.alloc(10 + (zeroes ? 124 : 0));
  out.writeBigUInt64BE(BigInt(size), 0);
  out.writeUInt16BE(flags, 8);
  return out;
}

/** S: simple reply magic, 32-bit error, 64-bit cookie (as the client sent its 8 bytes). */
export function encodeSimpleReply(error: number, cookie: Buffer): Buffer {
  const out = Buffer.allocUnsafe(16);
  out.writeUInt32BE(NBD_SIMPLE_REPLY_MAGIC, 0);
  out.writeUInt32BE(error, 4);
  out.set(cookie, 8);
  return out;
}

/** S: structured reply magic, 16-bit flags, 16-bit type, 64-bit cookie, 32-bit length. */
export function encodeChunkHeader(
  flags: number,
  type: number,
  cookie: Buffer,
  length: number,
): Buffer {
  const out = Buffer.allocUnsafe(20);
  out.writeUInt32BE(NBD_STRUCTURED_REPLY_MAGIC, 0);
  out.writeUInt16BE(flags, 4);
  out.writeUInt16BE(type, 6);
  out.set(cookie, 8);
  out.writeUInt32BE(length, 16);
  return out;
}

/** NBD_REPLY_TYPE_OFFSET_DATA's header and offset; the data follows. */
export function encodeDataChunk(
  cookie: Buffer,
  offset: number,
  length: number,
  done: boolean,
): Buffer {
  const head = encodeChunkHeader(
    done ? ReplyFlag.DONE : 0,
    ReplyType.OFFSET_DATA,
    cookie,
    8 + length,
  );
  const at = Buffer.allocUnsafe(8);
  at.writeBigUInt64BE(BigInt(offset), 0);
  return Buffer.concat([head, at]);
}

/** NBD_REPLY_TYPE_OFFSET_HOLE: offset and length of a run that reads as zeroes. */
export function encodeHoleChunk(
  cookie: Buffer,
  offset: number,
  length: number,
  done: boolean,
): Buffer {
  const head = encodeChunkHeader(done ? ReplyFlag.DONE : 0, ReplyType.OFFSET_HOLE, cookie, 12);
  const body = Buffer.allocUnsafe(12);
  body.writeBigUInt64BE(BigInt(offset), 0);
  body.writeUInt32BE(length, 8);
  return Buffer.concat([head, body]);
}

/** NBD_REPLY_TYPE_NONE with the DONE flag: the end of a reply whose chunks were all sent. */
export function encodeNoneChunk(cookie: Buffer): Buffer {
  return encodeChunkHeader(ReplyFlag.DONE, ReplyType.NONE, cookie, 0);
}

/** NBD_REPLY_TYPE_ERROR (final): 32-bit error, 16-bit message length, message. */
export function encodeErrorChunk(cookie: Buffer, error: number, message: string): Buffer {
  const text = Buffer.from(message, 'utf8').subarray(0, 4096);
  const head = encodeChunkHeader(ReplyFlag.DONE, ReplyType.ERROR, cookie, 6 + text.length);
  const body = Buffer.allocUnsafe(6);
  body.writeUInt32BE(error, 0);
  body.writeUInt16BE(text.length, 4);
  return Buffer.concat([head, body, text]);
}

/** NBD_REPLY_TYPE_BLOCK_STATUS (final): context id, then (length, flags) descriptors. */
export function encodeBlockStatusChunk(
  cookie: Buffer,
  contextId: number,
  runs: readonly { length: number; flags: number }[],
): Buffer {
  const body = Buffer.allocUnsafe(4 + 8 * runs.length);
  body.writeUInt32BE(contextId, 0);
  runs.forEach((r, i) => {
    body.writeUInt32BE(r.length, 4 + 8 * i);
    body.writeUInt32BE(r.flags, 8 + 8 * i);
  });
  return Buffer.concat([
    encodeChunkHeader(ReplyFlag.DONE, ReplyType.BLOCK_STATUS, cookie, body.length),
    body,
  ]);
}
