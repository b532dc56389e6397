/**
 * `brankas run`: instant recovery (docs/instant-recovery.md). A VM defined
 * over a backup's disks served by a detached brankas process, so it boots in
 * seconds whatever the backup's size; `--list`, `--stop`, `--resume` and
 * `--persist` manage it across CLI calls through its record in the state
 * directory. The engine plans and defines; this face owns the serving
 * process (run-server.ts).
 */
import { resolve } from 'node:path';
import { EngineError, qemuOwner, resumeAfterIoError } from '../../engine/index.js';
import { isS3Location } from '../../repo/backend/s3-location.js';
import { Repository } from '../../repo/repository.js';
import { readRunRecord } from '../../service/index.js';
import { UsageError, type Command, type ParsedArgs } from '../command.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';
import {
  listRuns,
  persistRecordedRun,
  planRunOf,
  startRun,
  stopRun,
  type RunAccess,
} from '../run-ops.js';
import { stateDir, withVmJob } from '../vm-job.js';
import { serverRunning, startServer } from './run-server.js';
import { openRepoAt, readPassword, repoLocation, repoOption, withBackend } from './repo-common.js';

/** The repository's location (absolute: a later --resume may run elsewhere) and password. */
async function repoAccess(
  ctx: CliContext,
  location: string,
): Promise<{ location: string; password: string | undefined }> {
  const where = isS3Location(location) ? location : resolve(location);
  const { config, keys } = await withBackend(ctx, where, (b) => Repository.peek(b));
  const encrypted = config.encryption !== 'none' || keys.length > 0;
  return { location: where, password: encrypted ? await readPassword(ctx) : undefined };
}

async function runBackup(ctx: CliContext, args: ParsedArgs): Promise<number> {
  const as = args.values['as'] as string | undefined;
  if (as === undefined)
    throw UsageError.say('usage.needs', { option: 'brankas run BACKUP', other: '--as NAME' });
  const access = await repoAccess(ctx, repoLocation(ctx, args));
  const a: RunAccess = {
    stateDir: stateDir(ctx),
    connect: () => ctx.connect(),
    ...access,
    openRepo: () => openRepoAt(ctx, access.location, access.password),
    env: ctx.io.env,
  };
  const toDir = args.values['to'] as string | undefined;
  const request = {
    as,
    ...(toDir !== undefined ? { toDir } : {}),
    allowHostAccess: args.values['allow-host-access'] === true,
    skipDamaged: args.values['skip-damaged'] === true,
    start: args.values['start'] === true,
  };
  const ref = args.positionals[0]!;
  if (args.values['dry-run'] === true) {
    const plan = await planRunOf(a, ref, request);
    if (ctx.json) ctx.printJson({ dryRun: true, ...plan });
    else {
      ctx.print(ctx.t('run.plan', { vm: plan.vm, backup: plan.backup, source: plan.source }));
      for (const d of plan.disks) {
        ctx.print(ctx.t('run.disk', { ...d, size: formatBytes(d.virtualSize) }));
      }
    }
    return 0;
  }
  const { plan, record, started } = await startRun(a, ref, request, ctx.signal());
  if (ctx.json) {
    ctx.printJson({ ...record, uuid: started.uuid, started: started.started, xml: plan.xml });
  } else {
    ctx.print(
      ctx.t('run.defined', {
        vm: plan.vm,
        backup: plan.backup,
        source: plan.source,
        started: started.started ? ctx.t('run.startedSuffix') : '',
        pid: record.server.pid,
      }),
    );
    for (const d of plan.disks) {
      ctx.print(ctx.t('run.disk', { ...d, size: formatBytes(d.virtualSize) }));
    }
    ctx.print(ctx.t('run.next', { vm: plan.vm }));
  }
  return 0;
}

async function list(ctx: CliContext): Promise<number> {
  const rows = await listRuns({ stateDir: stateDir(ctx), connect: () => ctx.connect() });
  if (ctx.json) {
    ctx.printJson(
      rows.map(({ record, facts, inspection }) => ({
        ...record,
        serverAlive: facts.serverAlive,
        ...inspection,
      })),
    );
    return 0;
  }
  if (rows.length === 0) ctx.print(ctx.t('run.none'));
  for (const { record, facts, inspection: i } of rows) {
    ctx.print(
      ctx.t('run.row', {
        vm: record.vm,
        state: i.state,
        backup: record.backup,
        pid: record.server.pid,
        alive: ctx.t(facts.serverAlive ? 'run.alive' : 'run.gone'),
        vmState: i.vmState ?? '-',
        paused: i.pausedForIoError ? ctx.t('run.pausedIo') : '',
      }),
    );
    if (i.state === 'broken') ctx.print(ctx.t('run.brokenHint', { vm: record.vm }));
  }
  return 0;
}

async function stop(ctx: CliContext, vm: string, force: boolean): Promise<number> {
  const r = await stopRun({ stateDir: stateDir(ctx), connect: () => ctx.connect() }, vm, force);
  if (ctx.json) ctx.printJson(r);
  else ctx.print(ctx.t(r.forced ? 'run.stoppedForced' : 'run.stopped', { vm, backup: r.backup }));
  return 0;
}

