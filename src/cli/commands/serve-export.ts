/**
 * `brankas serve-export`: the serving process of `brankas run` (internal; run
 * starts it detached, docs/instant-recovery.md). It opens the repository with
 * the password read from stdin (never a command line), serves each disk of
 * the backup on its socket, registers itself in the run's record (with
 * `--state-dir` and `--record`), says so once over the IPC channel its parent
 * opened ({ready} or {error}), then serves until SIGTERM. It writes its record
 * itself, before it says it is ready, so that a serving process is listed
 * (and can be stopped) even when the `brankas run` that started it was killed
 * before it could write anything.
 */
import { serveBackupDisks, type ServedDisk } from '../../engine/index.js';
// Straight from the modules, not the service's index (the job database, the scheduler): the
// serving process needs only to write its record.
import { selfIdentity } from '../../service/process-identity.js';
import { writeRunRecord, type RunRecord } from '../../service/runs.js';
import { errorCode, errorMessage } from '../../util/errors.js';
import { UsageError, type Command } from '../command.js';
import type { CliContext } from '../context.js';
import { openRepoAt } from './repo-common.js';

async function readAll(ctx: CliContext): Promise<string> {
  let text = '';
  for await (const chunk of ctx.io.stdin) text += (chunk as Buffer).toString('utf8');
  return text;
}

function disksOf(values: unknown): ServedDisk[] {
  const list = (Array.isArray(values) ? values : [values]).filter(
    (v): v is string => typeof v === 'string',
  );
  return list.map((v) => {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`--disk takes NAME=SOCKET, not '${v}'`);
    return { disk: v.slice(0, eq), socket: v.slice(eq + 1) };
  });
}

function ownerOf(value: unknown): { uid: number; gid: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d+):(\d+)$/.exec(value);
  if (!m) throw new UsageError(`--owner takes UID:GID, not '${value}'`);
  return { uid: Number(m[1]), gid: Number(m[2]) };
}

/** The run's record without its server and start time, as `brankas run` passes it. */
export type RecordDraft = Omit<RunRecord, 'version' | 'server' | 'since'> & { since?: string };

function draftOf(value: unknown): RecordDraft | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const d = JSON.parse(value) as RecordDraft;
    if (typeof d.vm === 'string' && typeof d.backup === 'string' && Array.isArray(d.disks))
      return d;
  } catch {
    // said below
  }
  throw new UsageError('--record takes the run record as JSON');
}

/**
 * To the parent over IPC, when there is one (there is when `brankas run` started us) and it
 * is still there: a parent killed meanwhile must not take this process down with it.
 */
function tell(message: object): void {
  if (process.send && process.connected) {
    try {
      process.send(message, undefined, {}, () => undefined);
      process.disconnect();
    } catch {
      // The parent went away in between.
    }
  }
}

export const serveExportCommand: Command = {
  name: 'serve-export',
  summary: "(internal) Serve a backup's disks for a VM started by 'brankas run'",
  usage:
    'brankas serve-export --repo LOCATION --backup ID --disk NAME=SOCKET... [--owner UID:GID] [--password-stdin] [--state-dir DIR --record JSON]',
  options: {
    repo: { type: 'string' },
    backup: { type: 'string' },
    disk: { type: 'string', multiple: true },
    owner: { type: 'string' },
    'password-stdin': { type: 'boolean' },
    'state-dir': { type: 'string' },
    record: { type: 'string' },
  },
  positionals: { min: 0, max: 0, names: '' },
  async run(ctx, args) {
    const location = args.values['repo'];
    const backup = args.values['backup'];
    if (typeof location !== 'string' || typeof backup !== 'string') {
      throw new UsageError('--repo and --backup are required');
    }
    const disks = disksOf(args.values['disk']);
    const owner = ownerOf(args.values['owner']);
    const draft = draftOf(args.values['record']);
    const recordDir = args.values['state-dir'];
    if ((draft === undefined) !== (typeof recordDir !== 'string')) {
      throw new UsageError('--state-dir and --record go together');
    }
    const signal = ctx.signal();
    let servers;
    let repo;
    try {
      const password = args.values['password-stdin'] === true ? await readAll(ctx) : undefined;
      repo = await openRepoAt(ctx, location, password || undefined);
      servers = await serveBackupDisks(repo, backup, disks, {
        owner,
        onClientError: (err) => ctx.note(`nbd: ${err.message}`),
      });
      if (draft !== undefined) {
        const { since, ...rest } = draft;
        await writeRunRecord(recordDir as string, {
          version: 1,
          ...rest,
          server: selfIdentity(),
          since: since ?? new Date().toISOString(),
        });
      }
    } catch (err) {
      await servers?.close();
      await repo?.close();
      tell({ error: { code: errorCode(err) ?? 'INTERNAL', message: errorMessage(err) } });
      throw err;
    }
    ctx.note(
      `serving backup ${backup}: ${disks.map((d) => `${d.disk} on ${d.socket}`).join(', ')}`,
    );
    tell({ ready: true });
    try {
      if (!signal.aborted) {
        await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      }
    } finally {
      await servers.close();
      await repo.close();
    }
    ctx.note('stopped');
    return 0;
  },
};
