/**
 * `brankas backup VM` (cold backup: the seed's Tugas 2, made safe) and
 * `brankas backups [VM]` (what the repository holds).
 */
import { backupVm, type BackupMode } from '../../engine/backup/backup.js';
import { verificationOf, type BackupVerification } from '../../engine/backup-catalog.js';
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
import { backupDryRun } from './backup-dry-run.js';
import { printOffline, printOfflineCheckpoint } from './backup-offline.js';

function parseDuration(v: string | undefined, fallbackMs: number): number {
  if (v === undefined) return fallbackMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw UsageError.say('usage.notDuration', { value: v });
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
    case 'started-paused':
      return ctx.t('consistency.startedPaused', { vm: e.vm });
  }
}

export const backupCommand: Command = {
  name: 'backup',
  summary: 'Back a VM up into the repository (live while it runs, cold when it is off)',
  usage:
    'brankas backup VM [--mode auto|live|cold] [--consistency auto|application|shutdown] [--repo PATH] [--shutdown-timeout 120s] [--force-off-after-timeout] [--freeze-timeout 10s] [--reread] [--scratch DIR] [--wait] [--dry-run] [--json]',
  help:
    '--mode auto (the default) backs a running VM up live and a shut-off one cold. live: the VM\n' +
    'keeps running; its filesystems are frozen for the instant the backup point is taken when its\n' +
    'guest agent answers (application-consistent), otherwise the backup is crash-consistent. Each\n' +
    'live backup leaves a checkpoint; the next reads only what changed since (qcow2 disks; raw\n' +
    'disks are always read whole), and any doubt about a dirty bitmap reads the disk whole and\n' +
    "says why. --consistency shutdown gives a running VM a cold backup's consistency with one\n" +
    'reboot of downtime: shut down gracefully, started again paused, backup point taken, resumed,\n' +
    'read while it runs (the backup is listed as shut-down consistent). cold: the VM is shut down gracefully and started again afterwards if it was running, also when\n' +
    'the backup fails or is interrupted. Only allocated data is read, and a disk whose files are\n' +
    'unchanged since the previous backup (same inode, size, modification and change time) is not\n' +
    'read at all: its data is taken over from that backup; --reread reads every disk. The password of an\n' +
    'encrypted repository comes from $BRANKAS_PASSWORD_FILE, $BRANKAS_PASSWORD_COMMAND or a prompt.\n' +
    'One job per VM at a time: while another backup, restore, restore test or snapshot operation\n' +
    'works on the VM this fails, or with --wait waits for it. A VM an interrupted brankas left\n' +
    'shut off is started again first. --consistency application fails instead of backing up\n' +
    'crash-consistent when no guest agent answers or the freeze fails (nothing recorded).\n' +
    '--freeze-timeout: how long the guest agent gets to answer the freeze (and each thaw) before\n' +
    'the backup goes on crash-consistent (freeze-timeout), thawing the guest all the same.\n' +
    "--scratch DIR: where a live backup's job directory (NBD socket, scratch files for the data\n" +
    'the guest overwrites while it runs) is made; default /var/tmp. QEMU must be able to reach it.\n' +
    '--dry-run changes nothing: it says what would be read\n' +
    '(allocation maps, dirty bitmaps), the consistency available, estimates of the new data and\n' +
    "time from the VM's earlier backups, and the repository's free space.",
  options: {
    ...repoOption,
    ...waitOption,
    ...modeOption,
    consistency: { type: 'string' },
    'shutdown-timeout': { type: 'string' },
    'freeze-timeout': { type: 'string' },
    'force-off-after-timeout': { type: 'boolean' },
    reread: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    scratch: { type: 'string' },
  },
  positionals: { min: 1, max: 1, names: 'VM' },
  async run(ctx, args) {
    const timeoutMs = parseDuration(args.values['shutdown-timeout'] as string | undefined, 120_000);
    const freezeMs = parseDuration(args.values['freeze-timeout'] as string | undefined, 10_000);
    if (freezeMs < 1000)
      throw UsageError.say('usage.atLeast', { option: '--freeze-timeout', min: '1s' });
    const mode = (args.values['mode'] as string | undefined) ?? 'auto';
    if (mode !== 'auto' && mode !== 'live' && mode !== 'cold') {
      throw UsageError.say('usage.oneOf', {
        option: '--mode',
        allowed: 'auto, live, cold',
        value: mode,
      });
    }
    const consistency = (args.values['consistency'] as string | undefined) ?? 'auto';
    if (consistency !== 'auto' && consistency !== 'application' && consistency !== 'shutdown') {
      throw UsageError.say('usage.oneOf', {
        option: '--consistency',
        allowed: 'auto, application, shutdown',
        value: consistency,
      });
    }
    if (consistency === 'shutdown' && mode === 'cold') {
      throw UsageError.say('usage.shutdownIsLive');
    }
    if (args.values['dry-run'] === true) {
      return backupDryRun(ctx, args, args.positionals[0]!, mode as BackupMode);
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
            consistency,
            shutdownTimeoutMs: timeoutMs,
            forceOffAfterTimeout: args.values['force-off-after-timeout'] === true,
            reread: args.values['reread'] === true,
            freezeTimeoutS: Math.ceil(freezeMs / 1000),
            ...(typeof args.values['scratch'] === 'string'
              ? { workRoot: args.values['scratch'] }
              : {}),
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
    const verification = new Map(
      catalogue.backups.map((b) => [b.id, verificationOf(b.manifest)] as const),
    );
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
          verifyText(ctx, verification.get(r.id) ?? null),
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

/** A backup's last restore test as the table shows it (the engine reads the record). */
function verifyText(ctx: CliContext, v: BackupVerification | null): string {
  if (v === null) return ctx.t('backup.neverVerified');
  return `${v.passed ? 'passed' : 'FAILED'} (${v.how ?? '?'}, ${v.at ?? ''})`;
}
