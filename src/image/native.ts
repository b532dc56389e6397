/**
 * Loads the in-repo addon (native/seek.c) that gives what Node's fs lacks:
 * lseek SEEK_DATA/SEEK_HOLE to find a sparse file's allocated ranges, SEEK_END
 * for the size of block devices, and fallocate PUNCH_HOLE for sparse writers.
 * It is built by node-gyp at `npm install` and loaded from the package root;
 * when it is missing the readers fall back (see raw.ts), they never fail for it.
 */
import { nativeFunctions } from '../util/native.js';

export interface NativeFileOps {
  /** Offset of the first data byte at or after `offset`, or -1 when there is none. */
  seekData(fd: number, offset: number): number;
  /** Offset of the first hole at or after `offset` (EOF counts as a hole), or -1 past EOF. */
  seekHole(fd: number, offset: number): number;
  /** Size of the file or block device. */
  seekEnd(fd: number): number;
  /** Deallocates [offset, offset+length) keeping the file size. */
  punchHole(fd: number, offset: number, length: number): void;
}

let loaded: { fns?: NativeFileOps; error?: unknown } | undefined;

function load(): { fns?: NativeFileOps; error?: unknown } {
  return nativeFunctions<NativeFileOps>(['seekData', 'seekHole', 'seekEnd', 'punchHole']);
}

/** The addon, or undefined when it is not built or does not load. */
export function nativeFileOps(): NativeFileOps | undefined {
  loaded ??= load();
  return loaded.fns;
}

/** Why nativeFileOps() is undefined (for diagnostics). */
export function nativeLoadError(): unknown {
  loaded ??= load();
  return loaded.error;
}
