import assert from 'node:assert/strict';
import { open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mergeExtents } from './extents.js';
import { nativeFileOps, nativeLoadError } from './native.js';
import { openImage } from './open.js';
import { RawReader } from './raw.js';
import {
  collect,
  createQcow2,
  KiB,
  MiB,
  qemuKindMap,
  qemuImg,
  qemuIo,
  readAll,
  tempDir,
} from './testing/support.js';
import type { Extent } from './types.js';

let dir: string;
let remove: () => Promise<void>;
before(async () => ({ dir, remove } = await tempDir()));
after(async () => remove());

async function sparseRaw(name: string, size: number): Promise<string> {
  const file = join(dir, name);
  await qemuImg('create', '-q', '-f', 'raw', file, String(size));
  await qemuIo(
    file,
    'raw',
    'write -P 0x11 0 4k',
    'write -P 0x12 1M 300k',
    `write -P 0x13 ${Math.floor(size * 0.6)} 12345`,
    `write -P 0x14 ${size - 512} 512`,
  );
  return file;
}

describe('raw reader', () => {
  it('finds the data of a sparse file with SEEK_DATA/SEEK_HOLE and maps holes as zero, as QEMU does', async (t) => {
    if (nativeFileOps() === undefined) {
      t.skip(`native addon not built: ${String(nativeLoadError())}`);
      return;
    }
    const size = 16 * MiB + 1536;
    const file = await sparseRaw('sparse.raw', size);
    const reader = await openImage(file);
    try {
      assert.equal(reader.format, 'raw');
      assert.equal((reader as RawReader).seeksHoles, true);
      assert.equal(reader.virtualSize, size);
      const extents = await collect(reader.extents());
      assert.deepEqual(extents, await qemuKindMap(file, 'raw'));
      assert.ok((await readAll(reader)).equals(await readFile(file)));
      // A range starting and ending inside data and holes.
      const part = await collect(reader.extents({ start: 2 * KiB, end: 1 * MiB + 5 }));
      assert.deepEqual(part, [
        { offset: 2 * KiB, length: 2 * KiB, kind: 'data' },
        { offset: 4 * KiB, length: MiB - 4 * KiB, kind: 'zero' },
        { offset: MiB, length: 5, kind: 'data' },
      ]);
    } finally {
      await reader.close();
    }
  });

  it('without the addon, scans for zeros and reads the same bytes', async () => {
    const file = await sparseRaw('scanned.raw', 8 * MiB);
    const contents = await readFile(file);
    const reader = await RawReader.open(file, { fileOps: null });
    try {
      assert.equal(reader.seeksHoles, false);
      const expected: Extent[] = [];
      for (let at = 0; at < contents.length; at += 64 * KiB) {
        const block = contents.subarray(at, at + 64 * KiB);
        expected.push({
          offset: at,
          length: block.length,
          kind: block.some((b) => b !== 0) ? 'data' : 'zero',
        });
      }
      assert.deepEqual(await collect(reader.extents()), await collect(mergeExtents(expected)));
      assert.ok((await readAll(reader)).equals(contents));
    } finally {
      await reader.close();
    }
  });

  it('reads a qcow2 file as raw bytes when told the format is raw, never probing', async () => {
    const file = join(dir, 'guest-disk-with-qcow2-inside.img');
    await createQcow2(file, '1M');
    const reader = await openImage(file, { format: 'raw' });
    try {
      assert.equal(reader.format, 'raw');
      assert.ok((await readAll(reader)).equals(await readFile(file)));
    } finally {
      await reader.close();
    }
  });

  it('punches holes through the addon, which the extents then show', async (t) => {
    const ops = nativeFileOps();
    if (ops === undefined) {
      t.skip('native addon not built');
      return;
    }
    const file = join(dir, 'punched.raw');
    await writeFile(file, Buffer.alloc(1 * MiB, 0x5a));
    const fh = await open(file, 'r+');
    try {
      ops.punchHole(fh.fd, 256 * KiB, 512 * KiB);
    } finally {
      await fh.close();
    }
    const reader = await openImage(file, { format: 'raw' });
    try {
      assert.deepEqual(await collect(reader.extents()), [
        { offset: 0, length: 256 * KiB, kind: 'data' },
        { offset: 256 * KiB, length: 512 * KiB, kind: 'zero' },
        { offset: 768 * KiB, length: 256 * KiB, kind: 'data' },
      ]);
      const bytes = await reader.read(200 * KiB, 200 * KiB);
      assert.equal(bytes[0], 0x5a);
      assert.equal(bytes[100 * KiB], 0);
    } finally {
      await reader.close();
    }
  });

  it('maps an empty file as no extents', async () => {
    const file = join(dir, 'empty.raw');
    await writeFile(file, '');
    const reader = await openImage(file);
    try {
      assert.equal(reader.virtualSize, 0);
      assert.deepEqual(await collect(reader.extents()), []);
      assert.equal((await reader.read(0, 0)).length, 0);
    } finally {
      await reader.close();
    }
  });
});
