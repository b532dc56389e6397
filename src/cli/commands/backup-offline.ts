/**
 * The text lines of a cold backup's offline incremental (docs/offline-incremental.md):
 * how each disk read was decided and why, and the checkpoint left for the next backup.
 */
import type { ColdBackupResult } from '../../engine/backup/cold.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';
import type { MessageKey } from '../i18n.js';

export function printOffline(ctx: CliContext, r: ColdBackupResult): void {
  for (const d of r.disks) {
    if (r.unchangedDisks.includes(d.target)) continue; // said by backup.unchanged
    ctx.print(
      d.read === 'incremental'
        ? ctx.t('live.disk.incremental', {
            disk: d.target,
            checkpoint: r.parentCheckpoint ?? '',
            dirty: formatBytes(d.dirtyBytes ?? 0),
            read: formatBytes(d.readBytes),
          })
        : ctx.t('live.disk.full', {
            disk: d.target,
            why: ctx.t(`live.reason.${d.reason}` as MessageKey),
            read: formatBytes(d.readBytes),
          }),
    );
  }
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
