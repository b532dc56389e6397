/**
 * `brankas status [VM]`: snapshots and backups per VM, and the warning the
 * seed teaches: a snapshot is not a backup.
 */
import { hostStatus, type StatusWarning } from '../../engine/status.js';
import type { Command } from '../command.js';
import type { CliContext } from '../context.js';
import { table } from '../format.js';
import type { MessageKey } from '../i18n.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'Snapshots and backups per VM, with warnings (a snapshot is not a backup)',
  usage: 'brankas status [VM] [--json]',
  positionals: { min: 0, max: 1, names: 'VM' },
  async run(ctx, { positionals }) {
    const status = await hostStatus(await ctx.connect(), positionals[0]);
    if (ctx.json) return ctx.printJson({ vms: status });
    if (status.length === 0) {
      ctx.print(ctx.t('inventory.noVms'));
      return;
    }
    ctx.print(
      table([
        [
          ctx.t('inventory.col.name'),
          ctx.t('inventory.col.state'),
          ctx.t('status.col.snapshots'),
          ctx.t('status.col.backups'),
        ],
        ...status.map((s) => [
          s.name,
          ctx.t(`state.${s.state}` as MessageKey),
          s.snapshots.length === 0
            ? '0'
            : `${s.snapshots.length} (${s.snapshots.map((n) => n.name + (n.current ? '*' : '')).join(', ')})`,
          s.backups === undefined ? ctx.t('status.noRepo') : String(s.backups.length),
        ]),
      ]),
    );
    const warnings = status.flatMap((s) => s.warnings);
    if (warnings.length > 0) ctx.print();
    for (const w of warnings) ctx.print(warningText(ctx, w));
  },
};

function warningText(ctx: CliContext, w: StatusWarning): string {
  switch (w.kind) {
    case 'snapshots-without-backup':
      return ctx.t('status.warnNoBackup', { vm: w.vm, count: w.snapshots });
    case 'backup-never-verified':
      return ctx.t('status.warnUnverified', { vm: w.vm, backup: w.backup });
  }
}
