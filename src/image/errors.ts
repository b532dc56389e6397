/**
 * Errors of the image readers. IMAGE_UNSUPPORTED means "valid, but not for
 * this reader": the caller hands the image to the NBD path (qemu-nbd) instead.
 * IMAGE_CORRUPT means the image contradicts itself; nothing read from it is
 * trusted. Both name the image and what was found in `details`.
 */
import { BrankasError, type BrankasErrorOptions } from '../util/errors.js';

export const IMAGE_UNSUPPORTED = 'IMAGE_UNSUPPORTED';
export const IMAGE_CORRUPT = 'IMAGE_CORRUPT';
export const IMAGE_NOT_FOUND = 'IMAGE_NOT_FOUND';
export const IMAGE_IO = 'IMAGE_IO';
export const IMAGE_RANGE = 'IMAGE_RANGE';
export const IMAGE_CLOSED = 'IMAGE_CLOSED';

export type ImageErrorCode =
  | typeof IMAGE_UNSUPPORTED
  | typeof IMAGE_CORRUPT
  | typeof IMAGE_NOT_FOUND
  | typeof IMAGE_IO
  | typeof IMAGE_RANGE
  | typeof IMAGE_CLOSED
  | 'IMAGE_WRITER_OPTIONS'
  | 'IMAGE_WRITER_BUSY';

/**
 * Every image error names its file (`details.path`); the subclasses add what their code's text
 * needs (IMAGE_CORRUPT its problem, IMAGE_UNSUPPORTED its feature).
 */
export class ImageError extends BrankasError<ImageErrorCode> {
  override readonly name: string = 'ImageError';
  readonly path: string;

  constructor(
    code: ImageErrorCode,
    path: string,
    message: string,
    options: BrankasErrorOptions = {},
  ) {
    // The subclasses supply their codes' parameters; the compiler cannot follow that through
    // this shared constructor, so the registry test checks the texts render.
    const details = { path, ...options.details } as Record<string, unknown> & {
      path: string;
      feature: unknown;
      problem: unknown;
    };
    super(code, message, { ...options, details });
    this.path = path;
  }
}

/** The image uses something this reader does not implement; read it through NBD instead. */
export class ImageUnsupportedError extends ImageError {
  override readonly name: string = 'ImageUnsupportedError';
  readonly feature: string;

  constructor(path: string, feature: string, options: BrankasErrorOptions = {}) {
    super(IMAGE_UNSUPPORTED, path, `${path}: unsupported image feature: ${feature}`, {
      ...options,
      details: { feature, ...options.details },
    });
    this.feature = feature;
  }
}

/** The image is inconsistent (truncated, bad magic, pointers past end of file, loops...). */
export class ImageCorruptError extends ImageError {
  override readonly name: string = 'ImageCorruptError';
  readonly problem: string;

  constructor(path: string, problem: string, options: BrankasErrorOptions = {}) {
    super(IMAGE_CORRUPT, path, `${path}: corrupt image: ${problem}`, {
      ...options,
      details: { problem, ...options.details },
    });
    this.problem = problem;
  }
}

/** Opening or reading the file failed in the operating system. */
export class ImageIoError extends ImageError {
  override readonly name: string = 'ImageIoError';

  constructor(path: string, action: string, cause: unknown) {
    const sys = typeof cause === 'object' && cause !== null ? (cause as { code?: unknown }) : {};
    const code = sys.code === 'ENOENT' ? IMAGE_NOT_FOUND : IMAGE_IO;
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(code, path, `${path}: cannot ${action}: ${reason}`, {
      cause,
      details: { action, errno: typeof sys.code === 'string' ? sys.code : undefined },
    });
  }
}

/** A read or extent range outside the disk, or arguments that are not byte offsets. */
export class ImageRangeError extends ImageError {
  override readonly name: string = 'ImageRangeError';

  constructor(path: string, message: string) {
    super(IMAGE_RANGE, path, `${path}: ${message}`);
  }
}

/** Throws ImageRangeError unless [offset, offset+length) is a valid range of a disk of virtualSize. */
export function checkDiskRange(
  path: string,
  virtualSize: number,
  offset: number,
  length: number,
  what: string,
): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new ImageRangeError(path, `cannot ${what} offset ${offset} length ${length}`);
  }
  if (offset + length > virtualSize) {
    throw new ImageRangeError(
      path,
      `cannot ${what} [${offset}, ${offset + length}): past the end of the disk (${virtualSize} bytes)`,
    );
  }
}

export class ImageClosedError extends ImageError {
  override readonly name: string = 'ImageClosedError';

  constructor(path: string) {
    super(IMAGE_CLOSED, path, `${path}: the image reader is closed`);
  }
}

export function isImageUnsupported(err: unknown): err is ImageUnsupportedError {
  return err instanceof BrankasError && err.code === IMAGE_UNSUPPORTED;
}

export function isImageCorrupt(err: unknown): err is ImageCorruptError {
  return err instanceof BrankasError && err.code === IMAGE_CORRUPT;
}
