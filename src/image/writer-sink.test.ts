import assert from 'node:assert/strict';
import { constants } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { alignedBuffer } from '../util/aligned.js';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IMAGE_IO } from './errors.js';
import { hasCode, MiB, tempDir } from './testing/support.js';
import { FileSink } from './writer-sink.js';

/** Counts the handle's fdatasync calls; `fail` makes them reject. */
function spySync(handle: FileHandle, fail = false): { calls: number } {
  const seen = { calls: 0 };
  const real = handle.datasync.bind(handle);
  handle.datasync = async () => {
    seen.calls++;
    if (fail) throw Object.assign(new Error('disk gone'), { code: 'EIO' });
    return real();
  };
  return seen;
}

function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe('FileSink', () => {
  let dir: string;
  let remove: () => Promise<void>;
  before(async () => {
    ({ dir, remove } = await tempDir());
  });
  after(async () => remove());

  it('sends aligned pieces through the O_DIRECT handle and the rest through the buffered one', async (t) => {
    const path = join(dir, 'direct');
    const handle = await open(path, 'w+');
    let direct: FileHandle;
    try {
      direct = await open(path, constants.O_WRONLY | constants.O_DIRECT);
    } catch {
      await handle.close();
      t.skip('this file system refuses O_DIRECT');
      return;
    }
    const directWrites: number[] = [];
    const realWrite = direct.write.bind(direct) as (...a: unknown[]) => Promise<unknown>;
    (direct as { write: unknown }).write = (...a: unknown[]) => {
      directWrites.push(a[3] as number);
      return realWrite(...a);
    };
    const sink = new FileSink(path, handle, MiB, 2, 0, direct);
    assert.equal(sink.directIo, true);
    const expected = Buffer.alloc(8 * MiB);
    // An aligned 4 MiB piece from aligned memory, one from unaligned memory, and a 3 KiB tail.
    const a = alignedBuffer(4 * MiB);
    pattern(4 * MiB, 1).copy(a);
    const b = Buffer.concat([Buffer.alloc(1), pattern(3 * MiB, 2)]).subarray(1);
    const c = pattern(3 * 1024, 3);
    await sink.write(0, a);
    await sink.write(4 * MiB, b);
    await sink.write(7 * MiB, c);
    a.copy(expected, 0);
    b.copy(expected, 4 * MiB);
    c.copy(expected, 7 * MiB);
    await sink.drain();
    await sink.release();
    assert.equal(sink.directIo, false);
    await handle.close();
    assert.ok(directWrites.length > 0, 'the aligned piece went out with O_DIRECT');
    assert.ok(
      directWrites.every((at) => at < 4 * MiB),
      `only the aligned piece did: ${directWrites.join(', ')}`,
    );
    const got = await readFile(path);
    assert.ok(got.subarray(0, 7 * MiB + 3 * 1024).equals(expected.subarray(0, 7 * MiB + 3 * 1024)));
  });

  it('starts fdatasyncs while writing once writebackEvery bytes are written, one at a time', async () => {
    const path = join(dir, 'writeback');
    const handle = await open(path, 'w+');
    const seen = spySync(handle);
    let active = 0;
    let most = 0;
    const real = handle.datasync;
    handle.datasync = async () => {
      most = Math.max(most, ++active);
      try {
        await real();
      } finally {
        active--;
      }
    };
    const sink = new FileSink(path, handle, 256 * 1024, 4, MiB);
    const expected = Buffer.alloc(12 * MiB);
    // Large pieces (written straight) and small ones (staged), at ascending positions.
    let at = 0;
    for (let i = 0; at < 10 * MiB; i++) {
      const piece = pattern(i % 2 === 0 ? 2 * MiB : 100_000, i);
      piece.copy(expected, at);
      await sink.write(at, piece);
      at += piece.length;
    }
    const beforeDrain = seen.calls;
    await sink.drain();
    await handle.close();
    assert.ok(beforeDrain >= 1, `no early fdatasync while ${sink.bytesWritten} bytes were written`);
    assert.ok(seen.calls <= Math.ceil(sink.bytesWritten / MiB), `${seen.calls} fdatasyncs`);
    assert.equal(most, 1, 'two fdatasyncs ran at once');
    const written = await readFile(path);
    assert.equal(written.length, at);
    assert.equal(sink.bytesWritten, at);
    assert.ok(written.equals(expected.subarray(0, at)));
  });

  it('never syncs without writebackEvery', async () => {
    const path = join(dir, 'no-writeback');
    const handle = await open(path, 'w+');
    const seen = spySync(handle);
    const sink = new FileSink(path, handle, 256 * 1024, 4);
    for (let i = 0; i < 8; i++) await sink.write(i * MiB, pattern(MiB, i));
    await sink.drain();
    await handle.close();
    assert.equal(seen.calls, 0);
  });

  it('a failed early fdatasync fails the next call and every later one', async () => {
    const path = join(dir, 'failing');
    const handle = await open(path, 'w+');
    spySync(handle, true);
    const sink = new FileSink(path, handle, 256 * 1024, 4, MiB);
    const failed = (err: unknown) => hasCode(IMAGE_IO)(err) && /fdatasync/.test(String(err));
    let first: unknown;
    for (let i = 0; i < 8 && first === undefined; i++) {
      await sink.write(i * MiB, pattern(MiB, i)).catch((err: unknown) => (first = err));
    }
    if (first === undefined) await sink.drain().catch((err: unknown) => (first = err));
    assert.ok(failed(first), `not the fdatasync failure: ${String(first)}`);
    await assert.rejects(sink.write(8 * MiB, pattern(10, 1)), failed);
    await assert.rejects(sink.drain(), failed);
    await sink.settle();
    await handle.close();
  });
});
