/**
 * Garbage collection (docs/repository-format.md, "Garbage collection"). GC runs
 * in two phases so that it is safe beside running backups: mark writes a plan
 * (what is dead now, and which lock holders must finish first); sweep, once
 * they have, checks again and deletes. Both plan first and execute on request.
 *
 * A cancel (the AbortSignal) is obeyed only at safe points: while marking, between plans, and
 * in a sweep between the packs it repacks. Stopped there, the plan stays for the next gc and
 * what was copied so far is garbage or a second copy; once a sweep starts replacing index runs
 * and deleting packs it finishes, so no backup's chunk is ever left without its pack.
 */
import { Bloom } from './bloom.js';
import { dropStaleDamage, readDamage } from './damage.js';
import { isObjectNotFound, RepoError } from './errors.js';
import { newPlan, writePlan, type GcPlan } from './gc-plan.js';
import { listLocks } from './lock.js';
import { manifestObjectName } from './manifest.js';
import { PackBuilder, packObjectName, parsePack, putPack } from './pack.js';
import { ZERO_ID } from './record.js';
import type { Repository } from './repository.js';
import { encodeRun, runObjectName, type IndexEntry } from './run.js';
import { rewriteRuns } from './run-rewrite.js';
import { SlotReader } from './slots.js';

export interface GcResult {
  dryRun: boolean;
  /** Plans swept in this run. */
  swept: string[];
  /** A plan made in this run and not yet swept, with the locks it waits for. */
  waiting: { plan: string; locks: string[] }[];
  deletedPacks: number;
  deletedBytes: number;
  deletedPartialBackups: string[];
  rewrittenRuns: { from: number; to: number };
  /** Packs rewritten without their dead records, and the bytes that freed. */
  repackedPacks: number;
  repackedFreedBytes: number;
  /** What a dry run found: wholly dead packs, and partly dead ones worth rewriting. */
  deadPacks: number;
  deadBytes: number;
  repackCandidates: number;
  repackDeadBytes: number;
}

export interface GcOptions {
  dryRun?: boolean;
  /** Rewrite a pack when at least this share of its bytes is dead (default 0.2; 1 never). */
  repackThreshold?: number;
  /** Stops the gc at its next safe point (module comment); it rejects with the signal's reason. */
  signal?: AbortSignal;
  onProgress?: (p: GcProgress) => void;
}

/**
 * Where a gc is: reading the backups' fixed indexes for the live set (`live`, per backup),
 * copying the live records of partly dead packs (`repack`, per pack), deleting packs
 * (`delete`, per pack; no longer cancellable).
 */
export interface GcProgress {
  phase: 'live' | 'repack' | 'delete';
  done: number;
  total: number;
}

/** What the phases below need of the options: the safe-point check and the reporter. */
interface Steps {
  checkpoint(): void;
  progress(p: GcProgress): void;
}

function stepsOf(o: GcOptions): Steps {
  return {
    checkpoint: () => o.signal?.throwIfAborted(),
    progress: (p) => o.onProgress?.(p),
  };
}

/**
 * The live set: every chunk id named by a fixed index of a manifest. A
 * Bloom filter (1 % false positives keep a little garbage, never lose data);
 * refuses to run on damage it cannot see through.
 */
async function liveSet(repo: Repository, steps: Steps): Promise<Bloom> {
  const { backups, damaged } = await repo.listBackups();
  if (damaged.length) {
    throw new RepoError(
      'REPO_INVALID_ARGUMENT',
      `garbage collection refuses to run: ${damaged.length} manifest(s) are damaged (run verify)`,
      { details: { damaged: damaged.map((e) => e.where.backup) } },
    );
  }
  if (repo.index.damaged.size) throw needsRepair(repo);
  let entries = 0;
  for (const name of repo.index.runNames) entries += repo.index.run(name)!.layout.entryCount;
  const live = Bloom.forEntries(Math.max(entries, 1024));
  for (const [i, b] of backups.entries()) {
    steps.checkpoint();
    steps.progress({ phase: 'live', done: i, total: backups.length });
    for (const d of b.manifest.disks) {
      const slots = await SlotReader.open(repo.backend, b.id, d);
      await slots.verify();
      for (let s = 0; s < slots.slots; s++) {
        const id = await slots.get(s);
        if (!id.equals(ZERO_ID)) live.add(id);
      }
    }
  }
  return live;
}

