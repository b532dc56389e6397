/**
 * What every image reader shares: range checks, the closed state, and the
 * `readInto` that lets an overlay fill its caller's buffer straight from its
 * backing file without an extra copy. Subclasses supply the format.
 */
import { constants as bufferConstants } from 'node:buffer';
import { checkDiskRange, ImageClosedError, ImageRangeError } from './errors.js';
import type { ImageFile } from './file.js';
import type { DiskReader, Extent, ExtentRange } from './types.js';

/** One file of a backing chain, as the readers see each other. */
export interface ImageLayer extends DiskReader {
  readonly path: string;
  readonly file: ImageFile;
  /** The next file down the backing chain, if any. */
  readonly backing: ImageLayer | undefined;
  /** Reads [offset, offset+length) of the disk into target[targetOffset...]. */
  readInto(target: Uint8Array, targetOffset: number, offset: number, length: number): Promise<void>;
}

export abstract class BaseReader implements ImageLayer {
  abstract readonly format: string;
  abstract readonly virtualSize: number;
  private closed = false;

  protected constructor(
    readonly file: ImageFile,
    readonly backing: ImageLayer | undefined,
  ) {}

  get path(): string {
    return this.file.path;
  }

  async *extents(range: ExtentRange = {}): AsyncGenerator<Extent> {
    const start = range.start ?? 0;
    const end = range.end ?? this.virtualSize;
    this.checkRange(start, end - start, 'extents of');
    if (start === end) return;
    yield* this.extentsIn(start, end);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    this.checkRange(offset, length, 'read');
    if (length > bufferConstants.MAX_LENGTH) {
      throw new ImageRangeError(this.path, `cannot read ${length} bytes into one buffer`);
    }
    const buf = Buffer.allocUnsafe(length);
    if (length > 0) await this.readRange(buf, 0, offset, length);
    return buf;
  }

  async readInto(
    target: Uint8Array,
    targetOffset: number,
    offset: number,
    length: number,
  ): Promise<void> {
    this.checkRange(offset, length, 'read');
    if (targetOffset < 0 || targetOffset + length > target.length) {
      throw new ImageRangeError(this.path, `target buffer too small for ${length} bytes`);
    }
    if (length > 0) await this.readRange(target, targetOffset, offset, length);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.file.close();
    } finally {
      await this.backing?.close();
    }
  }

  /** Extents of [start, end), already checked to lie inside the disk and be non-empty. */
  protected abstract extentsIn(start: number, end: number): AsyncGenerator<Extent>;

  /** Fills target[targetOffset, +length) with the disk's bytes at offset; range already checked. */
  protected abstract readRange(
    target: Uint8Array,
    targetOffset: number,
    offset: number,
    length: number,
  ): Promise<void>;

  protected checkRange(offset: number, length: number, what: string): void {
    if (this.closed) throw new ImageClosedError(this.path);
    checkDiskRange(this.path, this.virtualSize, offset, length, what);
  }
}
