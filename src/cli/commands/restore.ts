/**
 * `brankas restore BACKUP`: a backup back into a VM (the seed: copy the disk
 * back, `virsh define` the saved XML), without overwriting anything unless
 * asked, and never leaving a half-restored VM behind.
 */
import { restoreBackup } from '../../engine/restore/restore.js';
import { UsageError, type Command } from '../command.js';
import { formatBytes } from '../format.js';
import { repoOption, withRepo } from './repo-common.js';

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'Restore a backup (an id, or a VM name for its latest backup) into a VM',
  usage:
    'brankas restore BACKUP [--as NEWNAME] [--to DIR] [--format qcow2|raw] [--start] [--force] [--repo PATH] [--json]',
  help:
    'Without --as the VM is restored under its own name; an existing VM or file is refused unless\n' +
    '--force (the disaster case: the VM is still defined but its disk is gone). With --as the copy\n' +
    'gets a new name, UUID and MAC addresses and can run beside the original.',
  options: {
    ...repoOption,
    as: { type: 'string' },
    to: { type: 'string' },
    format: { type: 'string' },
    start: { type: 'boolean' },
    force: { type: 'boolean' },
  },
  positionals: { min: 1, max: 1, names: 'BACKUP' },
  async run(ctx, args) {
    const format = args.values['format'] as string | undefined;
    if (format !== undefined && format !== 'qcow2' && format !== 'raw') {
      throw new UsageError(`--format must be qcow2 or raw, not '${format}'`);
    }
    const conn = await ctx.connect();
    const result = await withRepo(ctx, args, (repo) =>
      restoreBackup(conn, repo, args.positionals[0]!, {
        as: args.values['as'] as string | undefined,
        toDir: args.values['to'] as string | undefined,
        format,
        start: args.values['start'] === true,
        force: args.values['force'] === true,
        onDisk: (e) =>
          !ctx.json &&
          ctx.note(
            ctx.t('restore.disk', { disk: e.disk, path: e.path, data: formatBytes(e.dataBytes) }),
          ),
      }),
    );
    if (ctx.json) return ctx.printJson(result);
    ctx.print(
      ctx.t(result.started ? 'restore.doneStarted' : 'restore.done', {
        backup: result.backup,
        vm: result.vm,
        seconds: result.seconds.toFixed(1),
      }),
    );
  },
};
