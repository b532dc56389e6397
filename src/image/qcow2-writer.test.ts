import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IMAGE_CLOSED, IMAGE_IO, IMAGE_RANGE } from './errors.js';
import { openImage } from './open.js';
import { Qcow2Writer, type Qcow2Compat } from './qcow2-writer.js';
import {
  createQcow2,
  hasCode,
  KiB,
  MiB,
  qemuDataMap,
  qemuIo,
  readAll,
  tempDir,
} from './testing/support.js';
import type { Extent } from './types.js';
import { copyDisk } from './writer-copy.js';
import { assertChecks, assertSameDisk, qemuInfo, scatteredSource } from './testing/writer.js';
import { IMAGE_WRITER_OPTIONS } from './writer.js';

const GiB = 1024 * MiB;

/** Reads source natively and writes it back as a fresh qcow2. */
async function rewrite(
  source: string,
  target: string,
  options: { clusterSize?: number; compat?: Qcow2Compat } = {},
): Promise<void> {
  const reader = await openImage(source);
  try {
    const writer = await Qcow2Writer.create(target, {
      virtualSize: reader.virtualSize,
      ...options,
    });
    await copyDisk(reader, writer);
  } finally {
    await reader.close();
  }
}

function dataBytes(map: Extent[]): number {
  return map.reduce((sum, e) => sum + (e.kind === 'data' ? e.length : 0), 0);
}

/** Data bytes once every data extent is rounded out to whole clusters. */
function roundedData(map: Extent[], clusterSize: number): number {
  let total = 0;
  let end = 0;
  for (const e of map) {
    if (e.kind !== 'data') continue;
    const start = Math.max(end, Math.floor(e.offset / clusterSize) * clusterSize);
    end = Math.ceil((e.offset + e.length) / clusterSize) * clusterSize;
    total += Math.max(0, end - start);
  }
  return total;
}

