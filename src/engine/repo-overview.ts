/**
 * The repository as a face shows it: its figures (repo/stats.ts) and its growth over time, one
 * point per backup, oldest first: what the backups hold in all (logical) against what the
 * repository stored for them (each backup's new stored bytes, summed). The dashboard draws
 * this; `repo stats --json` prints the figures. For a repository in a local directory, also the
 * space left on its file system, and whether that is nearly full (under a tenth free).
 */
import { statfs } from 'node:fs/promises';
import { LocalBackend } from '../repo/backend/local.js';
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

export interface RepoSpace {
  freeBytes: number;
  totalBytes: number;
  /** Less than NEARLY_FULL of the file system is free. */
  nearlyFull: boolean;
}

export interface RepoOverview {
  stats: RepoStats;
  growth: GrowthPoint[];
  /** Null where the backend cannot tell (an object store). */
  space: RepoSpace | null;
}

export const NEARLY_FULL = 0.1;

/** The free space of a local repository's file system (null for other backends). */
export async function repoSpace(repo: Repository): Promise<RepoSpace | null> {
  if (!(repo.backend instanceof LocalBackend)) return null;
  const s = await statfs(repo.backend.location);
  const freeBytes = s.bavail * s.bsize;
  const totalBytes = s.blocks * s.bsize;
  return { freeBytes, totalBytes, nearlyFull: freeBytes < totalBytes * NEARLY_FULL };
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
  return { stats, growth, space: await repoSpace(repo) };
}
