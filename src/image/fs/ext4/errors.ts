/**
 * Errors of the filesystem readers. FS_UNSUPPORTED means "valid, but not for
 * this reader": the caller hands the volume to another reader (the file
 * restore's helper VM). FS_CORRUPT means the filesystem contradicts itself or
 * points outside its volume; nothing read from it is trusted. (The image
 * layer's own union, ImageErrorCode, is for the image formats.)
 */
import { BrankasError, type BrankasErrorOptions } from '../../../util/errors.js';

export type FsErrorCode = 'FS_CORRUPT' | 'FS_UNSUPPORTED';

export class FsError<C extends FsErrorCode = FsErrorCode> extends BrankasError<C> {
  override readonly name: string = 'FsError';
}

export function fsCorrupt(problem: string, o: BrankasErrorOptions = {}): FsError<'FS_CORRUPT'> {
  return new FsError('FS_CORRUPT', `ext4: ${problem}`, {
    ...o,
    details: { fs: 'ext4', problem, ...o.details },
  });
}

export function fsUnsupported(feature: string): FsError<'FS_UNSUPPORTED'> {
  return new FsError('FS_UNSUPPORTED', `ext4: unsupported feature ${feature}`, {
    details: { fs: 'ext4', feature },
  });
}

export function isFsUnsupported(err: unknown): err is FsError {
  return err instanceof FsError && err.code === 'FS_UNSUPPORTED';
}
