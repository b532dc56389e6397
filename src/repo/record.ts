/**
 * The chunk codec (docs/repository-format.md, "Chunks"): ids (BLAKE3 or, in
 * version 1 repositories, SHA-256; keyed when encrypted), and records
 * (header, CRC32, optional AES-256-GCM nonce and tag, zstd payload kept only
 * when smaller). Pure functions, used by the worker threads and, for small
 * jobs, inline. Decoding checks everything and throws a typed integrity error
 * naming the chunk.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { crc32 } from '../util/crc32.js';
import { copyBytes } from '../util/copy.js';
import zstd from 'zstd-napi/binding.js';
import { blake3 } from '../util/blake3.js';
import { MAX_CHUNK_SIZE, type ChunkHash } from './config.js';
import { RepoIntegrityError } from './errors.js';

export const RECORD_MAGIC = 0x4843_4b42; // "BKCH" read as u32 LE
export const RECORD_VERSION = 1;
export const RECORD_HEADER = 52;
export const GCM_EXTRA = 28; // nonce 12 + tag 16
export const FLAG_ZSTD = 1;
export const FLAG_ENCRYPTED = 2;
/** The default zstd level (config `compressionLevel`); 0 stores chunks uncompressed. */
export const ZSTD_LEVEL = 1;
/**
 * One zstd context of each kind per thread (each worker loads this module anew), reused:
 * creating one per 256 KiB chunk made compression 1.45x and decompression 1.55x slower
 * (zstd-napi one-shot calls against reused contexts, 256 KiB pieces of a tar of /usr). Both
 * write straight into the caller's buffer (a record, or an arena slot), not into a scratch
 * buffer that is then copied.
 */
let cctx: zstd.CCtx | undefined;
let dctx: zstd.DCtx | undefined;

/** Compresses src into dst; -1 when the frame would not fit (then the chunk is stored as is). */
function zstdCompressInto(dst: Buffer, src: Buffer, level: number): number {
  cctx ??= new zstd.CCtx();
  try {
    return cctx.compress(dst, src, level);
  } catch (err) {
    if (/too small/i.test((err as Error).message)) return -1;
    throw err;
  }
}

/**
 * Incompressible data (random, encrypted, already compressed) comes in stretches. zstd at level
 * 1 spends about 100 µs on a 256 KiB chunk of it before giving up (2.4 GB/s on this project's
 * test host), a fifth of a backup's zstd time on half-random data. After a chunk that did not
 * shrink, this thread first compresses three 4 KiB samples (start, middle, end) of the next one;
 * when none of them shrinks by 1/32 either, the chunk is stored as it is. A chunk after one that
 * shrank is always compressed whole, so compressible data never pays for the samples.
 */
const SAMPLE = 4096;
const SAMPLE_GAIN = SAMPLE / 32;
let lastDidNotShrink = false;

/** Counters for tests: whole chunks given to zstd, and chunks stored raw after sampling. */
export const compressionCounters = { whole: 0, skipped: 0 };

function samplesShrink(plain: Buffer, scratch: Buffer, level: number): boolean {
  const room = scratch.subarray(0, SAMPLE - SAMPLE_GAIN);
  const middle = (plain.length >> 1) - SAMPLE / 2;
  for (const at of [0, middle, plain.length - SAMPLE]) {
    if (zstdCompressInto(room, plain.subarray(at, at + SAMPLE), level) >= 0) return true;
  }
  return false;
}

/** The zstd frame of plain in dst (capacity: less than plain), or -1 to store plain as it is. */
function compressChunk(dst: Buffer, plain: Buffer, level: number): number {
  if (lastDidNotShrink && plain.length >= 4 * SAMPLE && !samplesShrink(plain, dst, level)) {
    compressionCounters.skipped++;
    return -1;
  }
  compressionCounters.whole++;
  const n = zstdCompressInto(dst, plain, level);
  lastDidNotShrink = n < 0 || n > plain.length - plain.length / 32;
  return n;
}

function zstdDecompressInto(dst: Buffer, frame: Buffer): number {
  dctx ??= new zstd.DCtx();
  return dctx.decompress(dst, frame);
}

/** The reserved id of all-zero and hole slots. */
export const ZERO_ID = Buffer.alloc(32);

export interface CodecKeys {
  /** The repository's chunk-id hash (config `chunkHash`). */
  idHash: ChunkHash;
  idKey?: Buffer;
  encKey?: Buffer;
  /** zstd level for new records (default ZSTD_LEVEL); 0: store them uncompressed. */
  zstdLevel?: number;
}

