/**
 * The text lines of a cold backup's offline incremental (docs/offline-incremental.md):
 * how each disk read was decided and why, and the checkpoint left for the next backup.
 */
import type { ColdBackupResult } from '../../engine/backup/cold.js';
import type { CliContext } from '../context.js';
import { printDiskReads } from './backup-live.js';

export function printOffline(ctx: CliContext, r: ColdBackupResult): void {
  // Unchanged disks are said by backup.unchanged.
  const read = r.disks.filter((d) => !r.unchangedDisks.includes(d.target));
  printDiskReads(ctx, read, r.parentCheckpoint);
}

export function printOfflineCheckpoint(ctx: CliContext, r: ColdBackupResult): void {
  if (r.checkpointError !== null) {
    ctx.print(ctx.t('offline.checkpointFailed', { error: r.checkpointError }));
  } else if (r.checkpoint !== null) {
    ctx.print(
      r.keptCheckpoint
        ? ctx.t('offline.kept', { checkpoint: r.checkpoint })
        : ctx.t('live.checkpoint', { checkpoint: r.checkpoint }),
    );
  }
}
