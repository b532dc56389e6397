import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';
import { withTempDir } from '../testing/support.js';
import { DirectAppender, STAGE_BYTES } from './direct-append.js';

/** Deterministic bytes that differ at every offset of a stage (a misplaced piece shows). */
function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Whether the file system under dir takes O_DIRECT at all (else the appender must not use it). */
async function directWorks(dir: string): Promise<boolean> {
  const path = join(dir, 'probe');
  await (await open(path, 'w')).close();
  try {
    const fh = await open(path, constants.O_WRONLY | constants.O_DIRECT);
    await fh.close();
    return true;
  } catch {
    return false;
  }
}

async function append(
  path: string,
  parts: Buffer[][],
  direct = true,
): Promise<{ directBytes: number }> {
  const fh = await open(path, 'wx');
  try {
    const a = new DirectAppender(path, fh, direct);
    for (const call of parts) await a.write(call);
    await a.finish();
    await fh.sync();
    return { directBytes: a.directBytes };
  } finally {
    await fh.close();
  }
}

it('direct append: the bytes land in order across stages, unaligned tail included, past the page cache', async () => {
  await withTempDir(async (dir) => {
    // Pieces of every kind: tiny, odd, exactly a stage, larger than two stages; the total ends
    // 1,234 bytes past a 4096 boundary.
    const sizes = [
      1,
      3,
      4095,
      65_537,
      STAGE_BYTES,
      7,
      2 * STAGE_BYTES + 11,
      100_000,
      4096 * 33 + 1234,
    ];
    const pieces = sizes.map((n, i) => pattern(n, i + 1));
    const calls = [pieces.slice(0, 3), pieces.slice(3, 4), pieces.slice(4, 6), pieces.slice(6)];
    const path = join(dir, 'big');
    const { directBytes } = await append(path, calls);
    const all = Buffer.concat(pieces);
    assert.deepEqual(await readFile(path), all);
    // Every whole 4096-byte block went direct where the file system takes it; none where not.
    const blocks = all.length - (all.length % 4096);
    assert.equal(directBytes, (await directWorks(dir)) ? blocks : 0);
  });
});

it('direct append: an object smaller than a stage is one ordinary write', async () => {
  await withTempDir(async (dir) => {
    const data = pattern(STAGE_BYTES - 1, 9);
    const path = join(dir, 'small');
    const { directBytes } = await append(path, [[data.subarray(0, 10)], [data.subarray(10)]]);
    assert.deepEqual(await readFile(path), data);
    assert.equal(directBytes, 0);
  });
});

it('direct append: without O_DIRECT the same bytes arrive at the same places', async () => {
  await withTempDir(async (dir) => {
    const data = pattern(3 * STAGE_BYTES + 5000, 4);
    const path = join(dir, 'plain');
    const { directBytes } = await append(
      path,
      [[data.subarray(0, STAGE_BYTES + 1)], [data.subarray(STAGE_BYTES + 1)]],
      false,
    );
    assert.deepEqual(await readFile(path), data);
    assert.equal(directBytes, 0);
  });
});

it('direct append: a failed write fails the object, and it may be closed afterwards', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'failing');
    const fh = await open(path, 'wx');
    const a = new DirectAppender(path, fh, false);
    await fh.close(); // the ordinary handle is gone: the first write that needs it fails
    await assert.rejects(async () => {
      await a.write([pattern(STAGE_BYTES * 3, 2)]);
      await a.finish();
    });
    await a.close();
  });
});
