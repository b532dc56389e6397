/**
 * What is known damaged is not deduplicated against, and repair heals what can be healed
 * (issue #12): a lost pack, a damaged record, a damaged index run.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { KnownDamage, readDamage, recordDamage } from './damage.js';
import { RepoError } from './errors.js';
import { collectGarbage } from './gc.js';
import { newPlan, writePlan } from './gc-plan.js';
import { manifestObjectName } from './manifest.js';
import { repairRepository } from './repair.js';
import type { Repository } from './repository.js';
import { RUN_HEADER } from './run.js';
import { SlotReader } from './slots.js';
import { repoStats } from './stats.js';
import { backupBytes, readBack, realisticBytes, withRepo } from './testing/support.js';
import { verifyRepository } from './verify.js';
import { bufferSource, type ExtentSource } from './source.js';
import { BackupWriter } from './writer.js';

const KiB = 1024;

async function files(dir: string, sub: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(join(dir, sub), { withFileTypes: true, recursive: true })) {
    if (e.isFile() && !e.name.startsWith('.')) out.push(join(e.parentPath, e.name));
  }
  return out.sort();
}

async function firstChunk(repo: Repository, backup: string): Promise<Buffer> {
  const d = (await repo.manifest(backup)).manifest.disks[0]!;
  return Buffer.from(await (await SlotReader.open(repo.backend, backup, d)).get(0));
}

describe('damaged data is healed, not deduplicated against', () => {
  for (const withParent of [false, true]) {
    it(`a backup after a pack was lost stores its chunks again and restores identical${withParent ? ' (with the damaged backup as parent)' : ''}`, () =>
      withRepo({}, async (repo, dir) => {
        const data = realisticBytes(512 * KiB, 21);
        const first = await backupBytes(repo, data);
        const packs = await files(dir, 'data');
        assert.equal(packs.length, 1);
        await unlink(packs[0]!);
        const second = await backupBytes(repo, data, 'web', withParent ? first : undefined);
        assert.deepEqual(await readBack(repo, second), data);
        // The old backup's chunks came back: it reads again, and repair cleans the index.
        assert.deepEqual(await readBack(repo, first), data);
        const fix = await repairRepository(repo);
        assert.ok(fix.healed.some((h) => h.backup === first));
        assert.deepEqual(fix.unhealable, []);
        assert.equal(fix.missingPacks.length, 1);
        assert.ok((await verifyRepository(repo, { readData: true })).ok);
        assert.deepEqual(await readBack(repo, first), data);
      }));
  }

  it('an incremental backup over a lost pack reads only the slots whose chunks were in it', () =>
    withRepo({ packSize: 64 * KiB }, async (repo, dir) => {
      const data = realisticBytes(1024 * KiB, 32);
      const first = await backupBytes(repo, data);
      const slots = await SlotReader.open(
        repo.backend,
        first,
        (await repo.manifest(first)).manifest.disks[0]!,
      );
      const packOf: string[] = [];
      for (let s = 0; s < slots.slots; s++) {
        packOf.push(
          (await repo.index.lookup(Buffer.from(await slots.get(s))))!.pack.toString('hex'),
        );
      }
      const victim = packOf[5]!;
      assert.ok(new Set(packOf).size > 2, 'the disk spans several packs');
      await unlink(join(dir, 'data', victim.slice(0, 2), victim));
      const reads: number[] = [];
      const src = bufferSource(data);
      const counting: ExtentSource = {
        virtualSize: src.virtualSize,
        extents: () => src.extents(),
        read: (offset, length) => {
          reads.push(offset / (64 * KiB));
          return src.read(offset, length);
        },
      };
      const w = await BackupWriter.start(repo, { vm: { name: 'web' }, parent: first });
      // Unchanged since the parent (an empty dirty bitmap): only what is lost is read.
      await w.addDisk({ name: 'vda', source: counting, changedRanges: [] });
      const second = (await w.commit()).id;
      const lostSlots = packOf.flatMap((p, s) => (p === victim ? [s] : []));
      assert.deepEqual(
        reads.sort((a, b) => a - b),
        lostSlots,
      );
      assert.deepEqual(await readBack(repo, second), data);
    }));

  it('a record verify found damaged is stored again by the next backup; repair rewrites its pack and heals the old backup', () =>
    withRepo({}, async (repo, dir) => {
      const data = realisticBytes(512 * KiB, 22);
      const first = await backupBytes(repo, data);
      const chunk = await firstChunk(repo, first);
      const at = (await repo.index.lookup(chunk))!;
      const pack = at.pack.toString('hex');
      const path = join(dir, 'data', pack.slice(0, 2), pack);
      const bytes = await readFile(path);
      bytes[at.offset + at.length - 10]! ^= 0x40;
      await writeFile(path, bytes);

      const v = await verifyRepository(repo, { readData: true });
      assert.equal(v.ok, false);
      assert.ok(v.damageRecord, 'verify records what it found');
      assert.deepEqual((await readDamage(repo.backend))[0]!.records, [
        { chunk: chunk.toString('hex'), pack, code: 'REPO_CHUNK_CORRUPT' },
      ]);
      const second = await backupBytes(repo, data, 'web', first);
      assert.deepEqual(await readBack(repo, second), data);

      const plan = await repairRepository(repo, { dryRun: true });
      assert.deepEqual(plan.rewritePacks, [pack]);
      assert.ok(plan.healed.some((h) => h.backup === first));
      assert.deepEqual(plan.unhealable, []);
      assert.equal((await readDamage(repo.backend)).length, 1, 'a dry run changes nothing');
      const done = await repairRepository(repo);
      assert.equal(done.rewrittenPacks, 1);
      assert.equal((await readDamage(repo.backend)).length, 0);
      assert.ok((await verifyRepository(repo, { readData: true })).ok);
      assert.deepEqual(await readBack(repo, first), data);
    }));

  it('verify still gives its report when the damage cannot be recorded', () =>
    withRepo({}, async (repo, dir) => {
      const id = await backupBytes(repo, realisticBytes(256 * KiB, 31));
      const chunk = await firstChunk(repo, id);
      const at = (await repo.index.lookup(chunk))!;
      const pack = at.pack.toString('hex');
      const path = join(dir, 'data', pack.slice(0, 2), pack);
      const bytes = await readFile(path);
      bytes[at.offset + 60]! ^= 0x02;
      await writeFile(path, bytes);
      await writeFile(join(dir, 'damage'), 'not a directory'); // so damage/<id> cannot be written
      const v = await verifyRepository(repo, { readData: true });
      assert.equal(v.ok, false);
      assert.equal(v.damageRecord, null);
      assert.equal(v.damageNotRecorded?.code, 'REPO_IO');
      assert.deepEqual([...new Set(v.affected.map((a) => a.backup))], [id]);
    }));

  it('a damage record naming an intact record (stale or forged) is dropped by repair, and the pack is left alone', () =>
    withRepo({}, async (repo, dir) => {
      const data = realisticBytes(256 * KiB, 28);
      const id = await backupBytes(repo, data);
      const chunk = await firstChunk(repo, id);
      const pack = (await repo.index.lookup(chunk))!.pack.toString('hex');
      await recordDamage(repo.backend, [
        { chunk: chunk.toString('hex'), pack, code: 'REPO_CHUNK_CORRUPT' },
      ]);
      const packsBefore = await files(dir, 'data');
      const runsBefore = await files(dir, 'index');
      const r = await repairRepository(repo);
      assert.deepEqual(r.damagedRecords, []);
      assert.equal(r.staleRecords, 1);
      assert.deepEqual(r.rewritePacks, []);
      assert.equal(r.removedDamageRecords, 1);
      assert.deepEqual(await files(dir, 'data'), packsBefore);
      assert.deepEqual(await files(dir, 'index'), runsBefore);
      assert.deepEqual(await readDamage(repo.backend), []);
      assert.deepEqual(await readBack(repo, id), data);
    }));

  it('a damaged record in a pack gc deletes stops mattering: its damage record goes too, and nothing is avoided any more', () =>
    withRepo({}, async (repo, dir) => {
      await backupBytes(repo, realisticBytes(256 * KiB, 29), 'keep');
      const before = new Set(await files(dir, 'data'));
      const gone = await backupBytes(repo, realisticBytes(256 * KiB, 30), 'gone');
      const chunk = await firstChunk(repo, gone);
      const [pack] = (await files(dir, 'data')).filter((p) => !before.has(p));
      const bytes = await readFile(pack!);
      bytes[100]! ^= 0x08;
      await writeFile(pack!, bytes);
      await repo.backend.delete(manifestObjectName(gone));
      const v = await verifyRepository(repo, { readData: true });
      assert.ok(v.damageRecord);
      assert.deepEqual(v.affected, []);
      assert.equal((await readDamage(repo.backend))[0]!.records[0]!.chunk, chunk.toString('hex'));
      assert.equal((await KnownDamage.of(repo)).any, true);
      await collectGarbage(repo);
      assert.deepEqual(await readDamage(repo.backend), []);
      assert.equal((await KnownDamage.of(repo)).any, false);
      assert.ok((await verifyRepository(repo, { readData: true })).ok);
    }));

  it('repair leaves a pack a gc plan will repack to gc, keeps its damage record until then, and heals it after', () =>
    withRepo({}, async (repo, dir) => {
      const data = realisticBytes(256 * KiB, 33);
      const id = await backupBytes(repo, data);
      const chunk = await firstChunk(repo, id);
      const at = (await repo.index.lookup(chunk))!;
      const pack = at.pack.toString('hex');
      const path = join(dir, 'data', pack.slice(0, 2), pack);
      const bytes = await readFile(path);
      bytes[at.offset + 70]! ^= 0x10;
      await writeFile(path, bytes);
      assert.ok((await verifyRepository(repo, { readData: true })).damageRecord);
      const plan = newPlan();
      plan.state = 'marked';
      plan.repackPacks = [pack];
      await writePlan(repo.backend, plan);

      const first = await repairRepository(repo);
      assert.deepEqual(first.rewritePacks, []);
      assert.equal(first.dropEntries, 1);
      assert.equal(first.removedDamageRecords, 0);
      assert.equal((await readDamage(repo.backend)).length, 1, 'kept while gc may repack');
      await collectGarbage(repo);
      assert.deepEqual(await repo.gcPlans(), []);
      const second = await repairRepository(repo);
      assert.deepEqual(second.rewritePacks, [pack]);
      assert.equal(second.removedDamageRecords, 1);
      const v = await verifyRepository(repo, { readData: true });
      assert.ok(
        v.problems.every((p) => p.code === 'REPO_CHUNK_MISSING'),
        JSON.stringify(v.problems),
      );
      assert.deepEqual(
        v.affected.map((a) => a.chunk),
        [chunk.toString('hex')],
      );
    }));

  it('repair says which backups cannot be healed when the data is nowhere', () =>
    withRepo({}, async (repo, dir) => {
      const data = realisticBytes(256 * KiB, 23);
      const lost = await backupBytes(repo, data, 'db');
      await unlink((await files(dir, 'data'))[0]!);
      const plan = await repairRepository(repo, { dryRun: true });
      assert.deepEqual(
        plan.unhealable.map((h) => [h.backup, h.disk, h.lostChunks]),
        [[lost, 'vda', 4]],
      );
      assert.deepEqual(plan.healed, []);
      const done = await repairRepository(repo);
      assert.equal(done.unhealable.length, 1);
      // The index no longer names the lost pack; the backup's chunks are reported missing.
      const v = await verifyRepository(repo);
      assert.deepEqual([...new Set(v.affected.map((a) => a.backup))], [lost]);
      assert.ok(v.problems.every((p) => p.code === 'REPO_CHUNK_MISSING' && p.run === undefined));
    }));

  it('a damaged index run block: verify reports it and goes on, stats and backups work around it, gc points to repair, repair rebuilds it', () =>
    withRepo({}, async (repo, dir) => {
      const data = realisticBytes(512 * KiB, 24);
      const first = await backupBytes(repo, data);
      const [run] = await files(dir, 'index');
      const bytes = await readFile(run!);
      const packCount = bytes.readUInt32LE(8);
      bytes[RUN_HEADER + packCount * 32 + 40]! ^= 0x01; // inside the first entry
      await writeFile(run!, bytes);
      await repo.index.refresh();

      const v = await verifyRepository(repo);
      assert.equal(v.ok, false);
      assert.ok(v.problems.some((p) => p.code === 'REPO_INDEX_CORRUPT'));
      assert.ok(v.affected.some((a) => a.backup === first));
      const s = await repoStats(repo);
      assert.equal(s.damagedIndexRuns, 1);
      await assert.rejects(
        collectGarbage(repo),
        (e: unknown) => e instanceof RepoError && e.code === 'REPO_NEEDS_REPAIR',
      );
      // Read again (--reread): the run's chunks are unknown, so they are stored again.
      const second = await backupBytes(repo, data);
      assert.deepEqual(await readBack(repo, second), data);

      const fix = await repairRepository(repo);
      assert.equal(fix.damagedRuns.length, 1);
      assert.ok(fix.recoveredEntries > 0);
      assert.ok((await verifyRepository(repo, { readData: true })).ok);
      assert.deepEqual(await readBack(repo, first), data);
      assert.equal((await collectGarbage(repo)).dryRun, false);
    }));

  it('verify tells what an interrupted gc left from damage, and the next gc removes it', () =>
    withRepo({}, async (repo, dir) => {
      const keep = realisticBytes(256 * KiB, 25);
      await backupBytes(repo, keep, 'a');
      const packsBefore = new Set(await files(dir, 'data'));
      const gone = await backupBytes(repo, realisticBytes(256 * KiB, 26), 'b');
      const [deadPack] = (await files(dir, 'data')).filter((p) => !packsBefore.has(p));
      // What a gc killed between deleting packs and deleting the runs naming them leaves.
      await repo.backend.delete(manifestObjectName(gone));
      const plan = newPlan();
      plan.state = 'marked';
      plan.deletePacks = [deadPack!.split('/').at(-1)!];
      await writePlan(repo.backend, plan);
      await unlink(deadPack!);

      const v = await verifyRepository(repo);
      assert.deepEqual(v.problems, []);
      assert.ok(v.ok);
      assert.equal(v.notes.length, 1);
      assert.equal(v.notes[0]!.entries, 4);
      assert.equal(v.notes[0]!.interruptedGc, true);
      await collectGarbage(repo);
      const after = await verifyRepository(repo);
      assert.ok(after.ok);
      assert.deepEqual(after.notes, []);
    }));

  it('index entries of a pack deleted by hand that no backup needs are a note, not damage; gc removes them', () =>
    withRepo({}, async (repo, dir) => {
      const gone = await backupBytes(repo, realisticBytes(256 * KiB, 27), 'b');
      await repo.backend.delete(manifestObjectName(gone));
      await unlink((await files(dir, 'data'))[0]!);
      const v = await verifyRepository(repo);
      assert.ok(v.ok);
      assert.equal(v.notes[0]!.interruptedGc, false);
      await collectGarbage(repo);
      assert.deepEqual((await verifyRepository(repo)).notes, []);
    }));
});
