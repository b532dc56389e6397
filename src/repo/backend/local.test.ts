import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { backendConformance } from './conformance.js';
import { LocalBackend } from './local.js';

backendConformance('local directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-backend-'));
  return {
    backend: new LocalBackend(dir),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

it('local backend: temporary files are hidden from list and removed once old', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-backend-'));
  try {
    const b = new LocalBackend(dir);
    await b.put('data/00/a', Buffer.from('a'));
    await writeFile(join(dir, 'data/00/.tmp-crashed'), 'partial');
    const listed = [];
    for await (const o of b.list('data/')) listed.push(o.name);
    assert.deepEqual(listed, ['data/00/a']);
    assert.equal(await b.removeTemporaries(60_000), 0);
    await utimes(join(dir, 'data/00/.tmp-crashed'), new Date(0), new Date(0));
    assert.equal(await b.removeTemporaries(60_000), 1);
    assert.deepEqual(await readdir(join(dir, 'data/00')), ['a']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
