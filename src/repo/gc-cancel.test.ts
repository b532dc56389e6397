/**
 * Cancelling gc and forget (issue #14): a cancel stops them at a safe point, the repository
 * verifies clean with every kept backup readable, and the next gc finishes the work. The cancel
 * is given at a progress event, never by a timer, so the point it lands on is known.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forget } from './forget.js';
import { collectGarbage } from './gc.js';
import { listLocks } from './lock.js';
import type { Repository } from './repository.js';
import { repoStats } from './stats.js';
import { backupBytes, readBack, realisticBytes, withRepo } from './testing/support.js';
import { verifyRepository } from './verify.js';

const KiB = 1024;

/** Two backups of one VM, the second with every other 64 KiB chunk changed; the first forgotten. */
async function halfDead(repo: Repository): Promise<{ kept: string; data: Buffer }> {
  const a = realisticBytes(4096 * KiB, 7);
  const b = Buffer.from(a);
  for (let c = 1; c < 64; c += 2) realisticBytes(64 * KiB, 300 + c).copy(b, c * 64 * KiB);
  const idA = await backupBytes(repo, a, 'web');
  const kept = await backupBytes(repo, b, 'web', idA);
  await forget(repo, { last: 1 });
  return { kept, data: b };
}

async function packCount(repo: Repository): Promise<number> {
  let n = 0;
  for await (const o of repo.backend.list('data/')) if (/^data\/[0-9a-f]{2}\//.test(o.name)) n++;
  return n;
}

async function assertClean(repo: Repository, kept: string, data: Buffer): Promise<void> {
  const v = await verifyRepository(repo, { readData: true });
  assert.ok(v.ok, JSON.stringify(v.problems));
  assert.deepEqual(await readBack(repo, kept), data);
  assert.deepEqual(await listLocks(repo.backend), [], 'the lock was released');
}

describe('cancelling gc and forget', () => {
  it('a gc cancelled half way through its repacking stops there; verify is clean and the next gc finishes', () =>
    withRepo({ packSize: 128 * KiB }, async (repo) => {
      const { kept, data } = await halfDead(repo);
      const packsBefore = await packCount(repo);
      const abort = new AbortController();
      const seen: string[] = [];
      let total = 0;
      await assert.rejects(
        collectGarbage(repo, {
          signal: abort.signal,
          onProgress: (p) => {
            seen.push(p.phase);
            if (p.phase === 'repack' && p.done === Math.floor(p.total / 2)) {
              total = p.total;
              abort.abort();
            }
          },
        }),
        { name: 'AbortError' },
      );
      assert.ok(total >= 4, `many packs to repack (${total})`);
      assert.ok(!seen.includes('delete'), 'nothing was deleted');
      assert.equal((await repo.gcPlans()).length, 1, 'the plan stays for the next gc');
      assert.ok((await packCount(repo)) >= packsBefore, 'no pack was deleted');
      await assertClean(repo, kept, data);

      const plan = (await repo.gcPlans())[0]!.id;
      const gc = await collectGarbage(repo);
      // The stopped plan is swept first; the copies it had made unindexed are a new plan's garbage.
      assert.equal(gc.swept[0], plan);
      assert.equal(gc.repackedPacks, total, JSON.stringify(gc));
      assert.equal((await repo.gcPlans()).length, 0);
      assert.equal((await repoStats(repo)).uniqueChunks, 64, 'only the kept chunks remain');
      assert.ok((await packCount(repo)) < packsBefore);
      await assertClean(repo, kept, data);
    }));

  it('a gc cancelled while it reads the backups changes nothing; forget cancelled removes none', () =>
    withRepo({ packSize: 128 * KiB }, async (repo) => {
      const { kept, data } = await halfDead(repo);
      const packsBefore = await packCount(repo);
      const abort = new AbortController();
      await assert.rejects(
        collectGarbage(repo, {
          signal: abort.signal,
          onProgress: (p) => {
            if (p.phase === 'live') abort.abort();
          },
        }),
        { name: 'AbortError' },
      );
      assert.equal((await repo.gcPlans()).length, 0, 'no plan was written');
      assert.equal(await packCount(repo), packsBefore);
      await assertClean(repo, kept, data);

      const later = await backupBytes(repo, realisticBytes(256 * KiB, 9), 'web');
      const stopped = new AbortController();
      stopped.abort();
      await assert.rejects(forget(repo, { last: 1 }, { signal: stopped.signal }), {
        name: 'AbortError',
      });
      assert.deepEqual(
        (await repo.listBackups()).backups.map((b) => b.id),
        [kept, later],
      );
      assert.deepEqual(await listLocks(repo.backend), []);
    }));
});
