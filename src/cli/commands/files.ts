/**
 * `brankas files BACKUP [--disk NAME] ls [PATH]` and
 * `brankas files BACKUP [--disk NAME] get PATH... (--to DIR | --tar FILE) [--force]`:
 * files of a backup's disk without restoring it, read on the host (ext2/3/4)
 * or by a throwaway helper VM (docs/file-restore.md). Parses, calls the
 * engine, renders.
 */
import {
  getFiles,
  listFiles,
  type FileEntry,
  type FilesTarget,
  type GetResult,
  type Listing,
} from '../../engine/index.js';
import { UsageError, type Command } from '../command.js';
import type { CliContext } from '../context.js';
import { formatBytes, table } from '../format.js';
import { repoOption, withRepo } from './repo-common.js';

const TYPE_CHAR: Record<FileEntry['type'], string> = {
  file: '-',
  dir: 'd',
  symlink: 'l',
  fifo: 'p',
  socket: 's',
  char: 'c',
  block: 'b',
};

function modeString(e: FileEntry): string {
  const rwx = (bits: number, special: boolean, s: string): string =>
    (bits & 4 ? 'r' : '-') +
    (bits & 2 ? 'w' : '-') +
    (special ? (bits & 1 ? s : s.toUpperCase()) : bits & 1 ? 'x' : '-');
  return (
    TYPE_CHAR[e.type] +
    rwx(e.mode >> 6, (e.mode & 0o4000) !== 0, 's') +
    rwx(e.mode >> 3, (e.mode & 0o2000) !== 0, 's') +
    rwx(e.mode, (e.mode & 0o1000) !== 0, 't')
  );
}

/** A name as a terminal may show it: control characters (a newline...) quoted. */
function shown(name: string): string {
  return /[\x00-\x1f\x7f]/.test(name) ? JSON.stringify(name) : name;
}

/** The one-line note on who read the volume. */
function readerNote(ctx: CliContext, t: FilesTarget): void {
  if (t.volume === '') return;
  if (t.reader === 'host') ctx.note(ctx.t('filesReader.host'));
  else if (t.helperReason === 'forced') ctx.note(ctx.t('filesReader.forced'));
  else if (t.helperReason === 'unsupported') {
    ctx.note(ctx.t('filesReader.unsupported', { feature: t.unsupportedFeature ?? '?' }));
  } else ctx.note(ctx.t('filesReader.helper'));
}

function renderListing(ctx: CliContext, l: Listing): void {
  readerNote(ctx, l);
  const where =
    l.volume === ''
      ? ctx.t('files.partitions', { table: l.table.toUpperCase() })
      : ctx.t('files.volume', { volume: l.volume, fs: l.fs });
  ctx.print(
    ctx.t('files.listing', { path: l.path, where, disk: l.disk, backup: l.backup, vm: l.vm }),
  );
  if (l.entries.length === 0) {
    ctx.print(`  ${ctx.t('files.empty')}`);
    return;
  }
  const rows = l.entries.map((e) => [
    modeString(e),
    `${e.uid}`,
    `${e.gid}`,
    `${e.size}`,
    e.mtime.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    shown(e.name) +
      (e.target !== undefined ? ` -> ${shown(e.target)}` : '') +
      ('fs' in e && e.fs ? `  (${String(e.fs)})` : ''),
  ]);
  ctx.print(table(rows, '  '));
}

function renderGet(ctx: CliContext, r: GetResult): void {
  readerNote(ctx, r);
  const paths = r.paths.join(', ');
  if (r.tar !== undefined) {
    ctx.print(
      ctx.t('files.archived', {
        paths,
        disk: r.disk,
        backup: r.backup,
        tar: r.tar,
        size: formatBytes(r.bytes),
      }),
    );
    return;
  }
  const x = r.extracted!;
  ctx.print(
    ctx.t('files.extracted', {
      paths,
      disk: r.disk,
      backup: r.backup,
      to: r.to!,
      files: x.files + x.hardlinks,
      dirs: x.dirs,
      symlinks: x.symlinks,
      size: formatBytes(x.bytes),
    }),
  );
  if (x.skipped > 0) ctx.note(ctx.t('files.skipped', { count: x.skipped }));
}

