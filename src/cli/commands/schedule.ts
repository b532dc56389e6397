/**
 * `brankas schedule list|add|remove|run`: the policies of the schedule file
 * ($BRANKAS_STATE_DIR/schedules.conf, docs/schedule-format.md). A running `brankas serve` runs
 * them; `run` runs one now from the command line, through a job queue like the service's (the
 * same VM locks, the same job history), and waits until its jobs have ended.
 */
import { Repository } from '../../repo/repository.js';
import {
  JobHistory,
  JobQueue,
  runPolicy,
  ScheduleFile,
  ScheduleRuns,
  Scheduler,
  type JobKind,
  type JobRecord,
  type Policy,
  type PolicyFields,
  type VmJobEvent,
} from '../../service/index.js';
import { UsageError, type Command } from '../command.js';
import type { CliContext } from '../context.js';
import { errorText } from '../error-text.js';
import { table } from '../format.js';
import { eventLine, jobName, stateDir } from '../vm-job.js';
import {
  keepOptions,
  openRepoAt,
  readPassword,
  repoLocation,
  repoOption,
  withBackend,
} from './repo-common.js';

const KEEP = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;

/** The mode, and the consistency asked for when it is not the default (`live, application`). */
function modeText(p: Policy): string {
  return p.consistency === 'auto' ? p.mode : `${p.mode}, ${p.consistency}`;
}

function keepText(p: Policy): string {
  const parts = KEEP.filter((k) => p.keep[k] !== undefined).map((k) => `${k} ${p.keep[k]}`);
  return parts.length > 0 ? parts.join(', ') : '-';
}

/** The scheduler's view of next runs, without running anything (no timer is set). */
function nextRuns(runs: ScheduleRuns): (p: Policy) => Date | undefined {
  const s = new Scheduler({ runs, load: async () => [], fire: async () => undefined });
  return (p) => s.nextRun(p);
}

async function withRuns<T>(ctx: CliContext, fn: (runs: ScheduleRuns) => Promise<T>): Promise<T> {
  const runs = ScheduleRuns.open(stateDir(ctx));
  try {
    return await fn(runs);
  } finally {
    runs.close();
  }
}

const list: Command = {
  name: 'schedule list',
  summary: 'List the schedule policies with their last and next runs',
  usage: 'brankas schedule list [--json]',
  help: 'The policies of $BRANKAS_STATE_DIR/schedules.conf (docs/schedule-format.md).',
  async run(ctx) {
    const file = new ScheduleFile(stateDir(ctx));
    const policies = await file.read();
    await withRuns(ctx, async (runs) => {
      const next = nextRuns(runs);
      const rows = policies.map((p) => ({
        policy: p,
        lastRun: runs.lastRun(p.id)?.toISOString() ?? null,
        nextRun: next(p)?.toISOString() ?? null,
      }));
      if (ctx.json) {
        ctx.printJson({
          file: file.path,
          policies: rows.map((r) => ({
            id: r.policy.id,
            vms: r.policy.vms,
            when: r.policy.when,
            mode: r.policy.mode,
            consistency: r.policy.consistency,
            freezeTimeoutSeconds: r.policy.freezeTimeoutSeconds,
            keep: r.policy.keep,
            restoreTestDays: r.policy.restoreTestDays,
            timezone: r.policy.timezone,
            lastRun: r.lastRun,
            nextRun: r.nextRun,
          })),
        });
        return;
      }
      if (rows.length === 0) {
        ctx.print(ctx.t('schedule.none', { file: file.path }));
        return;
      }
      const h = (k: Parameters<typeof ctx.t>[0]) => ctx.t(k);
      ctx.print(
        table([
          [
            h('schedule.col.id'),
            h('schedule.col.vms'),
            h('schedule.col.when'),
            h('schedule.col.mode'),
            h('schedule.col.keep'),
            h('schedule.col.test'),
            h('schedule.col.last'),
            h('schedule.col.next'),
          ],
          ...rows.map(({ policy: p, lastRun, nextRun }) => [
            p.id,
            p.vms.join(' '),
            p.when + (p.timezone ? ` (${p.timezone})` : ''),
            modeText(p),
            keepText(p),
            p.restoreTestDays === null
              ? '-'
              : ctx.t('schedule.everyDays', { days: p.restoreTestDays }),
            lastRun ?? ctx.t('schedule.never'),
            nextRun ?? '-',
          ]),
        ]),
      );
    });
  },
};

const addOptions = {
  vms: { type: 'string' },
  when: { type: 'string' },
  mode: { type: 'string' },
  consistency: { type: 'string' },
  'freeze-timeout-seconds': { type: 'string' },
  ...keepOptions,
  'restore-test-days': { type: 'string' },
  timezone: { type: 'string' },
} as const;

