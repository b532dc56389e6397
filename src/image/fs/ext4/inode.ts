/**
 * An ext2/3/4 inode as the reader needs it: type and permissions, owners,
 * size, modification time, flags and the 60 bytes of `i_block` (an extent
 * tree's root, a block map, a fast symlink's target or a device number).
 */
import { fsCorrupt, fsUnsupported } from './errors.js';

export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

export const FLAG_EXTENTS = 0x80000;
const FLAG_INLINE_DATA = 0x10000000;
const FLAG_HUGE_FILE = 0x40000;

export interface Inode {
  ino: number;
  /** Type and permission bits (i_mode). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch (may be negative). */
  mtime: number;
  mtimeNs: number;
  links: number;
  flags: number;
  /** Data blocks in 512-byte units, less the extended-attribute block. */
  dataSectors: number;
  /** The 60 bytes of i_block (a copy). */
  block: Buffer;
}

/** Parses inode `ino` from its on-disk bytes (`raw`: inodeSize bytes). */
export function parseInode(raw: Buffer, ino: number, blockSize: number): Inode {
  const mode = raw.readUInt16LE(0x00);
  const flags = raw.readUInt32LE(0x20);
  if (flags & FLAG_INLINE_DATA) throw fsUnsupported(`inline_data (inode ${ino})`);
  const size = raw.readUInt32LE(0x04) + raw.readUInt32LE(0x6c) * 2 ** 32;
  if (!Number.isSafeInteger(size)) throw fsCorrupt(`inode ${ino} has a size of 2^53 or more`);
  let mtime = raw.readInt32LE(0x10);
  let mtimeNs = 0;
  const extra = raw.length > 128 ? raw.readUInt16LE(0x80) : 0;
  if (raw.length > 128 && 128 + extra > raw.length) {
    throw fsCorrupt(`inode ${ino}'s extra size ${extra} runs past the inode`);
  }
  if (extra >= 12) {
    const x = raw.readUInt32LE(0x88);
    mtime += (x & 3) * 2 ** 32;
    mtimeNs = x >>> 2;
    if (mtimeNs > 999_999_999) mtimeNs = 0;
  }
  const blocks = raw.readUInt32LE(0x1c) + raw.readUInt16LE(0x74) * 2 ** 32;
  // HUGE_FILE counts in blocks rather than sectors; all the reader asks is "any data blocks?".
  const sectors = flags & FLAG_HUGE_FILE ? blocks * (blockSize / 512) : blocks;
  const xattrBlock = raw.readUInt32LE(0x68) + raw.readUInt16LE(0x76) * 2 ** 32;
  return {
    ino,
    mode,
    uid: raw.readUInt16LE(0x02) + raw.readUInt16LE(0x78) * 0x10000,
    gid: raw.readUInt16LE(0x18) + raw.readUInt16LE(0x7a) * 0x10000,
    size,
    mtime,
    mtimeNs,
    links: raw.readUInt16LE(0x1a),
    flags,
    dataSectors: Math.max(0, sectors - (xattrBlock !== 0 ? blockSize / 512 : 0)),
    block: Buffer.from(raw.subarray(0x28, 0x28 + 60)),
  };
}

export function typeOf(i: Inode): number {
  return i.mode & S_IFMT;
}

/** A device's major and minor numbers, from i_block (old or new encoding). */
export function deviceOf(i: Inode): { major: number; minor: number } {
  const old = i.block.readUInt32LE(0);
  if (old !== 0) return { major: (old >> 8) & 0xff, minor: old & 0xff };
  const n = i.block.readUInt32LE(4);
  return { major: (n & 0xfff00) >>> 8, minor: (n & 0xff) | ((n >>> 12) & 0xfff00) };
}
