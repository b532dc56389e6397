import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LocalBackend } from '../../repo/backend/local.js';
import { Repository, verifyRepository, type RepoConfig } from '../../repo/index.js';
import {
  backupBytes,
  readBack,
  realisticBytes,
  TEST_PASSWORD,
  withRepo,
  type TempRepoOptions,
} from '../../repo/testing/support.js';
import { copyRepository } from './repo-copy.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A source with a full backup and an incremental of `web`, and one of `db`; their data. */
async function fill(repo: Repository): Promise<{ ids: string[]; data: Buffer[] }> {
  const a = realisticBytes(3 * MiB, 1);
  const b = Buffer.from(a);
  realisticBytes(256 * KiB, 2).copy(b, MiB); // 4 chunks of 64 KiB changed
  const c = realisticBytes(MiB, 3);
  const ids = [await backupBytes(repo, a, 'web')];
  ids.push(await backupBytes(repo, b, 'web', ids[0]));
  ids.push(await backupBytes(repo, c, 'db'));
  return { ids, data: [a, b, c] };
}

/** Both repositories, the source filled: fn gets them and the source's backups. */
function pair(
  src: TempRepoOptions,
  dst: TempRepoOptions,
  fn: (from: Repository, to: Repository, f: { ids: string[]; data: Buffer[] }) => Promise<void>,
): Promise<void> {
  return withRepo(src, async (from) => {
    const f = await fill(from);
    await withRepo(dst, (to) => fn(from, to, f));
  });
}

/** Reopens a repository as a new process would (nothing of the old one's memory). */
async function reopen(dir: string, config: RepoConfig): Promise<Repository> {
  return Repository.open(new LocalBackend(dir), {
    password: config.encryption === 'none' ? undefined : TEST_PASSWORD,
    workers: 0,
  });
}

async function sameData(to: Repository, f: { ids: string[]; data: Buffer[] }): Promise<void> {
  for (const [i, id] of f.ids.entries()) {
    assert.ok((await readBack(to, id)).equals(f.data[i]!), `backup ${id} restores identical`);
  }
  const v = await verifyRepository(to, { readData: true });
  assert.equal(v.ok, true, JSON.stringify(v.problems));
}

describe('repo copy between local repositories', () => {
  it('copies between encrypted repositories of different keys: re-encrypted, the incremental read only where it changed, a second copy sends nothing', () =>
    pair({}, {}, async (from, to, f) => {
      const r = await copyRepository(from, to);
      assert.equal(r.sharedIds, false);
      assert.deepEqual(
        r.copied.map((c) => c.id),
        f.ids,
        'oldest first',
      );
      const inc = r.copied.find((c) => c.id === f.ids[1])!;
      assert.equal(inc.reference, f.ids[0], 'the incremental took its parent as reference');
      assert.equal(inc.readBytes, 256 * KiB, 'only the 4 changed chunks were read');
      assert.equal(inc.newChunks, 4);
      assert.ok(r.copied.every((c) => c.readBackPacks > 0 || c.newChunks === 0));
      await sameData(to, f);
      const { manifest: m } = await to.manifest(f.ids[1]!);
      const { manifest: s } = await from.manifest(f.ids[1]!);
      assert.equal(m.repository, to.config.id);
      assert.equal(m.parent, f.ids[0]);
      assert.equal(m.startedAt, s.startedAt);
      assert.equal(m.host, s.host);

      const again = await copyRepository(from, to);
      assert.equal(again.copied.length, 0);
      assert.deepEqual(again.skipped, f.ids);
      assert.equal(again.newStoredBytes, 0);
      assert.equal(again.readBytes, 0);
    }));

  it('copies unencrypted to unencrypted by id: only chunks the target lacks are read', () =>
    pair({ encrypted: false }, { encrypted: false }, async (from, to, f) => {
      const first = await copyRepository(from, to, { names: ['web'] });
      assert.equal(first.sharedIds, true);
      assert.equal(first.copied.length, 2);
      assert.equal(first.readBytes, 3 * MiB + 256 * KiB, 'the full once, then the changes');
      const db = await copyRepository(from, to, { names: [f.ids[2]!] });
      assert.equal(db.copied.length, 1);
      assert.equal(db.readBytes, MiB);
      await sameData(to, f);
    }));

  it('copies unencrypted into encrypted, and the same chunk size differing target re-chunks', () =>
    pair({ encrypted: false }, { chunkSize: 128 * KiB }, async (from, to, f) => {
      const r = await copyRepository(from, to);
      assert.equal(r.sharedIds, false);
      assert.equal(r.copied.length, 3);
      await sameData(to, f);
      assert.equal((await to.manifest(f.ids[0]!)).manifest.chunkSize, 128 * KiB);
    }));

  it('a dry run writes nothing and says what would be copied', () =>
    pair({}, {}, async (from, to, f) => {
      const r = await copyRepository(from, to, { dryRun: true, names: ['db'] });
      assert.deepEqual(
        r.items.map((i) => [i.id, i.state]),
        [[f.ids[2], 'copy']],
      );
      assert.deepEqual(await to.backupIds(), []);
    }));

  it('refuses a target that has another backup under a copied id, writing nothing', () =>
    pair({}, {}, async (from, to, f) => {
      // A backup of another VM under the id of the source's first: not a copy of it.
      const { BackupWriter } = await import('../../repo/writer.js');
      const { bufferSource } = await import('../../repo/source.js');
      const w = await BackupWriter.start(to, { vm: { name: 'other' } }, { id: f.ids[0]! });
      await w.addDisk({ name: 'vda', source: bufferSource(realisticBytes(64 * KiB, 9)) });
      await w.commit();
      await assert.rejects(copyRepository(from, to), { code: 'REPO_COPY_CONFLICT' });
      assert.deepEqual(await to.backupIds(), [f.ids[0]]);
    }));

  it('a copy stopped midway lists nothing, and the next one sends only the rest', () =>
    withRepo({}, async (from) => {
      const data = realisticBytes(6 * MiB, 7);
      const id = await backupBytes(from, data, 'big');
      await withRepo({ packSize: 256 * KiB }, async (first, dir) => {
        // A fresh copy elsewhere tells what the whole copy sends.
        const whole = await withRepo({ packSize: 256 * KiB }, (other) =>
          copyRepository(from, other),
        );
        const stop = new AbortController();
        await assert.rejects(
          copyRepository(from, first, {
            signal: stop.signal,
            onEvent: (e) => {
              // Late enough that several packs are committed whatever the machine's speed (the
              // writer reads 4 MiB ahead of what it stores; up to 4 packs commit at once).
              if (e.type === 'progress' && e.readBytes >= 5 * MiB) stop.abort();
            },
          }),
          { name: 'AbortError' },
        );
        assert.deepEqual(await first.backupIds(), [], 'nothing partial is listed');
        // As a new process: nothing of the stopped copy's memory.
        const to = await reopen(dir, first.config);
        try {
          const rest = await copyRepository(from, to);
          assert.ok(rest.adopted!.chunks > 0, 'the packs that arrived were adopted');
          assert.equal(rest.copied.length, 1);
          // Every chunk that arrived is not sent again: the rest is exactly what was missing.
          assert.equal(rest.newChunks, whole.newChunks - rest.adopted!.chunks);
          assert.ok(rest.newChunks < whole.newChunks, `${rest.newChunks} sent again`);
          assert.ok((await readBack(to, id)).equals(data));
          const v = await verifyRepository(to, { readData: true });
          assert.equal(v.ok, true);
        } finally {
          await to.close();
        }
      });
    }));
});
