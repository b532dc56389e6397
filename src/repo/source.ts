/**
 * What the writer needs from a disk: its size, its extents and its bytes.
 * The disk data plane's DiskReader (src/image/types.ts) has this shape and
 * more; the repository names only what it uses.
 */

export interface SourceExtent {
  offset: number;
  length: number;
  kind: 'data' | 'zero' | 'hole';
}

export interface ExtentSource {
  readonly virtualSize: number;
  /** Ordered, contiguous extents; zero and hole extents are never read. */
  extents(): AsyncIterable<SourceExtent>;
  /** Bytes of [offset, offset+length); holes and zeros read as zeros. */
  read(offset: number, length: number): Promise<Buffer>;
  /** Like read, into target[targetOffset...]: the writer reads straight into shared memory. */
  readInto?(target: Buffer, targetOffset: number, offset: number, length: number): Promise<void>;
}

/** An ExtentSource over a buffer, for tests and small callers: all data. */
export function bufferSource(data: Buffer): ExtentSource {
  return {
    virtualSize: data.length,
    async *extents() {
      if (data.length) yield { offset: 0, length: data.length, kind: 'data' };
    },
    async read(offset, length) {
      return Buffer.from(data.subarray(offset, offset + length));
    },
  };
}

/**
 * For each slot of `chunkSize` bytes, whether any data extent touches it.
 * Extents may be of any alignment; a gap between extents, or a range they do
 * not reach, counts as data (a source that forgot a range must not lose it).
 */
export async function* slotKinds(
  src: ExtentSource,
  chunkSize: number,
): AsyncIterable<'data' | 'zero'> {
  const size = src.virtualSize;
  const slots = Math.ceil(size / chunkSize);
  let slot = 0;
  let cur = false;
  let covered = 0;
  function* piece(start: number, end: number, isData: boolean): Generator<'data' | 'zero'> {
    while (slot < slots) {
      const sEnd = Math.min((slot + 1) * chunkSize, size);
      if (isData && start < sEnd && end > slot * chunkSize) cur = true;
      if (sEnd > end) return;
      yield cur ? 'data' : 'zero';
      slot++;
      cur = false;
    }
  }
  for await (const e of src.extents()) {
    const start = Math.max(e.offset, covered);
    const end = Math.min(e.offset + e.length, size);
    if (end <= start) continue;
    if (start > covered) yield* piece(covered, start, true);
    yield* piece(start, end, e.kind === 'data');
    covered = end;
  }
  if (covered < size) yield* piece(covered, size, true);
}
