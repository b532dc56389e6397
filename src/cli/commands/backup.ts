/**
 * `brankas backup VM` (cold backup: the seed's Tugas 2, made safe) and
 * `brankas backups [VM]` (what the repository holds).
 */
import { backupVm, type BackupMode } from '../../engine/backup/backup.js';
import { damagedOf, listBackupCatalogue } from '../../engine/catalog.js';
import type { PowerEvent } from '../../engine/backup/power.js';
import type { WriteProgress } from '../../repo/writer.js';
import { UsageError, type Command } from '../command.js';
import type { CliContext } from '../context.js';
import { formatBytes, table } from '../format.js';
import { ProgressMeter } from '../progress.js';
import { waitOption, withVmJob } from '../vm-job.js';
import { repoOption, withRepo } from './repo-common.js';
import { backupModeOf, modeOption, printLive, readSummary } from './backup-live.js';
import { printOffline, printOfflineCheckpoint } from './backup-offline.js';

function parseDuration(v: string | undefined, fallbackMs: number): number {
  if (v === undefined) return fallbackMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new UsageError(`not a duration: '${v}' (e.g. 120s, 2m, 500ms)`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

export function powerLine(ctx: CliContext, e: PowerEvent): string {
  switch (e.kind) {
    case 'shutdown-requested':
      return ctx.t('backup.shuttingDown', { vm: e.vm });
    case 'shut-off':
      return ctx.t('backup.shutOff', { vm: e.vm, seconds: e.seconds.toFixed(1) });
    case 'forced-off':
      return ctx.t('backup.forcedOff', { vm: e.vm });
    case 'stopping-waits-for-off':
      return ctx.t('backup.waitsForOff', { vm: e.vm });
    case 'started':
      return ctx.t('backup.started', { vm: e.vm });
  }
}

export const backupCommand: Command = {
  name: 'backup',
  summary: 'Back a VM up into the repository (live while it runs, cold when it is off)',
  usage:
    'brankas backup VM [--mode auto|live|cold] [--repo PATH] [--shutdown-timeout 120s] [--force-off-after-timeout] [--reread] [--wait] [--json]',
  help:
    '--mode auto (the default) backs a running VM up live and a shut-off one cold. live: the VM\n' +
    'keeps running; its filesystems are frozen for the instant the backup point is taken when its\n' +
    'guest agent answers (application-consistent), otherwise the backup is crash-consistent. Each\n' +
    'live backup leaves a checkpoint; the next reads only what changed since (qcow2 disks; raw\n' +
    'disks are always read whole), and any doubt about a dirty bitmap reads the disk whole and\n' +
    'says why. cold: the VM is shut down gracefully and started again afterwards if it was running, also when\n' +
    'the backup fails or is interrupted. Only allocated data is read, and a disk whose files are\n' +
    'unchanged since the previous backup (same inode, size, modification and change time) is not\n' +
    'read at all: its data is taken over from that backup; --reread reads every disk. The password of an\n' +
    'encrypted repository comes from $BRANKAS_PASSWORD_FILE, $BRANKAS_PASSWORD_COMMAND or a prompt.\n' +
    'One job per VM at a time: while another backup, restore, restore test or snapshot operation\n' +
    'works on the VM this fails, or with --wait waits for it. A VM an interrupted brankas left\n' +
    'shut off is started again first.',
  options: {
    ...repoOption,
    ...waitOption,
    ...modeOption,
    'shutdown-timeout': { type: 'string' },
    'force-off-after-timeout': { type: 'boolean' },
    reread: { type: 'boolean' },
  },
  positionals: { min: 1, max: 1, names: 'VM' },
  async run(ctx, args) {
    const timeoutMs = parseDuration(args.values['shutdown-timeout'] as string | undefined, 120_000);
    const mode = (args.values['mode'] as string | undefined) ?? 'auto';
    if (mode !== 'auto' && mode !== 'live' && mode !== 'cold') {
      throw new UsageError(`--mode must be auto, live or cold, not '${mode}'`);
    }
    const conn = await ctx.connect();
    const signal = ctx.signal();
    const tty = ctx.io.stderr.isTTY === true && !ctx.json;
    const meter = new ProgressMeter(ctx.io.stderr);
    const progress = (p: WriteProgress): void => {
      if (tty) meter.update({ ...p, extra: `new ${formatBytes(p.newStoredBytes)}` });
    };
    const vm = args.positionals[0]!;
    try {
      const result = await withVmJob(ctx, args, vm, { kind: 'backup', signal }, (job) =>
        withRepo(ctx, args, (repo) =>
          backupVm(conn, repo, vm, {
            mode: mode as BackupMode,
            shutdownTimeoutMs: timeoutMs,
            forceOffAfterTimeout: args.values['force-off-after-timeout'] === true,
            reread: args.values['reread'] === true,
            signal,
            onPower: (e) => !ctx.json && ctx.note(powerLine(ctx, e)),
            onPowerChange: job.powerChange,
            onProgress: progress,
          }),
        ),
      );
      meter.end();
      // Stopped too late to undo: the backup is whole and recorded, and says so (exit 0).
      if (signal.aborted) ctx.note(ctx.t('backup.committedAnyway', { id: result.manifest.id }));
      if (ctx.json) return ctx.printJson(result);
      if (result.mode === 'live') return printLive(ctx, result);
      if (result.unchangedDisks.length > 0) {
        ctx.print(
          ctx.t('backup.unchanged', {
            disks: result.unchangedDisks.join(', '),
            parent: result.parent ?? '',
            bytes: formatBytes(result.unchangedBytes),
          }),
        );
      }
      printOffline(ctx, result);
      ctx.print(
        ctx.t('backup.done', {
          id: result.manifest.id,
          vm: result.manifest.vm.name,
          read: formatBytes(result.readBytes),
          dedup: formatBytes(result.dedupBytes),
          stored: formatBytes(result.newStoredBytes),
          seconds: result.seconds.toFixed(1),
        }),
      );
      printOfflineCheckpoint(ctx, result);
    } catch (err) {
      meter.end();
      if (signal.aborted) {
        ctx.note(ctx.t('backup.interrupted'));
        return 130;
      }
      throw err;
    } finally {
      meter.end();
    }
  },
};

export const backupsCommand: Command = {
  name: 'backups',
  summary: 'List the backups in the repository (all, or of one VM)',
  usage: 'brankas backups [VM] [--repo PATH] [--json]',
  options: { ...repoOption },
  positionals: { min: 0, max: 1, names: 'VM' },
  async run(ctx, args) {
    const vm = args.positionals[0];
    const catalogue = await withRepo(ctx, args, (repo) => listBackupCatalogue(repo), false);
    // A damaged manifest is listed too (its VM as it seems to say, or '?'), never hidden.
    const damaged = vm === undefined ? catalogue.damaged : damagedOf(catalogue, vm);
    const rows = catalogue.backups
      .filter((b) => vm === undefined || b.manifest.vm.name === vm)
      .map((b) => ({
        id: b.id,
        vm: b.manifest.vm.name,
        time: b.manifest.startedAt,
        method: b.manifest.method,
        ...backupModeOf(b.manifest),
        disks: b.manifest.disks.map((d) => d.name),
        logicalBytes: b.manifest.disks.reduce((n, d) => n + d.virtualSize, 0),
        dataBytes: b.manifest.disks.reduce((n, d) => n + d.dataBytes, 0),
        verify: b.manifest.verify ?? null,
        verified: b.verified,
      }));
    if (ctx.json) return ctx.printJson({ backups: rows, damaged });
    if (rows.length === 0 && damaged.length === 0) {
      ctx.print(ctx.t('backup.none'));
      return;
    }
    ctx.print(
      table([
        [
          'ID',
          'VM',
          ctx.t('backup.col.time'),
          ctx.t('backup.col.mode'),
          ctx.t('backup.col.consistency'),
          ctx.t('backup.col.read'),
          ctx.t('backup.col.data'),
          ctx.t('backup.col.verify'),
        ],
        ...rows.map((r) => [
          r.id,
          r.vm,
          r.time,
          r.mode,
          r.consistency ?? '-',
          readSummary(r.live),
          formatBytes(r.dataBytes),
          r.verify === null
            ? ctx.t('backup.neverVerified')
            : `${(r.verify as { passed?: boolean }).passed ? 'passed' : 'FAILED'} (${(r.verify as { how?: string }).how ?? '?'}, ${(r.verify as { at?: string }).at ?? ''})`,
        ]),
        ...damaged.map((d) => [
          d.id,
          d.vm ?? '?',
          d.startedAt,
          ctx.t('backup.damagedRow'),
          '-',
          '-',
          '-',
          '-',
        ]),
      ]),
    );
    for (const d of damaged) {
      ctx.note(ctx.t('backup.damaged', { backup: d.id, vm: d.vm ?? '?', reason: d.message }));
    }
  },
};

export const backupCommands = [backupCommand, backupsCommand];