/** Backup directories with objects but no manifest. */
async function partialBackups(repo: Repository): Promise<string[]> {
  const dirs = new Map<string, boolean>();
  for await (const o of repo.backend.list('backups/')) {
    const m = /^backups\/([^/]+)\/(.+)$/.exec(o.name);
    if (!m) continue;
    dirs.set(m[1]!, (dirs.get(m[1]!) ?? false) || m[2] === 'manifest.json');
  }
  return [...dirs].filter(([, hasManifest]) => !hasManifest).map(([id]) => id);
}

async function allPacks(repo: Repository): Promise<Map<string, number>> {
  const packs = new Map<string, number>();
  for await (const o of repo.backend.list('data/')) {
    const m = /^data\/[0-9a-f]{2}\/([0-9a-f]{64})$/.exec(o.name);
    if (m) packs.set(m[1]!, o.size);
  }
  return packs;
}

interface PackUsage {
  live: number;
  dead: number;
}

/** Live and dead record bytes of every indexed pack. */
async function packUsage(
  repo: Repository,
  live: Bloom,
  steps: Steps,
): Promise<Map<string, PackUsage>> {
  const out = new Map<string, PackUsage>();
  let n = 0;
  try {
    for await (const e of repo.index.scan()) {
      if (++n % 65536 === 0) steps.checkpoint();
      const pack = e.pack.toString('hex');
      let u = out.get(pack);
      if (!u) out.set(pack, (u = { live: 0, dead: 0 }));
      if (live.mayContain(e.id)) u.live += e.length;
      else u.dead += e.length;
    }
  } catch (err) {
    // A block found damaged now: without all of the index, gc cannot tell dead from live.
    if (repo.index.damaged.size) throw needsRepair(repo, err);
    throw err;
  }
  return out;
}

/** gc cannot see through a damaged index run; repair rebuilds it from the packs. */
function needsRepair(repo: Repository, cause?: unknown): RepoError {
  const runs = [...repo.index.damaged.keys()];
  return new RepoError(
    'REPO_NEEDS_REPAIR',
    `garbage collection refuses to run: ${runs.length} index run(s) are damaged; ` +
      `run 'brankas repo repair' to rebuild them from the packs`,
    { cause, details: { runs, count: runs.length } },
  );
}

function worthRepacking(u: PackUsage | undefined, threshold: number): boolean {
  return !!u && u.live > 0 && u.dead > 0 && u.dead / (u.live + u.dead) >= threshold;
}

async function liveLockIds(repo: Repository, except: string): Promise<string[]> {
  return (await listLocks(repo.backend))
    .filter((l) => !l.stale && l.id !== except)
    .map((l) => l.id);
}

