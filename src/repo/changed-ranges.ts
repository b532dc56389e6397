/**
 * The ranges a dirty bitmap marked changed since the parent, as the writer walks them slot by
 * slot: which slots they touch, where the next touched slot is, and which ranges are behind.
 */

/** A changed range, its end exclusive. */
export interface ChangedRange {
  offset: number;
  end: number;
}

export function normalize(ranges: { offset: number; length: number }[]): ChangedRange[] {
  return ranges
    .filter((r) => r.length > 0)
    .map((r) => ({ offset: r.offset, end: r.offset + r.length }))
    .sort((a, b) => a.offset - b.offset);
}

/** Whether [offset, offset+len) meets a changed range, searching from index `at`. */
export function touches(ranges: ChangedRange[], offset: number, len: number, at: number): boolean {
  for (let i = at; i < ranges.length && ranges[i]!.offset < offset + len; i++) {
    if (ranges[i]!.end > offset) return true;
  }
  return false;
}

/**
 * The first slot from `fromSlot` on that meets a changed range (searching from index `at`), or
 * Infinity. `fromSlot` itself meets none.
 */
export function nextTouched(
  ranges: ChangedRange[],
  fromSlot: number,
  chunkSize: number,
  at: number,
): number {
  for (let i = at; i < ranges.length; i++) {
    const r = ranges[i]!;
    if (r.end > fromSlot * chunkSize) return Math.max(fromSlot, Math.floor(r.offset / chunkSize));
  }
  return Infinity;
}

export function advance(ranges: ChangedRange[], offset: number, at: number): number {
  while (at < ranges.length && ranges[at]!.end <= offset) at++;
  return at;
}

/** Every slot as data (the changed ranges decide which are read). */
export function* everySlot(slots: number): Generator<'data' | 'zero'> {
  for (let i = 0; i < slots; i++) yield 'data';
}
