/**
 * `brankas serve`: the HTTP API in the foreground, on loopback (or a unix socket; another
 * address only with TLS). It owns what a face owns: the socket, the token file, the libvirt
 * connection and the job history it hands the service's job queue. SIGINT/SIGTERM cancel the
 * jobs (their VMs are put back) and stop it.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  createApi,
  isLoopback,
  loadOrCreateToken,
  LOOPBACK_HOSTS,
  parseListen,
  startServer,
  type Tls,
} from '../../api/index.js';
import { Repository } from '../../repo/repository.js';
import {
  DEFAULT_HISTORY_KEEP,
  HistoryRetention,
  JobHistory,
  JobQueue,
  runPolicy,
  ScheduleFile,
  ScheduleRuns,
  Scheduler,
  type SchedulerEvent,
} from '../../service/index.js';
import type { CliContext } from '../context.js';
import { errorText } from '../error-text.js';
import { BrankasError, errorMessage } from '../../util/errors.js';
import { UsageError, type Command } from '../command.js';
import { openRepoAt, readPassword, repoLocation, repoOption, withBackend } from './repo-common.js';
import { eventLine, stateDir } from '../vm-job.js';
import { runOperations } from '../run-ops.js';
import { isS3Location } from '../../repo/backend/s3-location.js';

export const DEFAULT_LISTEN = '127.0.0.1:8765';

export const serveCommand: Command = {
  name: 'serve',
  summary: 'Serve the JSON HTTP API (loopback by default) until stopped',
  usage:
    'brankas serve [--listen 127.0.0.1:PORT|unix:PATH] [--tls-cert FILE --tls-key FILE] [--jobs N] [--history-days N] [--history-per-vm N] [--repo PATH] [--print-token]',
  help:
    `Listens on ${DEFAULT_LISTEN} unless --listen says otherwise; an address that is not loopback\n` +
    'needs --tls-cert and --tls-key. Every call needs "Authorization: Bearer TOKEN"; the token is\n' +
    'made at the first start in $BRANKAS_STATE_DIR/api-token (0600), and --print-token prints it.\n' +
    'Jobs run at most --jobs at a time (default 2), one per VM; their history is kept in\n' +
    `$BRANKAS_STATE_DIR/jobs.sqlite; an ended job older than --history-days (${DEFAULT_HISTORY_KEEP.days}) and beyond\n` +
    `the newest --history-per-vm (${DEFAULT_HISTORY_KEEP.perVm}) of its VM is removed with its log, at the start and daily.\n` +
    'The password of an encrypted repository is read once at the\n' +
    'start. The API is described at /api/v1/openapi.json; the web dashboard is at / (paste the\n' +
    'token once).\n' +
    'It runs the policies of $BRANKAS_STATE_DIR/schedules.conf (brankas schedule, docs/schedule-format.md)\n' +
    'into that repository; a run missed while it was down runs once at the start.',
  options: {
    ...repoOption,
    listen: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    jobs: { type: 'string' },
    'history-days': { type: 'string' },
    'history-per-vm': { type: 'string' },
    'print-token': { type: 'boolean' },
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx, args) {
    const dir = stateDir(ctx);
    const token = await loadOrCreateToken(dir);
    if (args.values['print-token'] === true) {
      if (ctx.json) ctx.printJson({ token });
      else ctx.print(token);
      return;
    }
    let listen;
    try {
      listen = parseListen((args.values['listen'] as string | undefined) ?? DEFAULT_LISTEN);
    } catch (err) {
      throw UsageError.from(err);
    }
    const certFile = args.values['tls-cert'] as string | undefined;
    const keyFile = args.values['tls-key'] as string | undefined;
    if ((certFile === undefined) !== (keyFile === undefined)) {
      throw UsageError.say('usage.together', { a: '--tls-cert', b: '--tls-key' });
    }
    const loopback = isLoopback(listen);
    if (!loopback && certFile === undefined) {
      throw UsageError.say('usage.notLoopback', { value: String(args.values['listen']) });
    }
    const tls: Tls | undefined =
      certFile && keyFile
        ? { cert: await readFile(certFile), key: await readFile(keyFile) }
        : undefined;
    const jobsText = (args.values['jobs'] as string | undefined) ?? '2';
    if (!/^\d{1,2}$/.test(jobsText) || Number(jobsText) < 1) {
      throw UsageError.say('usage.range', {
        option: '--jobs',
        min: 1,
        max: 99,
        value: String(jobsText),
      });
    }
    const keep = {
      days: wholeOption(
        args.values['history-days'],
        '--history-days',
        1,
        36500,
        DEFAULT_HISTORY_KEEP.days,
      ),
      perVm: wholeOption(
        args.values['history-per-vm'],
        '--history-per-vm',
        0,
        1_000_000,
        DEFAULT_HISTORY_KEEP.perVm,
      ),
    };

    // The repository's password, once: a job must never wait for a prompt.
    const given = repoLocation(ctx, args);
    // Absolute: the serving process of a run started here is told it.
    const location = isS3Location(given) ? given : resolve(given);
    const { config, keys } = await withBackend(ctx, location, (b) => Repository.peek(b));
    const encrypted = config.encryption !== 'none' || keys.length > 0;
    const password = encrypted ? await readPassword(ctx) : undefined;
    const openRepo = (): Promise<Repository> => openRepoAt(ctx, location, password);

    const signal = ctx.signal();
    const conn = await ctx.connect();
    const history = JobHistory.open(dir);
    const queue = new JobQueue({
      stateDir: dir,
      history,
      connect: async () => conn,
      limit: Number(jobsText),
    });
    const retention = new HistoryRetention({
      history,
      keep,
      onPruned: (count) => {
        if (count > 0) ctx.note(ctx.t('history.pruned', { count, ...keep }));
      },
      onError: (err) => ctx.note(ctx.t('history.error', { message: errorText(ctx.lang, err) })),
    });
    const schedules = new ScheduleFile(dir);
    const runs = ScheduleRuns.open(dir);
    const runDeps = {
      queue,
      connect: async () => conn,
      openRepo,
      runs,
      onError: (err: unknown) => ctx.note(errorText(ctx.lang, err)),
    };
    const scheduler = new Scheduler({
      runs,
      load: () => schedules.read(),
      fire: (p) => runPolicy(runDeps, p),
      onEvent: (e) => ctx.note(schedulerLine(ctx, e)),
    });
    try {
      // Bounded history: at the start (after the left-over jobs were marked), then daily.
      retention.start();
      // A VM a killed brankas left off is started again now, not at its next job.
      await queue.recoverLeftUndone((e) => {
        const line = eventLine(ctx, e);
        if (line !== undefined) ctx.note(line);
      });
      const app = createApi({
        token,
        queue,
        schedules: {
          file: schedules,
          run: (p) => runPolicy(runDeps, p),
          nextRun: (p) => scheduler.nextRun(p),
          lastRun: (p) => runs.lastRun(p.id),
          changed: () => void scheduler.tick(),
        },
        connect: async () => conn,
        openRepo,
        runs: runOperations({
          stateDir: dir,
          connect: async () => conn,
          location,
          password,
          openRepo,
          env: ctx.io.env,
        }),
        allowedHosts: loopback
          ? LOOPBACK_HOSTS
          : [...LOOPBACK_HOSTS, listen.kind === 'tcp' ? listen.host : ''],
        // A bug of ours: its stack goes to the server's log, never to the caller.
        onInternalError: (err) =>
          ctx.note(err instanceof Error ? (err.stack ?? err.message) : errorMessage(err)),
      });
      const server = await startServer(app, listen, tls).catch((err: unknown) => {
        throw err instanceof BrankasError ? UsageError.from(err) : err;
      });
      ctx.note(ctx.t('serve.listening', { url: server.url }));
      // After the recovery above: a missed run must not find its VM still off from a killed job.
      await scheduler.start();
      if (ctx.json) ctx.printJson({ url: server.url });
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      ctx.note(ctx.t('serve.stopping'));
      await scheduler.stop();
      await queue.close();
      await server.close();
      ctx.note(ctx.t('serve.stopped'));
    } finally {
      retention.stop();
      await scheduler.stop();
      await queue.close();
      runs.close();
      history.close();
    }
  },
};

/** A whole-number option in range, or its default; anything else is a usage error. */
function wholeOption(v: unknown, name: string, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  const n = typeof v === 'string' && /^\d{1,9}$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) {
    throw UsageError.say('usage.range', { option: name, min, max, value: String(v) });
  }
  return n;
}

function schedulerLine(ctx: CliContext, e: SchedulerEvent): string {
  if (e.kind === 'fired') {
    return ctx.t(e.missed ? 'schedule.firedMissed' : 'schedule.fired', {
      policy: e.policy,
      at: e.at,
    });
  }
  return ctx.t('schedule.error', {
    policy: e.policy ?? '-',
    message: errorText(ctx.lang, e.error),
  });
}