export const filesCommand: Command = {
  name: 'files',
  summary: "List or copy files out of a backup's disk, without restoring it",
  usage:
    'brankas files BACKUP [--disk NAME] ls [PATH] | get PATH... (--to DIR | --tar FILE) [--force] [--helper] [--skip-damaged] [--repo PATH] [--json]',
  help:
    'BACKUP is a backup id, or a VM name for its latest backup; the disk defaults to its first.\n' +
    'ext2/3/4 is read by brankas itself, straight from the repository; other filesystems (and,\n' +
    'with --helper, any) by a throwaway helper VM (no network) reading the disk read-only.\n' +
    'A disk that is one filesystem shows it at /; a partitioned disk shows /p1, /p2... (GPT or\n' +
    'MBR), and /p1/etc/fstab is a file in its first partition. ext4, vfat, xfs and btrfs are\n' +
    'read; an encrypted (LUKS) volume is refused.\n' +
    '  ls [PATH]         the entries of a directory (default /), with modes, owners, sizes, times\n' +
    '  get PATH...       files or directories (recursively) of one volume, into --to DIR (made,\n' +
    '                    refused if it exists unless --force) or as a tar archive --tar FILE;\n' +
    '                    modes, times, symbolic links and (as root) owners are kept',
  options: {
    ...repoOption,
    disk: { type: 'string' },
    to: { type: 'string' },
    tar: { type: 'string' },
    force: { type: 'boolean' },
    'skip-damaged': { type: 'boolean' },
    helper: { type: 'boolean' },
  },
  positionals: { min: 2, max: Number.MAX_SAFE_INTEGER, names: 'BACKUP ls|get [PATH...]' },
  async run(ctx, args) {
    const [ref, op, ...paths] = args.positionals as [string, string, ...string[]];
    const to = args.values['to'] as string | undefined;
    const tar = args.values['tar'] as string | undefined;
    const disk = args.values['disk'] as string | undefined;
    const common = {
      ...(disk !== undefined ? { disk } : {}),
      skipDamaged: args.values['skip-damaged'] === true,
      helper: args.values['helper'] === true,
      signal: ctx.signal(),
    };
    if (op === 'ls') {
      if (paths.length > 1)
        throw UsageError.say('usage.atMostOne', { command: 'files ls', name: 'PATH' });
      if (to !== undefined || tar !== undefined || args.values['force'] === true) {
        throw UsageError.say('usage.onlyFor', {
          options: '--to, --tar, --force',
          command: 'files get',
        });
      }
      const listing = await withRepo(ctx, args, (repo) =>
        listFiles(() => ctx.connect(), repo, ref, paths[0] ?? '/', common),
      );
      if (ctx.json) ctx.printJson(listing);
      else renderListing(ctx, listing);
      return 0;
    }
    if (op !== 'get')
      throw UsageError.say('usage.unknownOperation', {
        command: 'files',
        value: String(op),
        allowed: 'ls, get',
      });
    if (paths.length === 0)
      throw UsageError.say('usage.needsAtLeastOne', { command: 'files get', name: 'PATH' });
    if ((to === undefined) === (tar === undefined)) {
      throw UsageError.say('usage.exactlyOne', {
        command: 'files get',
        a: '--to DIR',
        b: '--tar FILE',
      });
    }
    const result = await withRepo(ctx, args, (repo) =>
      getFiles(() => ctx.connect(), repo, ref, paths, {
        ...common,
        ...(to !== undefined ? { to } : {}),
        ...(tar !== undefined ? { tar } : {}),
        force: args.values['force'] === true,
      }),
    );
    if (ctx.json) ctx.printJson(result);
    else renderGet(ctx, result);
    return 0;
  },
};
