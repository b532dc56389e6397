/**
 * `brankas status [VM]`: snapshots and backups per VM, and the warning the
 * seed teaches: a snapshot is not a backup. Also what the state directory
 * says: jobs running now, and VMs an interrupted brankas left shut off.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoBackupCatalog } from '../../engine/backup-catalog.js';
import { hostStatus, type StatusWarning, type VmStatus } from '../../engine/status.js';
import type { Connection } from '../../libvirt/index.js';
import { acrossHosts, allHostsOption, exitCodeOf, printHostHeading } from '../all-hosts.js';
import type { Repository } from '../../repo/repository.js';
import { jobsState, type JobsState } from '../../service/state.js';
import { repoLocation, repoOption } from './repo-location.js';
import type { Command } from '../command.js';
import type { CliContext } from '../context.js';
import { table } from '../format.js';
import type { MessageKey } from '../i18n.js';
import { jobName, stateDir } from '../vm-job.js';

export const statusCommand: Command = {
  name: 'status',
  summary: 'Snapshots and backups per VM, with warnings (a snapshot is not a backup)',
  usage: 'brankas status [VM] [--all-hosts] [--repo PATH] [--json]',
  help:
    'With --all-hosts: this connection and every host registered with brankas host add, one\n' +
    'after the other (exit 1 when one cannot be reached; the others are still shown).',
  options: { ...repoOption, ...allHostsOption },
  positionals: { min: 0, max: 1, names: 'VM' },
  async run(ctx, args) {
    const { positionals } = args;
    // Backups come from the repository when there is one (listing needs no password).
    const location = repoLocation(ctx, args);
    // The repository's modules load only when there is one.
    const repo: Repository | undefined = existsSync(join(location, 'config'))
      ? await (await import('./repo-common.js')).openRepo(ctx, args, false)
      : undefined;
    const catalog = repo && repoBackupCatalog(repo);
    const look = (conn: Connection): Promise<VmStatus[]> =>
      hostStatus(conn, positionals[0], catalog);
    if (args.values['all-hosts'] === true) {
      let entries;
      try {
        entries = await acrossHosts(ctx, look);
      } finally {
        await repo?.close();
      }
      const jobs = await jobsOf(
        ctx,
        entries.flatMap((e) => e.result ?? []),
      );
      if (ctx.json) {
        ctx.printJson({
          hosts: entries.map(({ result, ...e }) => ({ ...e, ...(result ? { vms: result } : {}) })),
          jobs,
        });
      } else {
        for (const [i, e] of entries.entries()) {
          if (i > 0) ctx.print();
          printHostHeading(ctx, e);
          if (e.result) render(ctx, e.result, { running: [], leftUndone: [] });
        }
        if (jobs.running.length + jobs.leftUndone.length > 0) ctx.print();
        renderJobs(ctx, jobs);
      }
      return exitCodeOf(entries);
    }
    let status;
    try {
      status = await look(await ctx.connect());
    } finally {
      await repo?.close();
    }
    const jobs = await jobsOf(ctx, status);
    if (ctx.json) return ctx.printJson({ vms: status, jobs });
    render(ctx, status, jobs);
  },
};

/** What the state directory says about the VMs shown. */
async function jobsOf(ctx: CliContext, status: VmStatus[]): Promise<JobsState> {
  // Only VMs shown, and only a VM still off: one started since needs no word.
  const shown = new Map(status.map((s) => [s.name, s.state]));
  const all = await jobsState(stateDir(ctx));
  return {
    running: all.running.filter((h) => shown.has(h.vm)),
    leftUndone: all.leftUndone.filter((c) => shown.get(c.vm) === 'shutoff'),
  };
}

function render(ctx: CliContext, status: VmStatus[], jobs: JobsState): void {
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
  renderJobs(ctx, jobs);
  for (const w of warnings) ctx.print(warningText(ctx, w));
}

function renderJobs(ctx: CliContext, jobs: JobsState): void {
  for (const h of jobs.running) {
    const job = jobName(ctx, h.job);
    ctx.print(ctx.t('status.jobRunning', { vm: h.vm, job, pid: h.pid, since: h.since }));
  }
  for (const c of jobs.leftUndone) {
    const job = jobName(ctx, c.job);
    ctx.print(ctx.t('status.warnLeftOff', { vm: c.vm, job, pid: c.pid, at: c.at }));
  }
}

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
