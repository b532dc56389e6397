/**
 * `brankas repo copy --from SOURCE [--to TARGET] [VM|BACKUP...]`: copies backups between
 * repositories (docs/repo-copy.md). The target is opened as every repo command opens its
 * repository; the source's password comes from --from-password-file,
 * BRANKAS_FROM_PASSWORD_FILE or BRANKAS_FROM_PASSWORD_COMMAND (or a prompt), and the auth
 * key of an unencrypted source kept outside it from BRANKAS_FROM_AUTH_KEY_FILE.
 */
import { copyRepository, type RepoCopyResult } from '../../engine/copy/repo-copy.js';
import { Repository } from '../../repo/repository.js';
import type { Command, ParsedArgs } from '../command.js';
import { UsageError } from '../command.js';
import type { CliContext } from '../context.js';
import { formatBytes, table } from '../format.js';
import { ProgressMeter } from '../progress.js';
import {
  backendFor,
  readPassword,
  readPasswordFile,
  repoLocation,
  repoOption,
  warn,
  withBackend,
} from './repo-common.js';

const EXIT_INTERRUPTED = 130;

export const repoCopyCommand: Command = {
  name: 'repo copy',
  summary: 'Copy backups to another repository (offsite: local, S3), sending only what it lacks',
  usage:
    'brankas repo copy --from SOURCE [--to TARGET] [VM|BACKUP...] [--from-password-file PATH] [--no-read-back] [--dry-run] [--json]',
  help:
    'Copies every backup of SOURCE, or those of the VMs and backup ids named, into TARGET (--to,\n' +
    'else --repo or $BRANKAS_REPO), oldest first, keeping their ids. Only chunks the target\n' +
    'lacks are sent, re-encrypted under its keys; a backup is listed there only once complete\n' +
    'and read back. A copy stopped midway is resumed by running it again: what arrived is not\n' +
    'sent again. Backups already in the target are skipped.\n' +
    'The target password: BRANKAS_PASSWORD_FILE or BRANKAS_PASSWORD_COMMAND; the source:\n' +
    '--from-password-file, BRANKAS_FROM_PASSWORD_FILE or BRANKAS_FROM_PASSWORD_COMMAND (and\n' +
    'BRANKAS_FROM_AUTH_KEY_FILE for an unencrypted source whose auth key is kept outside it).\n' +
    '--no-read-back skips reading back the packs written (the fixed indexes are still checked).',
  options: {
    ...repoOption,
    from: { type: 'string' },
    to: { type: 'string' },
    'from-password-file': { type: 'string' },
    'no-read-back': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
  },
  positionals: { min: 0, max: 1000, names: 'VM or BACKUP' },
  async run(ctx, args) {
    const fromLocation = args.values['from'] as string | undefined;
    if (!fromLocation) throw UsageError.say('usage.required', { option: '--from SOURCE' });
    const toLocation = (args.values['to'] as string | undefined) ?? repoLocation(ctx, args);
    if (toLocation === fromLocation) throw UsageError.say('usage.same', { a: '--from', b: '--to' });
    const dryRun = args.values['dry-run'] === true;
    const from = await openSource(ctx, args, fromLocation);
    try {
      const to = await openTarget(ctx, toLocation);
      try {
        return await copy(ctx, from, to, args, dryRun);
      } finally {
        await to.close();
      }
    } finally {
      await from.close();
    }
  },
};

