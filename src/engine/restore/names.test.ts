import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineError } from '../errors.js';
import { checkManifestDiskName, checkRestoreName, restoreNameProblem } from './names.js';

test('names that would leave their directory, hide, or break a file name are refused', () => {
  for (const bad of ['../web', 'a/b', '..', '.hidden', '', '  ', 'a\nb', 'x'.repeat(151)]) {
    assert.ok(restoreNameProblem(bad), `refused: ${JSON.stringify(bad)}`);
    assert.throws(
      () => checkRestoreName(bad),
      (e: unknown) => e instanceof EngineError && e.code === 'RESTORE_INVALID_NAME',
    );
  }
  for (const good of ['web01', 'web01-copy', 'db.2026', 'Mesin Uji', 'x'.repeat(150)]) {
    assert.equal(restoreNameProblem(good), undefined, good);
  }
});

test("a manifest's disk name must be a plain file name component", () => {
  assert.doesNotThrow(() => checkManifestDiskName('vda', 'b1'));
  assert.doesNotThrow(() => checkManifestDiskName('boot-kernel', 'b1'));
  for (const bad of ['../vda', 'a/b', '.x', '']) {
    assert.throws(
      () => checkManifestDiskName(bad, 'b1'),
      (e: unknown) => e instanceof EngineError && e.code === 'RESTORE_INVALID_NAME',
    );
  }
});
