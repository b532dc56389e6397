/**
 * The restore side of the disk data plane: what a restore engine needs to put
 * a disk back into an image file, whatever the format. Extents arrive in
 * ascending, non-overlapping order (the order a DiskReader or a backup's
 * extent map yields them); anything not written reads as zeros in the result.
 * `close()` finishes the image (idempotent, graceful); `abort()` gives up and
 * removes a file the writer created (idempotent, like undici's destroy).
 * Implementations: RawWriter (sparse raw), Qcow2Writer (fresh qcow2).
 */
import { BrankasError } from '../util/errors.js';
import { checkDiskRange, IMAGE_CLOSED, ImageError, ImageRangeError } from './errors.js';

export type WriterFormat = 'raw' | 'qcow2';

export interface DiskWriter {
  readonly path: string;
  readonly format: WriterFormat;
  /** Guest-visible size of the image being written. */
  readonly virtualSize: number;
  /**
   * Writes data at offset. The bytes are copied before the promise resolves, so
   * the caller may reuse its buffer. Offsets must not go backwards.
   */
  write(offset: number, data: Uint8Array): Promise<void>;
  /** Declares [offset, offset+length) zero (a zero or hole extent); also ordered. */
  writeZeroes(offset: number, length: number): Promise<void>;
  /** Flushes and completes the image; idempotent. */
  close(): Promise<void>;
  /** Gives up: closes the file and removes it if this writer created it; idempotent. */
  abort(): Promise<void>;
}

/**
 * What happens to an existing file at the path. `create`: refuse it (EEXIST).
 * `replace`: truncate it and write from scratch. `overwrite` (raw only): write
 * in place, punching holes where the new disk is zero, so a preallocated or
 * labelled file keeps its identity.
 */
export type WriteMode = 'create' | 'replace' | 'overwrite';

export interface CommonWriterOptions {
  virtualSize: number;
  mode?: WriteMode;
  /** fdatasync before close() resolves (default true: a restore must be durable). */
  sync?: boolean;
  /** Bytes per write(2) of coalesced data (default 8 MiB). */
  bufferSize?: number;
  /** Coalesced writes in flight at once (default 4). */
  inFlight?: number;
}

export const IMAGE_WRITER_OPTIONS = 'IMAGE_WRITER_OPTIONS';

/** Options a writer cannot honour (cluster size not a power of two, unknown compat...). */
export class ImageWriterOptionsError extends ImageError {
  override readonly name: string = 'ImageWriterOptionsError';

  constructor(path: string, message: string) {
    super(IMAGE_WRITER_OPTIONS, path, `${path}: ${message}`);
  }
}

/** Same code as a closed reader (IMAGE_CLOSED); the message names the writer. */
export class ImageWriterClosedError extends ImageError {
  override readonly name: string = 'ImageWriterClosedError';

  constructor(path: string, state: 'closed' | 'aborted' | 'failed') {
    super(IMAGE_CLOSED, path, `${path}: the image writer is ${state}`, { details: { state } });
  }
}

export const IMAGE_WRITER_BUSY = 'IMAGE_WRITER_BUSY';

/** A call made before the previous one resolved: a writer takes one call at a time. */
export class ImageWriterBusyError extends ImageError {
  override readonly name: string = 'ImageWriterBusyError';

  constructor(path: string) {
    super(IMAGE_WRITER_BUSY, path, `${path}: the image writer is busy: await each call first`);
  }
}

export function isImageWriterOptions(err: unknown): err is ImageWriterOptionsError {
  return err instanceof BrankasError && err.code === IMAGE_WRITER_OPTIONS;
}

export type WriterState = 'open' | 'closed' | 'aborted' | 'failed';

/**
 * What every writer keeps: its state, and one call at a time. A failure
 * leaves the writer unusable (but its file in place) until abort().
 */
export abstract class WriterBase {
  protected state: WriterState = 'open';
  /** A call is under way: the next must wait for it. */
  private busy = false;
  abstract readonly path: string;

  protected check(): void {
    if (this.state !== 'open') throw new ImageWriterClosedError(this.path, this.state);
    if (this.busy) throw new ImageWriterBusyError(this.path);
  }

  protected async guard(fn: () => Promise<void>): Promise<void> {
    this.busy = true;
    try {
      await fn();
    } catch (err) {
      if (this.state === 'open') this.state = 'failed';
      throw err;
    } finally {
      this.busy = false;
    }
  }
}

/**
 * Tracks the write position and rejects what the ascending-order contract
 * forbids: bad numbers, going backwards, overlapping, running past the end.
 */
export class WriteCursor {
  /** End of the last write or zero range. */
  position = 0;

  constructor(
    private readonly path: string,
    private readonly virtualSize: number,
  ) {}

  advance(offset: number, length: number, what: string): void {
    checkDiskRange(this.path, this.virtualSize, offset, length, what);
    if (offset < this.position) {
      throw new ImageRangeError(
        this.path,
        `cannot ${what} at ${offset}: writes must ascend, the last one ended at ${this.position}`,
      );
    }
    this.position = offset + length;
  }
}

/** Checks the options every writer shares; returns them with defaults filled in. */
export function commonOptions(
  path: string,
  options: CommonWriterOptions,
): Required<CommonWriterOptions> {
  const { virtualSize, mode = 'create', sync = true, bufferSize = 8 << 20, inFlight = 4 } = options;
  if (!Number.isSafeInteger(virtualSize) || virtualSize < 0) {
    throw new ImageWriterOptionsError(path, `virtual size ${virtualSize} is not a byte count`);
  }
  if (!['create', 'replace', 'overwrite'].includes(mode)) {
    throw new ImageWriterOptionsError(path, `unknown write mode ${String(mode)}`);
  }
  if (!Number.isSafeInteger(bufferSize) || bufferSize < 4096 || bufferSize > 1 << 30) {
    throw new ImageWriterOptionsError(path, `buffer size ${bufferSize} out of range`);
  }
  if (!Number.isSafeInteger(inFlight) || inFlight < 1 || inFlight > 64) {
    throw new ImageWriterOptionsError(path, `writes in flight ${inFlight} out of range`);
  }
  return { virtualSize, mode, sync, bufferSize, inFlight };
}

const ZEROES = Buffer.alloc(64 * 1024);

/** True when data[start, end) is all zero bytes (memcmp against a zero page). */
export function isZero(data: Uint8Array, start: number, end: number): boolean {
  // Most data fails on its first bytes, before any subarray is made; zero blocks
  // cost one memcmp per 64 KiB.
  const head = Math.min(end, start + 16);
  for (let i = start; i < head; i++) if (data[i] !== 0) return false;
  for (let at = start; at < end; at += ZEROES.length) {
    const n = Math.min(ZEROES.length, end - at);
    if (Buffer.compare(data.subarray(at, at + n), ZEROES.subarray(0, n)) !== 0) return false;
  }
  return true;
}