const add: Command = {
  name: 'schedule add',
  summary: 'Add a policy: which VMs, when (cron), which mode, what to keep, how often to test',
  usage:
    "brankas schedule add ID --vms 'web* db01' --when 'MIN HOUR DOM MON DOW' [--mode auto|live|cold] [--consistency auto|application|shutdown] [--freeze-timeout-seconds N] [--keep-last N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--keep-hourly N] [--keep-yearly N] [--restore-test-days N] [--timezone TZ] [--json]",
  help:
    'Appends the policy to $BRANKAS_STATE_DIR/schedules.conf after checking it (and the file with\n' +
    'it) as brankas serve would; the file is replaced atomically. Patterns take * and ?. After each\n' +
    'backup the keep rules forget older backups of that VM and garbage is collected; every\n' +
    '--restore-test-days days the newest backup is restored and booted (verify --boot).',
  options: addOptions,
  positionals: { min: 1, max: 1, names: 'ID' },
  async run(ctx, args) {
    const id = args.positionals[0]!;
    const fields: PolicyFields = {};
    for (const key of Object.keys(addOptions) as (keyof typeof addOptions)[]) {
      const v = args.values[key];
      if (typeof v === 'string') fields[key] = v;
    }
    if (fields.vms === undefined || fields.when === undefined) {
      throw UsageError.say('usage.needsBoth', { command: 'schedule add', a: '--vms', b: '--when' });
    }
    const file = new ScheduleFile(stateDir(ctx));
    let policy: Policy;
    try {
      policy = await file.add(id, fields);
    } catch (err) {
      // A policy the file would refuse is a mistake on the command line (exit 2).
      if ((err as { code?: string }).code === 'SCHEDULE_FILE_UNUSABLE') throw err;
      throw UsageError.from(err);
    }
    const next = await withRuns(ctx, async (runs) => nextRuns(runs)(policy));
    if (ctx.json) {
      ctx.printJson({ added: policy.id, file: file.path, nextRun: next?.toISOString() ?? null });
      return;
    }
    ctx.print(
      ctx.t('schedule.added', { id: policy.id, file: file.path, next: next?.toISOString() ?? '-' }),
    );
    ctx.note(ctx.t('schedule.serveHint'));
  },
};

const remove: Command = {
  name: 'schedule remove',
  summary: 'Remove a policy from the schedule file',
  usage: 'brankas schedule remove ID [--json]',
  help: "Cuts the policy's lines out of the file; comments and other policies stay as written.",
  positionals: { min: 1, max: 1, names: 'ID' },
  async run(ctx, args) {
    const file = new ScheduleFile(stateDir(ctx));
    const removed = await file.remove(args.positionals[0]!);
    if (ctx.json) ctx.printJson({ removed: removed.id, file: file.path });
    else ctx.print(ctx.t('schedule.removed', { id: removed.id, file: file.path }));
  },
};

function jobLine(ctx: CliContext, j: JobRecord): string {
  const result = j.result as { backup?: string; passed?: boolean } | null;
  const detail =
    j.state === 'succeeded'
      ? result?.backup
        ? ` (${result.backup})`
        : result?.passed === false
          ? ' (failed)'
          : ''
      : j.error
        ? `: ${j.error.message}`
        : '';
  return ctx.t('schedule.jobEnded', {
    // A policy's run has only jobs on VMs (backups, restore tests), never repository jobs.
    kind: jobName(ctx, j.kind as JobKind),
    vm: j.vm ?? '',
    state: j.state,
    detail,
  });
}

const run: Command = {
  name: 'schedule run',
  summary: 'Run a policy now and wait for its jobs (backups, retention, restore tests when due)',
  usage: 'brankas schedule run ID [--repo PATH] [--json]',
  help:
    'Runs the policy as its time would, into the repository (--repo or $BRANKAS_REPO), one job\n' +
    'per matching VM, each waiting for a job already on its VM, and records it as its last run.\n' +
    'Ctrl-C cancels the jobs; their VMs are put back.',
  options: { ...repoOption },
  positionals: { min: 1, max: 1, names: 'ID' },
  async run(ctx, args) {
    const dir = stateDir(ctx);
    const policy = await new ScheduleFile(dir).get(args.positionals[0]!);
    const location = repoLocation(ctx, args);
    const { config, keys } = await withBackend(ctx, location, (b) => Repository.peek(b));
    const encrypted = config.encryption !== 'none' || keys.length > 0;
    const password = encrypted ? await readPassword(ctx) : undefined;
    const signal = ctx.signal();
    const conn = await ctx.connect();
    // Shared: a running brankas serve's live jobs are not left over from a killed one.
    const history = JobHistory.open(dir, new Date(), { shared: true });
    const runs = ScheduleRuns.open(dir);
    const queue = new JobQueue({ stateDir: dir, history, connect: async () => conn, limit: 1 });
    const onAbort = () => void queue.close();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const r = await runPolicy(
        {
          queue,
          connect: async () => conn,
          openRepo: () => openRepoAt(ctx, location, password),
          runs,
          onError: (err) => ctx.note(errorText(ctx.lang, err)),
        },
        policy,
      );
      if (r.vms.length === 0) ctx.note(ctx.t('schedule.noMatch', { id: policy.id }));
      else {
        ctx.note(
          ctx.t('schedule.queued', { id: policy.id, count: r.jobs.length, vms: r.vms.join(', ') }),
        );
      }
      for (const j of r.jobs) {
        queue.subscribe(j.id, (e) => {
          // The job's own events (waiting for the VM, a VM a killed job left off started
          // again); the engine's power and step notes are the job history's to keep.
          const n = e.type === 'note' ? (e.note as { kind?: unknown }) : undefined;
          if (n && (n.kind === 'waiting' || n.kind === 'recovered')) {
            const line = eventLine(ctx, n as VmJobEvent);
            if (line !== undefined) ctx.note(line);
          }
        });
      }
      const ended = await r.ended;
      if (ctx.json) ctx.printJson({ policy: r.policy, at: r.at, vms: r.vms, jobs: ended });
      else for (const j of ended) ctx.print(jobLine(ctx, j));
      if (signal.aborted) return 130;
      const failed = ended.some(
        (j) => j.state !== 'succeeded' || (j.result as { passed?: boolean })?.passed === false,
      );
      return failed ? 1 : 0;
    } finally {
      signal.removeEventListener('abort', onAbort);
      await queue.close();
      runs.close();
      history.close();
    }
  },
};

export const scheduleCommands: Command[] = [list, add, remove, run];
