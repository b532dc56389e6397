/**
 * `repo copy` as an operation (docs/repo-copy.md): plan which backups go from one repository
 * to another, then copy them oldest first, each with its own lock and manifest written last.
 * The repository does the copying (src/repo/copy/); this drives it: the locks that span the
 * whole copy, adopting what an interrupted copy sent, progress events and stopping.
 */
import {
  adoptUnindexedPacks,
  copyBackup,
  planCopy,
  RepoError,
  type Adopted,
  type CopiedBackup,
  type CopyItem,
  type CopyPlan,
  type CopyProgress,
  type Repository,
  targetHas,
} from '../../repo/index.js';

export type RepoCopyEvent =
  | { type: 'adopted'; adopted: Adopted }
  | { type: 'backup'; id: string; vm: string; index: number; total: number }
  | ({ type: 'progress' } & CopyProgress)
  | { type: 'copied'; result: CopiedBackup }
  | { type: 'skipped'; id: string; reason: 'present' };

export interface RepoCopyOptions {
  /** Backup ids, VM names or UUIDs; none: every backup of the source. */
  names?: string[];
  dryRun?: boolean;
  /** Read back the packs written before each manifest (default true). */
  readBack?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: RepoCopyEvent) => void;
}

export interface RepoCopyResult {
  from: string;
  to: string;
  sharedIds: boolean;
  dryRun: boolean;
  items: CopyItem[];
  /** Committed packs of an earlier, interrupted copy that were indexed (not sent again). */
  adopted: Adopted | null;
  copied: CopiedBackup[];
  /** Backups the target already had (checked again just before each copy). */
  skipped: string[];
  /** Totals over `copied`. */
  readBytes: number;
  newChunks: number;
  newStoredBytes: number;
  /** Source backups with damaged manifests: not copied. */
  damaged: string[];
}

export async function copyRepository(
  from: Repository,
  to: Repository,
  o: RepoCopyOptions = {},
): Promise<RepoCopyResult> {
  const plan = await planCopy(from, to, o.names ?? []);
  const result = resultOf(plan, !!o.dryRun);
  if (o.dryRun) return result;
  const conflict = plan.items.find((i) => i.state === 'conflict');
  if (conflict) {
    throw new RepoError(
      'REPO_COPY_CONFLICT',
      `the target has another backup ${conflict.id}: ${conflict.reason!}`,
      { details: { location: to.location, backup: conflict.id, reason: conflict.reason! } },
    );
  }
  to.requireKeys();
  const hold = await from.readLock('copy');
  try {
    const lock = await to.lock('shared', 'copy');
    try {
      // After the lock, the plans: packs a GC plan lists are not adopted (its sweep takes them).
      result.adopted = await adoptUnindexedPacks(to, await to.doomedPacks());
      o.onEvent?.({ type: 'adopted', adopted: result.adopted });
      const todo = plan.items.filter((i) => i.state === 'copy');
      for (const [n, item] of todo.entries()) {
        o.signal?.throwIfAborted();
        const m = plan.manifests.get(item.id)!;
        // Another copy may have written it since the plan.
        if ((await targetHas(to, m)) === '') {
          result.skipped.push(item.id);
          o.onEvent?.({ type: 'skipped', id: item.id, reason: 'present' });
          continue;
        }
        o.onEvent?.({
          type: 'backup',
          id: item.id,
          vm: item.vm.name,
          index: n,
          total: todo.length,
        });
        const r = await copyBackup(from, to, m, {
          sharedIds: plan.sharedIds,
          readBack: o.readBack !== false,
          ...(o.signal ? { signal: o.signal } : {}),
          onProgress: (p) => o.onEvent?.({ type: 'progress', ...p }),
        });
        result.copied.push(r);
        result.readBytes += r.readBytes;
        result.newChunks += r.newChunks;
        result.newStoredBytes += r.newStoredBytes;
        o.onEvent?.({ type: 'copied', result: r });
      }
    } finally {
      await lock.release();
    }
  } finally {
    await hold.release();
  }
  return result;
}

function resultOf(plan: CopyPlan, dryRun: boolean): RepoCopyResult {
  return {
    from: plan.from,
    to: plan.to,
    sharedIds: plan.sharedIds,
    dryRun,
    items: plan.items,
    adopted: null,
    copied: [],
    skipped: plan.items.filter((i) => i.state === 'present').map((i) => i.id),
    readBytes: 0,
    newChunks: 0,
    newStoredBytes: 0,
    damaged: plan.damaged,
  };
}
