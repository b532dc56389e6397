/**
 * The qcow2 header (versions 2 and 3) and its extensions, as described in
 * QEMU's docs/interop/qcow2.txt. Parsing checks structure (magic, sizes,
 * offsets inside the file); `unsupportedFeatures` lists what the reader will
 * not interpret, so such an image goes to the NBD path instead of being misread.
 */
import { ImageCorruptError, ImageUnsupportedError } from './errors.js';
import type { ImageFile } from './file.js';

export const QCOW2_MAGIC = 0x514649fb; // 'QFI\xfb'

const MIN_CLUSTER_BITS = 9;
const MAX_CLUSTER_BITS = 21;
/** QEMU refuses L1 tables over 32 MiB; so do we (it bounds memory). */
const MAX_L1_BYTES = 32 * 1024 * 1024;
const MAX_BACKING_NAME = 1023;
const MAX_SNAPSHOTS = 65536;

const EXT_END = 0x00000000;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_FEATURE_TABLE = 0x6803f857;
const EXT_BITMAPS = 0x23852875;
const EXT_CRYPTO = 0x0537be77;
const EXT_DATA_FILE = 0x44415441;

/** Incompatible feature bits (header offset 72). */
export const INCOMPAT_DIRTY = 0;
export const INCOMPAT_CORRUPT = 1;
export const INCOMPAT_DATA_FILE = 2;
export const INCOMPAT_COMPRESSION = 3;
export const INCOMPAT_EXTL2 = 4;
/** Compatible feature bits (offset 80) and autoclear bits (offset 88). */
const COMPAT_LAZY_REFCOUNTS = 0;
export const AUTOCLEAR_BITMAPS = 0;
const AUTOCLEAR_DATA_FILE_RAW = 1;

const KNOWN_INCOMPAT = [
  'dirty',
  'corrupt',
  'external data file',
  'compression type',
  'extended L2',
];
const CRYPT_METHODS = ['none', 'AES', 'LUKS'];
const COMPRESSION_TYPES = ['zlib', 'zstd'] as const;
export type CompressionType = (typeof COMPRESSION_TYPES)[number];

export interface FeatureName {
  type: 'incompatible' | 'compatible' | 'autoclear';
  bit: number;
  name: string;
}

export interface Qcow2Header {
  version: 2 | 3;
  clusterBits: number;
  clusterSize: number;
  virtualSize: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountBits: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  /** Feature bit masks as bigints: all 64 bits are meaningful. */
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  headerLength: number;
  compressionType: CompressionType | number;
  backingFile: string | undefined;
  backingFormat: string | undefined;
  dataFile: string | undefined;
  hasCryptoHeader: boolean;
  hasBitmaps: boolean;
  /** The bitmaps extension's fields, when present (qcow2-bitmaps.ts reads the directory). */
  bitmapsExtension?: { nbBitmaps: number; directorySize: number; directoryOffset: number };
  featureNames: FeatureName[];
}

function u64(buf: Buffer, at: number, path: string, what: string): number {
  const value = buf.readBigUInt64BE(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ImageCorruptError(path, `${what} ${value} is out of range`);
  }
  return Number(value);
}

function bit(mask: bigint, n: number): boolean {
  return ((mask >> BigInt(n)) & 1n) === 1n;
}