async function copy(
  ctx: CliContext,
  from: Repository,
  to: Repository,
  args: ParsedArgs,
  dryRun: boolean,
): Promise<number | void> {
  const signal = ctx.signal();
  const tty = !ctx.json && ctx.io.stderr.isTTY === true;
  const meter = new ProgressMeter(ctx.io.stderr);
  let result: RepoCopyResult;
  try {
    result = await copyRepository(from, to, {
      names: args.positionals,
      dryRun,
      readBack: args.values['no-read-back'] !== true,
      signal,
      onEvent: (e) => {
        if (ctx.json) return;
        if (e.type === 'adopted' && e.adopted.packs > 0) {
          ctx.note(ctx.t('copy.adopted', { packs: e.adopted.packs, chunks: e.adopted.chunks }));
        } else if (e.type === 'backup') {
          ctx.note(ctx.t('copy.backup', { id: e.id, vm: e.vm, n: e.index + 1, total: e.total }));
        } else if (e.type === 'progress' && tty) {
          meter.update({
            disk: e.disk,
            doneBytes: e.doneBytes,
            totalBytes: e.totalBytes,
            extra: ctx.t('copy.progress', {
              read: formatBytes(e.readBytes),
              stored: formatBytes(e.newStoredBytes),
            }),
          });
        } else if (e.type === 'copied') {
          if (tty) meter.end();
          ctx.note(
            ctx.t('copy.copied', {
              id: e.result.id,
              chunks: e.result.newChunks,
              stored: formatBytes(e.result.newStoredBytes),
              read: formatBytes(e.result.readBytes),
              packs: e.result.readBackPacks,
            }),
          );
        } else if (e.type === 'skipped') {
          ctx.note(ctx.t('copy.skipped', { id: e.id }));
        }
      },
    });
  } catch (err) {
    if (tty) meter.end();
    if (!signal.aborted) throw err;
    ctx.note(ctx.t('copy.interrupted'));
    return EXIT_INTERRUPTED;
  }
  if (ctx.json) return ctx.printJson(result);
  render(ctx, result);
}

function render(ctx: CliContext, r: RepoCopyResult): void {
  const present = r.items.filter((i) => i.state === 'present').length;
  if (r.damaged.length) ctx.note(ctx.t('copy.damaged', { ids: r.damaged.join(', ') }));
  if (r.dryRun) {
    ctx.print(r.sharedIds ? ctx.t('copy.sharedIds') : ctx.t('copy.ownIds'));
    ctx.print(
      table([
        ['backup', 'vm', 'started', 'data', 'state'].map((h) =>
          ctx.t(`copy.head.${h}` as 'copy.head.vm'),
        ),
        ...r.items.map((i) => [
          i.id,
          i.vm.name,
          i.startedAt,
          formatBytes(i.dataBytes),
          ctx.t(`copy.state.${i.state}`, { reason: i.reason ?? '' }),
        ]),
      ]),
    );
    ctx.print(
      ctx.t('copy.dry', {
        count: r.items.filter((i) => i.state === 'copy').length,
        from: r.from,
        to: r.to,
        present,
        conflicts: r.items.filter((i) => i.state === 'conflict').length,
      }),
    );
    return;
  }
  if (r.copied.length === 0) {
    ctx.print(ctx.t('copy.nothing', { present: r.skipped.length }));
    return;
  }
  ctx.print(
    ctx.t('copy.done', {
      count: r.copied.length,
      to: r.to,
      stored: formatBytes(r.newStoredBytes),
      read: formatBytes(r.readBytes),
      from: r.from,
      present: r.skipped.length,
    }),
  );
}

/** The source: its password from --from-password-file or BRANKAS_FROM_*, when encrypted. */
async function openSource(
  ctx: CliContext,
  args: ParsedArgs,
  location: string,
): Promise<Repository> {
  const { config, keys } = await withBackend(ctx, location, (b) => Repository.peek(b));
  const encrypted = config.encryption !== 'none' || keys.length > 0;
  const file = args.values['from-password-file'] as string | undefined;
  const password = !encrypted
    ? undefined
    : file !== undefined
      ? await readPasswordFile('--from-password-file', file)
      : await readPassword(ctx, 'BRANKAS_FROM', ctx.t('copy.fromPasswordPrompt'));
  return open(ctx, location, password, ctx.io.env['BRANKAS_FROM_AUTH_KEY_FILE']);
}

/** The target, as every repo command opens its repository. */
async function openTarget(ctx: CliContext, location: string): Promise<Repository> {
  const { config, keys } = await withBackend(ctx, location, (b) => Repository.peek(b));
  const encrypted = config.encryption !== 'none' || keys.length > 0;
  const password = encrypted ? await readPassword(ctx) : undefined;
  return open(ctx, location, password, ctx.io.env['BRANKAS_AUTH_KEY_FILE']);
}

async function open(
  ctx: CliContext,
  location: string,
  password: string | undefined,
  authKeyFile: string | undefined,
): Promise<Repository> {
  const backend = backendFor(ctx, location);
  try {
    return await Repository.open(backend, {
      password,
      authKeyFile: authKeyFile || undefined,
      onWarning: (w) => warn(ctx, w),
    });
  } catch (err) {
    await backend.close();
    throw err;
  }
}
