/**
 * Repository statistics: what the backups hold (logical), what is stored,
 * and the ratios between: deduplication (data referenced by backups over
 * unique data) and compression (unique data over its records).
 */
import type { Repository } from './repository.js';

export interface RepoStats {
  backups: number;
  vms: number;
  disks: number;
  /** Sum of the virtual sizes of every disk of every backup. */
  logicalBytes: number;
  /** The part of logicalBytes in slots with data (not zero, not holes). */
  dataBytes: number;
  uniqueChunks: number;
  uniquePlainBytes: number;
  /** Records of unique chunks, compressed and encrypted. */
  uniqueStoredBytes: number;
  packs: number;
  packBytes: number;
  indexRuns: number;
  /** Index runs that are damaged: their chunks are left out of the unique figures. */
  damagedIndexRuns: number;
  indexBytes: number;
  fixedIndexBytes: number;
  /** Everything in the backend. */
  totalBytes: number;
  dedupRatio: number;
  compressionRatio: number;
  /** dataBytes over totalBytes. */
  overallRatio: number;
}

export async function repoStats(repo: Repository): Promise<RepoStats> {
  const { backups } = await repo.listBackups();
  await repo.index.refresh();
  const s: RepoStats = {
    backups: backups.length,
    vms: new Set(backups.map((b) => b.manifest.vm.uuid ?? b.manifest.vm.name)).size,
    disks: 0,
    logicalBytes: 0,
    dataBytes: 0,
    uniqueChunks: 0,
    uniquePlainBytes: 0,
    uniqueStoredBytes: 0,
    packs: 0,
    packBytes: 0,
    indexRuns: 0,
    damagedIndexRuns: 0,
    indexBytes: 0,
    fixedIndexBytes: 0,
    totalBytes: 0,
    dedupRatio: 0,
    compressionRatio: 0,
    overallRatio: 0,
  };
  for (const b of backups) {
    for (const d of b.manifest.disks) {
      s.disks++;
      s.logicalBytes += d.virtualSize;
      s.dataBytes += d.dataBytes;
    }
  }
  let last: Buffer | undefined;
  // A damaged run does not stop the figures; it is counted (repo repair rebuilds it).
  for await (const e of repo.index.scan(undefined, { skipDamaged: true })) {
    if (last && last.equals(e.id)) continue;
    last = e.id;
    s.uniqueChunks++;
    s.uniquePlainBytes += e.plainLength;
    s.uniqueStoredBytes += e.length;
  }
  for await (const o of repo.backend.list('')) {
    s.totalBytes += o.size;
    if (o.name.startsWith('data/')) {
      s.packs++;
      s.packBytes += o.size;
    } else if (o.name.startsWith('index/')) {
      s.indexRuns++;
      s.indexBytes += o.size;
    } else if (o.name.endsWith('.fidx')) {
      s.fixedIndexBytes += o.size;
    }
  }
  s.damagedIndexRuns = repo.index.damaged.size;
  const ratio = (a: number, b: number): number => (b > 0 ? a / b : 0);
  s.dedupRatio = ratio(s.dataBytes, s.uniquePlainBytes);
  s.compressionRatio = ratio(s.uniquePlainBytes, s.uniqueStoredBytes);
  s.overallRatio = ratio(s.dataBytes, s.totalBytes);
  return s;
}
