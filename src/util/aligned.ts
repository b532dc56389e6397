/**
 * Page-aligned buffers, for writes that bypass the page cache (O_DIRECT): Linux needs the
 * memory, the file position and the length of such a write aligned to the block size (4096
 * covers every block size in use). Node's own large Buffers start 16 bytes past a page (malloc's
 * mmap chunks), so aligned memory comes from the native addon (native/aligned-napi.c); without
 * it, alignedBuffer returns an ordinary Buffer and directAligned says no, so writes stay
 * buffered: same bytes, the page cache's speed.
 */
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { nativeFunctions } from './native.js';

export const DIRECT_ALIGN = 4096;

type AllocFn = (size: number) => Buffer;

let native: AllocFn | undefined | null = null;
/** The ArrayBuffers alignedBuffer made: their first byte is on a 4096-byte boundary. */
const aligned = new WeakSet<ArrayBufferLike>();

function nativeAlloc(): AllocFn | undefined {
  if (native === null)
    native = nativeFunctions<{ alignedBuffer: AllocFn }>(['alignedBuffer']).fns?.alignedBuffer;
  return native;
}

/** A Buffer of size bytes, page-aligned when the native addon is there (contents undefined). */
export function alignedBuffer(size: number): Buffer {
  const alloc = nativeAlloc();
  const rounded = Math.ceil(size / DIRECT_ALIGN) * DIRECT_ALIGN;
  if (alloc === undefined || rounded === 0 || rounded > 1 << 30) return Buffer.allocUnsafe(size);
  const b = alloc(rounded);
  aligned.add(b.buffer);
  return size === rounded ? b : b.subarray(0, size);
}

/** Whether `length` bytes of data from `offset`, written at `position`, may go out with O_DIRECT. */
export function directAligned(
  data: Uint8Array,
  offset: number,
  length: number,
  position: number,
): boolean {
  return (
    length > 0 &&
    length % DIRECT_ALIGN === 0 &&
    position % DIRECT_ALIGN === 0 &&
    (data.byteOffset + offset) % DIRECT_ALIGN === 0 &&
    aligned.has(data.buffer)
  );
}

/**
 * A second handle on an open file's path for O_DIRECT writes, or undefined where that is not
 * possible (no O_DIRECT on this platform, or a file system that refuses it at open).
 */
export async function openDirect(path: string): Promise<FileHandle | undefined> {
  if (constants.O_DIRECT === undefined) return undefined;
  try {
    return await open(path, constants.O_WRONLY | constants.O_DIRECT);
  } catch {
    return undefined;
  }
}
