/**
 * The ext2/3/4 superblock and group descriptors (docs/file-restore.md, "The
 * host reader"): the geometry every other read is checked against, and the
 * feature bits that decide whether this reader may read the volume at all.
 */
import { fsCorrupt, fsUnsupported } from './errors.js';

export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
const MAGIC = 0xef53;

const INCOMPAT = {
  compression: 0x1,
  filetype: 0x2,
  recover: 0x4,
  journal_dev: 0x8,
  meta_bg: 0x10,
  extents: 0x40,
  '64bit': 0x80,
  mmp: 0x100,
  flex_bg: 0x200,
  ea_inode: 0x400,
  dirdata: 0x1000,
  csum_seed: 0x2000,
  large_dir: 0x4000,
  inline_data: 0x8000,
  encrypt: 0x10000,
  casefold: 0x20000,
} as const;
const READ_INCOMPAT =
  INCOMPAT.filetype |
  INCOMPAT.recover |
  INCOMPAT.extents |
  INCOMPAT['64bit'] |
  INCOMPAT.mmp |
  INCOMPAT.flex_bg |
  INCOMPAT.ea_inode |
  INCOMPAT.csum_seed |
  INCOMPAT.large_dir;
const RO_COMPAT_BIGALLOC = 0x200;

export interface Superblock {
  blockSize: number;
  blocksCount: number;
  inodesCount: number;
  inodesPerGroup: number;
  blocksPerGroup: number;
  firstDataBlock: number;
  groups: number;
  inodeSize: number;
  /** Bytes of a group descriptor: 32, or s_desc_size with 64bit. */
  descSize: number;
  /** Directory entries carry a file-type byte (and a one-byte name length). */
  filetype: boolean;
}

function featureNames(bits: number): string {
  const names = Object.entries(INCOMPAT)
    .filter(([, b]) => (bits & b) !== 0)
    .map(([n]) => n);
  const known = Object.values(INCOMPAT).reduce((a, b) => a | b, 0);
  if ((bits & ~known) >>> 0 !== 0) names.push(`incompat 0x${((bits & ~known) >>> 0).toString(16)}`);
  return names.join(', ');
}

/** Parses and checks the superblock (`sb`: the 1024 bytes at 1024) of a volume of `size` bytes. */
export function parseSuperblock(sb: Buffer, size: number): Superblock {
  if (sb.length < SUPERBLOCK_SIZE || sb.readUInt16LE(0x38) !== MAGIC) {
    throw fsCorrupt('no ext2/3/4 superblock (magic 0xEF53) at byte 1024');
  }
  const incompat = sb.readUInt32LE(0x60);
  const unread = (incompat & ~READ_INCOMPAT) >>> 0;
  if (unread !== 0) throw fsUnsupported(featureNames(unread));
  if (sb.readUInt32LE(0x64) & RO_COMPAT_BIGALLOC) throw fsUnsupported('bigalloc');
  const logBlock = sb.readUInt32LE(0x18);
  if (logBlock > 6) throw fsCorrupt(`block size 1024 << ${logBlock}`);
  const blockSize = 1024 << logBlock;
  const is64 = (incompat & INCOMPAT['64bit']) !== 0;
  const blocksCount = sb.readUInt32LE(0x04) + (is64 ? sb.readUInt32LE(0x150) * 2 ** 32 : 0);
  const rev = sb.readUInt32LE(0x4c);
  const inodeSize = rev === 0 ? 128 : sb.readUInt16LE(0x58);
  if (inodeSize < 128 || inodeSize > blockSize || (inodeSize & (inodeSize - 1)) !== 0) {
    throw fsCorrupt(`inode size ${inodeSize}`);
  }
  const descSize = is64 ? sb.readUInt16LE(0xfe) : 32;
  if (descSize < 32 || descSize > 1024 || (descSize & (descSize - 1)) !== 0) {
    throw fsCorrupt(`group descriptor size ${descSize}`);
  }
  const firstDataBlock = sb.readUInt32LE(0x14);
  const blocksPerGroup = sb.readUInt32LE(0x20);
  const inodesPerGroup = sb.readUInt32LE(0x28);
  const inodesCount = sb.readUInt32LE(0x00);
  if (blocksCount === 0 || blocksCount * blockSize > size) {
    throw fsCorrupt(
      `${blocksCount} blocks of ${blockSize} bytes do not fit its ${size}-byte volume`,
    );
  }
  if (firstDataBlock >= blocksCount || firstDataBlock > 1) {
    throw fsCorrupt(`first data block ${firstDataBlock}`);
  }
  if (blocksPerGroup === 0 || blocksPerGroup > 8 * blockSize) {
    throw fsCorrupt(`${blocksPerGroup} blocks per group`);
  }
  if (inodesPerGroup === 0 || inodesPerGroup > 8 * blockSize) {
    throw fsCorrupt(`${inodesPerGroup} inodes per group`);
  }
  const groups = Math.ceil((blocksCount - firstDataBlock) / blocksPerGroup);
  if (inodesCount > groups * inodesPerGroup || inodesCount < 11) {
    throw fsCorrupt(`${inodesCount} inodes in ${groups} groups of ${inodesPerGroup}`);
  }
  // The descriptor table must fit in the blocks before the first group's end.
  if ((firstDataBlock + 1) * blockSize + groups * descSize > blocksCount * blockSize) {
    throw fsCorrupt(`${groups} group descriptors do not fit`);
  }
  return {
    blockSize,
    blocksCount,
    inodesCount,
    inodesPerGroup,
    blocksPerGroup,
    firstDataBlock,
    groups,
    inodeSize,
    descSize,
    filetype: (incompat & INCOMPAT.filetype) !== 0,
  };
}

/** The inode table's first block, from group `g`'s descriptor (`desc`: its descSize bytes). */
export function inodeTableOf(sb: Superblock, desc: Buffer, g: number): number {
  const lo = desc.readUInt32LE(0x08);
  const hi = sb.descSize >= 64 ? desc.readUInt32LE(0x28) : 0;
  const block = lo + hi * 2 ** 32;
  const tableBlocks = Math.ceil((sb.inodesPerGroup * sb.inodeSize) / sb.blockSize);
  if (block < sb.firstDataBlock + 1 || block + tableBlocks > sb.blocksCount) {
    throw fsCorrupt(`group ${g}'s inode table at block ${block} lies outside the filesystem`);
  }
  return block;
}
