/**
 * The persistent dirty bitmaps of a qcow2 image (QEMU's docs/interop/qcow2.txt,
 * "Bitmaps extension"), read natively: the directory, and one bitmap's dirty
 * ranges in guest bytes. The offline incremental backup trusts a bitmap only
 * on what this reports (docs/offline-incremental.md), so every offset and size
 * is checked against the file: a damaged directory is IMAGE_CORRUPT, never a
 * quietly wrong answer.
 */
import { ImageCorruptError } from './errors.js';
import { ImageFile } from './file.js';
import {
  AUTOCLEAR_BITMAPS,
  INCOMPAT_DIRTY,
  readQcow2Header,
  type Qcow2Header,
} from './qcow2-header.js';

const FLAG_IN_USE = 1 << 0;
const FLAG_AUTO = 1 << 1;
const FLAG_EXTRA_DATA_COMPATIBLE = 1 << 2;
const KNOWN_FLAGS = FLAG_IN_USE | FLAG_AUTO | FLAG_EXTRA_DATA_COMPATIBLE;
export const BITMAP_TYPE_DIRTY_TRACKING = 1;
/** QEMU's own bounds: they bound the memory a damaged image can make us use. */
const MAX_DIRECTORY_BYTES = 64 * 1024 * 1024;
const MAX_TABLE_ENTRIES = 0x8000000;
const MAX_NAME = 1023;
const MIN_GRANULARITY_BITS = 9;
const MAX_GRANULARITY_BITS = 31;
/** Bits 9..55 of a bitmap table entry: the data cluster's host offset. */
const ENTRY_OFFSET_MASK = 0x00fffffffffffe00n;
const ENTRY_RESERVED_MASK = 0xff000000000001fen;

/** Guest bytes a bitmap marks dirty. */
export interface DirtyRange {
  offset: number;
  length: number;
}

export interface Qcow2Bitmap {
  name: string;
  /** Set: QEMU had the image open read-write and did not store the bitmap back (unclean stop). */
  inUse: boolean;
  /** Set: the bitmap is enabled, QEMU records every write in it. */
  auto: boolean;
  flags: number;
  /** 1 = dirty tracking, the only type defined. */
  type: number;
  granularity: number;
  tableOffset: number;
  tableSize: number;
  extraDataSize: number;
}

export interface BitmapDirectory {
  /**
   * The header's autoclear "bitmaps" bit: cleared by software that wrote the
   * image without knowing bitmaps, after which all of them are stale.
   */
  consistent: boolean;
  /** The image's incompatible "dirty" bit (lazy refcounts not flushed: an unclean stop). */
  imageDirty: boolean;
  clusterSize: number;
  virtualSize: number;
  bitmaps: Qcow2Bitmap[];
}

function u64(buf: Buffer, at: number, path: string, what: string): number {
  const v = buf.readBigUInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER))
    throw new ImageCorruptError(path, `${what} ${v} out of range`);
  return Number(v);
}

/** Bitmap table entries a bitmap of this granularity must have. */
export function tableEntriesFor(virtualSize: number, clusterSize: number, granularity: number) {
  return Math.ceil(Math.ceil(virtualSize / granularity) / (clusterSize * 8));
}

/** Reads the bitmap directory; an image without the extension has none. */
export async function readBitmapDirectory(
  file: ImageFile,
  header?: Qcow2Header,
): Promise<BitmapDirectory> {
  const h = header ?? (await readQcow2Header(file));
  const path = file.path;
  const dir: BitmapDirectory = {
    consistent: ((h.autoclearFeatures >> BigInt(AUTOCLEAR_BITMAPS)) & 1n) === 1n,
    imageDirty: ((h.incompatibleFeatures >> BigInt(INCOMPAT_DIRTY)) & 1n) === 1n,
    clusterSize: h.clusterSize,
    virtualSize: h.virtualSize,
    bitmaps: [],
  };
  const ext = h.bitmapsExtension;
  if (!ext) {
    if (h.hasBitmaps) throw new ImageCorruptError(path, 'bitmaps header extension too short');
    return dir;
  }
  if (ext.nbBitmaps === 0) throw new ImageCorruptError(path, 'bitmaps extension with no bitmap');
  if (
    ext.directorySize > MAX_DIRECTORY_BYTES ||
    ext.directoryOffset % h.clusterSize !== 0 ||
    ext.directoryOffset + ext.directorySize > file.size
  ) {
    throw new ImageCorruptError(path, 'bitmap directory offset or size out of range');
  }
  const buf = await file.readExact(ext.directoryOffset, ext.directorySize, 'bitmap directory');
  let at = 0;
  for (let i = 0; i < ext.nbBitmaps; i++) {
    if (at + 24 > buf.length) throw new ImageCorruptError(path, 'bitmap directory truncated');
    const tableOffset = u64(buf, at, path, 'bitmap_table_offset');
    const tableSize = buf.readUInt32BE(at + 8);
    const flags = buf.readUInt32BE(at + 12);
    const type = buf[at + 16]!;
    const granularityBits = buf[at + 17]!;
    const nameSize = buf.readUInt16BE(at + 18);
    const extraDataSize = buf.readUInt32BE(at + 20);
    const end = at + 24 + extraDataSize + nameSize;
    if (end > buf.length) throw new ImageCorruptError(path, 'bitmap directory entry overflows');
    if (nameSize === 0 || nameSize > MAX_NAME)
      throw new ImageCorruptError(path, `bitmap name size ${nameSize} out of range`);
    if ((flags & ~KNOWN_FLAGS) !== 0)
      throw new ImageCorruptError(path, `bitmap flags 0x${flags.toString(16)} reserved bits set`);
    if (extraDataSize !== 0 && (flags & FLAG_EXTRA_DATA_COMPATIBLE) === 0)
      throw new ImageCorruptError(path, 'bitmap with extra data brankas cannot interpret');
    if (granularityBits < MIN_GRANULARITY_BITS || granularityBits > MAX_GRANULARITY_BITS)
      throw new ImageCorruptError(path, `bitmap granularity_bits ${granularityBits} out of range`);
    const name = buf.subarray(at + 24 + extraDataSize, end).toString('utf8');
    dir.bitmaps.push({
      name,
      inUse: (flags & FLAG_IN_USE) !== 0,
      auto: (flags & FLAG_AUTO) !== 0,
      flags,
      type,
      granularity: 2 ** granularityBits,
      tableOffset,
      tableSize,
      extraDataSize,
    });
    at = Math.ceil(end / 8) * 8;
  }
  return dir;
}

