import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageIoError } from '../../image/errors.js';
import { EngineError } from '../errors.js';
import { pathError } from './fs-errors.js';

test('a file system error at a path becomes RESTORE_PATH_UNUSABLE, naming the path and errno', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-fserr-'));
  try {
    const file = join(dir, 'file');
    await writeFile(file, 'x');
    const err = await mkdir(join(file, 'sub'), { recursive: true }).catch((e: unknown) => e);
    const typed = pathError(err);
    assert.ok(typed instanceof EngineError);
    assert.equal(typed.code, 'RESTORE_PATH_UNUSABLE');
    assert.ok(['ENOTDIR', 'EEXIST'].includes(typed.details['errno'] as string));
    assert.doesNotMatch(typed.message, /\n/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a staging name in the error is shown as the final path; image I/O errors are converted too', () => {
  const sys = Object.assign(new Error('EROFS: read-only file system'), {
    code: 'EROFS',
    path: '/mnt/ro/.web-vda.qcow2.brankas-new-42-0123abcd',
  });
  const typed = pathError(new ImageIoError(sys.path, 'create the qcow2 image', sys));
  assert.ok(typed instanceof EngineError);
  assert.deepEqual(typed.details, {
    path: '/mnt/ro/web-vda.qcow2',
    errno: 'EROFS',
    reason: 'the file system is read-only',
  });
});

test('errors that are not about a path pass unchanged', () => {
  const typed = new EngineError('RESTORE_NO_XML', 'x', { details: { backup: 'b' } });
  assert.equal(pathError(typed), typed);
  const plain = new Error('boom');
  assert.equal(pathError(plain), plain);
  const noPath = Object.assign(new Error('EACCES'), { code: 'EACCES' });
  assert.equal(pathError(noPath), noPath);
  assert.ok(pathError(noPath, '/x') instanceof EngineError);
});
