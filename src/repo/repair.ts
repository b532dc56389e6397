/**
 * Repair (docs/repository-format.md, "Repair"): heals the index after damage, planned first.
 * Index entries that name packs that are gone, and records that a verify found damaged (each
 * read again before anything is done about it), are dropped; a pack holding damaged records is
 * rewritten without them; index runs that cannot be read are rebuilt from the packs' tables.
 * Backups refer to chunks by id, so a backup heals as soon as the index leads every one of its
 * chunks to an intact copy (one a later backup stored again); the plan says which backups heal
 * and which cannot, and why.
 */
import { KnownDamage, listPacks, readDamage, removeDamage } from './damage.js';
import { isObjectNotFound, RepoError, RepoIntegrityError } from './errors.js';
import { PackBuilder, packObjectName, parsePack, putPack, readPackTable } from './pack.js';
import { ZERO_ID } from './record.js';
import type { Repository } from './repository.js';
import { encodeRun, RunBuilder, runObjectName, type IndexEntry } from './run.js';
import { SlotReader } from './slots.js';

export interface BackupHealth {
  backup: string;
  vm: string;
  disk: string | null;
  /** Chunks that only damaged or lost copies stood for before the repair. */
  damagedChunks: number;
  /** Of those, chunks with no intact copy anywhere: still lost after the repair. */
  lostChunks: number;
  /** Why it cannot be healed, when it is not a matter of chunks (a damaged fixed index). */
  reason?: string;
}

export interface RepairPlan {
  /** Index runs that cannot be read: rebuilt from the packs. */
  damagedRuns: string[];
  /** Packs the index names that are gone. */
  missingPacks: string[];
  /** Records confirmed damaged (read again now), as chunk and pack. */
  damagedRecords: { chunk: string; pack: string }[];
  /** Damage records' entries that read back intact now, or whose pack is gone: dropped. */
  staleRecords: number;
  /** Packs rewritten without their damaged records. */
  rewritePacks: string[];
  /** Index entries removed (gone packs, damaged records). */
  dropEntries: number;
  /** Index entries found in pack tables that no readable run holds (rebuild). */
  recoveredEntries: number;
  /** Backups that had damaged chunks and will read back whole after the repair. */
  healed: BackupHealth[];
  /** Backups that stay damaged: the data is not anywhere in the repository. */
  unhealable: BackupHealth[];
  /** Whether there is anything to change. */
  needed: boolean;
}

export interface RepairResult extends RepairPlan {
  dryRun: boolean;
  writtenRuns: number;
  deletedRuns: number;
  rewrittenPacks: number;
  removedDamageRecords: number;
}

/** Runs of at most this many entries when the index is rewritten (as gc does). */
const RUN_MAX_ENTRIES = 1 << 20;

/** Plans the repair and, unless dryRun, executes it, under the exclusive lock. */
export async function repairRepository(
  repo: Repository,
  o: { dryRun?: boolean } = {},
): Promise<RepairResult> {
  repo.requireKeys();
  const lock = await repo.lock('exclusive', 'repair');
  try {
    const state = await survey(repo);
    const result: RepairResult = {
      ...state.plan,
      dryRun: !!o.dryRun,
      writtenRuns: 0,
      deletedRuns: 0,
      rewrittenPacks: 0,
      removedDamageRecords: 0,
    };
    if (!o.dryRun) {
      await repo.backend.removeTemporaries?.(24 * 3600 * 1000); // a killed process's uploads
      await execute(repo, state, result);
    }
    return result;
  } finally {
    await lock.release();
  }
}

interface Survey {
  plan: RepairPlan;
  damage: KnownDamage;
  confirmed: Set<string>;
  recovered: IndexEntry[];
  damageFiles: string[];
}