/** The id of a chunk's plaintext: BLAKE3 or SHA-256, keyed with idKey when given. */
export function chunkId(plain: Buffer, keys: CodecKeys): Buffer {
  if (keys.idHash === 'blake3') return blake3(plain, keys.idKey);
  return keys.idKey
    ? createHmac('sha256', keys.idKey).update(plain).digest()
    : createHash('sha256').update(plain).digest();
}

let zeroes = Buffer.alloc(0);
export function isAllZero(b: Buffer): boolean {
  if (zeroes.length < b.length) zeroes = Buffer.alloc(b.length);
  return b.equals(zeroes.subarray(0, b.length));
}

function recordCrc(rec: Buffer): number {
  return crc32(rec.subarray(RECORD_HEADER), crc32(rec.subarray(0, 48)));
}

/** The largest record a chunk of `plainLength` bytes can become. */
export function recordCapacity(plainLength: number): number {
  return RECORD_HEADER + GCM_EXTRA + plainLength;
}

/** One record for plain under id. */
export function encodeRecord(plain: Buffer, id: Buffer, keys: CodecKeys): Buffer {
  const rec = Buffer.allocUnsafe(recordCapacity(plain.length));
  return rec.subarray(0, encodeRecordInto(plain, id, keys, rec));
}

/**
 * One record for plain under id, written into dst (at least recordCapacity(plain.length)
 * bytes, not overlapping plain); returns its length. The zstd frame is kept only when smaller.
 */
export function encodeRecordInto(plain: Buffer, id: Buffer, keys: CodecKeys, dst: Buffer): number {
  const r = encodeRecordParts(plain, id, keys, dst);
  if (r.payloadInPlain) copyBytes(dst, RECORD_HEADER, plain);
  return r.length;
}

export interface EncodedRecord {
  length: number;
  /**
   * The record is dst's first RECORD_HEADER bytes followed by plain itself (an unencrypted
   * chunk that zstd does not shrink): the payload was not copied.
   */
  payloadInPlain: boolean;
}

/** Like encodeRecordInto, but leaves an unencrypted, uncompressed payload where it is. */
export function encodeRecordParts(
  plain: Buffer,
  id: Buffer,
  keys: CodecKeys,
  dst: Buffer,
): EncodedRecord {
  const enc = keys.encKey !== undefined;
  const at = RECORD_HEADER + (enc ? GCM_EXTRA : 0);
  if (dst.length < at + plain.length) throw new RangeError('record buffer is too small');
  const level = keys.zstdLevel ?? ZSTD_LEVEL;
  let flags = 0;
  let payloadLength = -1;
  if (level > 0 && plain.length > 1) {
    payloadLength = compressChunk(dst.subarray(at, at + plain.length - 1), plain, level);
    if (payloadLength >= 0) flags |= FLAG_ZSTD;
  }
  const raw = payloadLength < 0;
  if (raw) payloadLength = plain.length;
  dst.writeUInt32LE(RECORD_MAGIC, 0);
  dst[4] = RECORD_VERSION;
  dst[5] = flags | (enc ? FLAG_ENCRYPTED : 0);
  dst.writeUInt16LE(0, 6);
  dst.writeUInt32LE(plain.length, 8);
  dst.writeUInt32LE(payloadLength, 12);
  id.copy(dst, 16);
  const length = at + payloadLength;
  if (enc) {
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', keys.encKey!, nonce);
    c.setAAD(id);
    const payload = raw ? plain : dst.subarray(at, length);
    const body = c.update(payload);
    copyBytes(dst, at, body);
    copyBytes(dst, at + body.length, c.final());
    nonce.copy(dst, RECORD_HEADER);
    c.getAuthTag().copy(dst, RECORD_HEADER + 12);
  } else if (raw) {
    dst.writeUInt32LE(crc32(plain, crc32(dst.subarray(0, 48))), 48);
    return { length, payloadInPlain: true };
  }
  dst.writeUInt32LE(recordCrc(dst.subarray(0, length)), 48);
  return { length, payloadInPlain: false };
}

export interface RecordHeader {
  flags: number;
  plainLength: number;
  payloadLength: number;
  id: Buffer;
  length: number;
}

