/**
 * `brankas repo repair`: heals the index after damage (src/repo/repair.ts) and says which
 * backups it heals and which it cannot. Planned first; --dry-run shows the plan only.
 */
import { repairRepository, type BackupHealth, type RepairResult } from '../../repo/repair.js';
import type { Command } from '../command.js';
import type { CliContext } from '../context.js';
import { repoOption, withRepo } from './repo-common.js';

export const repoRepairCommand: Command = {
  name: 'repo repair',
  summary: 'Heal the index after damage; say which backups heal and which cannot (--dry-run)',
  usage: 'brankas repo repair [--dry-run] [--repo PATH] [--json]',
  help:
    'Drops index entries of packs that are gone and of records a verify found damaged (each\n' +
    'checked again first), rewrites packs without their damaged records, and rebuilds damaged\n' +
    'index runs from the packs. A backup heals when every chunk it needs has an intact copy,\n' +
    'for example one a later backup of the same data stored again. Run verify --read-data\n' +
    'first to find damaged records. Exit status 1 when some backup cannot be healed.',
  options: { ...repoOption, 'dry-run': { type: 'boolean' } },
  async run(ctx, args) {
    const dryRun = args.values['dry-run'] === true;
    return withRepo(ctx, args, async (repo) => {
      const r = await repairRepository(repo, { dryRun });
      if (ctx.json) ctx.printJson(r);
      else renderRepair(ctx, r);
      return r.unhealable.length ? 1 : 0;
    });
  },
};

function renderRepair(ctx: CliContext, r: RepairResult): void {
  if (!r.needed && !r.unhealable.length) {
    ctx.print(ctx.t('repo.repairNothing'));
    return;
  }
  ctx.print(
    ctx.t(r.dryRun ? 'repo.repairPlan' : 'repo.repairDone', {
      missing: r.missingPacks.length,
      records: r.damagedRecords.length,
      runs: r.damagedRuns.length,
      dropped: r.dropEntries,
      recovered: r.recoveredEntries,
      packs: r.rewritePacks.length,
    }),
  );
  for (const h of r.healed) ctx.print(`  ${ctx.t('repo.repairHealed', fields(ctx, h))}`);
  for (const h of r.unhealable) ctx.print(`  ${ctx.t('repo.repairUnhealable', fields(ctx, h))}`);
}

function fields(ctx: CliContext, h: BackupHealth): Record<string, string | number> {
  return {
    backup: h.backup,
    vm: h.vm,
    disk: h.disk ?? '-',
    chunks: h.damagedChunks,
    lost: h.lostChunks,
    reason: h.reason ?? ctx.t('repo.repairLost', { lost: h.lostChunks }),
  };
}
