/**
 * `brankas repo verify|prune|gc`: the repository's upkeep (src/repo/verify.ts, gc.ts, the
 * engine's prune). Thin: parse, call, render; `prune` and `gc` plan first (`--dry-run`).
 */
import { pruneRepository } from '../../engine/repo-prune.js';
import { collectGarbage, type GcResult } from '../../repo/gc.js';
import type { KeepPolicy } from '../../repo/policy.js';
import { parseSubset, verifyRepository, type VerifyReport } from '../../repo/verify.js';
import { UsageError, type Command } from '../command.js';
import { EXIT } from '../run.js';
import type { CliContext } from '../context.js';
import { ProgressMeter } from '../progress.js';
import { formatBytes, table } from '../format.js';
import { keepOptions, repoOption, withRepo } from './repo-common.js';

export const repoVerify: Command = {
  name: 'repo verify',
  summary: 'Check the repository: structure, or every byte with --read-data',
  usage: 'brankas repo verify [--read-data] [--subset n/t|x%] [--repo PATH] [--json]',
  help: 'Exit status 1 when anything is damaged; the report names every affected backup and disk.',
  options: { ...repoOption, 'read-data': { type: 'boolean' }, subset: { type: 'string' } },
  async run(ctx, args) {
    const subset = args.values['subset'] as string | undefined;
    if (subset !== undefined) {
      try {
        parseSubset(subset);
      } catch (err) {
        throw UsageError.from(err);
      }
    }
    return withRepo(ctx, args, async (repo) => {
      const tty = ctx.io.stderr.isTTY === true && !ctx.json;
      const meter = new ProgressMeter(ctx.io.stderr);
      const report = await verifyRepository(repo, {
        readData: args.values['read-data'] === true,
        subset: args.values['subset'] as string | undefined,
        onProgress: (p) =>
          tty &&
          meter.show(
            () =>
              p.phase === 'data'
                ? ctx.t('repo.verifyProgressData', { done: p.done, total: p.total })
                : ctx.t('repo.verifyProgressStructure', { done: p.done }),
            p.done === p.total,
          ),
      });
      meter.end();
      if (ctx.json) ctx.printJson(report);
      else renderVerify(ctx, report);
      return report.ok ? 0 : 1;
    });
  },
};

function renderVerify(ctx: CliContext, r: VerifyReport): void {
  ctx.print(
    ctx.t('repo.verifySummary', {
      backups: r.backups,
      disks: r.disks,
      runs: r.indexRuns,
      read: r.packsRead,
      packs: r.packsTotal,
      records: r.recordsRead,
    }),
  );
  for (const n of r.notes) {
    ctx.print(
      ctx.t(n.interruptedGc ? 'repo.verifyGcLeftovers' : 'repo.verifyGoneLeftovers', {
        entries: n.entries,
        packs: n.packs,
      }),
    );
  }
  if (r.damageRecord) ctx.print(ctx.t('repo.verifyDamageRecorded', { id: r.damageRecord }));
  if (r.damageNotRecorded) {
    ctx.note(ctx.t('repo.verifyNotRecorded', { message: r.damageNotRecorded.message }));
  }
  if (r.ok) {
    ctx.print(ctx.t('repo.verifyOk'));
    return;
  }
  ctx.print(ctx.t('repo.verifyProblems', { count: r.problems.length }));
  for (const p of r.problems)
    ctx.print(
      `  ${p.code}: ${p.message}${p.chunk && !p.message.includes(p.chunk) ? ` (chunk ${p.chunk})` : ''}`,
    );
  if (r.affected.length) {
    ctx.print(ctx.t('repo.verifyAffected'));
    for (const a of r.affected) {
      ctx.print(`  ${a.backup} ${a.disk}: chunk ${a.chunk} at ${a.offsets.join(', ')}`);
    }
  }
}

const pruneOptions = { ...keepOptions, 'dry-run': { type: 'boolean' } } as const;

