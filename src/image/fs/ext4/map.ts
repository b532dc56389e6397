/**
 * Where a file's blocks are: its logical blocks as runs of physical blocks,
 * in logical order, from an extent tree (ext4) or a classic block map
 * (ext2/3). Holes are simply absent; unwritten extents come as `zero` runs.
 * The walk trusts nothing: every block number is checked against the
 * filesystem, extent entries must be sorted and within their index's range,
 * the tree is at most 5 deep, and nothing past the file's last block is read.
 */
import { fsCorrupt } from './errors.js';
import { FLAG_EXTENTS, type Inode } from './inode.js';

export interface Run {
  logical: number;
  physical: number;
  length: number;
  /** An unwritten (preallocated) extent: reads as zeros. */
  zero: boolean;
}

/** What the map walk needs of the filesystem. */
export interface BlockSource {
  readonly blockSize: number;
  readonly blocksCount: number;
  /** One whole block, checked against the filesystem. */
  readBlock(block: number): Promise<Buffer>;
}

const EXTENT_MAGIC = 0xf30a;
const MAX_DEPTH = 5;
const UNWRITTEN = 32768;

/** The runs of `inode`'s first `blocks` logical blocks. */
export function runsOf(fs: BlockSource, inode: Inode, blocks: number): AsyncGenerator<Run> {
  return inode.flags & FLAG_EXTENTS
    ? extentRuns(fs, inode, blocks)
    : blockMapRuns(fs, inode, blocks);
}

function checkRange(fs: BlockSource, ino: number, start: number, length: number): void {
  if (start === 0 || start + length > fs.blocksCount) {
    throw fsCorrupt(`inode ${ino} points at blocks ${start}+${length}, outside the filesystem`);
  }
}

async function* extentRuns(fs: BlockSource, inode: Inode, blocks: number): AsyncGenerator<Run> {
  const ino = inode.ino;
  /** The next logical block an extent may start at: keeps the walk strictly forward. */
  let next = 0;
  async function* node(
    buf: Buffer,
    depth: number | undefined,
    lo: number,
    hi: number,
  ): AsyncGenerator<Run> {
    if (buf.readUInt16LE(0) !== EXTENT_MAGIC) throw fsCorrupt(`inode ${ino}: bad extent header`);
    const entries = buf.readUInt16LE(2);
    const max = buf.readUInt16LE(4);
    const d = buf.readUInt16LE(6);
    if (max > (buf.length - 12) / 12 || entries > max) {
      throw fsCorrupt(`inode ${ino}: an extent node claims ${entries} of ${max} entries`);
    }
    if (d > MAX_DEPTH || (depth !== undefined && d !== depth)) {
      throw fsCorrupt(`inode ${ino}: extent node depth ${d}`);
    }
    if (depth !== undefined && entries === 0) throw fsCorrupt(`inode ${ino}: empty extent node`);
    for (let i = 0; i < entries; i++) {
      const e = 12 + 12 * i;
      const first = buf.readUInt32LE(e);
      const end = i + 1 < entries ? buf.readUInt32LE(e + 12) : hi;
      if (first < lo || first >= hi || first < next) {
        throw fsCorrupt(`inode ${ino}: extent entries out of order at logical block ${first}`);
      }
      if (first >= blocks) return;
      if (i + 1 < entries && end <= first) {
        throw fsCorrupt(`inode ${ino}: extent entries out of order at logical block ${end}`);
      }
      if (d > 0) {
        const child = buf.readUInt32LE(e + 4) + buf.readUInt16LE(e + 8) * 2 ** 32;
        checkRange(fs, ino, child, 1);
        yield* node(await fs.readBlock(child), d - 1, first, end);
      } else {
        const raw = buf.readUInt16LE(e + 4);
        const zero = raw > UNWRITTEN;
        const length = zero ? raw - UNWRITTEN : raw;
        const start = buf.readUInt32LE(e + 8) + buf.readUInt16LE(e + 6) * 2 ** 32;
        if (length === 0) throw fsCorrupt(`inode ${ino}: an empty extent`);
        if (first + length > hi) throw fsCorrupt(`inode ${ino}: extent past its index's range`);
        checkRange(fs, ino, start, length);
        next = first + length;
        yield { logical: first, physical: start, length: Math.min(length, blocks - first), zero };
      }
    }
  }
  yield* node(inode.block, undefined, 0, 2 ** 32);
}

async function* blockMapRuns(fs: BlockSource, inode: Inode, blocks: number): AsyncGenerator<Run> {
  const per = fs.blockSize / 4;
  const ino = inode.ino;
  let cur: Run | undefined;
  // Adjacent blocks merge into one run, so a contiguous file reads in large pieces.
  function* add(logical: number, physical: number): Generator<Run> {
    checkRange(fs, ino, physical, 1);
    if (cur && cur.logical + cur.length === logical && cur.physical + cur.length === physical) {
      cur.length++;
      return;
    }
    if (cur) yield cur;
    cur = { logical, physical, length: 1, zero: false };
  }
  /** The blocks under an indirect block of `level` (0: a data block) starting at `logical`. */
  async function* walk(ptr: number, level: number, logical: number): AsyncGenerator<Run> {
    if (ptr === 0 || logical >= blocks) return;
    if (level === 0) {
      yield* add(logical, ptr);
      return;
    }
    checkRange(fs, ino, ptr, 1);
    const buf = await fs.readBlock(ptr);
    const span = per ** (level - 1);
    for (let i = 0; i < per && logical + i * span < blocks; i++) {
      yield* walk(buf.readUInt32LE(4 * i), level - 1, logical + i * span);
    }
  }
  for (let i = 0; i < 12; i++) yield* walk(inode.block.readUInt32LE(4 * i), 0, i);
  yield* walk(inode.block.readUInt32LE(48), 1, 12);
  yield* walk(inode.block.readUInt32LE(52), 2, 12 + per);
  yield* walk(inode.block.readUInt32LE(56), 3, 12 + per + per * per);
  if (cur) yield cur;
}
