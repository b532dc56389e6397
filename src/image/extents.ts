/**
 * Extent maps as streams. A 1 TiB disk can have millions of extents, so every
 * helper here takes and yields async iterables and holds O(1) state: merging
 * neighbours of one kind, clipping to a range, aligning to the backup's chunk
 * size (a chunk is data when any byte of it is), and counting data bytes.
 */
import { BrankasError } from '../util/errors.js';
import type { Extent, ExtentKind } from './types.js';

export type Extents = Iterable<Extent> | AsyncIterable<Extent>;

export class ExtentOrderError extends BrankasError<'EXTENTS_NOT_CONTIGUOUS'> {
  override readonly name: string = 'ExtentOrderError';

  constructor(message: string) {
    super('EXTENTS_NOT_CONTIGUOUS', message);
  }
}

/** Merges adjacent extents of the same kind; drops empty ones; checks contiguity. */
export async function* mergeExtents(extents: Extents): AsyncGenerator<Extent> {
  let pending: Extent | undefined;
  for await (const e of extents) {
    if (e.length === 0) continue;
    if (pending === undefined) {
      pending = { ...e };
      continue;
    }
    const end = pending.offset + pending.length;
    if (e.offset !== end) {
      throw new ExtentOrderError(`extent at ${e.offset} does not follow the one ending at ${end}`);
    }
    if (e.kind === pending.kind) {
      pending.length += e.length;
    } else {
      yield pending;
      pending = { ...e };
    }
  }
  if (pending !== undefined) yield pending;
}

/** The parts of the extents inside [start, end). */
export async function* clipExtents(
  extents: Extents,
  start: number,
  end: number,
): AsyncGenerator<Extent> {
  for await (const e of extents) {
    const a = Math.max(e.offset, start);
    const b = Math.min(e.offset + e.length, end);
    if (a < b) yield { offset: a, length: b - a, kind: e.kind };
    if (e.offset + e.length >= end) return;
  }
}

function chunkKind(hasData: boolean, hasZero: boolean): ExtentKind {
  if (hasData) return 'data';
  return hasZero ? 'zero' : 'hole';
}

/**
 * Aligns extents to `chunkSize`: every boundary of the result falls on a
 * multiple of chunkSize (except where the input starts or ends). A chunk is
 * `data` when any byte of it is data, `hole` when all of it is hole, and
 * `zero` otherwise. Runs of whole chunks of one kind come out as one extent.
 */
export async function* alignExtents(extents: Extents, chunkSize: number): AsyncGenerator<Extent> {
  if (!Number.isSafeInteger(chunkSize) || chunkSize <= 0) {
    throw new ExtentOrderError(`chunk size must be a positive integer, not ${chunkSize}`);
  }
  // The chunk being assembled from partial extents, if any.
  let partStart = -1;
  let hasData = false;
  let hasZero = false;
  let pos = -1;
  // Output is merged on the fly: `pending` grows while the kind stays the same.
  let pending: Extent | undefined;
  const ready: Extent[] = [];
  const emit = (offset: number, length: number, kind: ExtentKind): void => {
    if (pending !== undefined && pending.kind === kind) {
      pending.length += length;
      return;
    }
    if (pending !== undefined) ready.push(pending);
    pending = { offset, length, kind };
  };

  for await (const e of mergeExtents(extents)) {
    let a = e.offset;
    const b = e.offset + e.length;
    pos = b;
    while (a < b) {
      const boundary = (Math.floor(a / chunkSize) + 1) * chunkSize;
      if (partStart < 0 && a % chunkSize === 0 && b >= boundary) {
        const wholeEnd = Math.floor(b / chunkSize) * chunkSize;
        emit(a, wholeEnd - a, e.kind);
        a = wholeEnd;
        continue;
      }
      if (partStart < 0) partStart = a;
      hasData ||= e.kind === 'data';
      hasZero ||= e.kind === 'zero';
      a = Math.min(b, boundary);
      if (a === boundary) {
        emit(partStart, boundary - partStart, chunkKind(hasData, hasZero));
        partStart = -1;
        hasData = hasZero = false;
      }
    }
    if (ready.length > 0) {
      yield* ready;
      ready.length = 0;
    }
  }
  if (partStart >= 0) emit(partStart, pos - partStart, chunkKind(hasData, hasZero));
  yield* ready;
  if (pending !== undefined) yield pending;
}

/** Splits extents into pieces of at most `chunkSize` bytes on chunk boundaries (one per chunk once aligned). */
export async function* chunkExtents(extents: Extents, chunkSize: number): AsyncGenerator<Extent> {
  for await (const e of alignExtents(extents, chunkSize)) {
    let a = e.offset;
    const b = e.offset + e.length;
    while (a < b) {
      const next = Math.min(b, (Math.floor(a / chunkSize) + 1) * chunkSize);
      yield { offset: a, length: next - a, kind: e.kind };
      a = next;
    }
  }
}

/** Bytes in `data` extents. */
export async function allocatedBytes(extents: Extents): Promise<number> {
  let total = 0;
  for await (const e of extents) if (e.kind === 'data') total += e.length;
  return total;
}
