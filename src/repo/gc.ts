/**
 * Forget and garbage collection (docs/repository-format.md, "Forget and
 * prune", "Garbage collection"). Forget deletes manifests by policy. GC runs
 * in two phases so that it is safe beside running backups: mark writes a plan
 * (what is dead now, and which lock holders must finish first); sweep, once
 * they have, checks again and deletes. Both plan first and execute on request.
 */
import { Bloom } from './bloom.js';
import { isObjectNotFound, RepoError } from './errors.js';
import { newPlan, writePlan, type GcPlan } from './gc-plan.js';
import { listLocks } from './lock.js';
import { manifestObjectName } from './manifest.js';
import { packObjectName } from './pack.js';
import { planForget, type ForgetDecision, type KeepPolicy } from './policy.js';
import { ZERO_ID } from './record.js';
import type { Repository } from './repository.js';
import { RunBuilder, runObjectName } from './run.js';
import { SlotReader } from './slots.js';

export interface ForgetResult {
  decisions: ForgetDecision[];
  removed: string[];
  /** Backups whose manifests are damaged: neither kept nor removed, reported. */
  damaged: string[];
  dryRun: boolean;
}

export async function forget(
  repo: Repository,
  policy: KeepPolicy,
  o: { dryRun?: boolean } = {},
): Promise<ForgetResult> {
  repo.requireKeys(); // manifests must be authenticated before anything is deleted
  const lock = await repo.lock('exclusive', 'forget');
  try {
    const { backups, damaged } = await repo.listBackups();
    const decisions = planForget(
      backups.map((b) => ({ id: b.id, vm: b.manifest.vm, startedAt: b.manifest.startedAt })),
      policy,
    );
    const removed: string[] = [];
    if (!o.dryRun) {
      for (const d of decisions) {
        if (d.keep) continue;
        await repo.backend.delete(manifestObjectName(d.id));
        removed.push(d.id);
      }
    }
    return {
      decisions,
      removed,
      damaged: damaged.map((e) => e.where.backup ?? '?'),
      dryRun: !!o.dryRun,
    };
  } finally {
    await lock.release();
  }
}

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
  /** What a dry run found dead. */
  deadPacks: number;
  deadBytes: number;
}

/** Runs of at most this many entries when the index is rewritten. */
const RUN_MAX_ENTRIES = 1 << 20;

/**
 * The live set: every chunk id named by a fixed index of a manifest. A
 * Bloom filter (1 % false positives keep a little garbage, never lose data);
 * refuses to run on damage it cannot see through.
 */
async function liveSet(repo: Repository): Promise<Bloom> {
  const { backups, damaged } = await repo.listBackups();
  if (damaged.length) {
    throw new RepoError(
      'REPO_INVALID_ARGUMENT',
      `garbage collection refuses to run: ${damaged.length} manifest(s) are damaged (run verify)`,
      { details: { damaged: damaged.map((e) => e.where.backup) } },
    );
  }
  if (repo.index.damaged.size) {
    throw new RepoError(
      'REPO_INVALID_ARGUMENT',
      `garbage collection refuses to run: ${repo.index.damaged.size} index run(s) are damaged (run verify)`,
    );
  }
  let entries = 0;
  for (const name of repo.index.runNames) entries += repo.index.run(name)!.layout.entryCount;
  const live = Bloom.forEntries(Math.max(entries, 1024));
  for (const b of backups) {
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

/** Packs with at least one live record. */
async function livePacks(repo: Repository, live: Bloom): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const e of repo.index.scan())
    if (live.mayContain(e.id)) out.add(e.pack.toString('hex'));
  return out;
}

async function liveLockIds(repo: Repository, except: string): Promise<string[]> {
  return (await listLocks(repo.backend))
    .filter((l) => !l.stale && l.id !== except)
    .map((l) => l.id);
}

export async function collectGarbage(
  repo: Repository,
  o: { dryRun?: boolean } = {},
): Promise<GcResult> {
  const result: GcResult = {
    dryRun: !!o.dryRun,
    swept: [],
    waiting: [],
    deletedPacks: 0,
    deletedBytes: 0,
    deletedPartialBackups: [],
    rewrittenRuns: { from: 0, to: 0 },
    deadPacks: 0,
    deadBytes: 0,
  };
  repo.requireKeys();
  const lock = await repo.lock('exclusive', 'gc');
  try {
    await repo.index.refresh();
    if (o.dryRun) {
      const live = await livePacks(repo, await liveSet(repo));
      for (const [id, size] of await allPacks(repo)) {
        if (!live.has(id)) {
          result.deadPacks++;
          result.deadBytes += size;
        }
      }
      result.deletedPartialBackups = await partialBackups(repo);
      return result;
    }
    // Plans of earlier runs: sweep those whose lock holders are gone.
    let pending = false;
    for (const plan of await repo.gcPlans()) {
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
        await sweep(repo, plan, result);
      }
    }
    if (pending) return result;

    // Phase 1: mark.
    const live = await livePacks(repo, await liveSet(repo));
    const plan = newPlan();
    for (const id of (await allPacks(repo)).keys()) if (!live.has(id)) plan.deletePacks.push(id);
    plan.partialBackups = await partialBackups(repo);
    if (
      plan.deletePacks.length === 0 &&
      plan.partialBackups.length === 0 &&
      repo.index.runCount <= 16
    ) {
      await cleanTemporaries(repo);
      return result;
    }
    // The plan with its packs first, then the locks: see the writers' rule in the spec.
    await writePlan(repo.backend, plan);
    plan.waitFor = await liveLockIds(repo, lock.id);
    plan.state = 'marked';
    await writePlan(repo.backend, plan);
    if (plan.waitFor.length) {
      result.waiting.push({ plan: plan.id, locks: plan.waitFor });
      return result;
    }
    await sweep(repo, plan, result);
    await cleanTemporaries(repo);
    return result;
  } finally {
    await lock.release();
  }
}

/** Phase 2: check again, rewrite the index without dead packs, delete. Idempotent. */
async function sweep(repo: Repository, plan: GcPlan, result: GcResult): Promise<void> {
  await repo.index.refresh();
  const live = await liveSet(repo);
  const stillLive = await livePacks(repo, live);
  const dead = new Set(plan.deletePacks.filter((p) => !stillLive.has(p)));
  const partial = new Set(await partialBackups(repo));

  // New runs: every entry of today's runs except those in dead packs, each id once.
  const oldRuns = repo.index.runNames;
  const written: string[] = [];
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
    if (dead.has(e.pack.toString('hex'))) continue;
    if (last && last.equals(e.id)) continue;
    last = e.id;
    builder.add(e);
    if (builder.count >= RUN_MAX_ENTRIES) await put();
  }
  await put();
  const packSizes = await allPacks(repo);
  for (const p of dead) {
    result.deletedBytes += packSizes.get(p) ?? 0;
    await repo.backend.delete(packObjectName(p));
    result.deletedPacks++;
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
  await repo.backend.delete(`gc/${plan.id}`);
  result.swept.push(plan.id);
  await repo.index.refresh();
}

async function cleanTemporaries(repo: Repository): Promise<void> {
  const b = repo.backend as { removeTemporaries?: (ms: number) => Promise<number> };
  try {
    await b.removeTemporaries?.(24 * 3600 * 1000);
  } catch (err) {
    if (!isObjectNotFound(err)) throw err;
  }
}
