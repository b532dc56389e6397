import assert from 'node:assert/strict';
import { mkdir, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openImage } from './open.js';
import {
  collect,
  createQcow2,
  hasCode,
  MiB,
  qemuKindMap,
  qemuImg,
  qemuIo,
  qemuRaw,
  readAll,
  tempDir,
} from './testing/support.js';

let dir: string;
let remove: () => Promise<void>;
before(async () => ({ dir, remove } = await tempDir()));
after(async () => remove());

async function assertLikeQemu(file: string): Promise<void> {
  const reader = await openImage(file);
  try {
    // Exact kinds: data; zero where a layer allocates zeros (a zero cluster, a raw file's
    // hole); hole where no layer allocates (qemu-img map's present: false).
    assert.deepEqual(await collect(reader.extents()), await qemuKindMap(file));
    const got = await readAll(reader);
    assert.ok(
      got.equals(await qemuRaw(file, dir)),
      `bytes of ${file} differ from qemu-img convert`,
    );
  } finally {
    await reader.close();
  }
}

describe('backing chains', () => {
  it('reads a raw base under two qcow2 layers, each write overriding the layers below', async () => {
    const base = join(dir, 'base.raw');
    const mid = join(dir, 'mid.qcow2');
    const top = join(dir, 'top.qcow2');
    await qemuImg('create', '-q', '-f', 'raw', base, '16M');
    await qemuIo(base, 'raw', 'write -P 0x01 0 4M', 'write -P 0x02 8M 1M', 'write -P 0x03 15M 1M');
    await createQcow2(mid, '16M', [], { file: base, format: 'raw' });
    await qemuIo(mid, 'qcow2', 'write -P 0x11 1M 1M', 'write -z 8M 512k', 'write -P 0x12 12M 100k');
    await createQcow2(top, '16M', ['cluster_size=4096'], { file: mid, format: 'qcow2' });
    await qemuIo(top, 'qcow2', 'write -P 0x21 1536k 1k', 'write -P 0x22 8M 4k', 'write -z 15M 4k');
    await assertLikeQemu(top);
    await assertLikeQemu(mid);

    const reader = await openImage(top);
    try {
      assert.equal(reader.backing?.path, mid);
      assert.equal(reader.backing?.backing?.format, 'raw');
      const at = async (offset: number) => (await reader.read(offset, 1))[0];
      assert.equal(await at(0), 0x01); // base shows through both layers
      assert.equal(await at(1 * MiB), 0x11); // mid overrides base
      assert.equal(await at(1536 * 1024), 0x21); // top overrides mid
      assert.equal(await at(8 * MiB), 0x22); // top over mid's zeros over base
      assert.equal(await at(8 * MiB + 4096), 0x00); // mid's zero cluster hides base
      assert.equal(await at(15 * MiB), 0x00); // top's zero cluster hides base
      assert.equal(await at(15 * MiB + 4096), 0x03);
    } finally {
      await reader.close();
    }
  });

  it('resolves relative backing names against the directory of the image naming them', async () => {
    const sub = join(dir, 'rel');
    await mkdir(join(sub, 'images'), { recursive: true });
    const base = join(sub, 'images', 'base.qcow2');
    const top = join(sub, 'top.qcow2');
    await createQcow2(base, '4M');
    await qemuIo(base, 'qcow2', 'write -P 0x31 0 64k');
    await createQcow2(top, '4M', [], { file: 'images/base.qcow2', format: 'qcow2' });
    await qemuIo(top, 'qcow2', 'write -P 0x32 1M 64k');
    await assertLikeQemu(top); // the test runs with another working directory
  });

  it('reads zeros and holes where the overlay is larger than its backing file', async () => {
    const base = join(dir, 'short.raw');
    const top = join(dir, 'long.qcow2');
    await qemuImg('create', '-q', '-f', 'raw', base, '2M');
    await qemuIo(base, 'raw', 'write -P 0x41 0 2M');
    await createQcow2(top, '6M', [], { file: base, format: 'raw' });
    await qemuIo(top, 'qcow2', 'write -P 0x42 5M 4k');
    await assertLikeQemu(top);
    const reader = await openImage(top);
    try {
      assert.deepEqual(await collect(reader.extents()), [
        { offset: 0, length: 2 * MiB, kind: 'data' },
        { offset: 2 * MiB, length: 3 * MiB, kind: 'hole' },
        { offset: 5 * MiB, length: 64 * 1024, kind: 'data' },
        { offset: 5 * MiB + 64 * 1024, length: MiB - 64 * 1024, kind: 'hole' },
      ]);
    } finally {
      await reader.close();
    }
  });

  it('refuses a backing chain that loops back on itself as corrupt', async () => {
    const a = join(dir, 'loop-a.qcow2');
    const b = join(dir, 'loop-b.qcow2');
    await createQcow2(b, '1M');
    await createQcow2(a, '1M', [], { file: b, format: 'qcow2' });
    await qemuImg('rebase', '-u', '-f', 'qcow2', '-b', a, '-F', 'qcow2', b);
    await assert.rejects(openImage(a), (err: unknown) => {
      assert.ok(hasCode('IMAGE_CORRUPT')(err));
      assert.match((err as Error).message, /loops/);
      return true;
    });
  });

  it('names a missing backing file with IMAGE_NOT_FOUND', async () => {
    const base = join(dir, 'gone.raw');
    const top = join(dir, 'orphan.qcow2');
    await qemuImg('create', '-q', '-f', 'raw', base, '1M');
    await createQcow2(top, '1M', [], { file: base, format: 'raw' });
    await truncate(base, 0);
    await qemuImg('rebase', '-u', '-f', 'qcow2', '-b', join(dir, 'no-such.raw'), '-F', 'raw', top);
    await assert.rejects(openImage(top), hasCode('IMAGE_NOT_FOUND'));
  });
});