async function survey(repo: Repository): Promise<Survey> {
  await repo.index.refresh();
  // Reading every block finds the runs damaged inside (a block's CRC32): they join `damaged`.
  for await (const e of repo.index.scan(undefined, { skipDamaged: true })) void e;
  const present = await listPacks(repo.backend);
  const known = await KnownDamage.of(repo);
  const doomed = await repo.doomedPacks();

  // Damage records: each record is read again; only what is still damaged counts.
  const confirmed = new Set<string>();
  const files = await readDamage(repo.backend);
  let stale = 0;
  for (const f of files) {
    for (const r of f.records) {
      const key = `${r.chunk}@${r.pack}`;
      if (confirmed.has(key)) continue;
      const size = present.get(r.pack);
      if (size !== undefined && (await stillDamaged(repo, r.chunk, r.pack, size))) {
        confirmed.add(key);
      } else stale++;
    }
  }
  const damage = new KnownDamage(known.missingPacks, confirmed, repo.index.damaged.size);

  // Runs that cannot be read: every entry of every pack that the readable runs lack.
  const recovered: IndexEntry[] = [];
  if (repo.index.damaged.size) {
    const seen = new Set<string>();
    for (const [pack, size] of [...present].sort()) {
      const table = await readPackTable(repo.backend, pack, size);
      if (typeof table === 'string') continue; // verify reports it; its records stay unindexed
      const packId = Buffer.from(pack, 'hex');
      for (const e of table) {
        const key = `${e.id.toString('hex')}@${pack}`;
        if (confirmed.has(key) || seen.has(key)) continue;
        const here = (await repo.index.lookupAll(e.id)).some((x) => x.pack.equals(packId));
        if (here) continue;
        seen.add(key);
        recovered.push({ id: e.id, pack: packId, ...pick(e) });
      }
    }
  }

  let dropEntries = 0;
  // A pack holding a damaged record is rewritten without it (indexed or not: verify would
  // find it again), unless gc is about to delete or repack it: then only the entry is dropped.
  const rewrite = new Set<string>();
  for (const k of confirmed) {
    const pack = k.slice(k.indexOf('@') + 1);
    if (!doomed.has(pack)) rewrite.add(pack);
  }
  for await (const e of repo.index.scan(undefined, { skipDamaged: true })) {
    if (!damage.has(e)) continue;
    dropEntries++;
  }

  const { healed, unhealable } = await backupHealth(repo, damage, recovered);
  const plan: RepairPlan = {
    damagedRuns: [...repo.index.damaged.keys()].sort(),
    missingPacks: [...known.missingPacks].sort(),
    damagedRecords: [...confirmed].sort().map((k) => {
      const [chunk, pack] = k.split('@') as [string, string];
      return { chunk, pack };
    }),
    staleRecords: stale,
    rewritePacks: [...rewrite].sort(),
    dropEntries,
    recoveredEntries: recovered.length,
    healed,
    unhealable,
    needed: false,
  };
  // A damage record still naming a damaged record in a pack that gc will repack stays until gc
  // has taken the pack (its repacking must not copy that record); the sweep removes it then.
  const settled = files.filter(
    (f) => !f.records.some((r) => confirmed.has(`${r.chunk}@${r.pack}`) && doomed.has(r.pack)),
  );
  plan.needed =
    dropEntries > 0 ||
    rewrite.size > 0 ||
    recovered.length > 0 ||
    plan.damagedRuns.length > 0 ||
    settled.length > 0;
  return { plan, damage, confirmed, recovered, damageFiles: settled.map((f) => f.id) };
}

function pick(e: { offset: number; length: number; plainLength: number }): {
  offset: number;
  length: number;
  plainLength: number;
} {
  return { offset: e.offset, length: e.length, plainLength: e.plainLength };
}

/**
 * Whether the record of `chunk` in `pack` fails its checks now; the index says where it is, or
 * else the pack's table (a repair stopped half-way may have dropped its entry already).
 */
async function stillDamaged(
  repo: Repository,
  chunk: string,
  pack: string,
  size: number,
): Promise<boolean> {
  const id = Buffer.from(chunk, 'hex');
  let at: { offset: number; length: number } | undefined = (await repo.index.lookupAll(id)).find(
    (e) => e.pack.toString('hex') === pack,
  );
  if (!at) {
    const table = await readPackTable(repo.backend, pack, size);
    at = typeof table === 'string' ? undefined : table.find((e) => e.id.equals(id));
  }
  if (!at) return false; // not in that pack at all (a forged or mistaken record)
  try {
    await repo.codec.decode(
      await repo.backend.getRange(packObjectName(pack), at.offset, at.length),
      id,
    );
    return false;
  } catch (err) {
    if (err instanceof RepoIntegrityError) return true;
    if (isObjectNotFound(err)) return false; // gone: a missing pack, handled as such
    throw err;
  }
}

/**
 * For every backup and disk: chunks whose index entries are all damaged or gone, and of those
 * the ones no intact copy stands for after the repair (recovered entries count).
 */
