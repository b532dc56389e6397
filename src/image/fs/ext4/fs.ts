/**
 * A read-only ext2/3/4 filesystem, read straight from a volume through a
 * `ReadAt` (a backup's disk, an image file): inodes, directory entries,
 * symbolic links and file data as a stream of bounded chunks. Every block
 * number and length read from the volume is checked before it is used
 * (docs/file-restore.md, "The host reader").
 */
import { fsCorrupt } from './errors.js';
import { parseInode, S_IFDIR, S_IFLNK, typeOf, type Inode } from './inode.js';
import { runsOf, type BlockSource } from './map.js';
import {
  inodeTableOf,
  parseSuperblock,
  SUPERBLOCK_OFFSET,
  SUPERBLOCK_SIZE,
  type Superblock,
} from './superblock.js';

/** Reads `length` bytes of the volume at `offset`. */
export type ReadAt = (offset: number, length: number) => Promise<Buffer>;

export interface DirEntry {
  /** The name's bytes, as stored (not necessarily UTF-8). */
  name: Buffer;
  ino: number;
}

export const ROOT_INO = 2;
/** A symbolic link's target is at most PATH_MAX bytes. */
const MAX_LINK = 4096;
/** Bytes of file data read (and handed on) at a time. */
export const READ_CHUNK = 1 << 20;

export class Ext4 implements BlockSource {
  private readonly tables = new Map<number, number>();

  private constructor(
    private readonly readAt: ReadAt,
    readonly sb: Superblock,
  ) {}

  /** Opens the filesystem of a volume of `size` bytes (FS_UNSUPPORTED, FS_CORRUPT). */
  static async open(readAt: ReadAt, size: number): Promise<Ext4> {
    if (size < SUPERBLOCK_OFFSET + SUPERBLOCK_SIZE) throw fsCorrupt('a volume too small for ext4');
    const sb = parseSuperblock(await readAt(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE), size);
    return new Ext4(readAt, sb);
  }

  get blockSize(): number {
    return this.sb.blockSize;
  }

  get blocksCount(): number {
    return this.sb.blocksCount;
  }

  private async read(offset: number, length: number): Promise<Buffer> {
    const b = await this.readAt(offset, length);
    if (b.length !== length) throw fsCorrupt(`a read of ${length} bytes at ${offset} came short`);
    return b;
  }

  async readBlock(block: number): Promise<Buffer> {
    return this.readBlocks(block, 1);
  }

  private async readBlocks(block: number, count: number): Promise<Buffer> {
    if (block + count > this.sb.blocksCount) {
      throw fsCorrupt(`blocks ${block}+${count} lie outside the filesystem`);
    }
    return this.read(block * this.sb.blockSize, count * this.sb.blockSize);
  }

  private async inodeTable(g: number): Promise<number> {
    const known = this.tables.get(g);
    if (known !== undefined) return known;
    const at = (this.sb.firstDataBlock + 1) * this.sb.blockSize + g * this.sb.descSize;
    const table = inodeTableOf(this.sb, await this.read(at, this.sb.descSize), g);
    this.tables.set(g, table);
    return table;
  }

  async inode(ino: number): Promise<Inode> {
    if (!Number.isInteger(ino) || ino < 1 || ino > this.sb.inodesCount) {
      throw fsCorrupt(`inode number ${ino} (the filesystem has ${this.sb.inodesCount})`);
    }
    const g = Math.floor((ino - 1) / this.sb.inodesPerGroup);
    const index = (ino - 1) % this.sb.inodesPerGroup;
    const table = await this.inodeTable(g);
    const raw = await this.read(
      table * this.sb.blockSize + index * this.sb.inodeSize,
      this.sb.inodeSize,
    );
    return parseInode(raw, ino, this.sb.blockSize);
  }

  private blocksOf(i: Inode): number {
    return Math.ceil(i.size / this.sb.blockSize);
  }

