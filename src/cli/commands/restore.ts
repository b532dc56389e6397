/**
 * `brankas restore BACKUP`: a backup back into a VM (the seed: copy the disk
 * back, `virsh define` the saved XML), without overwriting anything unless
 * asked, and never leaving a half-restored VM behind. With `--disk NAME
 * --to PATH`, one disk only, into a file, and nothing defined.
 */
import { readFile } from 'node:fs/promises';
import { restoreDisk } from '../../engine/restore/disk.js';
import { resolveBackup, restoreBackup, type RestoreResult } from '../../engine/restore/restore.js';
import type { DamagedBackup } from '../../engine/catalog.js';
import { pathError } from '../../engine/restore/fs-errors.js';
import { redactPasswords } from '../../engine/restore/graphics.js';
import { describeHostAccess } from '../../engine/restore/host-access.js';
import { checkRestoreName } from '../../engine/restore/names.js';
import { dataHostOf } from '../../engine/remote/host.js';
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
    'brankas restore BACKUP [--as NEWNAME] [--to DIR] [--format qcow2|raw] [--start] [--force] [--no-space-check]\n' +
    '       [--graphics-password-file FILE] [--allow-host-access] [--dry-run] [--skip-damaged] [--wait] [--repo PATH] [--json]\n' +
    '       brankas restore BACKUP --disk NAME --to PATH [--format qcow2|raw] [--force] [--no-space-check] [--skip-damaged] [--repo PATH] [--json]',
  help:
    'Without --as the VM is restored under its own name; an existing VM or file is refused unless\n' +
    '--force (the disaster case: the VM is still defined but its disk is gone). With --as the copy\n' +
    'gets a new name, UUID and MAC addresses and can run beside the original.\n' +
    'Files are written under temporary names and take their places only once complete: a file\n' +
    '--force replaces stays as it was if the restore fails.\n' +
    'With --disk (vda, vdb...) only that disk is restored, to the file PATH (or into the directory\n' +
    'PATH as VM-DISK.FORMAT), and no VM is defined. With -c qemu+ssh://HOST, PATH is on that host\n' +
    'and the file is written there (without -c, here).\n' +
    'Before writing, the free space is checked against the data to restore; --no-space-check skips\n' +
    'that for file systems that compress or deduplicate (running out of space still cleans up).\n' +
    'A VM name means its newest backup; if that one is damaged, restore refuses and names the\n' +
    'newest intact one; --skip-damaged takes that one (and says which it skipped).\n' +
    'A backup holds no console password: a VNC/SPICE console keeps the password of the VM the\n' +
    'restore replaces (or of the original of a copy), takes the one in --graphics-password-file,\n' +
    'or else listens on a local unix socket only (virsh domdisplay, virt-viewer on this host).\n' +
    'Host access the VM did not have (filesystem passthrough, host devices, host paths, QEMU\n' +
    'arguments, files outside the target directories) is refused unless --allow-host-access.\n' +
    '--dry-run checks it all and shows the files, the consoles, the host access and the domain\n' +
    'XML it would define, writing and defining nothing.\n' +
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
    'skip-damaged': { type: 'boolean' },
    'allow-host-access': { type: 'boolean' },
    'graphics-password-file': { type: 'string' },
    'dry-run': { type: 'boolean' },
  },
  positionals: { min: 1, max: 1, names: 'BACKUP' },
  async run(ctx, args) {
    const format = args.values['format'] as string | undefined;
    if (format !== undefined && format !== 'qcow2' && format !== 'raw') {
      throw UsageError.say('usage.oneOf', {
        option: '--format',
        allowed: 'qcow2, raw',
        value: format,
      });
    }
    const as = args.values['as'] as string | undefined;
    if (as !== undefined) {
      try {
        checkRestoreName(as);
      } catch (err) {
        throw UsageError.from(err);
      }
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
    const skipped: DamagedBackup[] = [];
    const common: Common = {
      format,
      force,
      noSpaceCheck,
      signal,
      onProgress,
      endProgress,
      skipDamaged: args.values['skip-damaged'] === true,
      skippedDamaged: skipped,
      onSkippedDamaged: (list) => {
        skipped.push(...list);
        for (const d of list) {
          ctx.note(ctx.t('restore.skippedDamaged', { backup: d.id, reason: d.message }));
        }
      },
    };
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
  skipDamaged: boolean;
  /** Filled by onSkippedDamaged: the damaged backups passed over, for --json. */
  skippedDamaged: DamagedBackup[];
  onSkippedDamaged: (skipped: DamagedBackup[]) => void;
}

async function restoreOneDisk(
  ctx: CliContext,
  args: ParsedArgs,
  disk: string,
  to: string | undefined,
  o: Common,
): Promise<void> {
  if (to === undefined) throw UsageError.say('usage.diskNeedsTo');
  if (
    args.values['as'] !== undefined ||
    args.values['start'] === true ||
    args.values['allow-host-access'] === true ||
    args.values['graphics-password-file'] !== undefined ||
    args.values['dry-run'] === true
  ) {
    throw UsageError.say('usage.diskDefinesNoVm');
  }
  // With a connection named, PATH is on its host: a qemu+ssh:// one writes the file there.
  const host = ctx.uri !== undefined ? dataHostOf(await ctx.connect()) : undefined;
  const result = await withRepo(ctx, args, (repo) =>
    restoreDisk(repo, args.positionals[0]!, disk, to, { ...o, ...(host ? { host } : {}) }),
  );
  o.endProgress();
  if (ctx.json) return ctx.printJson({ ...result, skippedDamaged: o.skippedDamaged });
  printCleaned(ctx, result.cleanedLeftovers);
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
  const passwordFile = args.values['graphics-password-file'] as string | undefined;
  const graphicsPassword =
    passwordFile === undefined ? undefined : await readGraphicsPassword(passwordFile);
  const conn = await ctx.connect();
  const as = args.values['as'] as string | undefined;
  const result = await withRepo(ctx, args, async (repo) => {
    // The VM written to holds its lock: the backup's own VM, or the new name.
    const ref = args.positionals[0]!;
    const target = as ?? (await resolveBackup(repo, ref, { skipDamaged: o.skipDamaged })).vm.name;
    const call = { kind: 'restore', signal: o.signal, recovery: 'adopt' } as const;
    return withVmJob(ctx, args, target, call, async (job) => {
      const r = await restoreBackup(conn, repo, ref, {
        as,
        toDir: to,
        ...o,
        start: args.values['start'] === true,
        allowHostAccess: args.values['allow-host-access'] === true,
        dryRun: args.values['dry-run'] === true,
        ...(graphicsPassword !== undefined ? { graphicsPassword } : {}),
      });
      // Defined anew from the backup, started or not as asked: nothing left to undo.
      await job.settle();
      return r;
    });
  });
  o.endProgress();
  // The console password is the user's secret: it is set, never shown.
  if (ctx.json) {
    return ctx.printJson({
      ...result,
      xml: redactPasswords(result.xml),
      skippedDamaged: o.skippedDamaged,
    });
  }
  if (result.dryRun) return printPlan(ctx, result);
  printCleaned(ctx, result.cleanedLeftovers);
  for (const d of result.disks) {
    ctx.print(
      ctx.t('restore.disk', { disk: d.disk, path: d.path, data: formatBytes(d.dataBytes) }),
    );
  }
  printSafety(ctx, result);
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

/** The first line of the file: a console password never comes from the command line. */
async function readGraphicsPassword(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw pathError(err, file);
  }
  const password = text.split(/\r?\n/)[0] ?? '';
  if (password === '') throw UsageError.say('usage.noPassword', { file });
  return password;
}

function printCleaned(ctx: CliContext, cleaned: string[]): void {
  if (cleaned.length > 0) {
    ctx.print(
      ctx.t('restore.cleanedLeftovers', { count: cleaned.length, paths: cleaned.join(', ') }),
    );
  }
}

/** What became of the consoles, and the host access granted: said, never silent. */
function printSafety(ctx: CliContext, result: RestoreResult): void {
  for (const g of result.graphics) {
    if (g.action !== 'kept') ctx.print(ctx.t(`restore.graphics.${g.action}`, { type: g.type }));
  }
  for (const a of result.hostAccess) {
    ctx.print(ctx.t('restore.hostAccess', { what: describeHostAccess([a]) }));
  }
}

/** A dry run: what would be written and defined, the console decisions, the host access needed. */
function printPlan(ctx: CliContext, result: RestoreResult): void {
  ctx.print(ctx.t('restore.plan', { backup: result.backup, vm: result.vm }));
  for (const d of result.disks) {
    ctx.print(
      ctx.t('restore.planDisk', { disk: d.disk, path: d.path, data: formatBytes(d.dataBytes) }),
    );
  }
  for (const g of result.graphics) {
    if (g.action !== 'kept') ctx.print(ctx.t(`restore.graphics.${g.action}`, { type: g.type }));
  }
  for (const a of result.hostAccess) {
    ctx.print(ctx.t('restore.planHostAccess', { what: describeHostAccess([a]) }));
  }
  ctx.print(ctx.t('restore.planXml'));
  ctx.print(redactPasswords(result.xml));
}