/**
 * The guest byte ranges bitmap `b` marks dirty, in order, merged and clipped
 * to the virtual size. A bitmap in use has no meaningful data on disk
 * (QEMU leaves its table as it was): refused, like one of an unknown type.
 */
export async function* dirtyExtents(
  file: ImageFile,
  dir: BitmapDirectory,
  b: Qcow2Bitmap,
): AsyncGenerator<DirtyRange> {
  const path = file.path;
  const cs = dir.clusterSize;
  if (b.type !== BITMAP_TYPE_DIRTY_TRACKING)
    throw new ImageCorruptError(path, `bitmap '${b.name}' has unknown type ${b.type}`);
  if (b.inUse) throw new ImageCorruptError(path, `bitmap '${b.name}' is in use (inconsistent)`);
  const want = tableEntriesFor(dir.virtualSize, cs, b.granularity);
  if (b.tableSize !== want || b.tableSize > MAX_TABLE_ENTRIES)
    throw new ImageCorruptError(
      path,
      `bitmap '${b.name}' table has ${b.tableSize} entries, the image needs ${want}`,
    );
  if (b.tableOffset % cs !== 0 || b.tableOffset + b.tableSize * 8 > file.size)
    throw new ImageCorruptError(path, `bitmap '${b.name}' table out of range`);
  const table = await file.readExact(b.tableOffset, b.tableSize * 8, 'bitmap table');
  const bitsTotal = Math.ceil(dir.virtualSize / b.granularity);
  const bitsPerCluster = cs * 8;

  let runStart = -1; // first dirty bit of the open run
  const close = (endBit: number): DirtyRange => {
    const offset = runStart * b.granularity;
    const end = Math.min(endBit * b.granularity, dir.virtualSize);
    runStart = -1;
    return { offset, length: end - offset };
  };
  for (let i = 0; i < b.tableSize; i++) {
    const entry = table.readBigUInt64BE(i * 8);
    if ((entry & ENTRY_RESERVED_MASK) !== 0n)
      throw new ImageCorruptError(path, `bitmap '${b.name}' table entry ${i} has reserved bits`);
    const host = Number(entry & ENTRY_OFFSET_MASK);
    const first = i * bitsPerCluster;
    const last = Math.min(first + bitsPerCluster, bitsTotal);
    if (host === 0) {
      // No data cluster: bit 0 says whether every bit it would hold is set.
      const ones = (entry & 1n) === 1n;
      if (ones && runStart < 0) runStart = first;
      if (!ones && runStart >= 0) yield close(first);
      continue;
    }
    if (host % cs !== 0 || host + cs > file.size)
      throw new ImageCorruptError(path, `bitmap '${b.name}' data cluster ${host} out of range`);
    const data = await file.readExact(host, cs, 'bitmap data');
    for (let bit = first; bit < last;) {
      const k = (bit - first) >> 3;
      const byte = data[k]!;
      // Whole bytes at once where they are uniform (the usual case).
      if ((bit & 7) === 0 && bit + 8 <= last && (byte === 0 || byte === 0xff)) {
        if (byte === 0xff && runStart < 0) runStart = bit;
        if (byte === 0 && runStart >= 0) yield close(bit);
        bit += 8;
        continue;
      }
      const set = ((byte >> (bit & 7)) & 1) === 1;
      if (set && runStart < 0) runStart = bit;
      if (!set && runStart >= 0) yield close(bit);
      bit++;
    }
  }
  if (runStart >= 0) yield close(bitsTotal);
}

/** Opens `path`, reads its bitmap directory, and closes it. */
export async function readQcow2Bitmaps(path: string): Promise<BitmapDirectory> {
  const file = await ImageFile.open(path);
  try {
    return await readBitmapDirectory(file);
  } finally {
    await file.close();
  }
}

/** Opens `path` and collects the dirty ranges of its bitmap `name` (undefined: no such bitmap). */
export async function readDirtyRanges(
  path: string,
  name: string,
): Promise<{ directory: BitmapDirectory; bitmap: Qcow2Bitmap; ranges: DirtyRange[] } | undefined> {
  const file = await ImageFile.open(path);
  try {
    const directory = await readBitmapDirectory(file);
    const bitmap = directory.bitmaps.find((x) => x.name === name);
    if (!bitmap) return undefined;
    const ranges: DirtyRange[] = [];
    for await (const r of dirtyExtents(file, directory, bitmap)) ranges.push(r);
    return { directory, bitmap, ranges };
  } finally {
    await file.close();
  }
}
