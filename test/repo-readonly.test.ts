/**
 * Reading a repository that cannot be written: on a read-only bind mount and on
 * a full file system (a small tmpfs filled up), `repo verify --read-data` and
 * `restore --disk` read everything, take no lock, and say so in English and
 * Indonesian. Mounts are made under a fresh temp dir and always unmounted.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LocalBackend } from '../src/repo/backend/local.js';
import { Repository } from '../src/repo/repository.js';
import { bufferSource } from '../src/repo/source.js';
import { realisticBytes } from '../src/repo/testing/support.js';
import { BackupWriter } from '../src/repo/writer.js';
import { cli } from './support/cli.js';

const run = promisify(execFile);
const DATA = realisticBytes(512 * 1024, 7);

/** An unencrypted repository at dir with one backup of one disk; its id. */
async function makeRepo(dir: string): Promise<string> {
  const init = new LocalBackend(dir);
  try {
    await Repository.init(init, { password: undefined, chunkSize: 64 * 1024 });
  } finally {
    await init.close();
  }
  const repo = await Repository.open(new LocalBackend(dir), { workers: 0 });
  try {
    const w = await BackupWriter.start(repo, { vm: { name: 'ro-vm' } });
    await w.addDisk({ name: 'vda', source: bufferSource(DATA) });
    return (await w.commit()).id;
  } finally {
    await repo.close();
  }
}

/** Runs fn with a fresh temp dir, then unmounts whatever is mounted under it and removes it. */
async function withMounts(fn: (dir: string, mounted: string[]) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'brankas-test-ro-'));
  const mounted: string[] = [];
  try {
    await fn(dir, mounted);
  } finally {
    for (const m of mounted.reverse()) {
      await run('umount', [m]).catch(() => run('umount', ['-l', m]));
    }
    await rm(dir, { recursive: true, force: true });
  }
}

/** Reads the repository at repo with the CLI as a user would, and checks what it says. */
async function readsWithoutLock(repo: string, id: string, outDir: string, errno: string) {
  const env = { BRANKAS_REPO: repo };
  const verify = await cli(['repo', 'verify', '--read-data', '--json'], env);
  assert.equal(verify.code, 0, verify.stderr);
  const report = JSON.parse(verify.stdout) as { ok: boolean; locked: boolean; recordsRead: number };
  assert.equal(report.ok, true);
  assert.equal(report.locked, false);
  assert.ok(report.recordsRead > 0);
  assert.match(
    verify.stderr,
    new RegExp(`cannot be written \\(${errno}\\): reading it without a lock`),
  );

  const indonesian = await cli(['repo', 'verify', '--read-data', '--lang', 'id'], env);
  assert.equal(indonesian.code, 0, indonesian.stderr);
  assert.match(
    indonesian.stderr,
    new RegExp(`tidak bisa ditulisi \\(${errno}\\): dibaca tanpa kunci`),
  );

  const to = join(outDir, 'vda.raw');
  const restore = await cli(['restore', id, '--disk', 'vda', '--to', to, '--format', 'raw'], env);
  assert.equal(restore.code, 0, restore.stderr);
  assert.match(restore.stderr, /reading it without a lock/);
  assert.ok((await readFile(to)).equals(DATA), 'the restored disk is the backed-up one');
}

describe(
  'a repository that cannot be written',
  {
    skip: process.getuid?.() === 0 ? false : 'needs root to mount',
  },
  () => {
    it('on a read-only bind mount, verify --read-data and restore read it without a lock and say so', () =>
      withMounts(async (dir, mounted) => {
        const src = join(dir, 'repo');
        const ro = join(dir, 'ro');
        const out = join(dir, 'out');
        await Promise.all([mkdir(ro), mkdir(out)]);
        const id = await makeRepo(src);
        // Writable, the same commands take their lock and say nothing about it.
        const normal = await cli(['repo', 'verify', '--json'], { BRANKAS_REPO: src });
        assert.equal(normal.code, 0, normal.stderr);
        assert.equal((JSON.parse(normal.stdout) as { locked: boolean }).locked, true);
        assert.doesNotMatch(normal.stderr, /without a lock/);

        await run('mount', ['--bind', src, ro]);
        mounted.push(ro);
        await run('mount', ['-o', 'remount,bind,ro', ro]);
        await assert.rejects(writeFile(join(ro, 'probe'), 'x'), { code: 'EROFS' });
        await readsWithoutLock(ro, id, out, 'EROFS');
      }));

    it('on a full file system (ENOSPC when writing the lock) the same', () =>
      withMounts(async (dir, mounted) => {
        const fs = join(dir, 'small');
        const out = join(dir, 'out');
        await Promise.all([mkdir(fs), mkdir(out)]);
        await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', fs]);
        mounted.push(fs);
        const id = await makeRepo(join(fs, 'repo'));
        await fill(join(fs, 'filler'));
        await assert.rejects(writeFile(join(fs, 'repo', 'probe'), 'x'), { code: 'ENOSPC' });
        await readsWithoutLock(join(fs, 'repo'), id, out, 'ENOSPC');
      }));
  },
);

/** Writes to path until the file system is full. */
async function fill(path: string): Promise<void> {
  const fh = await open(path, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) await fh.write(block);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await fh.close();
  }
}
