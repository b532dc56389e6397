/**
 * Prune: forget the backups a keep policy does not keep (per VM), then collect the garbage
 * they leave, as one step with one result, planned (dryRun) or done. `brankas repo prune` and
 * the API's POST /repo/prune both run this. A cancel stops it between manifests or at gc's
 * next safe point (src/repo/gc.ts): the backups forgotten so far stay forgotten, their data goes
 * at the next gc.
 */
import { forget, type ForgetResult } from '../repo/forget.js';
import { collectGarbage, type GcProgress, type GcResult } from '../repo/gc.js';
import type { KeepPolicy } from '../repo/policy.js';
import type { Repository } from '../repo/repository.js';

export interface PruneResult {
  forget: ForgetResult;
  gc: GcResult;
}

export async function pruneRepository(
  repo: Repository,
  policy: KeepPolicy,
  o: { dryRun?: boolean; signal?: AbortSignal; onProgress?: (p: GcProgress) => void } = {},
): Promise<PruneResult> {
  const dryRun = o.dryRun === true;
  const f = await forget(repo, policy, { dryRun, signal: o.signal });
  const gc = await collectGarbage(repo, { dryRun, signal: o.signal, onProgress: o.onProgress });
  return { forget: f, gc };
}
