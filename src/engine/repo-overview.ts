/**
 * The repository as a face shows it: its figures (repo/stats.ts) and its growth over time, one
 * point per backup, oldest first: what the backups hold in all (logical) against what the
 * repository stored for them (each backup's new stored bytes, summed). The dashboard draws
 * this; `repo stats --json` prints the figures.
 */
import type { Repository } from '../repo/repository.js';
import { repoStats, type RepoStats } from '../repo/stats.js';

export interface GrowthPoint {
  at: string;
  backup: string;
  vm: string;
  /** Virtual sizes of every backup up to this one. */
  logicalBytes: number;
  /** Bytes stored new by every backup up to this one. */
  storedBytes: number;
}

export interface RepoOverview {
  stats: RepoStats;
  growth: GrowthPoint[];
}

export async function repoOverview(repo: Repository): Promise<RepoOverview> {
  const stats = await repoStats(repo);
  const { backups } = await repo.listBackups();
  const sorted = [...backups].sort((a, b) =>
    a.manifest.startedAt.localeCompare(b.manifest.startedAt),
  );
  let logical = 0;
  let stored = 0;
  const growth = sorted.map((b) => {
    for (const d of b.manifest.disks) {
      logical += d.virtualSize;
      stored += d.newStoredBytes;
    }
    return {
      at: b.manifest.startedAt,
      backup: b.id,
      vm: b.manifest.vm.name,
      logicalBytes: logical,
      storedBytes: stored,
    };
  });
  return { stats, growth };
}