/** Reads and checks the header and its extensions from the start of the file. */
export async function readQcow2Header(file: ImageFile): Promise<Qcow2Header> {
  const path = file.path;
  const fixed = await file.readExact(0, Math.min(file.size, 512), 'qcow2 header');
  if (fixed.length < 72) throw new ImageCorruptError(path, `file too short for a qcow2 header`);
  if (fixed.readUInt32BE(0) !== QCOW2_MAGIC) throw new ImageCorruptError(path, 'bad qcow2 magic');
  const version = fixed.readUInt32BE(4);
  if (version !== 2 && version !== 3) {
    throw new ImageUnsupportedError(path, `qcow2 version ${version}`);
  }
  const clusterBits = fixed.readUInt32BE(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw new ImageCorruptError(path, `cluster_bits ${clusterBits} out of range (9..21)`);
  }
  const clusterSize = 2 ** clusterBits;
  const headerLength = version === 2 ? 72 : fixed.readUInt32BE(100);
  if (version === 3 && (fixed.length < 104 || headerLength < 104 || headerLength > clusterSize)) {
    throw new ImageCorruptError(path, `header_length ${headerLength} invalid`);
  }
  const first = await file.readExact(0, Math.min(clusterSize, file.size), 'qcow2 header cluster');
  if (first.length < headerLength) {
    throw new ImageCorruptError(path, 'file ends inside the qcow2 header');
  }

  const backingFileOffset = u64(first, 8, path, 'backing_file_offset');
  const backingFileSize = first.readUInt32BE(16);
  const h: Qcow2Header = {
    version,
    clusterBits,
    clusterSize,
    virtualSize: u64(first, 24, path, 'size'),
    cryptMethod: first.readUInt32BE(32),
    l1Size: first.readUInt32BE(36),
    l1TableOffset: u64(first, 40, path, 'l1_table_offset'),
    refcountTableOffset: u64(first, 48, path, 'refcount_table_offset'),
    nbSnapshots: first.readUInt32BE(60),
    snapshotsOffset: u64(first, 64, path, 'snapshots_offset'),
    incompatibleFeatures: version === 3 ? first.readBigUInt64BE(72) : 0n,
    compatibleFeatures: version === 3 ? first.readBigUInt64BE(80) : 0n,
    autoclearFeatures: version === 3 ? first.readBigUInt64BE(88) : 0n,
    refcountBits: version === 3 ? 2 ** first.readUInt32BE(96) : 16,
    headerLength,
    compressionType: headerLength > 104 ? (first[104] ?? 0) : 0,
    backingFile: undefined,
    backingFormat: undefined,
    dataFile: undefined,
    hasCryptoHeader: false,
    hasBitmaps: false,
    featureNames: [],
  };
  const known = COMPRESSION_TYPES[h.compressionType as number];
  if (known !== undefined) h.compressionType = known;
  if (h.compressionType !== 'zlib' && !bit(h.incompatibleFeatures, INCOMPAT_COMPRESSION)) {
    throw new ImageCorruptError(path, 'compression type set without its incompatible feature bit');
  }

  if (backingFileOffset !== 0) {
    if (backingFileSize > MAX_BACKING_NAME || backingFileOffset > clusterSize) {
      throw new ImageCorruptError(path, 'backing file name offset or size out of range');
    }
    const name = await file.readExact(backingFileOffset, backingFileSize, 'backing file name');
    h.backingFile = name.toString('utf8');
  }

  const extEnd = backingFileOffset !== 0 ? Math.min(backingFileOffset, clusterSize) : clusterSize;
  parseExtensions(path, first, headerLength, Math.min(extEnd, first.length), h);
  return h;
}

function parseExtensions(path: string, buf: Buffer, start: number, end: number, h: Qcow2Header) {
  let at = start;
  while (at + 8 <= end) {
    const type = buf.readUInt32BE(at);
    const length = buf.readUInt32BE(at + 4);
    if (type === EXT_END) return;
    const data = at + 8;
    if (data + length > end) {
      throw new ImageCorruptError(
        path,
        `header extension 0x${type.toString(16)} overflows the header cluster`,
      );
    }
    const body = buf.subarray(data, data + length);
    switch (type) {
      case EXT_BACKING_FORMAT:
        h.backingFormat = body.toString('utf8');
        break;
      case EXT_DATA_FILE:
        h.dataFile = body.toString('utf8');
        break;
      case EXT_CRYPTO:
        h.hasCryptoHeader = true;
        break;
      case EXT_BITMAPS:
        h.hasBitmaps = true;
        if (body.length >= 24) {
          h.bitmapsExtension = {
            nbBitmaps: body.readUInt32BE(0),
            directorySize: u64(body, 8, path, 'bitmap_directory_size'),
            directoryOffset: u64(body, 16, path, 'bitmap_directory_offset'),
          };
        }
        break;
      case EXT_FEATURE_TABLE:
        for (let i = 0; i + 48 <= body.length; i += 48) {
          const kind = body[i];
          const name = body.subarray(i + 2, i + 48);
          const nul = name.indexOf(0);
          h.featureNames.push({
            type: kind === 0 ? 'incompatible' : kind === 1 ? 'compatible' : 'autoclear',
            bit: body[i + 1] ?? 0,
            name: (nul < 0 ? name : name.subarray(0, nul)).toString('utf8'),
          });
        }
        break;
      default:
        break; // Unknown extensions may be ignored (qcow2.txt).
    }
    at = data + Math.ceil(length / 8) * 8;
  }
}

