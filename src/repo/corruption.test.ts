/**
 * Damage is found and named precisely: which chunk (or index, or manifest),
 * and which backups and disks it affects.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { LocalBackend } from './backend/local.js';
import { isIntegrityError, RepoIntegrityError } from './errors.js';
import { BackupDisk } from './reader.js';
import { Repository } from './repository.js';
import { bufferSource } from './source.js';
import { realisticBytes, TEST_PASSWORD, withRepo } from './testing/support.js';
import { verifyRepository } from './verify.js';
import { BackupWriter } from './writer.js';
import { ZERO_ID } from './record.js';
import { SlotReader } from './slots.js';

const KiB = 1024;

interface Fixture {
  repo: Repository;
  dir: string;
  web1: string;
  web2: string;
  db: string;
  shared: Buffer;
}

/** Two backups of "web" (vda changes a little, vdb not at all) and one of "db". */
async function fixture(repo: Repository, dir: string): Promise<Fixture> {
  const vda = realisticBytes(512 * KiB, 11);
  const vdb = realisticBytes(256 * KiB, 12);
  const one = async (vm: string, disks: Record<string, Buffer>): Promise<string> => {
    const w = await BackupWriter.start(repo, { vm: { name: vm } });
    for (const [name, data] of Object.entries(disks))
      await w.addDisk({ name, source: bufferSource(data) });
    return (await w.commit()).id;
  };
  const web1 = await one('web', { vda, vdb });
  const vda2 = Buffer.from(vda);
  realisticBytes(1000, 13).copy(vda2, 300 * KiB);
  const web2 = await one('web', { vda: vda2, vdb });
  const db = await one('db', { vda: realisticBytes(256 * KiB, 14) });
  // The first chunk of vdb: shared by both web backups, not by db.
  const slots = await SlotReader.open(
    repo.backend,
    web1,
    (await repo.manifest(web1)).manifest.disks[1]!,
  );
  return { repo, dir, web1, web2, db, shared: Buffer.from(await slots.get(0)) };
}

async function packPath(
  f: Fixture,
  chunk: Buffer,
): Promise<{ path: string; offset: number; length: number; pack: string }> {
  const e = (await f.repo.index.lookup(chunk))!;
  const pack = e.pack.toString('hex');
  return {
    path: join(f.dir, 'data', pack.slice(0, 2), pack),
    offset: e.offset,
    length: e.length,
    pack,
  };
}

function affectedPairs(r: Awaited<ReturnType<typeof verifyRepository>>): string[] {
  return [...new Set(r.affected.map((a) => `${a.backup}/${a.disk}`))].sort();
}

const withFixture = (fn: (f: Fixture) => Promise<void>) => () =>
  withRepo({ packSize: 64 * KiB }, async (repo, dir) => fn(await fixture(repo, dir)));

