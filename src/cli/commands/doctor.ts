/**
 * `brankas doctor [VM] [--fix] [--dry-run]`: shows what crashes, kills and
 * hand edits left behind (the engine's plan, src/engine/doctor/), and with
 * --fix repairs it, each VM under its job lock, so a running job is never
 * disturbed. VMs a gone job left shut off come from the service's journal
 * and are started again by the service's own recovery.
 */
import {
  fixFindings,
  planDoctor,
  type DoctorFinding,
  type DoctorFixResult,
  type LeftOff,
} from '../../engine/doctor/index.js';
import type { Repository } from '../../repo/index.js';
import { VmJob } from '../../service/job.js';
import { lockHolder } from '../../service/lock.js';
import { jobsState } from '../../service/state.js';
import { errorMessage, isBrankasError } from '../../util/errors.js';
import type { Command } from '../command.js';
import type { CliContext } from '../context.js';
import type { MessageKey } from '../i18n.js';
import { eventLine, stateDir } from '../vm-job.js';
import { openRepo, repoOption } from './repo-common.js';

export function findingLine(ctx: CliContext, f: DoctorFinding): string {
  switch (f.kind) {
    case 'backup-job':
      return ctx.t('doctor.backupJob', { vm: f.vm, dir: f.dir });
    case 'frozen-guest':
      return ctx.t('doctor.frozenGuest', { vm: f.vm });
    case 'work-dir':
      return ctx.t(`doctor.workDir.${f.reason}` as MessageKey, { vm: f.vm ?? '?', path: f.path });
    case 'orphan-checkpoint':
      return ctx.t(`doctor.checkpoint.${f.reason}` as MessageKey, {
        vm: f.vm,
        checkpoint: f.checkpoint,
      });
    case 'orphan-bitmap':
      return ctx.t('doctor.orphanBitmap', {
        vm: f.vm,
        bitmap: f.bitmap,
        image: f.image,
        disk: f.disk,
      });
    case 'left-shut-off':
      return ctx.t('doctor.leftShutOff', {
        vm: f.vm,
        job: ctx.t(`job.kind.${f.job}` as MessageKey),
        pid: f.pid,
        at: f.at,
        initial: f.initial,
      });
  }
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'Find, and with --fix repair, what crashes and killed jobs left behind',
  usage: 'brankas doctor [VM] [--fix] [--dry-run] [--scratch DIR] [--repo PATH] [--json]',
  help:
    'Looks at every VM (or only VM) for what a crash, a killed brankas or a hand edit left:\n' +
    'a brankas backup job still running with no brankas behind it (and its NBD export), a guest\n' +
    'left frozen, live job directories (NBD socket, scratch files), checkpoints of the\n' +
    "repository's incremental line that no backup counts from, persistent bitmaps in a VM's qcow2\n" +
    "images that no checkpoint names (only those brankas made are removed; a running VM's through\n" +
    'QEMU, which libvirt then marks tainted), and VMs an interrupted cold backup left shut off.\n' +
    'The plan is always shown first; nothing is changed without --fix (--dry-run shows the plan\n' +
    'only, also with --fix). A VM another job works on is skipped.\n' +
    'Without a repository the checkpoints are not checked. --scratch DIR looks for job\n' +
    'directories there instead of /var/tmp (as given to backup --scratch).',
  options: {
    ...repoOption,
    fix: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    scratch: { type: 'string' },
  },
  positionals: { min: 0, max: 1, names: 'VM' },
  async run(ctx, args) {
    const vm = args.positionals[0];
    const fix = args.values['fix'] === true && args.values['dry-run'] !== true;
    const conn = await ctx.connect();
    const signal = ctx.signal();
    const dir = stateDir(ctx);
    const workRoot = args.values['scratch'] as string | undefined;
    const where = workRoot !== undefined ? { workRoot } : {};
    let repo: Repository | undefined;
    let repoError: string | null = null;
    try {
      repo = await openRepo(ctx, args, false);
    } catch (err) {
      repoError = errorMessage(err);
    }
    try {
      const jobs = await jobsState(dir);
      const leftOff: LeftOff[] = jobs.leftUndone.map((c) => ({
        vm: c.vm,
        uuid: c.uuid,
        initial: c.initial,
        job: c.job,
        pid: c.pid,
        at: c.at,
      }));
      const busy = async (name: string): Promise<boolean> =>
        (await lockHolder(dir, name)) !== undefined;
      const plan = await planDoctor(conn, repo, {
        ...(vm !== undefined ? { vm } : {}),
        busy,
        leftOff,
        ...where,
      });
      let results: DoctorFixResult[] | null = null;
      if (fix) results = await repair(ctx, plan.findings, repo, signal, workRoot);
      const failed = results?.some((r) => r.outcome === 'failed') === true;
      if (ctx.json) {
        ctx.printJson({ ...plan, repositoryError: repoError, fixed: fix, results });
        return failed ? 1 : 0;
      }
      for (const name of plan.busy) ctx.print(ctx.t('doctor.busy', { vm: name }));
      if (repoError !== null) ctx.print(ctx.t('doctor.noRepo', { message: repoError }));
      for (const b of plan.foreignBitmaps) {
        const { vm, bitmap, image, disk } = b;
        ctx.print(ctx.t('doctor.foreignBitmap', { vm, bitmap, image, disk }));
      }
      if (plan.findings.length === 0) {
        ctx.print(ctx.t('doctor.clean'));
        return 0;
      }
      ctx.print(ctx.t('doctor.planHeader', { count: plan.findings.length }));
      for (const f of plan.findings) ctx.print(findingLine(ctx, f));
      if (results === null) {
        ctx.print(ctx.t('doctor.hint'));
        return 0;
      }
      for (const r of results) {
        const what = findingLine(ctx, r.finding).trim();
        ctx.print(
          r.outcome === 'fixed'
            ? ctx.t('doctor.fixed', { what })
            : ctx.t('doctor.failed', { what, message: r.message ?? '' }),
        );
      }
      ctx.print(
        ctx.t('doctor.done', {
          fixed: results.filter((r) => r.outcome === 'fixed').length,
          count: results.length,
        }),
      );
      return failed ? 1 : 0;
    } finally {
      await repo?.close();
    }
  },
};

