import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalBackend } from './backend/local.js';
import { fidxObjectName } from './manifest.js';
import { BackupDisk } from './reader.js';
import { Repository } from './repository.js';
import type { ExtentSource } from './source.js';
import { realisticBytes, sparseSource, withRepo } from './testing/support.js';
import { BackupWriter } from './writer.js';

const KiB = 1024;

describe('a disk unchanged since its parent', () => {
  it("takes the parent's fixed index as it is: nothing of the source read, no thread started", () =>
    withRepo({ encrypted: false, workers: 2 }, async (repo, dir) => {
      const data = realisticBytes(2048 * KiB, 4);
      data.fill(0, 256 * KiB, 512 * KiB);
      const hole = [{ offset: 1024 * KiB, length: 512 * KiB }];
      const w1 = await BackupWriter.start(repo, { vm: { name: 'web' } });
      const d1 = await w1.addDisk({ name: 'vda', source: sparseSource(data, hole) });
      const m1 = await w1.commit();
      // A repository opened afresh, as by the next `brankas backup`.
      const again = await Repository.open(new LocalBackend(dir), { workers: 2 });
      try {
        let touched = 0;
        const inner = sparseSource(data, hole);
        const counting: ExtentSource = {
          virtualSize: inner.virtualSize,
          extents: () => (touched++, inner.extents()),
          read: (o, l) => (touched++, inner.read(o, l)),
        };
        const w2 = await BackupWriter.start(again, { vm: { name: 'web' }, parent: m1.id });
        const d2 = await w2.addDisk({ name: 'vda', source: counting, changedRanges: [] });
        const m2 = await w2.commit();
        assert.equal(touched, 0, 'the source was not read');
        assert.equal((again.codec as { started?: boolean }).started, false, 'no thread started');
        assert.deepEqual(
          await again.backend.get(fidxObjectName(m2.id, 'vda')),
          await again.backend.get(fidxObjectName(m1.id, 'vda')),
        );
        assert.equal(d2.indexSha256, d1.indexSha256);
        assert.equal(d2.dataBytes, d1.dataBytes);
        assert.equal(d2.zeroBytes, d1.zeroBytes);
        assert.equal(d2.newChunks, 0);
        const disk = await BackupDisk.open(again, m2.id, 'vda');
        try {
          assert.deepEqual(await disk.read(0, data.length), data.fill(0, 1024 * KiB, 1536 * KiB));
        } finally {
          await disk.close();
        }
      } finally {
        await again.close();
      }
    }));
});
