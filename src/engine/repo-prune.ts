/**
 * Prune: forget the backups a keep policy does not keep (per VM), then collect the garbage
 * they leave, as one step with one result, planned (dryRun) or done. `brankas repo prune` and
 * the API's POST /repo/prune both run this.
 */
import { forget, type ForgetResult } from '../repo/forget.js';
import { collectGarbage, type GcResult } from '../repo/gc.js';
import type { KeepPolicy } from '../repo/policy.js';
import type { Repository } from '../repo/repository.js';

export interface PruneResult {
  forget: ForgetResult;
  gc: GcResult;
}

export async function pruneRepository(
  repo: Repository,
  policy: KeepPolicy,
  o: { dryRun?: boolean } = {},
): Promise<PruneResult> {
  const dryRun = o.dryRun === true;
  const f = await forget(repo, policy, { dryRun });
  const gc = await collectGarbage(repo, { dryRun });
  return { forget: f, gc };
}