/**
 * Carries the plan out, VM by VM under its job lock: the plan is made again under the lock
 * (what is done is what is found then), and the job's own recovery starts a VM left off.
 */
async function repair(
  ctx: CliContext,
  findings: DoctorFinding[],
  repo: Repository | undefined,
  signal: AbortSignal,
  workRoot: string | undefined,
): Promise<DoctorFixResult[]> {
  const conn = await ctx.connect();
  const results: DoctorFixResult[] = [];
  const vms = [...new Set(findings.map((f) => f.vm).filter((v) => v !== null))];
  for (const name of vms) {
    const mine = findings.filter((f) => f.vm === name);
    const onHost = mine.filter((f) => f.kind === 'work-dir' && f.reason === 'vm-gone');
    if (onHost.length === mine.length) continue;
    let job: VmJob;
    try {
      job = await VmJob.begin(conn, {
        stateDir: stateDir(ctx),
        vm: name,
        kind: 'backup',
        signal,
        recovery: 'restart',
        onEvent: (e) => {
          const line = eventLine(ctx, e);
          if (line !== undefined && !ctx.json) ctx.note(line);
          if (e.kind !== 'recovered') return;
          const f = mine.find((x) => x.kind === 'left-shut-off' && x.uuid === e.change.uuid);
          if (!f) return;
          results.push(
            e.recovery.outcome === 'failed'
              ? { finding: f, outcome: 'failed', message: e.recovery.message }
              : { finding: f, outcome: 'fixed' },
          );
        },
      });
    } catch (err) {
      if (!isBrankasError(err)) throw err;
      for (const f of mine) results.push({ finding: f, outcome: 'failed', message: err.message });
      continue;
    }
    try {
      const again = await planDoctor(conn, repo, {
        vm: name,
        ...(workRoot !== undefined ? { workRoot } : {}),
      });
      results.push(...(await fixFindings(conn, again.findings, signal)));
    } finally {
      await job.end();
    }
  }
  // Directories no VM owns: nothing to lock.
  const loose = findings.filter(
    (f) => f.kind === 'work-dir' && (f.vm === null || f.reason === 'vm-gone'),
  );
  results.push(...(await fixFindings(conn, loose, signal)));
  return results;
}
