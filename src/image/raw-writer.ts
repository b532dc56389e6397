/**
 * RawWriter: a disk restored into a sparse raw file. Only data is written:
 * zero ranges, gaps between writes, and all-zero blocks found inside written
 * data (`zeroBlock` granularity, aligned in the file, as qemu-img convert -S
 * does) stay holes, and ftruncate sets the final size. In `overwrite` mode the
 * existing file is reused in place: everything the new disk has as zeros is
 * punched (fallocate PUNCH_HOLE through the native addon; plain zeros are
 * written when the addon or the file system cannot punch).
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { ImageIoError } from './errors.js';
import { nativeFileOps } from './native.js';
import { openWriterSink, type FileSink } from './writer-sink.js';
import {
  commonOptions,
  WriterBase,
  ImageWriterOptionsError,
  isZero,
  WriteCursor,
  type CommonWriterOptions,
  type DiskWriter,
} from './writer.js';

export interface RawWriterOptions extends CommonWriterOptions {
  /** Granularity of zero detection inside data, a power of two; 0 writes data as given (default 4096). */
  zeroBlock?: number;
}

const ZERO_FILL = 1 << 20;

export class RawWriter extends WriterBase implements DiskWriter {
  readonly format = 'raw' as const;
  private readonly cursor: WriteCursor;
  /** A zero range not yet punched (overwrite mode): [punchStart, punchEnd). */
  private punchStart = 0;
  private punchEnd = 0;

  private constructor(
    readonly path: string,
    readonly virtualSize: number,
    private readonly handle: FileHandle,
    private readonly sink: FileSink,
    private readonly options: Required<CommonWriterOptions> & { zeroBlock: number },
    private readonly created: boolean,
    private readonly blockDevice: boolean,
  ) {
    super();
    this.cursor = new WriteCursor(path, virtualSize);
  }

  static async create(path: string, options: RawWriterOptions): Promise<RawWriter> {
    const common = commonOptions(path, options);
    const zeroBlock = options.zeroBlock ?? 4096;
    if (zeroBlock !== 0 && (zeroBlock < 512 || zeroBlock > 1 << 24 || !isPowerOfTwo(zeroBlock))) {
      throw new ImageWriterOptionsError(path, `zero block ${zeroBlock} is not a power of two`);
    }
    const flags = { create: 'wx', replace: 'w', overwrite: 'r+' }[common.mode];
    let handle: FileHandle;
    try {
      handle = await open(path, flags, 0o600);
    } catch (err) {
      throw new ImageIoError(path, 'create the raw image', err);
    }
    try {
      const stat = await handle.stat();
      const blockDevice = stat.isBlockDevice();
      if (blockDevice && nativeFileOps() !== undefined) {
        const size = nativeFileOps()?.seekEnd(handle.fd) ?? 0;
        if (size < common.virtualSize) {
          throw new ImageWriterOptionsError(path, `block device (${size} bytes) is too small`);
        }
      }
      // Sized at once, as qemu-img does: writes then land inside the file, never extend it.
      if (!blockDevice && common.mode !== 'overwrite') await handle.truncate(common.virtualSize);
      const sink = await openWriterSink(path, handle, common);
      const created = common.mode !== 'overwrite';
      return new RawWriter(
        path,
        common.virtualSize,
        handle,
        sink,
        { ...common, zeroBlock },
        created,
        blockDevice,
      );
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.check();
    const start = this.cursor.position;
    this.cursor.advance(offset, data.length, 'write');
    await this.guard(async () => {
      await this.zero(start, offset);
      const block = this.options.zeroBlock;
      if (block === 0) {
        await this.data(offset, data, 0, data.length);
        return;
      }
      // Runs of non-zero blocks go out as one write; runs of zero blocks become holes.
      const emit = (from: number, to: number, zero: boolean) =>
        zero ? this.zero(offset + from, offset + to) : this.data(offset + from, data, from, to);
      let runStart = 0;
      let runZero: boolean | undefined;
      for (let at = 0; at < data.length;) {
        const next = Math.min(data.length, at + block - ((offset + at) % block));
        const zero = isZero(data, at, next);
        if (runZero !== undefined && zero !== runZero) {
          await emit(runStart, at, runZero);
          runStart = at;
        }
        runZero = zero;
        at = next;
      }
      if (runZero !== undefined) await emit(runStart, data.length, runZero);
    });
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.check();
    const start = this.cursor.position;
    this.cursor.advance(offset, length, 'write zeroes');
    await this.guard(() => this.zero(start, offset + length));
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.check();
    await this.guard(async () => {
      await this.zero(this.cursor.position, this.virtualSize);
      await this.flushPunch();
      await this.sink.drain();
      if (!this.blockDevice) await this.handle.truncate(this.virtualSize);
      if (this.options.sync) await this.handle.datasync();
    });
    this.state = 'closed';
    await this.sink.release();
    await this.handle.close();
  }

  async abort(): Promise<void> {
    if (this.state === 'closed' || this.state === 'aborted') return;
    this.state = 'aborted';
    await this.sink.settle();
    await this.sink.release();
    await this.handle.close().catch(() => undefined);
    if (this.created) await unlink(this.path).catch(() => undefined);
  }

  private async data(position: number, data: Uint8Array, from: number, to: number): Promise<void> {
    await this.flushPunch();
    await this.sink.write(position, data.subarray(from, to));
  }

  /** [start, end) reads as zero in the new disk: a fresh file already does. */
  private async zero(start: number, end: number): Promise<void> {
    if (this.options.mode !== 'overwrite' || end <= start) return;
    if (this.punchEnd === start && this.punchEnd > this.punchStart) {
      this.punchEnd = end;
      return;
    }
    // Not contiguous with the pending range: that one is due now.
    await this.flushPunch();
    this.punchStart = start;
    this.punchEnd = end;
  }

  private async flushPunch(): Promise<void> {
    const start = this.punchStart;
    const length = this.punchEnd - start;
    this.punchStart = this.punchEnd = 0;
    if (length <= 0) return;
    const ops = nativeFileOps();
    if (ops !== undefined) {
      try {
        ops.punchHole(this.handle.fd, start, length);
        return;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (code !== 'EOPNOTSUPP' && code !== 'ENOSYS') {
          throw new ImageIoError(this.path, `punch a hole of ${length} bytes at ${start}`, err);
        }
      }
    }
    const zeros = Buffer.alloc(Math.min(ZERO_FILL, length));
    for (let at = start; at < start + length; at += zeros.length) {
      await this.sink.write(at, zeros.subarray(0, Math.min(zeros.length, start + length - at)));
    }
  }
}

function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}