export async function collectGarbage(repo: Repository, o: GcOptions = {}): Promise<GcResult> {
  const threshold = o.repackThreshold ?? 0.2;
  const steps = stepsOf(o);
  o.signal?.throwIfAborted();
  const result: GcResult = {
    dryRun: !!o.dryRun,
    swept: [],
    waiting: [],
    deletedPacks: 0,
    deletedBytes: 0,
    deletedPartialBackups: [],
    rewrittenRuns: { from: 0, to: 0 },
    repackedPacks: 0,
    repackedFreedBytes: 0,
    deadPacks: 0,
    deadBytes: 0,
    repackCandidates: 0,
    repackDeadBytes: 0,
  };
  repo.requireKeys();
  const lock = await repo.lock('exclusive', 'gc');
  try {
    if (!o.dryRun) await cleanTemporaries(repo); // a killed prune's or backup's uploads
    await repo.index.refresh();
    if (o.dryRun) {
      const usage = await packUsage(repo, await liveSet(repo, steps), steps);
      for (const [id, size] of await allPacks(repo)) {
        const u = usage.get(id);
        if (!u || u.live === 0) {
          result.deadPacks++;
          result.deadBytes += size;
        } else if (worthRepacking(u, threshold)) {
          result.repackCandidates++;
          result.repackDeadBytes += u.dead;
        }
      }
      result.deletedPartialBackups = await partialBackups(repo);
      return result;
    }
    // Plans of earlier runs: sweep those whose lock holders are gone.
    let pending = false;
    for (const plan of await repo.gcPlans()) {
      steps.checkpoint();
      if (plan.state === 'marking') {
        // Its maker died before recording whom to wait for: everyone live now.
        plan.waitFor = await liveLockIds(repo, lock.id);
        plan.state = 'marked';
        await writePlan(repo.backend, plan);
      }
      const live = new Set(await liveLockIds(repo, lock.id));
      const waiting = plan.waitFor.filter((l) => live.has(l));
      if (waiting.length) {
        result.waiting.push({ plan: plan.id, locks: waiting });
        pending = true;
      } else {
        await sweep(repo, plan, result, threshold, steps);
      }
    }
    if (pending) return result;

    // Phase 1: mark.
    const usage = await packUsage(repo, await liveSet(repo, steps), steps);
    const plan = newPlan();
    const present = await allPacks(repo);
    for (const id of present.keys()) {
      const u = usage.get(id);
      if (!u || u.live === 0) plan.deletePacks.push(id);
      else if (worthRepacking(u, threshold)) plan.repackPacks!.push(id);
    }
    // Packs already gone whose index entries no backup needs (an interrupted sweep, a pack
    // deleted by hand): the sweep rewrites the runs without them. Live ones are repair's.
    for (const [id, u] of usage) if (u.live === 0 && !present.has(id)) plan.deletePacks.push(id);
    plan.partialBackups = await partialBackups(repo);
    if (
      plan.deletePacks.length === 0 &&
      plan.repackPacks!.length === 0 &&
      plan.partialBackups.length === 0 &&
      repo.index.runCount <= 16
    ) {
      await cleanTemporaries(repo);
      return result;
    }
    steps.checkpoint();
    // The plan with its packs first, then the locks: see the writers' rule in the spec.
    await writePlan(repo.backend, plan);
    plan.waitFor = await liveLockIds(repo, lock.id);
    plan.state = 'marked';
    await writePlan(repo.backend, plan);
    if (plan.waitFor.length) {
      result.waiting.push({ plan: plan.id, locks: plan.waitFor });
      return result;
    }
    await sweep(repo, plan, result, threshold, steps);
    await cleanTemporaries(repo);
    return result;
  } finally {
    await lock.release();
  }
}

/** Phase 2: check again, repack, rewrite the index without the old packs, delete. Idempotent. */
async function sweep(
  repo: Repository,
  plan: GcPlan,
  result: GcResult,
  threshold: number,
  steps: Steps,
): Promise<void> {
  await repo.index.refresh();
  const live = await liveSet(repo, steps);
  const usage = await packUsage(repo, live, steps);
  const dead = new Set(plan.deletePacks.filter((p) => !(usage.get(p)?.live ?? 0)));
  const repack = new Set<string>();
  for (const p of plan.repackPacks ?? []) {
    const u = usage.get(p);
    if (!u || u.live === 0) dead.add(p);
    else if (worthRepacking(u, threshold)) repack.add(p);
  }
  const partial = new Set(await partialBackups(repo));
  const oldRuns = repo.index.runNames;
  const gone = new Set([...dead, ...repack]);
  const packSizes = await allPacks(repo);

  // Live records of partly dead packs move, as they are (still sealed), into new packs.
  const written = await repackLive(repo, repack, gone, live, await damagedRecords(repo), steps);
  // The last safe point: from here on the runs are replaced and packs deleted, to the end.
  steps.checkpoint();

  // New runs: every entry of the old runs except those in packs about to go, each id once.
  written.push(
    ...(await rewriteRuns(repo.backend, repo.index, oldRuns, (e) =>
      gone.has(e.pack.toString('hex')),
    )),
  );
  for (const [i, p] of [...gone].entries()) {
    steps.progress({ phase: 'delete', done: i, total: gone.size });
    const size = packSizes.get(p) ?? 0;
    await repo.backend.delete(packObjectName(p));
    if (dead.has(p)) {
      result.deletedBytes += size;
      result.deletedPacks++;
    } else {
      result.repackedFreedBytes += usage.get(p)!.dead;
      result.repackedPacks++;
    }
  }
  const keep = new Set(written);
  for (const r of oldRuns) if (!keep.has(r)) await repo.backend.delete(runObjectName(r));
  for (const b of plan.partialBackups) {
    if (!partial.has(b)) continue; // its writer finished after all
    for await (const obj of repo.backend.list(`backups/${b}/`)) {
      if (obj.name === manifestObjectName(b)) continue;
      await repo.backend.delete(obj.name);
    }
    result.deletedPartialBackups.push(b);
  }
  result.rewrittenRuns = { from: oldRuns.length, to: written.length };
  await dropStaleDamage(repo.backend, await allPacks(repo));
  await repo.backend.delete(`gc/${plan.id}`);
  result.swept.push(plan.id);
  await repo.index.refresh();
}

