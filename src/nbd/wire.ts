/**
 * What the client puts on the wire: option requests of the fixed-newstyle
 * handshake and transmission request headers. Pure functions of their
 * arguments, so tests can hold them to golden bytes.
 */
import { Info, NBD_OPTS_MAGIC, NBD_REQUEST_MAGIC, REQUEST_HEADER_SIZE } from './constants.js';

/** C: 'IHAVEOPT', 32-bit option, 32-bit data length, data. */
export function encodeOption(option: number, data: Uint8Array = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(16 + data.length);
  out.writeBigUInt64BE(NBD_OPTS_MAGIC, 0);
  out.writeUInt32BE(option, 8);
  out.writeUInt32BE(data.length, 12);
  out.set(data, 16);
  return out;
}

function lengthPrefixed(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(4 + bytes.length);
  out.writeUInt32BE(bytes.length, 0);
  out.set(bytes, 4);
  return out;
}

/** Data of NBD_OPT_GO and NBD_OPT_INFO: the export name and the information requested. */
export function encodeGoData(
  exportName: string,
  infos: readonly number[] = [Info.BLOCK_SIZE],
): Buffer {
  const counts = Buffer.allocUnsafe(2 + 2 * infos.length);
  counts.writeUInt16BE(infos.length, 0);
  infos.forEach((info, i) => counts.writeUInt16BE(info, 2 + 2 * i));
  return Buffer.concat([lengthPrefixed(exportName), counts]);
}

/** Data of NBD_OPT_SET_META_CONTEXT and NBD_OPT_LIST_META_CONTEXT. */
export function encodeMetaContextData(exportName: string, queries: readonly string[]): Buffer {
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(queries.length, 0);
  return Buffer.concat([lengthPrefixed(exportName), count, ...queries.map(lengthPrefixed)]);
}

/** C: magic, 16-bit flags, 16-bit type, 64-bit cookie, 64-bit offset, 32-bit length. */
export function encodeRequest(
  flags: number,
  type: number,
  cookie: number,
  offset: number,
  length: number,
): Buffer {
  const out = Buffer.allocUnsafe(REQUEST_HEADER_SIZE);
  writeRequest(out, flags, type, cookie, offset, length);
  return out;
}

export function writeRequest(
  out: Buffer,
  flags: number,
  type: number,
  cookie: number,
  offset: number,
  length: number,
): void {
  out.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  out.writeUInt16BE(flags, 4);
  out.writeUInt16BE(type, 6);
  out.writeUInt32BE(Math.floor(cookie / 2 ** 32), 8);
  out.writeUInt32BE(cookie >>> 0, 12);
  out.writeUInt32BE(Math.floor(offset / 2 ** 32), 16);
  out.writeUInt32BE(offset >>> 0, 20);
  out.writeUInt32BE(length, 24);
}
