import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  alignExtents,
  allocatedBytes,
  chunkExtents,
  clipExtents,
  mergeExtents,
} from './extents.js';
import { collect } from './testing/support.js';
import type { Extent, ExtentKind } from './types.js';

const e = (offset: number, length: number, kind: ExtentKind): Extent => ({ offset, length, kind });

/** A random contiguous extent list covering [start, end). */
function randomExtents(seed: number, start: number, end: number): Extent[] {
  let s = seed;
  const rand = (n: number) => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s % n;
  };
  const kinds: ExtentKind[] = ['data', 'zero', 'hole'];
  const out: Extent[] = [];
  for (let at = start; at < end;) {
    const length = Math.min(end - at, 1 + rand(rand(4) === 0 ? 300 : 20));
    out.push(e(at, length, kinds[rand(3)] ?? 'data'));
    at += length;
  }
  return out;
}

/** alignExtents done the slow way: classify every chunk, then merge. */
async function naiveAlign(extents: Extent[], chunk: number): Promise<Extent[]> {
  const first = extents[0];
  const last = extents[extents.length - 1];
  if (first === undefined || last === undefined) return [];
  const start = first.offset;
  const end = last.offset + last.length;
  const out: Extent[] = [];
  for (let a = start; a < end;) {
    const b = Math.min(end, (Math.floor(a / chunk) + 1) * chunk);
    const kinds = new Set(
      extents.filter((x) => x.offset < b && x.offset + x.length > a).map((x) => x.kind),
    );
    const kind: ExtentKind = kinds.has('data') ? 'data' : kinds.has('zero') ? 'zero' : 'hole';
    out.push(e(a, b - a, kind));
    a = b;
  }
  return collect(mergeExtents(out));
}

describe('extent maps', () => {
  it('merges adjacent extents of one kind and drops empty ones', async () => {
    const merged = await collect(
      mergeExtents([
        e(0, 10, 'data'),
        e(10, 0, 'hole'),
        e(10, 5, 'data'),
        e(15, 5, 'zero'),
        e(20, 1, 'zero'),
      ]),
    );
    assert.deepEqual(merged, [e(0, 15, 'data'), e(15, 6, 'zero')]);
  });

  it('refuses extents that are not contiguous', async () => {
    await assert.rejects(collect(mergeExtents([e(0, 10, 'data'), e(11, 5, 'hole')])), {
      code: 'EXTENTS_NOT_CONTIGUOUS',
    });
  });

  it('clips extents to a range', async () => {
    const clipped = await collect(
      clipExtents([e(0, 10, 'data'), e(10, 10, 'hole'), e(20, 10, 'data')], 5, 25),
    );
    assert.deepEqual(clipped, [e(5, 5, 'data'), e(10, 10, 'hole'), e(20, 5, 'data')]);
  });

  it('aligns to chunks: any data makes a chunk data, all hole stays hole, else zero', async () => {
    const aligned = await collect(
      alignExtents(
        [
          e(0, 5, 'hole'),
          e(5, 1, 'data'),
          e(6, 14, 'hole'),
          e(20, 3, 'zero'),
          e(23, 17, 'hole'),
          e(40, 5, 'data'),
        ],
        10,
      ),
    );
    assert.deepEqual(aligned, [
      e(0, 10, 'data'),
      e(10, 10, 'hole'),
      e(20, 10, 'zero'),
      e(30, 10, 'hole'),
      e(40, 5, 'data'),
    ]);
  });

  it('aligns random maps exactly like a chunk-by-chunk classification', async () => {
    for (let seed = 1; seed <= 200; seed++) {
      const start = seed % 7 === 0 ? 13 : 0;
      const extents = randomExtents(seed, start, start + 500 + (seed % 37));
      for (const chunk of [1, 4, 16, 64, 1000]) {
        assert.deepEqual(
          await collect(alignExtents(extents, chunk)),
          await naiveAlign(extents, chunk),
          `seed ${seed} chunk ${chunk}`,
        );
      }
    }
  });

  it('splits aligned extents into one extent per chunk', async () => {
    const chunks = await collect(chunkExtents([e(0, 25, 'data'), e(25, 15, 'hole')], 10));
    assert.deepEqual(chunks, [
      e(0, 10, 'data'),
      e(10, 10, 'data'),
      e(20, 10, 'data'),
      e(30, 10, 'hole'),
    ]);
  });

  it('aligns a huge sparse map without visiting every chunk', async () => {
    const TiB = 2 ** 40;
    async function* huge() {
      yield e(0, 4096, 'data');
      yield e(4096, TiB - 8192, 'hole');
      yield e(TiB - 4096, 4096, 'data');
    }
    const aligned = await collect(alignExtents(huge(), 1 << 20));
    assert.deepEqual(aligned, [
      e(0, 1 << 20, 'data'),
      e(1 << 20, TiB - (2 << 20), 'hole'),
      e(TiB - (1 << 20), 1 << 20, 'data'),
    ]);
  });

  it('counts data bytes', async () => {
    assert.equal(
      await allocatedBytes([
        e(0, 10, 'data'),
        e(10, 5, 'zero'),
        e(15, 7, 'data'),
        e(22, 3, 'hole'),
      ]),
      17,
    );
  });
});
