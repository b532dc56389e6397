import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ManifestDisk } from '../../repo/manifest.js';
import { bytesNeeded, checkSpace } from './space.js';

function disk(name: string, dataBytes: number, virtualSize = dataBytes): ManifestDisk {
  return { name, dataBytes, virtualSize, format: 'qcow2' } as unknown as ManifestDisk;
}

test('a restore that fits passes; one that does not names the first disk past the free space', async () => {
  const dir = join(tmpdir(), 'brankas-test-space-not-created', 'sub');
  await checkSpace(
    [{ disk: disk('vda', 1 << 20), path: join(dir, 'a.qcow2'), format: 'qcow2' }],
    'b1',
  );
  const huge = 2 ** 52; // 4 PiB
  await assert.rejects(
    checkSpace(
      [
        { disk: disk('vda', 1 << 20), path: join(dir, 'a.qcow2'), format: 'qcow2' },
        { disk: disk('vdb', huge), path: join(dir, 'b.raw'), format: 'raw' },
      ],
      'b1',
    ),
    (e: Error & { code?: string; details?: Record<string, unknown> }) =>
      e.code === 'RESTORE_NO_SPACE' &&
      e.details?.['disk'] === 'vdb' &&
      /not enough space in .* to restore vdb of backup b1/.test(e.message),
  );
});

test('the estimate: data plus qcow2 tables; a boot file its size', () => {
  const tenG = 10 * 2 ** 30;
  const d = disk('vda', 2 ** 30, tenG);
  assert.equal(bytesNeeded({ disk: d, path: '/x', format: 'raw' }), 2 ** 30 + 2 ** 20);
  // 163,840 clusters of 64 KiB, 16 bytes each (L2 and refcounts, generously).
  assert.equal(
    bytesNeeded({ disk: d, path: '/x', format: 'qcow2' }),
    2 ** 30 + 163_840 * 16 + 2 ** 20,
  );
  assert.equal(bytesNeeded({ disk: disk('boot-kernel', 5000), path: '/k', format: 'file' }), 5000);
});
