/**
 * Forget (docs/repository-format.md, "Forget and prune"): deletes manifests
 * by a keep policy under the exclusive lock; plan first, execute unless
 * dryRun. What the forgotten backups alone used goes at the next gc.
 */
import { manifestObjectName } from './manifest.js';
import { planForget, type ForgetDecision, type KeepPolicy } from './policy.js';
import type { Repository } from './repository.js';

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
  o: {
    dryRun?: boolean;
    /** Only the backups of these VMs (by name) are judged; the others are left alone. */
    vms?: readonly string[];
    /** Stops between manifests (each deletion stands alone); rejects with its reason. */
    signal?: AbortSignal;
  } = {},
): Promise<ForgetResult> {
  repo.requireKeys(); // manifests must be authenticated before anything is deleted
  o.signal?.throwIfAborted();
  const lock = await repo.lock('exclusive', 'forget');
  try {
    const listed = await repo.listBackups();
    const backups = listed.backups.filter((b) => !o.vms || o.vms.includes(b.manifest.vm.name));
    // A damaged manifest names no VM: it is reported whatever the filter.
    const damaged = listed.damaged;
    const decisions = planForget(
      backups.map((b) => ({ id: b.id, vm: b.manifest.vm, startedAt: b.manifest.startedAt })),
      policy,
    );
    const removed: string[] = [];
    if (!o.dryRun) {
      for (const d of decisions) {
        if (d.keep) continue;
        o.signal?.throwIfAborted();
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
