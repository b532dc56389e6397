/**
 * Concurrency: two writers at once; forget and garbage collection while
 * backups run lose nothing (docs/repository-format.md, "Garbage collection").
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalBackend } from './backend/local.js';
import { forget } from './forget.js';
import { collectGarbage } from './gc.js';
import { Repository } from './repository.js';
import { bufferSource, type ExtentSource } from './source.js';
import { readBack, realisticBytes, TEST_PASSWORD, withRepo } from './testing/support.js';
import { verifyRepository } from './verify.js';
import { BackupWriter } from './writer.js';

const KiB = 1024;

/** A source that stops before `at` until release() is called. */
function gated(
  data: Buffer,
  at: number,
): { source: ExtentSource; reached: Promise<void>; release(): void } {
  let release!: () => void;
  let reached!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const reachedP = new Promise<void>((r) => (reached = r));
  const inner = bufferSource(data);
  return {
    source: {
      virtualSize: data.length,
      extents: () => inner.extents(),
      async read(offset, length) {
        if (offset >= at) {
          reached();
          await gate;
        }
        return inner.read(offset, length);
      },
    },
    reached: reachedP,
    release,
  };
}

async function openAgain(dir: string): Promise<Repository> {
  return Repository.open(new LocalBackend(dir), { password: TEST_PASSWORD, workers: 0 });
}

describe('concurrency', () => {
  it('two writers at once, sharing data, both land and both read back', () =>
    withRepo({ packSize: 128 * KiB }, async (repo, dir) => {
      const other = await openAgain(dir);
      try {
        const common = realisticBytes(1024 * KiB, 21);
        const a = Buffer.concat([common, realisticBytes(256 * KiB, 22)]);
        const b = Buffer.concat([common, realisticBytes(256 * KiB, 23)]);
        const run = async (r: Repository, vm: string, data: Buffer): Promise<string> => {
          const w = await BackupWriter.start(r, { vm: { name: vm } });
          await w.addDisk({ name: 'vda', source: bufferSource(data) });
          return (await w.commit()).id;
        };
        const [ia, ib] = await Promise.all([run(repo, 'a', a), run(other, 'b', b)]);
        assert.ok((await readBack(repo, ia)).equals(a));
        assert.ok((await readBack(other, ib)).equals(b));
        const v = await verifyRepository(repo, { readData: true });
        assert.ok(v.ok, JSON.stringify(v.problems));
      } finally {
        await other.close();
      }
    }));

  it('prune and gc while backups run lose nothing: phase 2 waits for older writers, newer writers avoid marked packs', () =>
    withRepo({ packSize: 64 * KiB }, async (repo, dir) => {
      const D = realisticBytes(1024 * KiB, 31);
      const E = realisticBytes(512 * KiB, 32);
      // An old backup of D, then a newer one: keep-last 1 forgets the old one.
      for (const data of [D, E]) {
        const w = await BackupWriter.start(repo, { vm: { name: 'old' } });
        await w.addDisk({ name: 'vda', source: bufferSource(data) });
        await w.commit();
      }
      // Writer 1 starts before the plan: half of D (deduplicated against the doomed backup) and E.
      const r1 = await openAgain(dir);
      const w1data = Buffer.concat([D.subarray(0, 512 * KiB), E]);
      const g1 = gated(w1data, 256 * KiB);
      const w1 = await BackupWriter.start(r1, { vm: { name: 'w1' } });
      const w1done = w1.addDisk({ name: 'vda', source: g1.source }).then(() => w1.commit());
      await g1.reached;

      const f = await forget(repo, { last: 1 });
      assert.equal(f.removed.length, 1);
      const gc1 = await collectGarbage(repo);
      assert.equal(gc1.deletedPacks, 0, 'nothing deleted while an older writer runs');
      assert.equal(gc1.waiting.length, 1);

      // Writer 2 starts after the plan, writing all of D: it must not rely on marked packs.
      const r2 = await openAgain(dir);
      const g2 = gated(D, 768 * KiB);
      const w2 = await BackupWriter.start(r2, { vm: { name: 'w2' } });
      const w2done = w2.addDisk({ name: 'vda', source: g2.source }).then(() => w2.commit());
      await g2.reached;

      g1.release();
      const m1 = await w1done;
      // Phase 2 now runs while writer 2 is still going.
      const gc2 = await collectGarbage(repo);
      assert.equal(gc2.swept.length, 1);
      assert.ok(gc2.deletedPacks > 0, 'the packs of D that writer 1 did not use are gone');
      g2.release();
      const m2 = await w2done;

      const check = await openAgain(dir);
      try {
        assert.ok((await readBack(check, m1.id)).equals(w1data));
        assert.ok((await readBack(check, m2.id)).equals(D));
        const v = await verifyRepository(check, { readData: true });
        assert.ok(v.ok, JSON.stringify(v.problems));
        // A later gc, with nobody running, finds the marked-but-kept packs live and loses nothing.
        await collectGarbage(check);
        assert.ok((await readBack(check, m2.id)).equals(D));
        assert.ok((await verifyRepository(check, { readData: true })).ok);
      } finally {
        await check.close();
        await r1.close();
        await r2.close();
      }
    }));

  it('two garbage collections at once: the second is refused with REPO_LOCKED', () =>
    withRepo({}, async (repo, dir) => {
      const other = await openAgain(dir);
      try {
        const held = await repo.lock('exclusive', 'gc');
        await assert.rejects(collectGarbage(other), { code: 'REPO_LOCKED' });
        await held.release();
        await collectGarbage(other);
      } finally {
        await other.close();
      }
    }));
});
