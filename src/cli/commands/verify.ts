/**
 * `brankas verify BACKUP [--boot]`: the restore test, recorded in the
 * backup's manifest so `brankas backups` and `brankas status` can show it.
 */
import { resolveBackup } from '../../engine/restore/restore.js';
import { verifyBackup, type VerifyOptions } from '../../engine/restore/verify.js';
import type { Command } from '../command.js';
import { waitOption, withVmJob } from '../vm-job.js';
import { repoOption, withRepo } from './repo-common.js';

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'Test a backup: read it all back, and with --boot restore and boot it in isolation',
  usage:
    'brankas verify BACKUP [--boot] [--scratch DIR] [--allow-host-access] [--skip-damaged] [--wait] [--repo PATH] [--json]',
  help:
    'BACKUP is a backup id, or a VM name for its latest backup. With --boot the backup is restored\n' +
    'into a scratch directory as a transient VM without network, booted, asked whether it answers\n' +
    '(guest-ping through its QEMU guest agent when it has the channel, else a shell on its serial\n' +
    'console when it has one), compared with the backup, and removed. The restored disks go\n' +
    'into a fresh directory under --scratch (default /var/tmp), removed afterwards. The test VM\n' +
    'gets no host access its original does not have (see restore), unless --allow-host-access.\n' +
    "With --boot it is a job on the backup's VM: while another job works on that VM this fails,\n" +
    'or with --wait waits for it.\n' +
    'A VM name whose newest backup is damaged is refused (naming the newest intact one) unless\n' +
    '--skip-damaged.',
  options: {
    ...repoOption,
    ...waitOption,
    boot: { type: 'boolean' },
    scratch: { type: 'string' },
    'allow-host-access': { type: 'boolean' },
    'skip-damaged': { type: 'boolean' },
  },
  positionals: { min: 1, max: 1, names: 'BACKUP' },
  async run(ctx, args) {
    const conn = await ctx.connect();
    const signal = ctx.signal();
    const boot = args.values['boot'] === true;
    const skipDamaged = args.values['skip-damaged'] === true;
    const options: VerifyOptions = {
      signal,
      boot,
      allowHostAccess: args.values['allow-host-access'] === true,
      ...(typeof args.values['scratch'] === 'string' ? { scratchDir: args.values['scratch'] } : {}),
      onStep: (s) => !ctx.json && ctx.note(`  ${s}`),
      skipDamaged,
      onSkippedDamaged: (list) => {
        for (const d of list) {
          ctx.note(ctx.t('restore.skippedDamaged', { backup: d.id, reason: d.message }));
        }
      },
    };
    const ref = args.positionals[0]!;
    const result = await withRepo(ctx, args, async (repo) => {
      if (!boot) return verifyBackup(conn, repo, ref, options);
      // Booting a copy is a job on the backup's VM: not beside a backup or restore of it.
      const vm = (await resolveBackup(repo, ref, { skipDamaged })).vm.name;
      return withVmJob(ctx, args, vm, { kind: 'verify', signal }, () =>
        verifyBackup(conn, repo, ref, options),
      );
    }).catch((err: unknown) => {
      if (signal.aborted) return undefined;
      throw err;
    });
    if (result === undefined) {
      ctx.note(ctx.t('verify.interrupted'));
      return 130;
    }
    if (ctx.json) {
      ctx.printJson(result);
    } else {
      ctx.print(
        result.passed
          ? ctx.t('verify.passed', {
              backup: result.backup,
              how: result.how,
              seconds: result.seconds.toFixed(1),
            })
          : ctx.t('verify.failed', { backup: result.backup, reason: result.reason ?? '' }),
      );
    }
    return result.passed ? 0 : 1;
  },
};
