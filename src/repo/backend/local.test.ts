import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rename, rm, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { isObjectNotFound } from '../errors.js';
import { waitUntil } from '../../util/testing/index.js';
import { withTempDir } from '../testing/support.js';
import { needsProcFd, openFilesUnder } from '../testing/open-files.js';
import { backendConformance } from './testing/conformance.js';
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

it("local backend: a killed process's unfinished upload is removed at the next run, a live one's stays", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-backend-'));
  const local = new URL('./local.js', import.meta.url).href;
  // A child that starts an upload and is killed before it commits (kill -9: nothing cleans up).
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const { LocalBackend } = await import(${JSON.stringify(local)});
       const up = await new LocalBackend(process.argv[1]).upload('data/00/pack');
       await up.write(Buffer.alloc(65536, 7));
       process.stdout.write('ready\\n');
       setInterval(() => {}, 1000);`,
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', () => resolve());
      child.on('exit', () => reject(new Error('the child ended before its upload was started')));
    });
    const b = new LocalBackend(dir);
    const mine = await b.upload('data/00/other');
    await mine.write(Buffer.from('in progress'));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    assert.equal((await readdir(join(dir, 'data/00'))).length, 2);
    // Young files, so age alone would keep both: the dead writer's goes, the live one's stays.
    assert.equal(await b.removeTemporaries(24 * 3600 * 1000), 1);
    await mine.commit();
    assert.deepEqual(await readdir(join(dir, 'data/00')), ['other']);
  } finally {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
});

it(
  'local backend: getRange shares one open file per object, keeps at most openFiles, and close() closes them all',
  needsProcFd,
  async () =>
    withTempDir(async (dir) => {
      const b = new LocalBackend(dir, { openFiles: 4 });
      try {
        const data = Buffer.from(Array.from({ length: 4096 }, (_, i) => i & 255));
        for (let i = 0; i < 10; i++) await b.put(`data/0${i}/pack`, data);
        for (let i = 0; i < 50; i++) await b.getRange('data/00/pack', i * 64, 64);
        const parts = await Promise.all(
          Array.from({ length: 64 }, (_, i) => b.getRange('data/00/pack', i * 64, 64)),
        );
        assert.deepEqual(Buffer.concat(parts), data);
        assert.equal((await openFilesUnder(dir)).length, 1);
        assert.equal(b.openReadHandles, 1);
        for (let i = 0; i < 10; i++) {
          assert.deepEqual(await b.getRange(`data/0${i}/pack`, 100, 10), data.subarray(100, 110));
        }
        assert.equal(b.openReadHandles, 4);
        assert.equal((await openFilesUnder(dir)).length, 4);
        await b.close();
        assert.equal(b.openReadHandles, 0);
        assert.equal((await openFilesUnder(dir)).length, 0);
        // Still usable after close, without keeping anything open.
        assert.deepEqual(await b.getRange('data/03/pack', 0, 4), data.subarray(0, 4));
        assert.equal((await openFilesUnder(dir)).length, 0);
      } finally {
        await b.close();
      }
    }),
);

it(
  'local backend: a pack deleted or replaced through the backend is read as it is now, and its old file is closed',
  needsProcFd,
  async () =>
    withTempDir(async (dir) => {
      const b = new LocalBackend(dir);
      try {
        await b.put('data/00/pack', Buffer.from('old pack'));
        assert.equal((await b.getRange('data/00/pack', 0, 3)).toString(), 'old');
        await b.put('data/00/pack', Buffer.from('new pack'));
        assert.equal((await b.getRange('data/00/pack', 0, 3)).toString(), 'new');
        assert.equal((await openFilesUnder(dir)).length, 1, 'the replaced file is closed');
        await b.delete('data/00/pack');
        await assert.rejects(b.getRange('data/00/pack', 0, 3), (e) => isObjectNotFound(e));
        assert.equal((await openFilesUnder(dir)).length, 0, 'the deleted file is closed');
      } finally {
        await b.close();
      }
    }),
);

it(
  'local backend: a pack removed or replaced behind its back reads whole as it was until its handle is dropped',
  needsProcFd,
  async () =>
    withTempDir(async (dir) => {
      // Long enough that the handles are surely still open when looked at below, however
      // loaded the machine; short enough to wait for.
      const b = new LocalBackend(dir, { idleMs: 3000 });
      try {
        await b.put('data/00/a', Buffer.from('pack a, first'));
        await b.put('data/00/b', Buffer.from('pack b, first'));
        assert.equal((await b.getRange('data/00/a', 0, 100)).toString(), 'pack a, first');
        assert.equal((await b.getRange('data/00/b', 0, 100)).toString(), 'pack b, first');
        // Another process: gc deletes a; a writer replaces b (temp file renamed over it).
        await unlink(join(dir, 'data/00/a'));
        await writeFile(join(dir, 'data/00/.tmp-other'), 'pack b, second!');
        await rename(join(dir, 'data/00/.tmp-other'), join(dir, 'data/00/b'));
        // The open files are the objects as they were: valid, never a mixture.
        assert.equal((await b.getRange('data/00/a', 5, 100)).toString(), 'a, first');
        assert.equal((await b.getRange('data/00/b', 5, 100)).toString(), 'b, first');
        assert.equal((await openFilesUnder(dir)).filter((f) => f.endsWith(' (deleted)')).length, 2);
        // Unused for idleMs, the handles go, and with them the deleted file's space.
        await waitUntil(
          async () => b.openReadHandles === 0 && (await openFilesUnder(dir)).length === 0,
          'the idle handles closed',
        );
        assert.equal((await openFilesUnder(dir)).length, 0);
        await assert.rejects(b.getRange('data/00/a', 0, 1), (e) => isObjectNotFound(e));
        assert.equal((await b.getRange('data/00/b', 0, 100)).toString(), 'pack b, second!');
      } finally {
        await b.close();
      }
    }),
);
