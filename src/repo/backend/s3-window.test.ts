import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadAhead } from './s3-window.js';

const KiB = 1024;

/** An object of `size` bytes (byte i is i % 251) read by ranges, counting the requests. */
function store(size: number): {
  fetch: (n: string, o: number, l: number) => Promise<Buffer>;
  calls: [number, number][];
} {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = i % 251;
  const calls: [number, number][] = [];
  return {
    calls,
    fetch: async (_n, o, l) => {
      calls.push([o, l]);
      return Buffer.from(data.subarray(o, o + l));
    },
  };
}

describe('S3 read-ahead of packs', () => {
  it('reads back to back in a pack take one request per window, and give the same bytes', async () => {
    const s = store(2048 * KiB);
    const ra = new ReadAhead(s.fetch, 512 * KiB);
    const reads = Array.from({ length: 32 }, (_, i) =>
      ra.read('data/ab/p', i * 64 * KiB, 64 * KiB),
    );
    const got = await Promise.all(reads);
    for (const [i, b] of got.entries()) {
      assert.ok(b.equals(await s.fetch('x', i * 64 * KiB, 64 * KiB)), `read ${i}`);
    }
    assert.equal(
      s.calls.length - 32,
      1 + Math.ceil((2048 - 64) / 512),
      'one request, then one per window',
    );
  });

  it('random reads fetch exactly what they ask for, and other objects are never read ahead', async () => {
    const s = store(4096 * KiB);
    const ra = new ReadAhead(s.fetch, 512 * KiB);
    for (const o of [3000, 100, 2000, 50, 1000]) await ra.read('data/ab/p', o * KiB, 64 * KiB);
    await ra.read('index/r', 0, 3 * KiB);
    await ra.read('index/r', 3 * KiB, 3 * KiB);
    assert.deepEqual(
      s.calls.map(([, l]) => l),
      [64, 64, 64, 64, 64, 3, 3].map((k) => k * KiB),
    );
  });

  it('a read past the end of the pack gets what there is', async () => {
    const s = store(100 * KiB);
    const ra = new ReadAhead(s.fetch, 512 * KiB);
    await ra.read('data/ab/p', 0, 40 * KiB);
    assert.equal((await ra.read('data/ab/p', 40 * KiB, 40 * KiB)).length, 40 * KiB);
    assert.equal((await ra.read('data/ab/p', 80 * KiB, 40 * KiB)).length, 20 * KiB);
  });
});
