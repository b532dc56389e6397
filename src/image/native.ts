/**
 * Loads the in-repo addon (native/seek.c) that gives what Node's fs lacks:
 * lseek SEEK_DATA/SEEK_HOLE to find a sparse file's allocated ranges, SEEK_END
 * for the size of block devices, and fallocate PUNCH_HOLE for sparse writers.
 * It is built by node-gyp at `npm install` and loaded from the package root;
 * when it is missing the readers fall back (see raw.ts), they never fail for it.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

const ADDON = join('native', 'build', 'Release', 'brankas_native.node');

let loaded: { ops: NativeFileOps | undefined; error: unknown } | undefined;

/** The package root: the nearest directory above this module with a package.json. */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function load(): { ops: NativeFileOps | undefined; error: unknown } {
  const root = packageRoot();
  if (root === undefined) return { ops: undefined, error: new Error('package root not found') };
  const file = join(root, ADDON);
  if (!existsSync(file)) return { ops: undefined, error: new Error(`${file} is not built`) };
  try {
    const addon = createRequire(join(root, 'package.json'))(file) as Partial<NativeFileOps>;
    const names = ['seekData', 'seekHole', 'seekEnd', 'punchHole'] as const;
    for (const name of names) {
      if (typeof addon[name] !== 'function') throw new Error(`${file} lacks ${name}`);
    }
    return { ops: addon as NativeFileOps, error: undefined };
  } catch (error) {
    return { ops: undefined, error };
  }
}

/** The addon, or undefined when it is not built or does not load. */
export function nativeFileOps(): NativeFileOps | undefined {
  loaded ??= load();
  return loaded.ops;
}

/** Why nativeFileOps() is undefined (for diagnostics). */
export function nativeLoadError(): unknown {
  loaded ??= load();
  return loaded.error;
}
