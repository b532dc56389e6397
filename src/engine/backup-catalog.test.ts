/**
 * A backup's restore-test record as every face reads it, and the repository as status's
 * catalog: the engine's verificationOf and repoBackupCatalog.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { backupBytes, realisticBytes, withRepo } from '../repo/testing/support.js';
import { repoBackupCatalog, verificationOf } from './backup-catalog.js';

describe('backup verification record', () => {
  test('no record is null; a record gives passed, how, at and reason, odd fields as null', () => {
    assert.equal(verificationOf({ verify: null }), null);
    assert.equal(verificationOf({ verify: undefined }), null);
    assert.deepEqual(
      verificationOf({
        verify: { passed: true, how: 'boot', at: '2026-12-06T07:00:00Z', reason: null },
      }),
      { passed: true, how: 'boot', at: '2026-12-06T07:00:00Z', reason: null },
    );
    assert.deepEqual(verificationOf({ verify: { passed: false, how: 'x', reason: 'bad chunk' } }), {
      passed: false,
      how: null,
      at: null,
      reason: 'bad chunk',
    });
    assert.deepEqual(verificationOf({ verify: 'garbage' }), {
      passed: false,
      how: null,
      at: null,
      reason: null,
    });
  });

  test("the catalog gives a VM's backups by name or UUID with verified as recorded", async () => {
    await withRepo({ encrypted: false }, async (repo) => {
      const a = await backupBytes(repo, realisticBytes(128 * 1024, 1), 'web01');
      const b = await backupBytes(repo, realisticBytes(128 * 1024, 2), 'web01', a);
      await backupBytes(repo, realisticBytes(128 * 1024, 3), 'db01');
      await repo.updateManifest(b, (m) => {
        m.verify = { passed: true, how: 'boot', at: '2026-12-06T07:00:00Z', reason: null };
      });
      const list = await repoBackupCatalog(repo).backupsOf({ name: 'web01', uuid: 'none' });
      assert.deepEqual(
        list.map((x) => [x.id, x.verified]),
        [
          [a, undefined],
          [b, true],
        ],
      );
    });
  });
});
