/**
 * `brankas backups` shows a backup's restore test as the engine reads it from the manifest
 * (verificationOf): "passed (how, when)", "FAILED (...)", or never verified.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backupBytes, realisticBytes, withRepo } from '../../repo/testing/support.js';
import { cli } from '../../../test/support/cli.js';

test('the backups table says passed or FAILED with how and when, and nothing for an untested one', async () => {
  await withRepo({ encrypted: false }, async (repo, dir) => {
    const a = await backupBytes(repo, realisticBytes(128 * 1024, 1), 'web01');
    const b = await backupBytes(repo, realisticBytes(128 * 1024, 2), 'web01', a);
    const c = await backupBytes(repo, realisticBytes(128 * 1024, 3), 'web01', b);
    await repo.updateManifest(b, (m) => {
      m.verify = { passed: true, how: 'boot', at: '2026-12-06T07:00:00Z', reason: null };
    });
    await repo.updateManifest(c, (m) => {
      m.verify = { passed: false, how: 'data', at: '2026-12-06T08:00:00Z', reason: 'chunk' };
    });
    const r = await cli(['backups', 'web01', '--repo', dir]);
    assert.equal(r.code, 0, r.stderr);
    const row = (id: string) => r.stdout.split('\n').find((l) => l.startsWith(id)) ?? '';
    assert.match(row(b), /passed \(boot, 2026-12-06T07:00:00Z\)\s*$/);
    assert.match(row(c), /FAILED \(data, 2026-12-06T08:00:00Z\)\s*$/);
    assert.doesNotMatch(row(a), /passed|FAILED/);
  });
});
