/**
 * The library as a user's program sees it: the package's own name and its
 * subpath exports resolve, and each layer offers what the docs say it does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

test('the package entry exports the client, the layers and the engines', async () => {
  const b = (await import('brankas')) as Record<string, unknown>;
  for (const name of [
    'Connection',
    'LibvirtError',
    'BrankasError',
    'EngineError',
    'inventory',
    'createSnapshot',
    'planRevert',
    'executeRevert',
    'coldBackup',
    'restoreBackup',
    'restoreDisk',
    'verifyBackup',
    'inspectImage',
    'Demo',
  ]) {
    assert.equal(typeof b[name], 'function', name);
  }
  const repo = b['repo'] as Record<string, unknown>;
  assert.equal(typeof repo['Repository'], 'function');
  assert.equal(typeof repo['BackupWriter'], 'function');
  assert.equal(typeof (b['image'] as Record<string, unknown>)['openImage'], 'function');
  assert.equal(typeof (b['nbd'] as Record<string, unknown>)['NbdClient'], 'function');
  assert.equal(typeof (b['service'] as Record<string, unknown>)['VmJob'], 'function');
});

test('each layer is importable on its own', async () => {
  const specifiers = ['libvirt', 'image', 'nbd', 'repo', 'engine', 'service'].map(
    (s) => `brankas/${s}`,
  );
  for (const s of specifiers) {
    const m = (await import(s)) as Record<string, unknown>;
    assert.ok(Object.keys(m).length > 0, s);
  }
});
