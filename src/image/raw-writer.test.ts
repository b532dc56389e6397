import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IMAGE_CLOSED, IMAGE_IO, IMAGE_RANGE } from './errors.js';
import { openImage } from './open.js';
import { RawWriter, type RawWriterOptions } from './raw-writer.js';
import { hasCode, KiB, MiB, qemuDataMap, tempDir } from './testing/support.js';
import { copyDisk } from './writer-copy.js';
import { allocated, assertSameDisk, scatteredSource } from './testing/writer.js';

/**
 * Non-zero bytes scatteredSource leaves: its 0x00 write is data that reads as
 * zero, and its 64 KiB zero write lands inside the 200 KiB pattern.
 */
const SOURCE_DATA = 3 * KiB + 200 * KiB - 64 * KiB + MiB + 1024 + 4 * KiB + 2560;

async function rewrite(
  source: string,
  target: string,
  options: Partial<RawWriterOptions> = {},
): Promise<void> {
  const reader = await openImage(source);
  try {
    const writer = await RawWriter.create(target, { virtualSize: reader.virtualSize, ...options });
    await copyDisk(reader, writer);
  } finally {
    await reader.close();
  }
}

describe('RawWriter', () => {
  let dir: string;
  let remove: () => Promise<void>;
  let source: string;
  const size = 9 * MiB + 1536;

  before(async () => {
    ({ dir, remove } = await tempDir());
    source = join(dir, 'source.qcow2');
    await scatteredSource(source, size);
  });
  after(() => remove());

  it('writes a sparse file holding only the data, sized by ftruncate', async () => {
    const target = join(dir, 'sparse.raw');
    await rewrite(source, target);
    await assertSameDisk(source, 'qcow2', target, 'raw');
    assert.equal((await stat(target)).size, size);
    const used = await allocated(target);
    assert.ok(used >= SOURCE_DATA, `${used} bytes allocated`);
    // Each unaligned piece may round out to whole 4 KiB blocks at both ends.
    assert.ok(used <= SOURCE_DATA + 6 * 2 * 4 * KiB, `${used} bytes allocated`);
  });

  it('leaves zero blocks found inside data as holes, unless told not to', async () => {
    const data = Buffer.alloc(MiB, 7);
    data.fill(0, 4096, 4096 + 512 * KiB);
    const sparse = join(dir, 'detect.raw');
    const writer = await RawWriter.create(sparse, { virtualSize: 4 * MiB });
    await writer.write(MiB, data);
    await writer.close();
    assert.equal(await allocated(sparse), MiB - 512 * KiB);
    assert.deepEqual((await readFile(sparse)).subarray(MiB, 2 * MiB), data);

    const dense = join(dir, 'nodetect.raw');
    const plain = await RawWriter.create(dense, { virtualSize: 4 * MiB, zeroBlock: 0 });
    await plain.write(MiB, data);
    await plain.close();
    assert.equal(await allocated(dense), MiB);
  });

  it('overwrites an existing file in place, punching what is zero now', async () => {
    const target = join(dir, 'existing.raw');
    // Larger than the disk and full of 0xee: every old byte must go.
    await writeFile(target, Buffer.alloc(size + 3 * MiB, 0xee));
    await rewrite(source, target, { mode: 'overwrite' });
    await assertSameDisk(source, 'qcow2', target, 'raw');
    assert.equal((await stat(target)).size, size);
    assert.ok((await allocated(target)) <= SOURCE_DATA + 6 * 2 * 4 * KiB);
    // Exactly as sparse as a file written fresh.
    const fresh = join(dir, 'fresh.raw');
    await rewrite(source, fresh);
    assert.deepEqual(await qemuDataMap(target, 'raw'), await qemuDataMap(fresh, 'raw'));
  });

  it('handles unaligned writes and a size that is no multiple of 512', async () => {
    const target = join(dir, 'odd.raw');
    const virtualSize = 3 * MiB + 333;
    const expected = Buffer.alloc(virtualSize);
    const writer = await RawWriter.create(target, { virtualSize });
    for (let at = 13, i = 0; at < virtualSize; i++) {
      const n = Math.min(777 + i * 31, virtualSize - at);
      const piece = Buffer.alloc(n, (i % 200) + 1);
      await writer.write(at, piece);
      piece.copy(expected, at);
      at += n + 4099;
    }
    await writer.close();
    assert.deepEqual(await readFile(target), expected);
  });

  it('abort removes a file it created but never one it was overwriting', async () => {
    const created = join(dir, 'aborted.raw');
    const writer = await RawWriter.create(created, { virtualSize: MiB });
    await writer.write(0, Buffer.alloc(1000, 1));
    await writer.abort();
    await writer.abort();
    await assert.rejects(stat(created), hasCode('ENOENT'));

    const kept = join(dir, 'kept.raw');
    await writeFile(kept, 'precious');
    const over = await RawWriter.create(kept, { virtualSize: MiB, mode: 'overwrite' });
    await over.abort();
    assert.equal(await readFile(kept, 'utf8'), 'precious');
  });

  it('refuses an existing file in create mode, and out-of-order or closed writes', async () => {
    const target = join(dir, 'refuse.raw');
    await writeFile(target, 'precious');
    await assert.rejects(RawWriter.create(target, { virtualSize: MiB }), hasCode(IMAGE_IO));
    const writer = await RawWriter.create(target, { virtualSize: MiB, mode: 'replace' });
    await writer.write(4096, Buffer.alloc(10, 1));
    await assert.rejects(writer.write(0, Buffer.alloc(10, 1)), hasCode(IMAGE_RANGE));
    await assert.rejects(writer.write(MiB, Buffer.alloc(1, 1)), hasCode(IMAGE_RANGE));
    await writer.close();
    await assert.rejects(writer.writeZeroes(MiB - 1, 1), hasCode(IMAGE_CLOSED));
    assert.equal((await stat(target)).size, MiB);
  });
});