/**
 * Offsets and sizes the reader relies on must lie inside the file and be
 * aligned. Checked only once the features are known to be supported (an
 * extended-L2 image, say, has a different geometry).
 */
export function checkLayout(file: ImageFile, h: Qcow2Header): void {
  const path = file.path;
  const l1Bytes = h.l1Size * 8;
  if (l1Bytes > MAX_L1_BYTES)
    throw new ImageCorruptError(path, `L1 table too large (${h.l1Size} entries)`);
  const entriesPerL2 = h.clusterSize / 8;
  const needed = Math.ceil(h.virtualSize / h.clusterSize / entriesPerL2);
  if (h.l1Size < needed) {
    throw new ImageCorruptError(path, `L1 table too small (${h.l1Size} entries, need ${needed})`);
  }
  if (h.l1TableOffset % h.clusterSize !== 0 && h.l1Size > 0) {
    throw new ImageCorruptError(path, `L1 table offset ${h.l1TableOffset} not cluster aligned`);
  }
  if (h.l1Size > 0 && h.l1TableOffset + l1Bytes > file.size) {
    throw new ImageCorruptError(
      path,
      `L1 table at ${h.l1TableOffset} extends past the end of the file (${file.size} bytes)`,
    );
  }
  if (h.nbSnapshots > MAX_SNAPSHOTS)
    throw new ImageCorruptError(path, `too many snapshots (${h.nbSnapshots})`);
  if (h.nbSnapshots > 0 && h.snapshotsOffset % h.clusterSize !== 0) {
    throw new ImageCorruptError(
      path,
      `snapshot table offset ${h.snapshotsOffset} not cluster aligned`,
    );
  }
}

/** Names of everything in the header this reader does not implement; empty when it can read the image. */
export function unsupportedFeatures(h: Qcow2Header): string[] {
  const found: string[] = [];
  if (h.cryptMethod !== 0 || h.hasCryptoHeader) {
    found.push(`encryption (${CRYPT_METHODS[h.cryptMethod] ?? `method ${h.cryptMethod}`})`);
  }
  for (let n = 0; n < 64; n++) {
    if (!bit(h.incompatibleFeatures, n) || n === INCOMPAT_COMPRESSION) continue;
    const named = h.featureNames.find((f) => f.type === 'incompatible' && f.bit === n)?.name;
    found.push(KNOWN_INCOMPAT[n] ?? named ?? `incompatible feature bit ${n}`);
  }
  if (typeof h.compressionType === 'number') found.push(`compression type ${h.compressionType}`);
  if (h.dataFile !== undefined && !found.includes('external data file'))
    found.push('external data file');
  return found;
}

export function assertSupported(path: string, h: Qcow2Header): void {
  const found = unsupportedFeatures(h);
  if (found.length > 0)
    throw new ImageUnsupportedError(path, found.join(', '), { details: { features: found } });
}

/** Feature names for reports (info): the bits set in each mask. */
export function featureList(h: Qcow2Header): {
  incompatible: string[];
  compatible: string[];
  autoclear: string[];
} {
  const names = (type: FeatureName['type'], mask: bigint, builtin: Record<number, string>) => {
    const out: string[] = [];
    for (let n = 0; n < 64; n++) {
      if (!bit(mask, n)) continue;
      const named = h.featureNames.find((f) => f.type === type && f.bit === n)?.name;
      out.push(builtin[n] ?? named ?? `bit ${n}`);
    }
    return out;
  };
  return {
    incompatible: names('incompatible', h.incompatibleFeatures, { ...KNOWN_INCOMPAT }),
    compatible: names('compatible', h.compatibleFeatures, {
      [COMPAT_LAZY_REFCOUNTS]: 'lazy refcounts',
    }),
    autoclear: names('autoclear', h.autoclearFeatures, {
      [AUTOCLEAR_BITMAPS]: 'bitmaps',
      [AUTOCLEAR_DATA_FILE_RAW]: 'raw external data',
    }),
  };
}

export function hasLazyRefcounts(h: Qcow2Header): boolean {
  return bit(h.compatibleFeatures, COMPAT_LAZY_REFCOUNTS);
}
