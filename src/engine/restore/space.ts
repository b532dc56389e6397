/**
 * The free-space check a restore makes before it writes anything: every file
 * it will write, summed per file system, against what statfs says is free
 * for an unprivileged writer. Files are written under temporary names beside
 * their final ones and what --force replaces is kept until the end, so the
 * whole need counts. The estimate is the data (what the backup read as
 * allocated and not zero) plus the qcow2 metadata; a disk that does not fit
 * is RESTORE_NO_SPACE, naming it. Compressing or deduplicating file systems
 * may hold more than statfs suggests: the caller can skip the check.
 */
import { stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ManifestDisk } from '../../repo/manifest.js';
import { EngineError } from '../errors.js';

export interface SpaceNeed {
  disk: ManifestDisk;
  path: string;
  format: string;
}

const MiB = 1 << 20;

/** Bytes a restored file takes: data, plus a qcow2's tables (8 bytes per cluster) and headroom. */
export function bytesNeeded(n: SpaceNeed): number {
  if (n.format === 'file') return n.disk.virtualSize;
  const cluster = (n.disk.formatOptions as { clusterSize?: number } | null)?.clusterSize ?? 65536;
  const tables = n.format === 'qcow2' ? Math.ceil(n.disk.virtualSize / cluster) * 8 * 2 : 0;
  return n.disk.dataBytes + tables + MiB;
}

/** The nearest directory at or above `dir` that exists (a --to directory may not yet). */
async function existing(dir: string): Promise<string> {
  for (;;) {
    try {
      await stat(dir);
      return dir;
    } catch {
      const up = dirname(dir);
      if (up === dir) return dir;
      dir = up;
    }
  }
}

/** Throws RESTORE_NO_SPACE for the first planned file that does not fit. Block devices count nothing. */
export async function checkSpace(plan: SpaceNeed[], backupId: string): Promise<void> {
  const byDevice = new Map<number, { free: number; need: number }>();
  for (const n of plan) {
    const present = await stat(n.path).catch(() => undefined);
    if (present?.isBlockDevice()) continue;
    const dir = await existing(dirname(n.path));
    const dev = (await stat(dir)).dev;
    let fs = byDevice.get(dev);
    if (!fs) {
      const s = await statfs(dir);
      fs = { free: s.bavail * s.bsize, need: 0 };
      byDevice.set(dev, fs);
    }
    fs.need += bytesNeeded(n);
    if (fs.need > fs.free) {
      const needMiB = Math.ceil(fs.need / MiB);
      const freeMiB = Math.floor(fs.free / MiB);
      const where = dirname(n.path);
      throw new EngineError(
        'RESTORE_NO_SPACE',
        `not enough space in ${where} to restore ${n.disk.name} of backup ${backupId} ` +
          `(${needMiB} MiB needed with what comes before it, ${freeMiB} MiB free); nothing was written. ` +
          'Free some space or restore --to another directory.',
        {
          details: { dir: where, disk: n.disk.name, backup: backupId, needMiB, freeMiB },
        },
      );
    }
  }
}
