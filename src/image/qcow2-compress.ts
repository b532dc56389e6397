/**
 * Compressed qcow2 clusters: raw deflate (zlib, window 4 KiB) or one zstd
 * frame, each inflating to exactly one cluster. The stored length is rounded
 * up to whole sectors, so the bytes after the stream belong to the next
 * cluster: zlib stops by itself at the end of its stream; for zstd the frame's
 * length is found from its block headers, and a declared content size other
 * than one cluster is refused before anything is allocated, then the frame
 * goes to libzstd (zstd-napi).
 */
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import { Decompressor } from 'zstd-napi';
import { BrankasError } from '../util/errors.js';
import { ImageCorruptError } from './errors.js';
import type { CompressionType } from './qcow2-header.js';

const ZSTD_MAGIC = 0xfd2fb528;

/** Inflates one cluster; any failure or a wrong length is corruption. */
/** A reused zstd context (creating one per cluster costs more than decoding it). */
let zstd: Decompressor | undefined;

export function decompressCluster(
  type: CompressionType,
  input: Buffer,
  clusterSize: number,
  path: string,
  where: string,
): Buffer {
  let out: Uint8Array;
  try {
    out =
      type === 'zstd'
        ? (zstd ??= new Decompressor()).decompress(zstdFrame(input, clusterSize))
        : inflate(input, clusterSize);
  } catch (err) {
    if (err instanceof ImageCorruptError) throw err;
    throw new ImageCorruptError(path, `${where}: ${type} data does not decompress`, { cause: err });
  }
  if (out.length !== clusterSize) {
    throw new ImageCorruptError(
      path,
      `${where}: decompresses to ${out.length} bytes, not one cluster (${clusterSize})`,
    );
  }
  return Buffer.from(out.buffer, out.byteOffset, out.length);
}

function inflate(input: Buffer, clusterSize: number): Buffer {
  try {
    return inflateRawSync(input, { maxOutputLength: clusterSize });
  } catch (err) {
    // QEMU accepts a stream that fills the cluster without an end marker; so do we.
    const partial = inflateRawSync(input, {
      finishFlush: zlibConstants.Z_SYNC_FLUSH,
      maxOutputLength: clusterSize,
    });
    if (partial.length === clusterSize) return partial;
    throw err;
  }
}

class ZstdFrameError extends BrankasError<'ZSTD_FRAME_INVALID'> {
  constructor(message: string) {
    super('ZSTD_FRAME_INVALID', message);
  }
}

/**
 * The first zstd frame of `input` (RFC 8878 section 3.1.1), without what
 * follows it; its declared content size, when it has one, must be `expected`.
 */
function zstdFrame(input: Buffer, expected: number): Buffer {
  if (input.length < 6 || input.readUInt32LE(0) !== ZSTD_MAGIC) {
    throw new ZstdFrameError('not a zstd frame');
  }
  const fhd = input[4] ?? 0;
  const singleSegment = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictIdBytes = [0, 1, 2, 4][fhd & 3] ?? 0;
  const fcsBytes = [singleSegment, 2, 4, 8][fhd >> 6] ?? 0;
  const fcsAt = 5 + (singleSegment ? 0 : 1) + dictIdBytes;
  if (fcsBytes > 0 && input.length >= fcsAt + fcsBytes) {
    const size =
      fcsBytes === 8
        ? Number(input.readBigUInt64LE(fcsAt))
        : input.readUIntLE(fcsAt, fcsBytes) + (fcsBytes === 2 ? 256 : 0);
    if (size !== expected) {
      throw new ZstdFrameError(`zstd frame declares ${size} bytes, not one cluster (${expected})`);
    }
  }
  let at = fcsAt + fcsBytes;
  for (;;) {
    if (at + 3 > input.length) throw new ZstdFrameError('zstd frame truncated');
    const header = input.readUIntLE(at, 3);
    const last = header & 1;
    const type = (header >> 1) & 3;
    const size = header >> 3;
    if (type === 3) throw new ZstdFrameError('reserved zstd block type');
    at += 3 + (type === 1 ? 1 : size);
    if (last) break;
  }
  at += checksum ? 4 : 0;
  if (at > input.length) throw new ZstdFrameError('zstd frame truncated');
  return input.subarray(0, at);
}