function policyFrom(values: Record<string, unknown>): KeepPolicy {
  const p: KeepPolicy = {};
  for (const k of ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const) {
    const v = values[`keep-${k}`];
    if (v === undefined) continue;
    if (typeof v !== 'string' || !/^\d{1,9}$/.test(v)) {
      throw UsageError.say('usage.wholeNumberNot', { option: `--keep-${k}`, value: String(v) });
    }
    p[k] = Number(v);
  }
  return p;
}

export const repoPrune: Command = {
  name: 'repo prune',
  summary: 'Forget backups by a keep policy, then collect garbage (--dry-run shows the plan)',
  usage:
    'brankas repo prune [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-yearly N] [--dry-run] [--repo PATH] [--json]',
  help: 'Rules apply per VM; a backup kept by any rule is kept. Safe while backups run.',
  options: { ...repoOption, ...pruneOptions },
  async run(ctx, args) {
    const policy = policyFrom(args.values);
    const dryRun = args.values['dry-run'] === true;
    const signal = ctx.signal();
    return withRepo(ctx, args, async (repo) => {
      const done = await stoppable(ctx, signal, () =>
        pruneRepository(repo, policy, { dryRun, signal }),
      );
      if (typeof done === 'number') return done;
      const { forget: f, gc } = done;
      if (ctx.json) return ctx.printJson({ forget: f, gc });
      ctx.print(
        table(
          [
            [ctx.t('repo.col.backup'), 'VM', ctx.t('repo.col.started'), ctx.t('repo.col.decision')],
            ...f.decisions.map((d) => [
              d.id,
              d.vm,
              d.startedAt,
              d.keep ? `${ctx.t('repo.keep')} (${d.reasons.join(', ')})` : ctx.t('repo.remove'),
            ]),
          ],
          '  ',
        ),
      );
      const removing = f.decisions.filter((d) => !d.keep).length;
      ctx.print(
        dryRun
          ? ctx.t('repo.pruneDry', { count: removing })
          : ctx.t('repo.pruned', { count: f.removed.length }),
      );
      renderGc(ctx, gc);
    });
  },
};

export const repoGc: Command = {
  name: 'repo gc',
  summary: 'Delete data no backup refers to (two phases, safe while backups run)',
  usage: 'brankas repo gc [--dry-run] [--repo PATH] [--json]',
  options: { ...repoOption, 'dry-run': { type: 'boolean' } },
  async run(ctx, args) {
    const signal = ctx.signal();
    return withRepo(ctx, args, async (repo) => {
      const gc = await stoppable(ctx, signal, () =>
        collectGarbage(repo, { dryRun: args.values['dry-run'] === true, signal }),
      );
      if (typeof gc === 'number') return gc;
      if (ctx.json) return ctx.printJson(gc);
      renderGc(ctx, gc);
    });
  },
};

/**
 * Runs prune or gc so that Ctrl-C stops it at its next safe point (src/repo/gc.ts), with the
 * lock released, instead of killing it mid-step: the exit code 130 then.
 */
async function stoppable<T>(
  ctx: CliContext,
  signal: AbortSignal,
  fn: () => Promise<T>,
): Promise<T | number> {
  try {
    return await fn();
  } catch (err) {
    if (!signal.aborted) throw err;
    ctx.note(ctx.t('maintenance.stopped'));
    return EXIT.INTERRUPTED;
  }
}

function renderGc(ctx: CliContext, gc: GcResult): void {
  if (gc.dryRun) {
    ctx.print(
      ctx.t('repo.gcDry', {
        packs: gc.deadPacks,
        bytes: formatBytes(gc.deadBytes),
        repack: gc.repackCandidates,
        repackBytes: formatBytes(gc.repackDeadBytes),
      }),
    );
    return;
  }
  ctx.print(
    ctx.t('repo.gcDone', {
      packs: gc.deletedPacks,
      bytes: formatBytes(gc.deletedBytes),
      partial: gc.deletedPartialBackups.length,
      repacked: gc.repackedPacks,
      freed: formatBytes(gc.repackedFreedBytes),
    }),
  );
  for (const w of gc.waiting) ctx.print(ctx.t('repo.gcWaiting', { count: w.locks.length }));
}
