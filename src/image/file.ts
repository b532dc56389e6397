/**
 * A file opened for positional reads: the one place image readers touch the
 * operating system. Every read names what it is reading, so a short read (the
 * file ends early) becomes an IMAGE_CORRUPT error that says what was missing.
 */
import { open, readFile, realpath, type FileHandle } from 'node:fs/promises';
import { ImageClosedError, ImageCorruptError, ImageIoError } from './errors.js';
import { nativeFileOps } from './native.js';

/** Largest single read(2): Linux never returns more than 0x7ffff000 bytes at once. */
const MAX_SYSCALL_READ = 1 << 30;

export class ImageFile {
  private closed = false;

  private constructor(
    /** The path as the caller gave it (errors name it, relative backing paths resolve from it). */
    readonly path: string,
    private readonly handle: FileHandle,
    /** Apparent size in bytes (stat.size; the device size for block devices). */
    readonly size: number,
    readonly isBlockDevice: boolean,
    /** stat.blocks * 512: what the file occupies on the host. */
    readonly allocatedSize: number,
  ) {}

  static async open(path: string): Promise<ImageFile> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      throw new ImageIoError(path, 'open', err);
    }
    try {
      const stat = await handle.stat();
      const isBlockDevice = stat.isBlockDevice();
      if (!stat.isFile() && !isBlockDevice) {
        throw new ImageIoError(path, 'open', new Error('not a regular file or block device'));
      }
      const size = isBlockDevice ? await blockDeviceSize(path, handle.fd, stat.rdev) : stat.size;
      return new ImageFile(path, handle, size, isBlockDevice, stat.blocks * 512);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  get fd(): number {
    if (this.closed) throw new ImageClosedError(this.path);
    return this.handle.fd;
  }

  /**
   * Reads up to `length` bytes at `position` into target[offset...]; returns how
   * many were read (fewer only at end of file).
   */
  async readInto(
    target: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<number> {
    if (this.closed) throw new ImageClosedError(this.path);
    let done = 0;
    while (done < length) {
      const want = Math.min(length - done, MAX_SYSCALL_READ);
      let got: number;
      try {
        ({ bytesRead: got } = await this.handle.read(target, offset + done, want, position + done));
      } catch (err) {
        if (this.closed) throw new ImageClosedError(this.path);
        throw new ImageIoError(this.path, `read ${want} bytes at offset ${position + done}`, err);
      }
      if (got === 0) break;
      done += got;
    }
    return done;
  }

  /** Like readInto, but the whole range must exist: a short read is corruption named by `what`. */
  async readFullyInto(
    target: Uint8Array,
    offset: number,
    length: number,
    position: number,
    what: string,
  ): Promise<void> {
    const got = await this.readInto(target, offset, length, position);
    if (got !== length) {
      throw new ImageCorruptError(
        this.path,
        `${what} (${length} bytes at offset ${position}) extends past the end of the file (${this.size} bytes)`,
      );
    }
  }

  async readExact(position: number, length: number, what: string): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    await this.readFullyInto(buf, 0, length, position, what);
    return buf;
  }

  /** Reads what exists of [position, position+length), possibly fewer bytes. */
  async readUpTo(position: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    const got = await this.readInto(buf, 0, length, position);
    return got === length ? buf : buf.subarray(0, got);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}

/** fstat reports 0 for block devices: ask lseek, or sysfs when the addon is missing. */
async function blockDeviceSize(path: string, fd: number, rdev: number): Promise<number> {
  const ops = nativeFileOps();
  if (ops !== undefined) return ops.seekEnd(fd);
  const major = Math.floor(rdev / 256) & 0xfff;
  const minor = (rdev & 0xff) | ((Math.floor(rdev / 1048576) & 0xfff) << 8);
  try {
    const sectors = await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8');
    return Number(sectors.trim()) * 512;
  } catch (err) {
    throw new ImageIoError(path, 'find the size of the block device', err);
  }
}

/** Resolves symlinks so a backing chain can tell when it loops back on itself. */
export async function canonicalPath(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch (err) {
    throw new ImageIoError(path, 'open', err);
  }
}