async function backupHealth(
  repo: Repository,
  damage: KnownDamage,
  recovered: IndexEntry[],
): Promise<{ healed: BackupHealth[]; unhealable: BackupHealth[] }> {
  const healed: BackupHealth[] = [];
  const unhealable: BackupHealth[] = [];
  const rescued = new Set(recovered.map((e) => e.id.toString('hex')));
  const { backups, damaged } = await repo.listBackups();
  for (const e of damaged) {
    unhealable.push({
      backup: e.where.backup ?? '?',
      vm: '?',
      disk: null,
      damagedChunks: 0,
      lostChunks: 0,
      reason: e.message,
    });
  }
  for (const b of backups) {
    for (const d of b.manifest.disks) {
      const h: BackupHealth = {
        backup: b.id,
        vm: b.manifest.vm.name,
        disk: d.name,
        damagedChunks: 0,
        lostChunks: 0,
      };
      let slots: SlotReader;
      try {
        slots = await SlotReader.open(repo.backend, b.id, d);
        await slots.verify();
      } catch (err) {
        if (!(err instanceof RepoIntegrityError) && !isObjectNotFound(err)) throw err;
        unhealable.push({ ...h, reason: (err as Error).message });
        continue;
      }
      const counted = new Set<string>();
      for (let s = 0; s < slots.slots; s++) {
        const id = Buffer.from(await slots.get(s));
        if (id.equals(ZERO_ID)) continue;
        const hex = id.toString('hex');
        if (counted.has(hex)) continue;
        const all = await repo.index.lookupAll(id);
        const good = all.filter((e) => !damage.has(e));
        if (good.length === all.length && all.length > 0) continue;
        counted.add(hex);
        h.damagedChunks++;
        if (good.length === 0 && !rescued.has(hex)) h.lostChunks++;
      }
      if (h.lostChunks) unhealable.push(h);
      else if (h.damagedChunks) healed.push(h);
    }
  }
  return { healed, unhealable };
}

/** New packs, then new runs, then deletions: a repair stopped half-way is done again next time. */
async function execute(repo: Repository, s: Survey, result: RepairResult): Promise<void> {
  const plan = s.plan;
  if (!plan.needed) return;
  if (
    plan.dropEntries === 0 &&
    plan.rewritePacks.length === 0 &&
    s.recovered.length === 0 &&
    plan.damagedRuns.length === 0
  ) {
    // Only damage records that no longer apply: the index stays as it is.
    await removeDamage(repo.backend, s.damageFiles);
    result.removedDamageRecords = s.damageFiles.length;
    return;
  }
  const written: string[] = [];
  const rewrite = new Set(plan.rewritePacks);
  const moved: IndexEntry[] = [...s.recovered];
  for (const pack of plan.rewritePacks) {
    const bytes = await repo.backend.get(packObjectName(pack));
    const table = parsePack(bytes);
    if (typeof table === 'string') {
      // Its table is damaged too: keep the pack (the index still finds its other records).
      rewrite.delete(pack);
      continue;
    }
    const b = new PackBuilder();
    for (const e of table) {
      if (s.confirmed.has(`${e.id.toString('hex')}@${pack}`)) continue;
      const rec = b.add(
        Buffer.from(bytes.subarray(e.offset, e.offset + e.length)),
        e.id,
        e.plainLength,
      );
      moved.push({ id: e.id, pack: b.id, ...pick(rec) });
    }
    if (b.count) await putPack(repo.backend, b.id, b.finishParts());
    result.rewrittenPacks++;
  }
  // Moved and recovered entries in runs of their own (encodeRun sorts; one id once per run).
  const byId = new Map<string, IndexEntry>();
  for (const e of moved) byId.set(e.id.toString('hex'), e);
  const extra = [...byId.values()];
  for (let i = 0; i < extra.length; i += RUN_MAX_ENTRIES) {
    const { id, bytes } = encodeRun(extra.slice(i, i + RUN_MAX_ENTRIES));
    await repo.backend.put(runObjectName(id), bytes);
    written.push(id);
  }
  // Every readable entry except those dropped and those of rewritten packs.
  const oldRuns = repo.index.runNames;
  let builder = new RunBuilder();
  let last: Buffer | undefined;
  const put = async (): Promise<void> => {
    if (builder.count === 0) return;
    const { id, bytes } = builder.finish();
    await repo.backend.put(runObjectName(id), bytes);
    written.push(id);
    builder = new RunBuilder();
  };
  for await (const e of repo.index.scan(oldRuns)) {
    if (s.damage.has(e) || rewrite.has(e.pack.toString('hex'))) continue;
    if (last && last.equals(e.id)) continue;
    last = e.id;
    builder.add(e);
    if (builder.count >= RUN_MAX_ENTRIES) await put();
  }
  await put();
  for (const pack of rewrite) await repo.backend.delete(packObjectName(pack));
  const keep = new Set(written);
  for (const r of [...oldRuns, ...plan.damagedRuns]) {
    if (keep.has(r)) continue;
    await repo.backend.delete(runObjectName(r));
    result.deletedRuns++;
  }
  result.writtenRuns = written.length;
  await removeDamage(repo.backend, s.damageFiles);
  result.removedDamageRecords = s.damageFiles.length;
  // A rebuilt run can come out byte for byte the run that was damaged, under the same name.
  repo.index.forgetDamaged(written);
  await repo.index.refresh();
  if (repo.index.damaged.size) {
    throw new RepoError('REPO_INTERNAL', 'repair wrote the index, and a run is still damaged');
  }
}