describe('corruption is detected and reported precisely', () => {
  it(
    'a flipped bit in a chunk: verify names the chunk, its pack, and every backup and disk using it; reads fail naming them',
    withFixture(async (f) => {
      assert.ok((await verifyRepository(f.repo, { readData: true })).ok);
      const at = await packPath(f, f.shared);
      const bytes = await readFile(at.path);
      bytes[at.offset + at.length - 10]! ^= 0x08;
      await writeFile(at.path, bytes);

      const structure = await verifyRepository(f.repo);
      assert.ok(structure.ok, 'a flipped bit inside a record is invisible to the structure check');
      const r = await verifyRepository(f.repo, { readData: true });
      assert.equal(r.ok, false);
      const p = r.problems.find((x) => x.code === 'REPO_CHUNK_CORRUPT')!;
      assert.equal(p.chunk, f.shared.toString('hex'));
      assert.equal(p.pack, at.pack);
      assert.deepEqual(affectedPairs(r), [`${f.web1}/vdb`, `${f.web2}/vdb`].sort());
      assert.deepEqual(r.affected[0]!.offsets, [0]);

      const disk = await BackupDisk.open(f.repo, f.web2, 'vdb');
      await assert.rejects(disk.read(0, 10), (e) => {
        assert.ok(isIntegrityError(e));
        assert.equal(e.code, 'REPO_CHUNK_CORRUPT');
        assert.deepEqual(
          [e.where.chunk, e.where.backup, e.where.disk, e.where.pack],
          [f.shared.toString('hex'), f.web2, 'vdb', at.pack],
        );
        assert.match(
          e.message,
          new RegExp(`backup ${f.web2}.*disk vdb.*chunk ${f.shared.toString('hex')}`),
        );
        return true;
      });
      // The rest of the disk still reads.
      assert.equal((await disk.read(64 * KiB, 10)).length, 10);
      await disk.close();
    }),
  );

  it(
    'a missing pack: every chunk in it is reported missing, with the backups and disks that need it',
    withFixture(async (f) => {
      const at = await packPath(f, f.shared);
      await unlink(at.path);
      const r = await verifyRepository(f.repo);
      const missing = r.problems.filter((x) => x.code === 'REPO_CHUNK_MISSING');
      assert.ok(missing.some((x) => x.chunk === f.shared.toString('hex') && x.pack === at.pack));
      assert.ok(affectedPairs(r).includes(`${f.web1}/vdb`));
      assert.ok(
        !affectedPairs(r).some((p) => p.startsWith(f.db)),
        'db shares nothing with that pack',
      );
      const disk = await BackupDisk.open(f.repo, f.web1, 'vdb');
      await assert.rejects(disk.read(0, 1), { code: 'REPO_CHUNK_MISSING' });
      await disk.close();
    }),
  );

  it(
    'a truncated index run: named, and the chunks only it knew are traced to their backups',
    withFixture(async (f) => {
      const runs = await readdir(join(f.dir, 'index'));
      for (const run of runs) await truncate(join(f.dir, 'index', run), 100);
      const repo = await Repository.open(new LocalBackend(f.dir), {
        password: TEST_PASSWORD,
        workers: 0,
      });
      try {
        const r = await verifyRepository(repo);
        const idx = r.problems
          .filter((x) => x.code === 'REPO_INDEX_CORRUPT')
          .map((x) => x.run)
          .sort();
        assert.deepEqual(idx, runs.sort());
        assert.deepEqual(
          affectedPairs(r),
          [
            `${f.db}/vda`,
            `${f.web1}/vda`,
            `${f.web1}/vdb`,
            `${f.web2}/vda`,
            `${f.web2}/vdb`,
          ].sort(),
        );
      } finally {
        await repo.close();
      }
    }),
  );

  it(
    'a truncated fixed index: named with its backup and disk; the disk will not open',
    withFixture(async (f) => {
      await truncate(join(f.dir, 'backups', f.web2, 'vda.fidx'), 200);
      const r = await verifyRepository(f.repo);
      const p = r.problems.find((x) => x.code === 'REPO_FIXED_INDEX_CORRUPT')!;
      assert.deepEqual([p.backup, p.disk], [f.web2, 'vda']);
      assert.equal(r.problems.length, 1);
      await assert.rejects(BackupDisk.open(f.repo, f.web2, 'vda'), {
        code: 'REPO_FIXED_INDEX_CORRUPT',
      });
    }),
  );

  it(
    'a tampered manifest: its signature fails; listing names it and keeps the others',
    withFixture(async (f) => {
      const path = join(f.dir, 'backups', f.web1, 'manifest.json');
      const env = JSON.parse(await readFile(path, 'utf8')) as { body: string };
      env.body = env.body.replace('"web"', '"evil"');
      await writeFile(path, JSON.stringify(env));
      const { backups, damaged } = await f.repo.listBackups();
      assert.deepEqual(backups.map((b) => b.id).sort(), [f.db, f.web2].sort());
      assert.equal(damaged[0]!.where.backup, f.web1);
      assert.equal(damaged[0]!.code, 'REPO_MANIFEST_CORRUPT');
      const r = await verifyRepository(f.repo);
      assert.ok(r.problems.some((x) => x.code === 'REPO_MANIFEST_CORRUPT' && x.backup === f.web1));
      await assert.rejects(
        BackupDisk.open(f.repo, f.web1, 'vda'),
        (e) => e instanceof RepoIntegrityError && e.where.backup === f.web1,
      );
    }),
  );

  it(
    'a wrong password is refused; a config edited to turn encryption off is refused',
    withFixture(async (f) => {
      await assert.rejects(Repository.open(new LocalBackend(f.dir), { password: 'wrong' }), {
        code: 'REPO_WRONG_PASSWORD',
      });
      const path = join(f.dir, 'config');
      const env = JSON.parse(await readFile(path, 'utf8')) as { body: string };
      env.body = env.body.replace('"aes-256-gcm"', '"none"');
      await writeFile(path, JSON.stringify(env));
      await assert.rejects(Repository.open(new LocalBackend(f.dir), { password: TEST_PASSWORD }), {
        code: 'REPO_CONFIG_CORRUPT',
      });
    }),
  );

  it(
    'without the password, backups can be listed (unverified) but not read',
    withFixture(async (f) => {
      const repo = await Repository.open(new LocalBackend(f.dir), { workers: 0 });
      try {
        const { backups } = await repo.listBackups();
        assert.equal(backups.length, 3);
        assert.ok(backups.every((b) => !b.verified));
        await assert.rejects(BackupDisk.open(repo, f.web1, 'vda'), {
          code: 'REPO_PASSWORD_REQUIRED',
        });
        assert.ok(!ZERO_ID.equals(f.shared));
      } finally {
        await repo.close();
      }
    }),
  );
});
