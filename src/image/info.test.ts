import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { imageHeaderInfo, imageInfo } from './info.js';
import { openImage } from './open.js';
import { Qcow2Reader } from './qcow2.js';
import { createQcow2, MiB, qemuImg, qemuIo, qemuMap, tempDir } from './testing/support.js';

let dir: string;
let remove: () => Promise<void>;
before(async () => ({ dir, remove } = await tempDir()));
after(async () => remove());

interface QemuInfo {
  'virtual-size': number;
  'actual-size': number;
  'cluster-size'?: number;
  'backing-filename'?: string;
  'backing-filename-format'?: string;
  'format-specific'?: {
    data: { compat: string; 'refcount-bits': number; 'lazy-refcounts': boolean };
  };
  snapshots?: {
    id: string;
    name: string;
    'vm-state-size': number;
    'date-sec': number;
    'date-nsec': number;
  }[];
}

async function qemuInfo(file: string): Promise<QemuInfo> {
  return JSON.parse(await qemuImg('info', '--output=json', file)) as QemuInfo;
}

async function qemuDataBytes(file: string): Promise<number> {
  return (await qemuMap(file)).filter((m) => m.data).reduce((n, m) => n + m.length, 0);
}

describe('image info', () => {
  it('lists internal snapshots as qemu-img does', async () => {
    const file = join(dir, 'snapshots.qcow2');
    await createQcow2(file, '8M');
    await qemuIo(file, 'qcow2', 'write -P 0x01 0 1M');
    await qemuImg('snapshot', '-c', 'before-upgrade', file);
    await qemuIo(file, 'qcow2', 'write -P 0x02 2M 1M');
    await qemuImg('snapshot', '-c', 'after upgrade, with spaces', file);

    const info = await imageInfo(file);
    const expected = await qemuInfo(file);
    assert.deepEqual(
      info.snapshots.map((s) => ({
        id: s.id,
        name: s.name,
        vmStateSize: s.vmStateSize,
        date: s.date.getTime(),
        diskSize: s.diskSize,
      })),
      (expected.snapshots ?? []).map((s) => ({
        id: s.id,
        name: s.name,
        vmStateSize: s['vm-state-size'],
        date: s['date-sec'] * 1000 + Math.floor(s['date-nsec'] / 1e6),
        diskSize: 8 * MiB,
      })),
    );
    assert.equal(info.snapshots.length, 2);
    // The reader reads the active disk, not a snapshot.
    const reader = await openImage(file);
    try {
      assert.ok(reader instanceof Qcow2Reader);
      assert.equal((await reader.read(2 * MiB, 1))[0], 0x02);
    } finally {
      await reader.close();
    }
  });

  for (const compat of ['0.10', '1.1'] as const) {
    it(`reports format, sizes, cluster size and compat ${compat} of a qcow2`, async () => {
      const file = join(dir, `info-${compat}.qcow2`);
      await createQcow2(file, '32M', ['cluster_size=16384', `compat=${compat}`]);
      await qemuIo(file, 'qcow2', 'write -P 0x03 1M 3M', 'write -P 0x04 20M 100k');
      const info = await imageInfo(file);
      const expected = await qemuInfo(file);
      assert.equal(info.format, 'qcow2');
      assert.equal(info.virtualSize, expected['virtual-size']);
      assert.equal(info.allocatedSize, expected['actual-size']);
      assert.equal(info.fileSize, (await stat(file)).size);
      assert.equal(info.dataSize, await qemuDataBytes(file));
      assert.equal(info.qcow2?.clusterSize, expected['cluster-size']);
      assert.equal(info.qcow2?.compat, expected['format-specific']?.data.compat);
      assert.equal(info.qcow2?.version, compat === '0.10' ? 2 : 3);
      assert.equal(info.qcow2?.refcountBits, expected['format-specific']?.data['refcount-bits']);
      assert.equal(info.qcow2?.lazyRefcounts, false);
      assert.deepEqual(info.backingChain, []);
      assert.deepEqual(info.snapshots, []);
    });
  }

  it('reports a raw file and a backing chain, file by file', async () => {
    const base = join(dir, 'info-base.raw');
    const mid = join(dir, 'info-mid.qcow2');
    const top = join(dir, 'info-top.qcow2');
    await qemuImg('create', '-q', '-f', 'raw', base, '4M');
    await qemuIo(base, 'raw', 'write -P 0x05 0 1M');
    await createQcow2(mid, '4M', [], { file: 'info-base.raw', format: 'raw' });
    await createQcow2(top, '4M', ['lazy_refcounts=on'], { file: mid, format: 'qcow2' });
    await qemuIo(top, 'qcow2', 'write -P 0x06 3M 64k');

    const raw = await imageInfo(base);
    assert.equal(raw.format, 'raw');
    assert.equal(raw.virtualSize, 4 * MiB);
    assert.equal(raw.dataSize, 1 * MiB);
    assert.equal(raw.qcow2, undefined);

    const info = await imageInfo(top);
    const expected = await qemuInfo(top);
    assert.equal(info.qcow2?.backingFile, expected['backing-filename']);
    assert.equal(info.qcow2?.backingFormat, expected['backing-filename-format']);
    assert.equal(info.qcow2?.lazyRefcounts, true);
    assert.deepEqual(info.qcow2?.features.compatible, ['lazy refcounts']);
    assert.deepEqual(
      info.backingChain.map((l) => [l.path, l.format, l.virtualSize]),
      [
        [mid, 'qcow2', 4 * MiB],
        [join(dir, 'info-base.raw'), 'raw', 4 * MiB],
      ],
    );
    assert.equal(info.dataSize, 1 * MiB + 64 * 1024);
    // Without the data size, the same facts (what a backup records of a disk).
    const { dataSize, ...rest } = info;
    assert.ok(dataSize > 0);
    const header = await imageHeaderInfo(top);
    assert.deepEqual(header, rest);
    assert.equal('dataSize' in header, false);
  });
});
