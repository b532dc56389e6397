/**
 * Raw images: the file is the disk. Holes come from lseek SEEK_DATA/SEEK_HOLE
 * (the native addon), so a sparse 1 TiB file with 1 GiB in it costs a few
 * system calls to map. Without the addon the file is scanned instead, and
 * all-zero blocks are reported as zero: slower, but the same bytes.
 *
 * The host file's holes are extents of kind `zero`, not `hole`: the raw format
 * has every byte of the disk present (only the host file is sparse), which is
 * also how QEMU sees it (qemu-img map: present, zero), so the NBD path and
 * this one yield the same extents. `hole` is for what no layer allocates.
 */
import { ImageIoError } from './errors.js';
import { ImageFile } from './file.js';
import { nativeFileOps, type NativeFileOps } from './native.js';
import { BaseReader } from './reader.js';
import type { Extent } from './types.js';

/** Block size of the zero scan used without the addon. */
const SCAN_BLOCK = 64 * 1024;
/** Bytes read per system call by the zero scan. */
const SCAN_READ = 4 * 1024 * 1024;

export interface RawOpenOptions {
  /** The lseek operations; `null` forces the scanning fallback (tests). Default: the addon. */
  fileOps?: NativeFileOps | null;
}

export class RawReader extends BaseReader {
  readonly format = 'raw';
  readonly virtualSize: number;
  private readonly ops: NativeFileOps | undefined;

  private constructor(file: ImageFile, ops: NativeFileOps | undefined) {
    super(file, undefined);
    this.virtualSize = file.size;
    this.ops = ops;
  }

  /** Takes ownership of `file`. */
  static fromFile(file: ImageFile, options: RawOpenOptions = {}): RawReader {
    const ops = options.fileOps === undefined ? nativeFileOps() : (options.fileOps ?? undefined);
    return new RawReader(file, ops);
  }

  static async open(path: string, options: RawOpenOptions = {}): Promise<RawReader> {
    return RawReader.fromFile(await ImageFile.open(path), options);
  }

  /** Whether holes are found with lseek (true) or by scanning for zeros (false). */
  get seeksHoles(): boolean {
    return this.ops !== undefined;
  }

  protected async *extentsIn(start: number, end: number): AsyncGenerator<Extent> {
    if (this.ops === undefined || this.file.isBlockDevice) {
      yield* this.scanExtents(start, end);
      return;
    }
    const ops = this.ops;
    let pos = start;
    while (pos < end) {
      const fd = this.file.fd;
      let data: number;
      let hole: number;
      try {
        data = ops.seekData(fd, pos);
        hole = data < 0 ? -1 : ops.seekHole(fd, data);
      } catch (err) {
        throw new ImageIoError(this.path, `find data at offset ${pos}`, err);
      }
      if (data < 0 || data >= end) {
        yield { offset: pos, length: end - pos, kind: 'zero' };
        return;
      }
      if (data > pos) yield { offset: pos, length: data - pos, kind: 'zero' };
      // A file that shrank under us reports no hole: the rest is data as far as we know.
      const dataEnd = hole < 0 ? end : Math.min(hole, end);
      yield { offset: data, length: dataEnd - data, kind: 'data' };
      pos = dataEnd;
    }
  }

  /** Without lseek: read everything, report all-zero blocks as `zero`. */
  private async *scanExtents(start: number, end: number): AsyncGenerator<Extent> {
    const buf = Buffer.allocUnsafe(SCAN_READ);
    let pending: Extent | undefined;
    for (let pos = start; pos < end; pos += SCAN_READ) {
      const length = Math.min(SCAN_READ, end - pos);
      await this.file.readFullyInto(buf, 0, length, pos, 'disk data');
      for (let off = 0; off < length; off += SCAN_BLOCK) {
        const n = Math.min(SCAN_BLOCK, length - off);
        const kind = isZero(buf, off, n) ? 'zero' : 'data';
        if (pending !== undefined && pending.kind === kind) {
          pending.length += n;
        } else {
          if (pending !== undefined) yield pending;
          pending = { offset: pos + off, length: n, kind };
        }
      }
    }
    if (pending !== undefined) yield pending;
  }

  protected async readRange(
    target: Uint8Array,
    targetOffset: number,
    offset: number,
    length: number,
  ): Promise<void> {
    // Holes read as zeros from the kernel; one positional read is the fastest path.
    await this.file.readFullyInto(target, targetOffset, length, offset, 'disk data');
  }
}

const ZEROS = Buffer.alloc(SCAN_BLOCK);

function isZero(buf: Buffer, offset: number, length: number): boolean {
  return buf.compare(ZEROS, 0, length, offset, offset + length) === 0;
}