/**
 * Copies the live records of `repack` into new packs and indexes them in new
 * runs; returns the run names. A record with a copy outside the packs that
 * go (an earlier, interrupted sweep made one) is not copied again.
 */
async function repackLive(
  repo: Repository,
  repack: Set<string>,
  gone: Set<string>,
  live: Bloom,
  damaged: Set<string>,
  steps: Steps,
): Promise<string[]> {
  const runs: string[] = [];
  const moved: IndexEntry[] = [];
  const seen = new Set<string>();
  let pack = new PackBuilder();
  const flushPack = async (): Promise<void> => {
    if (pack.count === 0) return;
    await putPack(repo.backend, pack.id, pack.finishParts());
    for (const e of pack.entries) {
      moved.push({
        id: e.id,
        pack: pack.id,
        offset: e.offset,
        length: e.length,
        plainLength: e.plainLength,
      });
    }
    pack = new PackBuilder();
  };
  const flushRun = async (): Promise<void> => {
    if (moved.length === 0) return;
    const { id, bytes } = encodeRun(moved.splice(0));
    await repo.backend.put(runObjectName(id), bytes);
    runs.push(id);
  };
  for (const [i, p] of [...repack].sort().entries()) {
    // Stopped here, the copies made so far are indexed (a second copy) or not (garbage).
    steps.checkpoint();
    steps.progress({ phase: 'repack', done: i, total: repack.size });
    const bytes = await repo.backend.get(packObjectName(p));
    const table = parsePack(bytes);
    if (typeof table === 'string') {
      throw new RepoError(
        'REPO_INVALID_ARGUMENT',
        `cannot repack damaged pack ${p}: ${table} (run verify)`,
      );
    }
    for (const e of table) {
      const hex = e.id.toString('hex');
      if (!live.mayContain(e.id) || seen.has(hex)) continue;
      if (damaged.has(`${hex}@${p}`)) continue; // verify found it damaged: never copied
      seen.add(hex);
      if (await repo.index.lookup(e.id, gone)) continue;
      pack.add(Buffer.from(bytes.subarray(e.offset, e.offset + e.length)), e.id, e.plainLength);
      if (pack.size >= repo.config.packSize) await flushPack();
    }
    if (moved.length >= 65536) await flushRun();
  }
  await flushPack();
  await flushRun();
  return runs;
}

async function damagedRecords(repo: Repository): Promise<Set<string>> {
  const out = new Set<string>();
  for (const f of await readDamage(repo.backend)) {
    for (const r of f.records) out.add(`${r.chunk}@${r.pack}`);
  }
  return out;
}

async function cleanTemporaries(repo: Repository): Promise<void> {
  try {
    await repo.backend.removeTemporaries?.(24 * 3600 * 1000);
  } catch (err) {
    if (!isObjectNotFound(err)) throw err;
  }
}
