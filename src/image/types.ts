/**
 * The disk data plane's shared contract: what a backup needs from a disk,
 * whether it is read straight from an image file (src/image/) or from a live
 * VM over NBD (src/nbd/). Both yield the same stream of extents and bytes, so
 * the engine never knows which path served it. Keep this small and stable.
 */

/**
 * `data`: bytes that must be read. `zero`: reads as zeros but is allocated or
 * flagged zero in the image (a qcow2 zero cluster; a hole in a raw file, whose
 * format allocates every byte). `hole`: allocated by no layer of the image,
 * reads as zeros. The kinds follow QEMU's block status, so a disk read from
 * its file and the same disk read over NBD give the same extents.
 */
export type ExtentKind = 'data' | 'zero' | 'hole';

export interface Extent {
  offset: number;
  length: number;
  kind: ExtentKind;
}

export interface ExtentRange {
  start?: number;
  end?: number;
}

/** Offsets and sizes are JS numbers: exact up to 2^53 bytes (8 PiB). */
export interface DiskReader {
  /** Guest-visible size in bytes. */
  readonly virtualSize: number;
  /** 'raw' | 'qcow2' | ... */
  readonly format: string;
  /**
   * Contiguous, ordered extents covering [start, end) (default: the whole
   * disk), adjacent extents of the same kind merged.
   */
  extents(range?: ExtentRange): AsyncIterable<Extent>;
  /** Any range; holes and zeros read as zeros; reading past virtualSize is an error. */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Optional: reads [offset, offset+length) into target[targetOffset...], so a
   * caller can reuse its buffers (copyDisk does: no allocation, page faults or
   * garbage per piece).
   */
  readInto?(
    target: Uint8Array,
    targetOffset: number,
    offset: number,
    length: number,
  ): Promise<void>;
  /** Idempotent. */
  close(): Promise<void>;
}