/** The header of a record at the start of buf, or a reason it is not one. */
export function parseRecordHeader(buf: Buffer): RecordHeader | string {
  if (buf.length < RECORD_HEADER) return 'truncated record header';
  if (buf.readUInt32LE(0) !== RECORD_MAGIC) return 'bad record magic';
  if (buf[4] !== RECORD_VERSION) return `unknown record version ${buf[4]}`;
  const flags = buf[5]!;
  if (flags & ~(FLAG_ZSTD | FLAG_ENCRYPTED)) return `unknown record flags ${flags}`;
  const payloadLength = buf.readUInt32LE(12);
  return {
    flags,
    plainLength: buf.readUInt32LE(8),
    payloadLength,
    id: buf.subarray(16, 48),
    length: RECORD_HEADER + (flags & FLAG_ENCRYPTED ? GCM_EXTRA : 0) + payloadLength,
  };
}

/**
 * The plaintext of a record, after checking header, CRC32, id, GCM tag,
 * decompressed length and the recomputed id. `keys` must match the
 * repository: an encrypted record without encKey is damage, not a choice.
 * With `dst`, the plaintext is written there and a view of dst returned;
 * without, an unencrypted, uncompressed record's plaintext is a view of rec.
 */
export function decodeRecord(
  rec: Buffer,
  expectedId: Buffer,
  keys: CodecKeys,
  dst?: Buffer,
): Buffer {
  const chunk = expectedId.toString('hex');
  const bad = (why: string, cause?: unknown): RepoIntegrityError =>
    new RepoIntegrityError('REPO_CHUNK_CORRUPT', `chunk is damaged: ${why}`, { chunk }, { cause });
  const h = parseRecordHeader(rec);
  if (typeof h === 'string') throw bad(h);
  if (rec.length !== h.length) throw bad(`record is ${rec.length} bytes, header says ${h.length}`);
  if (rec.readUInt32LE(48) !== recordCrc(rec)) throw bad('CRC32 mismatch');
  if (!h.id.equals(expectedId)) throw bad(`record holds chunk ${h.id.toString('hex')}`);
  if (h.plainLength > MAX_CHUNK_SIZE) throw bad(`header says ${h.plainLength} plaintext bytes`);
  const enc = (h.flags & FLAG_ENCRYPTED) !== 0;
  if (enc !== (keys.encKey !== undefined)) {
    throw bad(enc ? 'encrypted record in an unencrypted repository' : 'record is not encrypted');
  }
  let payload: Buffer;
  if (enc) {
    const d = createDecipheriv('aes-256-gcm', keys.encKey!, rec.subarray(52, 64));
    d.setAAD(expectedId);
    d.setAuthTag(rec.subarray(64, 80));
    try {
      // GCM's final() returns no bytes (it checks the tag): no concat, so no second copy of
      // every record's payload for the garbage collector.
      const body = d.update(rec.subarray(80));
      const rest = d.final();
      payload = rest.length === 0 ? body : Buffer.concat([body, rest]);
    } catch (err) {
      throw bad('authentication tag mismatch', err);
    }
  } else {
    payload = rec.subarray(RECORD_HEADER);
  }
  let plain: Buffer;
  if (h.flags & FLAG_ZSTD) {
    const out = dst ?? Buffer.allocUnsafe(h.plainLength);
    if (out.length < h.plainLength) throw new RangeError('plaintext buffer is too small');
    let n: number;
    try {
      n = zstdDecompressInto(out.subarray(0, h.plainLength), payload);
    } catch (err) {
      throw bad('zstd frame does not decompress to the length in the header', err);
    }
    plain = out.subarray(0, n);
  } else if (dst) {
    if (dst.length < payload.length) throw new RangeError('plaintext buffer is too small');
    copyBytes(dst, 0, payload);
    plain = dst.subarray(0, payload.length);
  } else {
    plain = payload;
  }
  if (plain.length !== h.plainLength) {
    throw bad(`plaintext is ${plain.length} bytes, header says ${h.plainLength}`);
  }
  if (!chunkId(plain, keys).equals(expectedId)) throw bad('content does not match its id');
  return plain;
}

/** CRC32 and header only: what can be checked without the key. */
export function checkRecordCrc(rec: Buffer): string | undefined {
  const h = parseRecordHeader(rec);
  if (typeof h === 'string') return h;
  if (rec.length !== h.length) return `record is ${rec.length} bytes, header says ${h.length}`;
  if (rec.readUInt32LE(48) !== recordCrc(rec)) return 'CRC32 mismatch';
  return undefined;
}
