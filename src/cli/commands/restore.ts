/**
 * `brankas restore BACKUP`: a backup back into a VM (the seed: copy the disk
 * back, `virsh define` the saved XML), without overwriting anything unless
 * asked, and never leaving a half-restored VM behind. With `--disk NAME
 * --to PATH`, one disk only, into a file, and nothing defined.
 */
import { restoreDisk } from '../../engine/restore/disk.js';
import { resolveBackup, restoreBackup } from '../../engine/restore/restore.js';
import { UsageError, type Command, type ParsedArgs } from '../command.js';
import type { CliContext } from '../context.js';
import { formatBytes } from '../format.js';
import { ProgressMeter } from '../progress.js';
import { waitOption, withVmJob } from '../vm-job.js';
import { repoOption, withRepo } from './repo-common.js';

const EXIT_INTERRUPTED = 130;

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'Restore a backup (an id, or a VM name for its latest backup) into a VM',
  usage:
    'brankas restore BACKUP [--as NEWNAME] [--to DIR] [--format qcow2|raw] [--start] [--force] [--no-space-check] [--wait] [--repo PATH] [--json]\n' +
    '       brankas restore BACKUP --disk NAME --to PATH [--format qcow2|raw] [--force] [--no-space-check] [--repo PATH] [--json]',
  help:
    'Without --as the VM is restored under its own name; an existing VM or file is refused unless\n' +
    '--force (the disaster case: the VM is still defined but its disk is gone). With --as the copy\n' +
    'gets a new name, UUID and MAC addresses and can run beside the original.\n' +
    'Files are written under temporary names and take their places only once complete: a file\n' +
    '--force replaces stays as it was if the restore fails.\n' +
    'With --disk (vda, vdb...) only that disk is restored, to the file PATH (or into the directory\n' +
    'PATH as VM-DISK.FORMAT), and no VM is defined.\n' +
    'Before writing, the free space is checked against the data to restore; --no-space-check skips\n' +
    'that for file systems that compress or deduplicate (running out of space still cleans up).\n' +
    'One job per VM at a time: while another job works on the VM restored (its name, or --as)\n' +
    'this fails, or with --wait waits for it.',
  options: {
    ...repoOption,
    ...waitOption,
    as: { type: 'string' },
    to: { type: 'string' },
    disk: { type: 'string' },
    format: { type: 'string' },
    start: { type: 'boolean' },
    force: { type: 'boolean' },
    'no-space-check': { type: 'boolean' },
  },
  positionals: { min: 1, max: 1, names: 'BACKUP' },
  async run(ctx, args) {
    const format = args.values['format'] as string | undefined;
    if (format !== undefined && format !== 'qcow2' && format !== 'raw') {
      throw new UsageError(`--format must be qcow2 or raw, not '${format}'`);
    }
    const disk = args.values['disk'] as string | undefined;
    const to = args.values['to'] as string | undefined;
    const force = args.values['force'] === true;
    const noSpaceCheck = args.values['no-space-check'] === true;
    const signal = ctx.signal();
    const meter = new ProgressMeter(ctx.io.stderr);
    const tty = ctx.io.stderr.isTTY === true && !ctx.json;
    const onProgress = (p: { disk: string; doneBytes: number; totalBytes: number }): void => {
      if (tty) meter.update(p);
    };
    const endProgress = (): void => meter.end();
    const common: Common = { format, force, noSpaceCheck, signal, onProgress, endProgress };
    try {
      return await (disk !== undefined
        ? restoreOneDisk(ctx, args, disk, to, common)
        : restoreVm(ctx, args, to, common));
    } catch (err) {
      meter.end();
      if (!signal.aborted) throw err;
      ctx.note(ctx.t('restore.interrupted'));
      return EXIT_INTERRUPTED;
    }
  },
};

interface Common {
  format: 'qcow2' | 'raw' | undefined;
  force: boolean;
  noSpaceCheck: boolean;
  signal: AbortSignal;
  onProgress: (p: { disk: string; doneBytes: number; totalBytes: number }) => void;
  /** Ends the progress line before the result is printed. */
  endProgress: () => void;
}

async function restoreOneDisk(
  ctx: CliContext,
  args: ParsedArgs,
  disk: string,
  to: string | undefined,
  o: Common,
): Promise<void> {
  if (to === undefined) throw new UsageError('--disk needs --to PATH: where to write the disk');
  if (args.values['as'] !== undefined || args.values['start'] === true) {
    throw new UsageError('--disk writes one disk to a file and defines no VM: no --as or --start');
  }
  const result = await withRepo(ctx, args, (repo) =>
    restoreDisk(repo, args.positionals[0]!, disk, to, o),
  );
  o.endProgress();
  if (ctx.json) return ctx.printJson(result);
  ctx.print(
    ctx.t('restore.diskDone', {
      disk: result.disk,
      backup: result.backup,
      path: result.path,
      format: result.format,
      data: formatBytes(result.dataBytes),
      seconds: result.seconds.toFixed(1),
    }),
  );
}

async function restoreVm(
  ctx: CliContext,
  args: ParsedArgs,
  to: string | undefined,
  o: Common,
): Promise<void> {
  const conn = await ctx.connect();
  const as = args.values['as'] as string | undefined;
  const result = await withRepo(ctx, args, async (repo) => {
    // The VM written to holds its lock: the backup's own VM, or the new name.
    const target = as ?? (await resolveBackup(repo, args.positionals[0]!)).vm.name;
    const call = { kind: 'restore', signal: o.signal, recovery: 'adopt' } as const;
    return withVmJob(ctx, args, target, call, async (job) => {
      const r = await restoreBackup(conn, repo, args.positionals[0]!, {
        as,
        toDir: to,
        ...o,
        start: args.values['start'] === true,
      });
      // Defined anew from the backup, started or not as asked: nothing left to undo.
      await job.settle();
      return r;
    });
  });
  o.endProgress();
  if (ctx.json) return ctx.printJson(result);
  for (const d of result.disks) {
    ctx.print(
      ctx.t('restore.disk', { disk: d.disk, path: d.path, data: formatBytes(d.dataBytes) }),
    );
  }
  if (result.droppedSnapshots.length > 0) {
    ctx.print(
      ctx.t('restore.droppedSnapshots', {
        count: result.droppedSnapshots.length,
        names: result.droppedSnapshots.join(', '),
      }),
    );
  }
  ctx.print(
    ctx.t(result.started ? 'restore.doneStarted' : 'restore.done', {
      backup: result.backup,
      vm: result.vm,
      seconds: result.seconds.toFixed(1),
    }),
  );
}
