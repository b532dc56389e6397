/**
 * `brankas status [VM]`: snapshots and backups per VM, and the warning the
 * seed teaches: a snapshot is not a backup. Also what the state directory
 * says: jobs running now, and VMs an interrupted brankas left shut off.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoBackupCatalog } from '../../engine/backup-catalog.js';
import { hostStatus, type StatusWarning } from '../../engine/status.js';
import type { Repository } from '../../repo/repository.js';
import { jobsState, type JobsState } from '../../service/index.js';
import { repoLocation, repoOption } from './repo-location.js';
import type { Command } from '../command.js';
import type { CliContext } from '../context.js';
import { table } from '../format.js';
import type { MessageKey } from '../i18n.js';
import { jobName, stateDir } from '../vm-job.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'Snapshots and backups per VM, with warnings (a snapshot is not a backup)',
  usage: 'brankas status [VM] [--repo PATH] [--json]',
  options: { ...repoOption },
  positionals: { min: 0, max: 1, names: 'VM' },
  async run(ctx, args) {
    const { positionals } = args;
    // Backups come from the repository when there is one (listing needs no password).
    const location = repoLocation(ctx, args);
    // The repository's modules load only when there is one.
    const repo: Repository | undefined = existsSync(join(location, 'config'))
      ? await (await import('./repo-common.js')).openRepo(ctx, args, false)
      : undefined;
    let status;
    try {
      status = await hostStatus(
        await ctx.connect(),
        positionals[0],
        repo && repoBackupCatalog(repo),
      );
    } finally {
      await repo?.close();
    }
    // Only VMs shown, and only a VM still off: one started since needs no word.
    const shown = new Map(status.map((s) => [s.name, s.state]));
    const all = await jobsState(stateDir(ctx));
    const jobs: JobsState = {
      running: all.running.filter((h) => shown.has(h.vm)),
      leftUndone: all.leftUndone.filter((c) => shown.get(c.vm) === 'shutoff'),
    };
    if (ctx.json) return ctx.printJson({ vms: status, jobs });
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
    if (warnings.length + jobs.running.length + jobs.leftUndone.length > 0) ctx.print();
    for (const h of jobs.running) {
      const job = jobName(ctx, h.job);
      ctx.print(ctx.t('status.jobRunning', { vm: h.vm, job, pid: h.pid, since: h.since }));
    }
    for (const c of jobs.leftUndone) {
      const job = jobName(ctx, c.job);
      ctx.print(ctx.t('status.warnLeftOff', { vm: c.vm, job, pid: c.pid, at: c.at }));
    }
    for (const w of warnings) ctx.print(warningText(ctx, w));
  },
};

function warningText(ctx: CliContext, w: StatusWarning): string {
  switch (w.kind) {
    case 'snapshots-without-backup':
      return ctx.t('status.warnNoBackup', { vm: w.vm, count: w.snapshots });
    case 'backup-never-verified':
      return ctx.t('status.warnUnverified', { vm: w.vm, backup: w.backup });
    case 'foreign-checkpoints':
      return ctx.t('snapcp.warnForeign', { vm: w.vm, names: w.checkpoints.join(', ') });
    case 'external-snapshots':
      return ctx.t('snapcp.warnExternal', { vm: w.vm, names: w.snapshots.join(', ') });
  }
}
