import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadAhead, type Fetched } from './s3-window.js';

const KiB = 1024;

/**
 * An object of `size` bytes (byte i is i % 251) read by ranges as S3 answers them (short at the
 * end, the object's size with each answer), counting the requests.
 */
function store(size: number): {
  fetch: (n: string, o: number, l: number, into?: Buffer) => Promise<Fetched>;
  calls: [number, number][];
  data: Buffer;
} {
  const data = Buffer.alloc(size);
  for (let i = 0; i < size; i++) data[i] = i % 251;
  const calls: [number, number][] = [];
  return {
    calls,
    data,
    fetch: async (_n, o, l, into) => {
      calls.push([o, l]);
      const part = data.subarray(o, o + l);
      const bytes = into ? into.subarray(0, part.copy(into)) : Buffer.from(part);
      return { bytes, objectSize: size };
    },
  };
}

describe('S3 read-ahead of packs', () => {
  it('reads back to back in a pack take one request per window, and give the same bytes', async () => {
    const s = store(2048 * KiB);
    const ra = new ReadAhead(s.fetch, { window: 512 * KiB });
    const reads = Array.from({ length: 32 }, (_, i) =>
      ra.read('data/ab/p', i * 64 * KiB, 64 * KiB),
    );
    const got = await Promise.all(reads);
    for (const [i, b] of got.entries()) {
      assert.ok(b.equals(s.data.subarray(i * 64 * KiB, (i + 1) * 64 * KiB)), `read ${i}`);
    }
    assert.equal(
      s.calls.length,
      1 + Math.ceil((2048 - 64) / 512),
      'one request, then one per window',
    );
  });

  it('a sequential reader has the next windows requested before it reaches them, none past the end', async () => {
    const s = store(1800 * KiB);
    const ra = new ReadAhead(s.fetch, { window: 512 * KiB, depth: 2 });
    await ra.read('data/ab/p', 0, 64 * KiB);
    await ra.read('data/ab/p', 64 * KiB, 64 * KiB);
    // One read alone, then the window holding the next read (on the grid of 512 KiB) and two more.
    assert.deepEqual(s.calls, [
      [0, 64 * KiB],
      [0, 512 * KiB],
      [512 * KiB, 512 * KiB],
      [1024 * KiB, 512 * KiB],
    ]);
    // Reading on to the end: one more window (short: the object ends at 1800 KiB), nothing beyond.
    for (let o = 128; o < 1800; o += 100) {
      const want = s.data.subarray(o * KiB, Math.min(1800, o + 100) * KiB);
      assert.ok((await ra.read('data/ab/p', o * KiB, 100 * KiB)).equals(want), `at ${o} KiB`);
    }
    assert.deepEqual(
      s.calls.slice(4).map(([o, l]) => [o / KiB, l / KiB]),
      [[1536, 512]],
    );
  });

  it('a read across the boundary of two windows is served from both, into a caller’s buffer', async () => {
    const s = store(2048 * KiB);
    const ra = new ReadAhead(s.fetch, { window: 512 * KiB, depth: 1 });
    await ra.read('data/ab/p', 0, 100 * KiB);
    await ra.read('data/ab/p', 100 * KiB, 400 * KiB); // windows [0, 512) and [512, 1024)
    const into = Buffer.alloc(100 * KiB);
    assert.equal(await ra.readInto('data/ab/p', 500 * KiB, into), 100 * KiB);
    assert.ok(into.equals(s.data.subarray(500 * KiB, 600 * KiB)));
    const across = Buffer.alloc(200 * KiB);
    assert.equal(await ra.readInto('data/ab/p', 600 * KiB, across), 200 * KiB);
    assert.ok(across.equals(s.data.subarray(600 * KiB, 800 * KiB)));
    // Every window is a cell of the grid.
    assert.ok(
      s.calls.every(
        ([o, l]) => (o === 0 && l === 100 * KiB) || (o % (512 * KiB) === 0 && l === 512 * KiB),
      ),
    );
  });

  it('window buffers are reused once no read copies from them, and the bytes stay right', async () => {
    const s = store(4096 * KiB);
    const buffers = new Set<Buffer>();
    const fetch: typeof s.fetch = async (n, o, l, into) => {
      if (into) buffers.add(into);
      // Answers come later than the reads that wait for them, as a server's do.
      await new Promise((go) => setImmediate(go));
      return s.fetch(n, o, l, into);
    };
    const ra = new ReadAhead(fetch, { window: 64 * KiB, depth: 3, keep: 32 });
    // Four readers at once, each on its own quarter of the pack, in reads of 24 KiB that
    // straddle window boundaries, as a restore's reads in flight interleave.
    await Promise.all(
      [0, 1, 2, 3].map(async (q) => {
        const from = q * 1024 * KiB;
        for (let o = from; o < from + 1024 * KiB; o += 24 * KiB) {
          const l = Math.min(24 * KiB, from + 1024 * KiB - o);
          const got = await ra.read('data/ab/p', o, l);
          assert.ok(got.equals(s.data.subarray(o, o + l)), `at ${o / KiB} KiB`);
        }
      }),
    );
    // The windows sit on one grid: 64 cover the pack, and a reader that comes to a window
    // another one read ahead takes it as it is. Besides them, each quarter's first read.
    const windows = s.calls.filter(([o, l]) => o % (64 * KiB) === 0 && l === 64 * KiB);
    assert.equal(s.calls.length - windows.length, 4);
    const fetched = windows.reduce((n, [, l]) => n + l, 0);
    assert.ok(fetched <= 4096 * KiB, `${fetched / KiB} KiB fetched in windows for 4096 KiB`);
    assert.ok(windows.length >= 64, `${windows.length} windows`);
    assert.ok(buffers.size <= 40, `${buffers.size} buffers for ${windows} windows`);
  });

  it('random reads fetch exactly what they ask for, and other objects are never read ahead', async () => {
    const s = store(4096 * KiB);
    const ra = new ReadAhead(s.fetch, { window: 512 * KiB });
    for (const o of [3000, 100, 2000, 50, 1000]) await ra.read('data/ab/p', o * KiB, 64 * KiB);
    await ra.read('backups/b/vda.fidx', 0, 3 * KiB);
    await ra.read('backups/b/vda.fidx', 3 * KiB, 3 * KiB);
    assert.deepEqual(
      s.calls.map(([, l]) => l),
      [64, 64, 64, 64, 64, 3, 3].map((k) => k * KiB),
    );
  });

  it('small reads of an index run take one request per 64 KiB block, shared by reads in flight', async () => {
    const s = store(200 * KiB);
    const ra = new ReadAhead(s.fetch);
    // Lookups of run blocks (3 KiB each), several at once, as a restore's are; some twice.
    const at = [7, 0, 140, 3, 7, 66, 190, 140, 61, 196].map((k) => k * KiB);
    const got = await Promise.all(at.map((o) => ra.read('index/r', o, 3 * KiB)));
    for (const [i, b] of got.entries()) {
      const want = s.data.subarray(at[i]!, at[i]! + 3 * KiB);
      assert.ok(b.equals(want), `read at ${at[i]! / KiB} KiB`);
    }
    // A read across two blocks (61-64 and 64-67 KiB) takes both; the last block is short.
    assert.deepEqual(
      [...s.calls].sort((a, b) => a[0] - b[0]).map(([o, l]) => [o / KiB, l / KiB]),
      [
        [0, 64],
        [64, 64],
        [128, 64],
        [192, 64],
      ],
    );
    // Kept: reading them again asks for nothing.
    await ra.read('index/r', 100 * KiB, 3 * KiB);
    assert.equal(s.calls.length, 4);
    // A read of a block or more goes as it is.
    await ra.read('index/r', 0, 64 * KiB);
    assert.deepEqual(s.calls.at(-1), [0, 64 * KiB]);
    assert.equal(s.calls.length, 5);
  });

  it('what was fetched of an object written anew is dropped: the next reads fetch it again', async () => {
    const s = store(1024 * KiB);
    const ra = new ReadAhead(s.fetch, { window: 256 * KiB });
    await ra.read('index/r', 0, 3 * KiB);
    await ra.read('data/ab/p', 0, 8 * KiB);
    await ra.read('data/ab/p', 8 * KiB, 8 * KiB); // sequential: windows from here
    const before = s.calls.length;
    await ra.read('index/r', 3 * KiB, 3 * KiB);
    await ra.read('data/ab/p', 16 * KiB, 8 * KiB);
    assert.equal(s.calls.length, before, 'kept: nothing asked');
    s.data.fill(7); // written anew
    ra.drop('index/r');
    ra.drop('data/ab/p');
    assert.ok((await ra.read('index/r', 3 * KiB, 3 * KiB)).equals(Buffer.alloc(3 * KiB, 7)));
    assert.ok((await ra.read('data/ab/p', 24 * KiB, 8 * KiB)).equals(Buffer.alloc(8 * KiB, 7)));
  });

  it('a read past the end of the pack gets what there is', async () => {
    const s = store(100 * KiB);
    const ra = new ReadAhead(s.fetch, { window: 512 * KiB });
    await ra.read('data/ab/p', 0, 40 * KiB);
    assert.equal((await ra.read('data/ab/p', 40 * KiB, 40 * KiB)).length, 40 * KiB);
    assert.equal((await ra.read('data/ab/p', 80 * KiB, 40 * KiB)).length, 20 * KiB);
    assert.equal(await ra.readInto('data/ab/p', 100 * KiB, Buffer.alloc(10)), 0);
  });
});
