/**
 * `brankas backup VM --dry-run`: the engine's pre-flight (what would be read,
 * the consistency available, estimates, free space), rendered. No VM job is
 * taken and nothing is changed.
 */
import type { BackupMode } from '../../engine/backup/backup.js';
import { backupPreflight, type BackupPreflight } from '../../engine/backup/preflight.js';
import type { ParsedArgs } from '../command.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';
import { withRepo } from './repo-common.js';

export async function backupDryRun(
  ctx: CliContext,
  args: ParsedArgs,
  vm: string,
  mode: BackupMode,
): Promise<void> {
  const conn = await ctx.connect();
  const p = await withRepo(ctx, args, (repo) =>
    backupPreflight(conn, repo, vm, { mode, reread: args.values['reread'] === true }),
  );
  if (ctx.json) return ctx.printJson({ dryRun: true, ...p });
  printPreflight(ctx, p);
}

function printPreflight(ctx: CliContext, p: BackupPreflight): void {
  const bytes = (n: number | null): string =>
    n === null ? ctx.t('preflight.unknown') : formatBytes(n);
  ctx.print(ctx.t('preflight.header', { vm: p.vm, state: p.state, mode: p.mode }));
  if (p.mode === 'live') {
    ctx.print(
      p.consistency === 'application-consistent'
        ? ctx.t('preflight.live.application')
        : ctx.t('preflight.live.crash', { reason: p.consistencyReason ?? '' }),
    );
    ctx.print(
      ctx.t('preflight.checkpoint', {
        checkpoint: p.checkpoint ?? '',
        parent: p.parentCheckpoint ?? '-',
      }),
    );
  } else {
    ctx.print(ctx.t(p.shutdown ? 'preflight.cold.shutdown' : 'preflight.cold.off'));
  }
  for (const d of p.disks) {
    ctx.print(
      ctx.t('preflight.disk', {
        disk: d.target,
        read: d.read,
        reason: d.reason,
        bytes: bytes(d.readBytes),
        capacity: formatBytes(d.capacity),
      }),
    );
  }
  ctx.print(ctx.t('preflight.total', { bytes: bytes(p.readBytes) }));
  const e = p.estimate;
  ctx.print(
    e.basedOn === 0
      ? ctx.t('preflight.noEstimate')
      : ctx.t('preflight.estimate', {
          count: e.basedOn,
          stored: bytes(e.newStoredBytes),
          seconds: e.seconds ?? '?',
        }),
  );
  const free = p.repository.freeBytes;
  ctx.print(
    free === null
      ? ctx.t('preflight.freeUnknown', { location: p.repository.location })
      : ctx.t('preflight.free', { location: p.repository.location, free: formatBytes(free) }),
  );
  if (free !== null && e.newStoredBytes !== null && e.newStoredBytes > free) {
    ctx.print(ctx.t('preflight.tight'));
  }
}
