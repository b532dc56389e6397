import assert from 'node:assert/strict';
import { open, readFile, type FileHandle } from 'node:fs/promises';
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
