import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { clipExtents } from './extents.js';
import { openImage, type OpenImageOptions } from './open.js';
import {
  collect,
  createQcow2,
  dataMap,
  hasCode,
  KiB,
  MiB,
  qemuDataMap,
  qemuImg,
  qemuIo,
  qemuKindMap,
  qemuRaw,
  readAll,
  tempDir,
} from './testing/support.js';

let dir: string;
let remove: () => Promise<void>;
before(async () => ({ dir, remove } = await tempDir()));
after(async () => remove());

/** The reader must agree with QEMU on every byte and on which ranges hold data. */
async function assertLikeQemu(file: string, options: OpenImageOptions & { kinds?: boolean } = {}) {
  const reader = await openImage(file, options);
  try {
    assert.deepEqual(await dataMap(reader.extents()), await qemuDataMap(file, options.format));
    if (options.kinds === true) {
      assert.deepEqual(await collect(reader.extents()), await qemuKindMap(file));
    }
    const expected = await qemuRaw(file, dir);
    const got = await readAll(reader);
    assert.equal(got.length, expected.length);
    assert.ok(got.equals(expected), `bytes of ${file} differ from qemu-img convert`);
  } finally {
    await reader.close();
  }
}

/** Writes a text-like, compressible but varied raw disk image. */
async function compressibleRaw(file: string, size: number): Promise<void> {
  const buf = Buffer.alloc(size);
  for (let at = 0; at < size / 2; at += 97)
    buf.write(`line ${at} of brankas test data\n`, at, 'latin1');
  // A stretch of incompressible bytes, which QEMU stores uncompressed.
  let x = 12345;
  for (let i = size / 2; i < size / 2 + 256 * KiB; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    buf[i] = x >>> 24;
  }
  await writeFile(file, buf);
}

describe('qcow2 reader', () => {
  it('reads unaligned writes and zero clusters exactly as QEMU does', async () => {
    const file = join(dir, 'unaligned.qcow2');
    await createQcow2(file, '16M');
    await qemuIo(
      file,
      'qcow2',
      'write -P 0x11 1000 3000',
      'write -P 0x22 65000 1000', // straddles a cluster boundary
      'write -z 1M 128k',
      'write -P 0x33 2M 512k',
      'write -z 2176k 64k', // a zero cluster inside a data run
      'write -P 0x44 16773120 4096', // the last 4 KiB
    );
    await assertLikeQemu(file, { kinds: true });
  });

  for (const clusterSize of [4 * KiB, 64 * KiB, 2 * MiB]) {
    for (const compat of ['0.10', '1.1']) {
      it(`matches QEMU with ${clusterSize / KiB} KiB clusters, compat=${compat}`, async () => {
        const file = join(dir, `c${clusterSize}-${compat}.qcow2`);
        await createQcow2(file, '24M', [`cluster_size=${clusterSize}`, `compat=${compat}`]);
        await qemuIo(
          file,
          'qcow2',
          'write -P 0xa1 0 1',
          'write -P 0xa2 5000 70000',
          'write -P 0xa3 3M 4M',
          'write -z 4M 1M', // zero clusters in v3; zeroed data in v2
          'write -P 0xa4 12345678 111111',
          `write -P 0xa5 ${24 * MiB - 512} 512`,
        );
        await assertLikeQemu(file, { kinds: true });
      });
    }
  }

  for (const type of ['zlib', 'zstd']) {
    it(`reads ${type}-compressed clusters, mixed with plain ones written later`, async () => {
      const raw = join(dir, `src-${type}.raw`);
      const file = join(dir, `compressed-${type}.qcow2`);
      await compressibleRaw(raw, 4 * MiB);
      await qemuImg('convert', '-c', '-O', 'qcow2', '-o', `compression_type=${type}`, raw, file);
      await qemuIo(file, 'qcow2', 'write -P 0x5a 100000 20000', 'write -z 3M 64k');
      const info = JSON.parse(await qemuImg('info', '--output=json', file)) as {
        'format-specific': { data: { 'compression-type': string } };
        'actual-size': number;
      };
      assert.equal(info['format-specific'].data['compression-type'], type);
      // 2 MiB of text and 256 KiB of noise: only compression makes it this small.
      assert.ok(info['actual-size'] < 1.5 * MiB, `${file} is ${info['actual-size']} bytes`);
      await assertLikeQemu(file, { kinds: true });
    });
  }

  it('maps a sub-range as the clipped map of the whole disk, and reads any sub-range', async () => {
    const file = join(dir, 'ranges.qcow2');
    await createQcow2(file, '8M', ['cluster_size=4096']);
    await qemuIo(
      file,
      'qcow2',
      'write -P 0x71 10000 300000',
      'write -z 1M 8k',
      'write -P 0x72 5M 1M',
    );
    const reader = await openImage(file);
    try {
      const whole = await collect(reader.extents());
      const part = await collect(reader.extents({ start: 12345, end: 5 * MiB + 77 }));
      assert.deepEqual(part, await collect(clipExtents(whole, 12345, 5 * MiB + 77)));
      const all = await qemuRaw(file, dir);
      for (const [offset, length] of [
        [0, 1],
        [4095, 2],
        [9999, 300002],
        [1 * MiB - 1, 8 * KiB + 2],
        [5 * MiB - 3, 1 * MiB + 6],
        [8 * MiB - 1, 1],
        [0, 0],
      ] as const) {
        const got = await reader.read(offset, length);
        assert.ok(got.equals(all.subarray(offset, offset + length)), `read(${offset}, ${length})`);
      }
      // Many reads at once share the L2 cache and the file handle.
      const pieces = await Promise.all(
        Array.from({ length: 64 }, (_, i) => reader.read(i * 131072, 131072)),
      );
      assert.ok(Buffer.concat(pieces).equals(all));
    } finally {
      await reader.close();
    }
  });

  it('stays correct with an L2 cache far smaller than the disk needs', async () => {
    const file = join(dir, 'small-cache.qcow2');
    await createQcow2(file, '40M', ['cluster_size=4096']); // one L2 table per 2 MiB
    const writes = Array.from(
      { length: 20 },
      (_, i) => `write -P ${i + 1} ${i * 2 * MiB + 4096 * i} 12288`,
    );
    await qemuIo(file, 'qcow2', ...writes);
    await assertLikeQemu(file, { kinds: true, l2CacheBytes: 1 });
  });

  it('handles a virtual size that is not a multiple of the cluster size', async () => {
    const file = join(dir, 'odd.qcow2');
    await createQcow2(file, String(5 * MiB + 1536));
    await qemuIo(file, 'qcow2', `write -P 0x66 ${5 * MiB} 1536`);
    await assertLikeQemu(file, { kinds: true });
  });

  it('refuses reads past the end of the disk, and any use after close', async () => {
    const file = join(dir, 'bounds.qcow2');
    await createQcow2(file, '1M');
    const reader = await openImage(file);
    assert.equal(reader.format, 'qcow2');
    assert.equal(reader.virtualSize, MiB);
    await assert.rejects(reader.read(MiB - 1, 2), hasCode('IMAGE_RANGE'));
    await assert.rejects(reader.read(-1, 1), hasCode('IMAGE_RANGE'));
    await assert.rejects(reader.read(0.5, 1), hasCode('IMAGE_RANGE'));
    await assert.rejects(collect(reader.extents({ end: MiB + 1 })), hasCode('IMAGE_RANGE'));
    await reader.close();
    await reader.close();
    await assert.rejects(reader.read(0, 1), hasCode('IMAGE_CLOSED'));
  });
});