describe('Qcow2Writer', () => {
  let dir: string;
  let remove: () => Promise<void>;
  let source: string;
  // 7 MiB + 1.5 KiB: not a multiple of any cluster size under test.
  const size = 7 * MiB + 1536;

  before(async () => {
    ({ dir, remove } = await tempDir());
    source = join(dir, 'source.qcow2');
    await scatteredSource(source, size);
  });
  after(() => remove());

  for (const compat of ['0.10', '1.1'] as const) {
    for (const clusterSize of [4 * KiB, 64 * KiB, 2 * MiB]) {
      it(`writes a checked, identical compat ${compat} image with ${clusterSize / KiB} KiB clusters`, async () => {
        const target = join(dir, `out-${compat}-${clusterSize}.qcow2`);
        await rewrite(source, target, { clusterSize, compat });
        await assertChecks(target);
        await assertSameDisk(source, 'qcow2', target, 'qcow2');
        // brankas's own reader takes what its writer made (a restored disk gets backed up again).
        const [a, b] = [await openImage(source), await openImage(target)];
        try {
          assert.ok((await readAll(a)).equals(await readAll(b)));
        } finally {
          await a.close();
          await b.close();
        }
        const info = await qemuInfo(target);
        assert.equal(info.format, 'qcow2');
        assert.equal(info['virtual-size'], size);
        assert.equal(info['cluster-size'], clusterSize);
        assert.equal(info['format-specific']?.data?.compat, compat);
        if (compat === '1.1')
          assert.equal(info['format-specific']?.data?.['lazy-refcounts'], false);
        // Only clusters holding source data (less the zeros written as data) are allocated.
        const bound = roundedData(await qemuDataMap(source), clusterSize);
        const used = dataBytes(await qemuDataMap(target));
        assert.ok(used > 0 && used <= bound, `${used} bytes allocated, at most ${bound}`);
      });
    }
  }

  it('skips all-zero clusters, including data extents that hold only zeros', async () => {
    const target = join(dir, 'zeros.qcow2');
    const writer = await Qcow2Writer.create(target, {
      virtualSize: 64 * MiB,
      clusterSize: 64 * KiB,
    });
    await writer.write(0, Buffer.alloc(4 * MiB));
    await writer.write(8 * MiB + 100, Buffer.alloc(3 * 64 * KiB));
    await writer.close();
    await assertChecks(target);
    assert.deepEqual(await qemuDataMap(target), [{ offset: 0, length: 64 * MiB, kind: 'zero' }]);
    // Header, L1 table, one refcount block, refcount table.
    assert.equal((await stat(target)).size, 4 * 64 * KiB);
  });

  it('assembles clusters from small unaligned writes that cross cluster boundaries', async () => {
    const target = join(dir, 'pieces.qcow2');
    const expected = join(dir, 'pieces.raw');
    const virtualSize = 1 * MiB + 512;
    const disk = Buffer.alloc(virtualSize);
    const writer = await Qcow2Writer.create(target, { virtualSize, clusterSize: 4 * KiB });
    let at = 777;
    for (let i = 0; at < virtualSize; i++) {
      const n = Math.min(1000 + ((i * 7919) % 9000), virtualSize - at);
      const piece = Buffer.alloc(n, (i % 250) + 1);
      if (i % 5 === 3) {
        await writer.writeZeroes(at, n);
      } else {
        await writer.write(at, piece);
        piece.copy(disk, at);
      }
      at += n + (i % 4 === 0 ? 5000 : 0);
    }
    await writer.close();
    await writeFile(expected, disk);
    await assertChecks(target);
    await assertSameDisk(expected, 'raw', target, 'qcow2');
  });

  it('writes an empty image and a zero-sized one', async () => {
    for (const virtualSize of [GiB, 0]) {
      const target = join(dir, `empty-${virtualSize}.qcow2`);
      const writer = await Qcow2Writer.create(target, { virtualSize });
      await writer.close();
      await assertChecks(target);
      assert.equal((await qemuInfo(target))['virtual-size'], virtualSize);
      if (virtualSize > 0) {
        assert.deepEqual(await qemuDataMap(target), [{ offset: 0, length: GiB, kind: 'zero' }]);
      }
    }
  });

  it('writes a 10 GiB virtual disk holding a little data', async () => {
    const big = join(dir, 'big-source.qcow2');
    const target = join(dir, 'big.qcow2');
    await createQcow2(big, '10G');
    await qemuIo(
      big,
      'qcow2',
      'write -P 0x61 0 1k',
      'write -P 0x62 4294967808 300k',
      'write -z 5G 2M',
      `write -P 0x63 ${10 * GiB - 1536} 1536`,
    );
    await rewrite(big, target, { compat: '0.10' });
    await assertChecks(target);
    await assertSameDisk(big, 'qcow2', target, 'qcow2');
    assert.ok((await stat(target)).size < 2 * MiB);
  });

  it('grows many L2 tables, refcount blocks and refcount table clusters with 512-byte clusters', async () => {
    const src = join(dir, 'small-clusters-source.qcow2');
    const target = join(dir, 'small-clusters.qcow2');
    await createQcow2(src, '24M');
    await qemuIo(src, 'qcow2', 'write -P 0x71 1000 10M', 'write -P 0x72 12M 3M');
    await rewrite(src, target, { clusterSize: 512 });
    const out = await assertChecks(target);
    assert.match(out, /allocated/);
    await assertSameDisk(src, 'qcow2', target, 'qcow2');
  });

  it('writes the header last, so an unfinished file is not a qcow2', async () => {
    const target = join(dir, 'unfinished.qcow2');
    const writer = await Qcow2Writer.create(target, {
      virtualSize: 64 * MiB,
      bufferSize: 64 * KiB,
    });
    await writer.write(0, Buffer.alloc(4 * MiB, 1));
    assert.equal((await readFile(target)).readUInt32BE(0), 0);
    await writer.abort();
    await assert.rejects(stat(target), hasCode('ENOENT'));
  });

  it('refuses writes that go backwards, overlap, or run past the end', async () => {
    const target = join(dir, 'order.qcow2');
    const writer = await Qcow2Writer.create(target, { virtualSize: MiB });
    await writer.write(4096, Buffer.alloc(100, 1));
    await assert.rejects(writer.write(0, Buffer.alloc(1, 1)), hasCode(IMAGE_RANGE));
    await writer.abort();
    const again = await Qcow2Writer.create(target, { virtualSize: MiB });
    await again.write(0, Buffer.alloc(100, 1));
    await assert.rejects(again.write(99, Buffer.alloc(1, 1)), hasCode(IMAGE_RANGE));
    await again.abort();
    const third = await Qcow2Writer.create(target, { virtualSize: MiB });
    await assert.rejects(third.write(MiB - 10, Buffer.alloc(11, 1)), hasCode(IMAGE_RANGE));
    await assert.rejects(third.writeZeroes(-1, 5), hasCode(IMAGE_RANGE));
    await third.abort();
  });

  it('refuses options QEMU would not accept and an existing file unless replacing', async () => {
    const target = join(dir, 'options.qcow2');
    for (const clusterSize of [256, 3000, 4 * MiB]) {
      await assert.rejects(
        Qcow2Writer.create(target, { virtualSize: MiB, clusterSize }),
        hasCode(IMAGE_WRITER_OPTIONS),
      );
    }
    await assert.rejects(
      Qcow2Writer.create(target, { virtualSize: MiB, compat: '2' as Qcow2Compat }),
      hasCode(IMAGE_WRITER_OPTIONS),
    );
    await assert.rejects(
      Qcow2Writer.create(target, { virtualSize: MiB, mode: 'overwrite' }),
      hasCode(IMAGE_WRITER_OPTIONS),
    );
    // 512-byte clusters map 32 KiB per L1 entry: 1 PiB would need a 256 GiB L1 table.
    await assert.rejects(
      Qcow2Writer.create(target, { virtualSize: 2 ** 50, clusterSize: 512 }),
      hasCode(IMAGE_WRITER_OPTIONS),
    );
    await writeFile(target, 'precious');
    await assert.rejects(Qcow2Writer.create(target, { virtualSize: MiB }), hasCode(IMAGE_IO));
    assert.equal(await readFile(target, 'utf8'), 'precious');
    const writer = await Qcow2Writer.create(target, { virtualSize: MiB, mode: 'replace' });
    await writer.close();
    await assertChecks(target);
  });

  it('closes idempotently, then refuses writes, and abort keeps a finished file', async () => {
    const target = join(dir, 'closed.qcow2');
    const writer = await Qcow2Writer.create(target, { virtualSize: MiB, sync: false });
    await writer.write(0, Buffer.alloc(10, 9));
    await writer.close();
    await writer.close();
    await assert.rejects(writer.write(100, Buffer.alloc(1)), hasCode(IMAGE_CLOSED));
    await writer.abort();
    await assertChecks(target);
  });
});
