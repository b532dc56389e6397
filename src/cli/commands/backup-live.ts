/**
 * How `brankas backup` words a live backup: its consistency, and for each
 * disk what was read and why (incremental since a checkpoint, or whole and
 * the reason), then the checkpoint left for the next one.
 */
import type { LiveBackupResult } from '../../engine/index.js';
import type { Manifest } from '../../repo/index.js';
import type { CliContext } from '../context.js';
import type { MessageKey } from '../i18n.js';
import { formatBytes } from '../format.js';
import type { Command } from '../command.js';

export const modeOption = {
  mode: { type: 'string' },
} satisfies Command['options'];

/** How a backup read one disk, as live and offline-incremental backups report it. */
export interface DiskReadLine {
  target: string;
  read: 'incremental' | 'full';
  reason?: string | null | undefined;
  readBytes: number;
  dirtyBytes: number | null;
}

/** One line per disk: read incrementally since `parentCheckpoint`, or whole and why. */
export function printDiskReads(
  ctx: CliContext,
  disks: readonly DiskReadLine[],
  parentCheckpoint: string | null,
): void {
  for (const d of disks) {
    ctx.print(
      d.read === 'incremental'
        ? ctx.t('live.disk.incremental', {
            disk: d.target,
            checkpoint: parentCheckpoint ?? '',
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

export function printLive(ctx: CliContext, r: LiveBackupResult): void {
  const why = r.consistencyReason ? ctx.t(`live.why.${r.consistencyReason}` as MessageKey) : '';
  ctx.print(
    ctx.t('live.point', {
      vm: r.manifest.vm.name,
      consistency: ctx.t(`live.consistency.${r.consistency}` as MessageKey, { why }),
    }),
  );
  printDiskReads(ctx, r.disks, r.parentCheckpoint);
  ctx.print(
    ctx.t('backup.done', {
      id: r.manifest.id,
      vm: r.manifest.vm.name,
      read: formatBytes(r.readBytes),
      dedup: formatBytes(r.dedupBytes),
      stored: formatBytes(r.newStoredBytes),
      seconds: r.seconds.toFixed(1),
    }),
  );
  ctx.print(ctx.t('live.checkpoint', { checkpoint: r.checkpoint }));
  if (r.deletedCheckpoints.length > 0) {
    ctx.print(ctx.t('live.deleted', { names: r.deletedCheckpoints.join(', ') }));
  }
}

/**
 * A backup's mode and consistency as `brankas backups` lists them; manifests
 * written before these fields existed were all cold backups of a shut-off VM.
 */
export function backupModeOf(m: Manifest): {
  mode: string;
  consistency: string | null;
  live: unknown;
} {
  const cold = m.method === 'cold';
  return {
    mode: typeof m['mode'] === 'string' ? m['mode'] : cold ? 'cold' : m.method,
    consistency:
      typeof m['consistency'] === 'string' ? m['consistency'] : cold ? 'shut-down' : null,
    live: m['live'] ?? null,
  };
}

/**
 * How a live backup read its disks, in one cell: `vda incremental, vdb full (raw-no-bitmap)`;
 * `-` for other backups. The reason codes are the manifest's (docs/repository-format.md).
 */
export function readSummary(live: unknown): string {
  const disks = (live as { disks?: Record<string, { read?: string; reason?: string }> } | null)
    ?.disks;
  if (!disks || typeof disks !== 'object') return '-';
  return Object.entries(disks)
    .map(([name, d]) =>
      d.read === 'incremental' ? `${name} incremental` : `${name} full (${d.reason ?? '?'})`,
    )
    .join(', ');
}