  /** A directory's entries, `.` and `..` left out, in on-disk order. */
  async readdir(dir: Inode): Promise<DirEntry[]> {
    if (typeOf(dir) !== S_IFDIR) throw fsCorrupt(`inode ${dir.ino} is not a directory`);
    // Its blocks may not repeat (the entries are held in memory): no larger than the volume.
    if (dir.size > this.sb.blocksCount * this.sb.blockSize) {
      throw fsCorrupt(`directory ${dir.ino} claims ${dir.size} bytes, more than the filesystem`);
    }
    const out: DirEntry[] = [];
    for await (const run of runsOf(this, dir, this.blocksOf(dir))) {
      if (run.zero) continue;
      for (let b = 0; b < run.length; b++) {
        const block = await this.readBlock(run.physical + b);
        this.parseDirBlock(block, dir.ino, out);
      }
    }
    return out;
  }

  private parseDirBlock(block: Buffer, dirIno: number, out: DirEntry[]): void {
    const bs = block.length;
    let off = 0;
    while (off < bs) {
      if (off + 8 > bs) throw fsCorrupt(`directory ${dirIno}: an entry header crosses its block`);
      const ino = block.readUInt32LE(off);
      let rec = block.readUInt16LE(off + 4);
      // 64 KiB blocks store a whole-block rec_len as 0 or 65535.
      if (bs === 65536 && (rec === 0 || rec === 65535)) rec = 65536;
      const nameLen = this.sb.filetype ? block[off + 6]! : block.readUInt16LE(off + 6);
      if (rec < 8 || rec % 4 !== 0 || off + rec > bs) {
        throw fsCorrupt(`directory ${dirIno}: entry length ${rec} at ${off} of its block`);
      }
      if (ino !== 0) {
        if (nameLen === 0 || 8 + nameLen > rec) {
          throw fsCorrupt(`directory ${dirIno}: a name of ${nameLen} bytes in a ${rec}-byte entry`);
        }
        if (ino > this.sb.inodesCount) {
          throw fsCorrupt(`directory ${dirIno}: an entry names inode ${ino}`);
        }
        const name = block.subarray(off + 8, off + 8 + nameLen);
        if (name.includes(0x2f) || name.includes(0)) {
          throw fsCorrupt(`directory ${dirIno}: a name holding '/' or NUL`);
        }
        const dot = name[0] === 0x2e && (nameLen === 1 || (nameLen === 2 && name[1] === 0x2e));
        if (!dot) out.push({ name: Buffer.from(name), ino });
      }
      off += rec;
    }
  }

  /** The inode number of `name` in `dir`, or undefined. */
  async lookup(dir: Inode, name: Buffer): Promise<number | undefined> {
    for (const e of await this.readdir(dir)) if (e.name.equals(name)) return e.ino;
    return undefined;
  }

  /** A symbolic link's target bytes. */
  async readlink(link: Inode): Promise<Buffer> {
    if (typeOf(link) !== S_IFLNK) throw fsCorrupt(`inode ${link.ino} is not a symbolic link`);
    if (link.size === 0 || link.size > MAX_LINK) {
      throw fsCorrupt(`symbolic link ${link.ino} has a ${link.size}-byte target`);
    }
    if (link.size < 60 && link.dataSectors === 0) return link.block.subarray(0, link.size);
    const parts: Buffer[] = [];
    for await (const c of this.data(link)) parts.push(c);
    return Buffer.concat(parts);
  }

  /**
   * A file's bytes, exactly its size, in chunks of at most READ_CHUNK: holes and unwritten
   * extents as zeros, runs read from the volume.
   */
  async *data(file: Inode): AsyncGenerator<Buffer> {
    const bs = this.sb.blockSize;
    const size = file.size;
    let pos = 0;
    const zeros = function* (until: number): Generator<Buffer> {
      while (pos < until) {
        const n = Math.min(READ_CHUNK, until - pos);
        pos += n;
        yield Buffer.alloc(n);
      }
    };
    for await (const run of runsOf(this, file, this.blocksOf(file))) {
      const start = run.logical * bs;
      if (start < pos) throw fsCorrupt(`inode ${file.ino}: its blocks overlap`);
      yield* zeros(start);
      const end = Math.min(size, (run.logical + run.length) * bs);
      if (run.zero) {
        yield* zeros(end);
        continue;
      }
      const perRead = Math.max(1, Math.floor(READ_CHUNK / bs));
      for (let b = 0; pos < end; b += perRead) {
        const count = Math.min(perRead, run.length - b);
        const buf = await this.readBlocks(run.physical + b, count);
        const n = Math.min(buf.length, end - pos);
        pos += n;
        yield buf.subarray(0, n);
      }
    }
    yield* zeros(size);
  }
}
