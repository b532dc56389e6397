// The disk data plane's promise: a disk read straight from its image file and
// the same disk read over NBD (qemu-nbd, the live and fallback path) yield the
// same extents and the same bytes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openImageOverNbd } from '../nbd/index.js';
import { openImage } from './open.js';
import { collect, createQcow2, MiB, qemuImg, qemuIo, readAll, tempDir } from './testing/support.js';

let dir: string;
let remove: () => Promise<void>;
before(async () => ({ dir, remove } = await tempDir()));
after(async () => remove());

async function assertSameAsNbd(file: string, format: 'raw' | 'qcow2'): Promise<void> {
  const native = await openImage(file, { format });
  try {
    const nbd = await openImageOverNbd(file, { format });
    try {
      assert.equal(native.virtualSize, nbd.virtualSize);
      assert.deepEqual(await collect(native.extents()), await collect(nbd.extents()));
      assert.ok((await readAll(native)).equals(await readAll(nbd)), `bytes of ${file} differ`);
    } finally {
      await nbd.close();
    }
  } finally {
    await native.close();
  }
}

describe('image files read natively and over NBD', () => {
  it('agree on a sparse raw file', async () => {
    const file = join(dir, 'sparse.raw');
    await qemuImg('create', '-q', '-f', 'raw', file, '8M');
    await qemuIo(file, 'raw', 'write -P 0x01 0 1M', 'write -P 0x02 6M 64k');
    await assertSameAsNbd(file, 'raw');
  });

  it('agree on a qcow2 with zero clusters and unaligned writes', async () => {
    const file = join(dir, 'solo.qcow2');
    await createQcow2(file, '8M', ['cluster_size=4096']);
    await qemuIo(
      file,
      'qcow2',
      'write -z 1M 128k',
      'write -P 0x05 3000 100000',
      'write -P 0x06 7M 1',
    );
    await assertSameAsNbd(file, 'qcow2');
  });

  // Equal sizes: where an overlay is longer than its backing, qemu-nbd's allocation depth calls
  // the part past the backing's end allocated (zero) while qemu-img map and this reader call it
  // a hole (backing.test.ts checks that case against qemu-img map).
  it('agree on a chain of raw base, qcow2 mid and qcow2 top', async () => {
    const base = join(dir, 'base.raw');
    const mid = join(dir, 'mid.qcow2');
    const top = join(dir, 'top.qcow2');
    await qemuImg('create', '-q', '-f', 'raw', base, '8M');
    await qemuIo(base, 'raw', 'write -P 0x01 0 1M', 'write -P 0x02 5M 64k');
    await createQcow2(mid, '8M', [], { file: base, format: 'raw' });
    await qemuIo(mid, 'qcow2', 'write -z 0 64k', 'write -P 0x03 2M 64k');
    await createQcow2(top, '8M', [], { file: mid, format: 'qcow2' });
    await qemuIo(
      top,
      'qcow2',
      'write -P 0x04 4M 64k',
      'write -z 5M 64k',
      `write -P 0x07 ${7 * MiB + 512} 512`,
    );
    await assertSameAsNbd(top, 'qcow2');
  });

  it('agree on a zstd-compressed qcow2', async () => {
    const raw = join(dir, 'text.raw');
    const file = join(dir, 'zstd.qcow2');
    await qemuImg('create', '-q', '-f', 'raw', raw, '4M');
    await qemuIo(raw, 'raw', 'write -P 0x61 0 1M', 'write -P 0x62 3M 512k');
    await qemuImg('convert', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', raw, file);
    await assertSameAsNbd(file, 'qcow2');
  });
});
