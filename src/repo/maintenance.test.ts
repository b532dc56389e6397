import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalBackend } from './backend/local.js';
import { forget } from './forget.js';
import { collectGarbage } from './gc.js';
import { Repository } from './repository.js';
import { repoStats } from './stats.js';
import {
  backupBytes,
  readBack,
  realisticBytes,
  TEST_PASSWORD,
  withRepo,
} from './testing/support.js';
import { TEST_KDF } from './keys.js';
import { verifyRepository } from './verify.js';

const KiB = 1024;

describe('forget, gc, stats, verify', () => {
  it('forget removes manifests by policy; gc then frees exactly the unshared packs', () =>
    withRepo({ packSize: 64 * KiB }, async (repo) => {
      const a = realisticBytes(1024 * KiB, 1);
      const b = Buffer.from(a);
      realisticBytes(512 * KiB, 2).copy(b, 0);
      const idA = await backupBytes(repo, a, 'web');
      const idB = await backupBytes(repo, b, 'web', idA);
      const before = await repoStats(repo);
      assert.equal(before.backups, 2);
      assert.ok(before.dedupRatio > 1.3, `dedup ${before.dedupRatio}`);
      assert.ok(before.compressionRatio > 1.2, `compression ${before.compressionRatio}`);

      const dry = await forget(repo, { last: 1 }, { dryRun: true });
      assert.deepEqual(dry.removed, []);
      assert.deepEqual(
        dry.decisions.map((d) => [d.id, d.keep]),
        [
          [idB, true],
          [idA, false],
        ],
      );
      const gcDry = await collectGarbage(repo, { dryRun: true });
      assert.equal(gcDry.deadPacks, 0);

      const f = await forget(repo, { last: 1 });
      assert.deepEqual(f.removed, [idA]);
      const gc = await collectGarbage(repo);
      assert.equal(gc.swept.length, 1);
      assert.ok(gc.deletedPacks >= 1, 'some pack held only the old data');
      assert.deepEqual(gc.deletedPartialBackups, [idA]);
      assert.deepEqual(await readBack(repo, idB), b);
      const v = await verifyRepository(repo, { readData: true });
      assert.ok(v.ok, JSON.stringify(v.problems));
      const after = await repoStats(repo);
      assert.ok(after.packBytes < before.packBytes);
      assert.equal(after.backups, 1);
      assert.equal((await repo.gcPlans()).length, 0);
    }));

  it('gc rewrites partly dead packs: live records move, dead ones are freed, nothing else changes', () =>
    withRepo({ packSize: 256 * KiB }, async (repo) => {
      const a = realisticBytes(2048 * KiB, 41);
      const b = Buffer.from(a);
      // Every other 64 KiB chunk changes: each pack of the first backup ends up half dead.
      for (let c = 1; c < 32; c += 2) realisticBytes(64 * KiB, 100 + c).copy(b, c * 64 * KiB);
      const idA = await backupBytes(repo, a, 'web');
      const idB = await backupBytes(repo, b, 'web', idA);
      await forget(repo, { last: 1 });
      const dry = await collectGarbage(repo, { dryRun: true });
      assert.equal(dry.deadPacks, 0);
      assert.ok(dry.repackCandidates > 0);
      const none = await collectGarbage(repo, { repackThreshold: 1 });
      assert.equal(none.repackedPacks, 0);
      const before = await repoStats(repo);
      const gc = await collectGarbage(repo);
      assert.ok(gc.repackedPacks > 0 && gc.repackedFreedBytes > 0, JSON.stringify(gc));
      const after = await repoStats(repo);
      assert.ok(after.packBytes < before.packBytes - gc.repackedFreedBytes / 2);
      assert.equal(after.uniqueChunks, 32, 'exactly the chunks of the kept backup remain');
      assert.deepEqual(await readBack(repo, idB), b);
      const v = await verifyRepository(repo, { readData: true });
      assert.ok(v.ok, JSON.stringify(v.problems));
    }));

  it('gc with nothing to do changes nothing; a second forget is idempotent', () =>
    withRepo({}, async (repo) => {
      const id = await backupBytes(repo, realisticBytes(300 * KiB, 3), 'web');
      const r = await collectGarbage(repo);
      assert.equal(r.deletedPacks, 0);
      assert.equal((await forget(repo, { daily: 7 })).removed.length, 0);
      assert.deepEqual(await readBack(repo, id), realisticBytes(300 * KiB, 3));
    }));

  it('verify of a subset reads only its packs; n/t subsets together read all', () =>
    withRepo({ packSize: 128 * KiB }, async (repo) => {
      await backupBytes(repo, realisticBytes(2048 * KiB, 4), 'web');
      const all = await verifyRepository(repo, { readData: true });
      assert.ok(all.ok);
      let sum = 0;
      for (let n = 1; n <= 3; n++)
        sum += (await verifyRepository(repo, { subset: `${n}/3` })).packsRead;
      assert.equal(sum, all.packsRead);
      assert.equal((await verifyRepository(repo, { subset: '100%' })).packsRead, all.packsRead);
      await assert.rejects(verifyRepository(repo, { subset: '4/3' }), {
        code: 'REPO_BAD_SUBSET',
      });
    }));

  it('passwords: add, open with either, change, remove; never the last key', () =>
    withRepo({}, async (repo, dir) => {
      await repo.addPassword('second', { kdf: TEST_KDF, label: 'ops' });
      const keys = await repo.listKeys();
      assert.equal(keys.length, 2);
      const r2 = await Repository.open(new LocalBackend(dir), { password: 'second', workers: 0 });
      const changed = await r2.changePassword('third', { kdf: TEST_KDF });
      await r2.close();
      await assert.rejects(Repository.open(new LocalBackend(dir), { password: 'second' }), {
        code: 'REPO_WRONG_PASSWORD',
      });
      const r3 = await Repository.open(new LocalBackend(dir), { password: 'third', workers: 0 });
      const initial = (await r3.listKeys()).find((k) => k.label === 'initial')!;
      await r3.removePassword(initial.id.slice(0, 8));
      const left = await r3.listKeys();
      assert.deepEqual(
        left.map((k) => k.id),
        [changed],
      );
      await assert.rejects(r3.removePassword(changed), { code: 'REPO_LAST_KEY' });
      await r3.close();
      await assert.rejects(Repository.open(new LocalBackend(dir), { password: TEST_PASSWORD }), {
        code: 'REPO_WRONG_PASSWORD',
      });
    }));

  it('an unencrypted repository works the same and has no keys', () =>
    withRepo({ encrypted: false }, async (repo) => {
      const data = realisticBytes(500 * KiB, 5);
      const id = await backupBytes(repo, data, 'web');
      assert.deepEqual(await readBack(repo, id), data);
      await assert.rejects(repo.addPassword('x'), { code: 'REPO_KEY_NOT_FOUND' });
      assert.equal(repo.encrypted, false);
    }));

  it("forget with vms judges only those VMs' backups and leaves the others alone", () =>
    withRepo({ packSize: 64 * KiB }, async (repo) => {
      const web1 = await backupBytes(repo, realisticBytes(64 * KiB, 3), 'web');
      const db1 = await backupBytes(repo, realisticBytes(64 * KiB, 4), 'db');
      const web2 = await backupBytes(repo, realisticBytes(64 * KiB, 5), 'web', web1);
      const db2 = await backupBytes(repo, realisticBytes(64 * KiB, 6), 'db', db1);
      const f = await forget(repo, { last: 1 }, { vms: ['web'] });
      assert.deepEqual(f.removed, [web1]);
      assert.deepEqual(f.decisions.map((d) => d.vm).sort(), ['web', 'web']);
      const left = (await repo.listBackups()).backups.map((b) => b.id).sort();
      assert.deepEqual(left, [db1, db2, web2].sort());
    }));
});