async function resume(ctx: CliContext, vm: string): Promise<number> {
  const dir = stateDir(ctx);
  const record = await readRunRecord(dir, vm);
  const conn = await ctx.connect();
  let server = record.server;
  const restart = !serverRunning(server);
  if (restart) {
    const access = await repoAccess(ctx, record.repo);
    server = await startServer({
      stateDir: dir,
      vm,
      backup: record.backup,
      location: access.location,
      password: access.password,
      disks: record.disks,
      owner: qemuOwner(await conn.capabilities()),
      env: ctx.io.env,
      // The new server writes the record again, with itself in it.
      record: {
        vm,
        backup: record.backup,
        repo: record.repo,
        disks: record.disks,
        persisted: record.persisted,
        since: record.since,
      },
    });
  }
  const resumedVm = await resumeAfterIoError(conn, vm, ctx.signal());
  if (!restart && !resumedVm) {
    throw new EngineError(
      'RUN_SERVER_ALIVE',
      `backup ${record.backup} is still served for VM '${vm}' (process ${server.pid}): nothing to resume`,
      { details: { vm, backup: record.backup, pid: server.pid } },
    );
  }
  if (ctx.json) {
    ctx.printJson({ vm, backup: record.backup, pid: server.pid, restarted: restart, resumedVm });
  } else {
    ctx.print(
      ctx.t('run.resumed', {
        vm,
        backup: record.backup,
        pid: server.pid,
        resumedVm: resumedVm ? ctx.t('run.resumedVmSuffix') : '',
      }),
    );
  }
  return 0;
}

async function persist(ctx: CliContext, args: ParsedArgs, vm: string): Promise<number> {
  const signal = ctx.signal();
  // A job on the VM like a restore: no backup, snapshot or other job moves it meanwhile.
  const result = await withVmJob(ctx, args, vm, { kind: 'restore', signal }, () =>
    persistRecordedRun({ stateDir: stateDir(ctx), connect: () => ctx.connect() }, vm, { signal }),
  );
  if (ctx.json) ctx.printJson(result);
  else {
    ctx.print(
      ctx.t('run.persisted', {
        vm,
        disks: result.disks.map((d) => d.path).join(', '),
        seconds: result.seconds.toFixed(1),
        backup: result.backup,
      }),
    );
  }
  return 0;
}

export const runCommand: Command = {
  name: 'run',
  summary: 'Run a VM straight from a backup (instant recovery), then make it local while it runs',
  usage:
    'brankas run BACKUP --as NAME [--start] [--to DIR] [--allow-host-access] [--skip-damaged] [--dry-run] [--repo PATH] [--json]\n' +
    '       brankas run --list | --stop NAME [--force] | --resume NAME | --persist NAME [--wait] [--json]',
  help:
    'BACKUP is a backup id, or a VM name for its latest backup. The new VM NAME gets a local qcow2\n' +
    "overlay per disk (beside the original's disk, or in --to DIR) whose backing file is the backup's\n" +
    'disk, served read-only over NBD by a brankas process that runs on after this command: it boots\n' +
    'in seconds whatever the backup size, and its writes go to the overlays. Should that process die,\n' +
    'the VM pauses at its next read of the backup (never an I/O error in the guest); --resume serves\n' +
    'it again and lets the VM go on. --persist copies the disks to local files while the VM runs and\n' +
    'moves it onto them; --stop then ends the serving process (refused while the VM depends on it,\n' +
    'unless --force). --list shows every VM run this way.',
  options: {
    ...repoOption,
    as: { type: 'string' },
    start: { type: 'boolean' },
    to: { type: 'string' },
    'allow-host-access': { type: 'boolean' },
    'skip-damaged': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    list: { type: 'boolean' },
    stop: { type: 'string' },
    force: { type: 'boolean' },
    resume: { type: 'string' },
    persist: { type: 'string' },
    wait: { type: 'boolean' },
  },
  positionals: { min: 0, max: 1, names: 'BACKUP' },
  async run(ctx, args) {
    const v = args.values;
    const modes = ['list', 'stop', 'resume', 'persist'].filter((m) => v[m] !== undefined);
    if (modes.length > 1)
      throw UsageError.say('usage.exclusive', {
        a: `--${modes[0]!}`,
        b: `--${modes.slice(1).join(', --')}`,
      });
    if (modes.length === 1 && args.positionals.length > 0) {
      throw UsageError.say('usage.takesNo', { option: `--${modes[0]!}`, name: 'BACKUP' });
    }
    if (v['list'] === true) return list(ctx);
    if (typeof v['stop'] === 'string') return stop(ctx, v['stop'], v['force'] === true);
    if (typeof v['resume'] === 'string') return resume(ctx, v['resume']);
    if (typeof v['persist'] === 'string') return persist(ctx, args, v['persist']);
    if (args.positionals.length === 0)
      throw UsageError.say('usage.needsOneOf', {
        command: 'brankas run',
        a: 'a BACKUP',
        b: '--list',
      });
    return runBackup(ctx, args);
  },
};
